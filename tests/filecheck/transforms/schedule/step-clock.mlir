// schedule on a chip whose preset models the step clock (costmodel/clock.py): the power limit leaves the
// step one SM clock, `sched.clock_hz`, and a GEMM bound by compute takes its time at that clock. Here the GEMM
// alone would hold its own clock (gemm_clock_hz, 0.8 GHz: 512 cycles of the 1 GHz `frequency_hz`, as measured);
// the norm after it is not clock-bound and draws memory_power = 0.5 of the limit, so the step holds
// f = 0.8 GHz x 512 / (512 - 0.5 x 256) = 1.0667 GHz (exponent 1) and the GEMM takes 512 x 0.8 / 1.0667 = 384.
// RUN: mlacc-opt %s -p schedule | filecheck %s
// A preset without the clock's constants keeps every op's measured time and says no clock:
// RUN: sed 's/clock_top_hz = 1.2e9, gemm_clock_hz = 0.8e9, attention_clock_hz = 0.9e9, clock_power_exponent = 1.0, memory_power = 0.5/memory = 1.0/' %s | mlacc-opt -p schedule | filecheck %s --check-prefix=NOCLOCK

builtin.module attributes {hw.target = #hw.target<"clocked",
    description = "test chip under a power limit: one 4x4 MAC array", frequency_hz = 1.0e9,
    compute = [#hw.compute<"array", count = 1, array = 4x4, macs_per_cycle = {fp32 = 16.0}>],
    memory = [
      #hw.memory<"sram", capacity_bytes = 8192, count = 1, read_bytes_per_cycle = 64.0, write_bytes_per_cycle = 64.0, read_pj_per_byte = 1.0, write_pj_per_byte = 1.0>,
      #hw.memory<"dram", capacity_bytes = 1048576, count = 1, read_bytes_per_cycle = 16.0, write_bytes_per_cycle = 16.0, read_pj_per_byte = 100.0, write_pj_per_byte = 100.0>],
    mac_pj = {fp32 = 4.0},
    efficiency = {clock_top_hz = 1.2e9, gemm_clock_hz = 0.8e9, attention_clock_hz = 0.9e9, clock_power_exponent = 1.0, memory_power = 0.5}>} {
  func.func @t.d(%x: tensor<1x16x32xf32>) -> tensor<1x16x16xf32> attributes {attn.layer = "t", attn.kind = "mla", attn.workload = #attn.workload<"d", decode, batch = 1, context = 3, new_tokens = 1>, attn.scheme = "recompute"} {
    %W = la.weight "W" : tensor<32x16xf32>
    %y = la.einsum "bsd,dq->bsq" %x, %W {mem.tiling = #mem.tiling<"sram", m = 16, n = 16, k = 32, order = "mkn">, mem.place = #mem.place<["dram", "dram"], "dram">} : tensor<1x16x32xf32>, tensor<32x16xf32> -> tensor<1x16x16xf32>
    %g = la.weight "g" : tensor<16xf32>
    %n = la.rmsnorm %y, %g eps = 1.000000e-06 {mem.place = #mem.place<["dram"], "dram">} : tensor<1x16x16xf32>, tensor<16xf32>
    func.return %n : tensor<1x16x16xf32>
  }
}

// CHECK:      func.func @t.d
// CHECK-SAME: sched.cycles = 640.0000{{[0-9]*}} : f64
// CHECK-SAME: sched.clock_hz = 106666666{{[0-9.]+}} : f64
// CHECK:      "sched.task"() <{task = "y", kind = "einsum", {{.*}} start = 0.000000e+00 : f64, end = 384.0000{{[0-9]*}} : f64, {{.*}} bound = "compute"
// CHECK:      "sched.task"() <{task = "n", kind = "rmsnorm", {{.*}} start = 384.0000{{[0-9]*}} : f64, end = 640.0000{{[0-9]*}} : f64

// NOCLOCK:      func.func @t.d
// NOCLOCK-SAME: sched.cycles = 7.680000e+02 : f64
// NOCLOCK-NOT:  sched.clock_hz
// NOCLOCK:      "sched.task"() <{task = "y", kind = "einsum", {{.*}} start = 0.000000e+00 : f64, end = 5.120000e+02 : f64
