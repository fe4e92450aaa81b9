// A malformed #hw.target is a parse error on one located line: the attribute and field it concerns, no traceback.
// RUN: not mlacc-opt %s 2>&1 | filecheck %s --check-prefix=LINE
// RUN: mlacc-opt %s --split-input-file --parsing-diagnostics | filecheck %s

// LINE:      target-invalid.mlir:[[# @LINE + 6]]:26: error: #hw.memory "dram": missing field 'write_pj_per_byte'
// LINE-NOT:  Traceback
// CHECK:     #hw.memory "dram": missing field 'write_pj_per_byte'
builtin.module attributes {hw.target = #hw.target<"t", frequency_hz = 1.0e9, mac_pj = {fp32 = 1.0},
    compute = [#hw.compute<"array", count = 1, array = 4x4, macs_per_cycle = {fp32 = 16.0}>],
    memory = [#hw.memory<"sram", capacity_bytes = 1024, count = 1, read_bytes_per_cycle = 64.0, write_bytes_per_cycle = 64.0, read_pj_per_byte = 1.0, write_pj_per_byte = 1.0>,
              #hw.memory<"dram", capacity_bytes = 1048576, count = 1, read_bytes_per_cycle = 8.0, write_bytes_per_cycle = 8.0, read_pj_per_byte = 100.0>]>} {
}

// -----

// CHECK:     #hw.target "t": missing fields 'frequency_hz', 'mac_pj'
builtin.module attributes {hw.target = #hw.target<"t", compute = [], memory = []>} {
}

// -----

// CHECK:     #hw.compute "array": unknown field 'cont' (did you mean 'count'?)
builtin.module attributes {hw.target = #hw.compute<"array", cont = 1, array = 4x4, macs_per_cycle = {fp32 = 16.0}>} {
}

// -----

// CHECK:     #hw.target "t": unknown field 'speed' (fields: description, frequency_hz, compute, memory, mac_pj, cores, efficiency, static_power_watts, calibrated, interconnect, kernels)
builtin.module attributes {hw.target = #hw.target<"t", speed = 1.0>} {
}

// -----

// CHECK:     #hw.compute "array": field 'count' given twice
builtin.module attributes {hw.target = #hw.compute<"array", count = 1, count = 2, array = 4x4, macs_per_cycle = {fp32 = 16.0}>} {
}

// -----

// CHECK:     key 'fp32' given twice
builtin.module attributes {hw.target = #hw.compute<"array", count = 1, array = 4x4, macs_per_cycle = {fp32 = 16.0, fp32 = 8.0}>} {
}

// -----

// CHECK:     expected a #hw.compute attribute
builtin.module attributes {hw.target = #hw.target<"t", frequency_hz = 1.0e9, mac_pj = {},
    compute = [#hw.memory<"sram", capacity_bytes = 1024, count = 1, read_bytes_per_cycle = 64.0, write_bytes_per_cycle = 64.0, read_pj_per_byte = 1.0, write_pj_per_byte = 1.0>],
    memory = []>} {
}

// -----

// CHECK:     Expected 'x' in shape delimiter
builtin.module attributes {hw.target = #hw.compute<"array", count = 1, array = 16, macs_per_cycle = {fp32 = 16.0}>} {
}

// -----

// CHECK:     #hw.compute "array": expected '=' after 'count'
builtin.module attributes {hw.target = #hw.compute<"array", count 1, array = 4x4, macs_per_cycle = {fp32 = 16.0}>} {
}

// -----

// CHECK:     expected a number
builtin.module attributes {hw.target = #hw.compute<"array", count = 1, array = 4x4, macs_per_cycle = {fp32 = "fast"}>} {
}

// -----

// The verifiers are those of the attributes, unchanged; a failure is reported where the attribute is written.
// CHECK:     target 't': needs an on-chip level and an off-chip level
builtin.module attributes {hw.target = #hw.target<"t", frequency_hz = 1.0e9, mac_pj = {fp32 = 1.0},
    compute = [#hw.compute<"array", count = 1, array = 4x4, macs_per_cycle = {fp32 = 16.0}>], memory = []>} {
}

// -----

// CHECK:     compute unit 'array': count and array sizes must be positive
builtin.module attributes {hw.target = #hw.compute<"array", count = 1, array = 0x4, macs_per_cycle = {fp32 = 16.0}>} {
}

// -----

// An interconnect needs all four fields, a positive bandwidth and a whole number of devices.
builtin.module attributes {hw.target = #hw.target<"t", frequency_hz = 1.0e9, compute = [#hw.compute<"a", count = 1, array = 4x4, macs_per_cycle = {fp32 = 16}>], memory = [#hw.memory<"s", capacity_bytes = 1024, count = 1, read_bytes_per_cycle = 64, write_bytes_per_cycle = 64, read_pj_per_byte = 1, write_pj_per_byte = 1>, #hw.memory<"d", capacity_bytes = 4096, count = 1, read_bytes_per_cycle = 8, write_bytes_per_cycle = 8, read_pj_per_byte = 1, write_pj_per_byte = 1>], mac_pj = {fp32 = 4}, interconnect = {devices = 2, link_bandwidth_bytes_per_cycle = 0, collective_latency_cycles = 0, energy_pj_per_byte = 0}>} {
}
// CHECK: target 't': interconnect bandwidth must be positive

// -----

// The efficiency constants are checked against their one declaration (dialects/hw_calibration.py), as the
// loader checks a hardware file's [efficiency]: unknown keys, fractions above 1, incomplete groups.
// CHECK:     target 't': unknown efficiency constant 'compte' (expected: attention_clock_hz,
builtin.module attributes {hw.target = #hw.target<"t", frequency_hz = 1.0e9, mac_pj = {fp32 = 1.0},
    compute = [#hw.compute<"array", count = 1, array = 4x4, macs_per_cycle = {fp32 = 16.0}>],
    memory = [#hw.memory<"sram", capacity_bytes = 1024, count = 1, read_bytes_per_cycle = 64.0, write_bytes_per_cycle = 64.0, read_pj_per_byte = 1.0, write_pj_per_byte = 1.0>,
              #hw.memory<"dram", capacity_bytes = 1048576, count = 1, read_bytes_per_cycle = 8.0, write_bytes_per_cycle = 8.0, read_pj_per_byte = 100.0, write_pj_per_byte = 100.0>],
    efficiency = {compte = 0.5}>} {
}

// -----

// CHECK:     target 't': 'attention_memory' in [efficiency] is a fraction of peak: at most 1, got 1.5
builtin.module attributes {hw.target = #hw.target<"t", frequency_hz = 1.0e9, mac_pj = {fp32 = 1.0},
    compute = [#hw.compute<"array", count = 1, array = 4x4, macs_per_cycle = {fp32 = 16.0}>],
    memory = [#hw.memory<"sram", capacity_bytes = 1024, count = 1, read_bytes_per_cycle = 64.0, write_bytes_per_cycle = 64.0, read_pj_per_byte = 1.0, write_pj_per_byte = 1.0>,
              #hw.memory<"dram", capacity_bytes = 1048576, count = 1, read_bytes_per_cycle = 8.0, write_bytes_per_cycle = 8.0, read_pj_per_byte = 100.0, write_pj_per_byte = 100.0>],
    efficiency = {attention_memory = 1.5}>} {
}

// -----

// CHECK:     target 't': [efficiency] models the step clock with all of attention_clock_hz, clock_power_exponent, clock_top_hz, gemm_clock_hz, memory_power: missing attention_clock_hz, clock_power_exponent, gemm_clock_hz, memory_power
builtin.module attributes {hw.target = #hw.target<"t", frequency_hz = 1.0e9, mac_pj = {fp32 = 1.0},
    compute = [#hw.compute<"array", count = 1, array = 4x4, macs_per_cycle = {fp32 = 16.0}>],
    memory = [#hw.memory<"sram", capacity_bytes = 1024, count = 1, read_bytes_per_cycle = 64.0, write_bytes_per_cycle = 64.0, read_pj_per_byte = 1.0, write_pj_per_byte = 1.0>,
              #hw.memory<"dram", capacity_bytes = 1048576, count = 1, read_bytes_per_cycle = 8.0, write_bytes_per_cycle = 8.0, read_pj_per_byte = 100.0, write_pj_per_byte = 100.0>],
    efficiency = {clock_top_hz = 1.0e9}>} {
}
