// A node target's interconnect (the network shard's collectives run over) prints as one more keyword field, only
// when present; print -> parse -> print is a fixed point, and the node presets round-trip too.
// RUN: mlacc-opt %s | filecheck %s
// RUN: mlacc-opt %s | mlacc-opt | filecheck %s
// RUN: mlacc-opt %s --print-op-generic | mlacc-opt | filecheck %s
// RUN: mlacc-opt %s --hw h200x8 | mlacc-opt | filecheck %s --check-prefix=NODE
// RUN: mlacc-opt %s --hw h200 | filecheck %s --check-prefix=ONE

builtin.module attributes {hw.target = #hw.target<"pair", frequency_hz = 1.0e9,
    compute = [#hw.compute<"array", count = 1, array = 4x4, macs_per_cycle = {fp32 = 16}>],
    memory = [#hw.memory<"sram", capacity_bytes = 1024, count = 1, read_bytes_per_cycle = 64, write_bytes_per_cycle = 64, read_pj_per_byte = 1, write_pj_per_byte = 1>,
              #hw.memory<"dram", capacity_bytes = 1048576, count = 1, read_bytes_per_cycle = 8, write_bytes_per_cycle = 8, read_pj_per_byte = 10, write_pj_per_byte = 10>],
    mac_pj = {fp32 = 4},
    interconnect = {devices = 2, link_bandwidth_bytes_per_cycle = 100, collective_latency_cycles = 1000, energy_pj_per_byte = 10}>} {
}

// CHECK: mac_pj = {fp32 = 4.0}, interconnect = {devices = 2.0, link_bandwidth_bytes_per_cycle = 100.0, collective_latency_cycles = 1000.0, energy_pj_per_byte = 10.0}>
// NODE: #hw.target<"h200x8", {{.*}}, calibrated, interconnect = {devices = 8.0, link_bandwidth_bytes_per_cycle = 200.0, collective_latency_cycles = 58560.0, energy_pj_per_byte = 10.4}, kernels = {gemm = "cublaslt", {{.*}}}>
// ONE-NOT: interconnect
