// #hw.target prints as keyword fields named as in the hardware TOML, units in the names, on one line; fields
// that hold their default (empty description, cores and efficiency, no static power, not calibrated) are left
// out. Input may give fields in any order, spread over lines, and write whole numbers as integers; the printed
// form is canonical, printing it again is a fixed point, and floats keep every bit (0.30000000000000004).
// RUN: mlacc-opt %s | filecheck %s
// RUN: mlacc-opt %s | mlacc-opt | filecheck %s
// RUN: mlacc-opt %s --print-op-generic | mlacc-opt | filecheck %s
// A preset's target (attached by --hw) round-trips too, and a default-only target prints without optional fields:
// RUN: mlacc-opt %s --hw h100 | mlacc-opt | filecheck %s --check-prefix=H100
// RUN: mlacc-opt %s --hw %S/Inputs/tiny.toml | mlacc-opt | filecheck %s --check-prefix=TINY

builtin.module attributes {hw.target = #hw.target<"quad",
    calibrated,
    frequency_hz = 940000000,
    compute = [#hw.compute<"core_array", macs_per_cycle = {int8 = 16384, bf16 = 4096.0}, array = 128x128, count = 4>],
    memory = [
      #hw.memory<"sram", capacity_bytes = 8388608, count = 4, read_bytes_per_cycle = 256, write_bytes_per_cycle = 256,
                 read_pj_per_byte = 12.5, write_pj_per_byte = 12.5>,
      #hw.memory<"dram", write_pj_per_byte = 80, read_pj_per_byte = 80, write_bytes_per_cycle = 425.5,
                 read_bytes_per_cycle = 425.5, count = 1, capacity_bytes = 16000000000>],
    mac_pj = {int8 = 0.23, bf16 = 1.5},
    cores = {count = 4, interconnect_bandwidth_bytes_per_cycle = 64, interconnect_energy_pj_per_byte = 1.0},
    efficiency = {compute = 0.1, memory = 0.30000000000000004, op_latency_cycles = 2520},
    static_power_watts = 116.4,
    description = "hand-written: every field, out of order">} {
}

// CHECK:      builtin.module attributes {hw.target = #hw.target<"quad", description = "hand-written: every field, out of order", frequency_hz = 9.4e8, compute = [#hw.compute<"core_array", count = 4, array = 128x128, macs_per_cycle = {int8 = 16384.0, bf16 = 4096.0}>], memory = [#hw.memory<"sram", capacity_bytes = 8388608, count = 4, read_bytes_per_cycle = 256.0, write_bytes_per_cycle = 256.0, read_pj_per_byte = 12.5, write_pj_per_byte = 12.5>, #hw.memory<"dram", capacity_bytes = 16000000000, count = 1, read_bytes_per_cycle = 425.5, write_bytes_per_cycle = 425.5, read_pj_per_byte = 80.0, write_pj_per_byte = 80.0>], mac_pj = {int8 = 0.23, bf16 = 1.5}, cores = {count = 4.0, interconnect_bandwidth_bytes_per_cycle = 64.0, interconnect_energy_pj_per_byte = 1.0}, efficiency = {compute = 0.1, memory = 0.30000000000000004, op_latency_cycles = 2520.0}, static_power_watts = 116.4, calibrated>} {
// CHECK-NEXT: }

// H100:      builtin.module attributes {hw.target = #hw.target<"h100", description = "NVIDIA H100 SXM5 80 GB{{.*}}", frequency_hz = 1.83e9, compute = [#hw.compute<"sm", count = 132, array = 64x256, macs_per_cycle = {bf16 = 2048.0, {{.*}}}>], memory = [#hw.memory<"smem", {{.*}}>, #hw.memory<"l2", {{.*}}>, #hw.memory<"hbm", capacity_bytes = 80000000000, count = 1, read_bytes_per_cycle = 1830.6, {{.*}}>], mac_pj = {bf16 = 0.902, {{.*}}}, efficiency = {compute = 0.714, epilogue_slices = 1.81, {{.*}}}, static_power_watts = 116.4, calibrated, kernels = {gemm = "cublaslt", attention_prefill = "cudnn-sdpa", attention_prefill_latent = "sdpa-efficient", attention_decode_heads = "cudnn-sdpa", attention_decode_latent = "flashmla", elementwise = "triton", moe_gemm = "torch-grouped-mm", moe_routing = "torch"}>} {

// TINY:      builtin.module attributes {hw.target = #hw.target<"tiny", description = "test accelerator: one 4x4 MAC array, 1 KiB scratchpad, 1 MiB DRAM", frequency_hz = 1.0e9, compute = [#hw.compute<"array", count = 1, array = 4x4, macs_per_cycle = {fp32 = 16.0, bf16 = 16.0}>], memory = [#hw.memory<"sram", capacity_bytes = 1024, count = 1, read_bytes_per_cycle = 64.0, write_bytes_per_cycle = 64.0, read_pj_per_byte = 1.0, write_pj_per_byte = 1.0>, #hw.memory<"dram", capacity_bytes = 1048576, count = 1, read_bytes_per_cycle = 8.0, write_bytes_per_cycle = 8.0, read_pj_per_byte = 100.0, write_pj_per_byte = 100.0>], mac_pj = {fp32 = 4.0, bf16 = 1.0}>} {
