// sched.task in its generic form, with the optional fused kernel and kernel library: print -> parse -> print is a
// fixed point (the schedule pass emits these; tests/filecheck/transforms/schedule/ checks their values).
// RUN: %roundtrip
// RUN: %generic-roundtrip

builtin.module {
  func.func @m.d(%x: tensor<2x8xf32>) -> tensor<2x8xf32> attributes {sched.cycles = 7.200000e+01 : f64, sched.energy_pj = 1.000000e+03 : f64} {
    "sched.task"() <{task = "c_q", kind = "einsum", unit = "array", units_used = 1 : i64, start = 0.000000e+00 : f64, end = 7.200000e+01 : f64, flops = 256 : i64, bound = "dram", bytes = {sram = 8.640000e+02 : f64, dram = 5.760000e+02 : f64}, energy_pj = {mac = 5.120000e+02 : f64, dram = 5.760000e+04 : f64}, library = "cublaslt"}> : () -> ()
    "sched.task"() <{task = "probs", kind = "softmax", unit = "array", units_used = 1 : i64, start = 7.200000e+01 : f64, end = 8.000000e+01 : f64, flops = 64 : i64, bound = "compute", bytes = {sram = 6.400000e+01 : f64}, energy_pj = {mac = 1.000000e+00 : f64}, kernel = "flash", library = "flashmla"}> : () -> ()
    func.return %x : tensor<2x8xf32>
  }
}

// CHECK:      builtin.module {
// CHECK-NEXT:   func.func @m.d(%x: tensor<2x8xf32>) -> tensor<2x8xf32> attributes {sched.cycles = 7.200000e+01 : f64, sched.energy_pj = 1.000000e+03 : f64} {
// CHECK-NEXT:     "sched.task"() <{task = "c_q", kind = "einsum", unit = "array", units_used = 1 : i64, start = 0.000000e+00 : f64, end = 7.200000e+01 : f64, flops = 256 : i64, bound = "dram", bytes = {sram = 8.640000e+02 : f64, dram = 5.760000e+02 : f64}, energy_pj = {mac = 5.120000e+02 : f64, dram = 5.760000e+04 : f64}, library = "cublaslt"}> : () -> ()
// CHECK-NEXT:     "sched.task"() <{task = "probs", kind = "softmax", unit = "array", units_used = 1 : i64, start = 7.200000e+01 : f64, end = 8.000000e+01 : f64, flops = 64 : i64, bound = "compute", bytes = {sram = 6.400000e+01 : f64}, energy_pj = {mac = 1.000000e+00 : f64}, kernel = "flash", library = "flashmla"}> : () -> ()
// CHECK-NEXT:     func.return %x : tensor<2x8xf32>
// CHECK-NEXT:   }
// CHECK-NEXT: }
