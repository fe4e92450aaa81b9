// tile, place and schedule take MLP and MoE layers as they are, no special case: their GEMMs are tiled einsums and
// their elementwise ops (silu, mul, dispatch, combine) small tasks. On the tiny test chip (fp32): the gated MLP's
// up, gate and down GEMMs each 2 x 2 x 32 x 16 = 2048 FLOPs; SiLU 4 FLOPs per element (256), mul 1 (64). The MoE
// layer's grouped expert GEMMs compute 4 experts x 1 row (2 x 4 x 8 x 16 = 1024 FLOPs) and read only those 4
// experts' weights from DRAM (4 x 16 x 8 x 4 B = 2048 B); dispatch weighs the 2 x 8 router logits (5 FLOPs each),
// combine weighs and sums the 4 x 16 expert outputs (2 each).
// RUN: mlacc compile %S/../shard/Inputs/ffn.attn --hw %S/../../dialects/hw/Inputs/tiny.toml --emit placed -q > %t.mlir
// RUN: mlacc-opt %t.mlir -p schedule | filecheck %s
// RUN: mlacc-opt %t.mlir -p schedule | mlacc-opt | filecheck %s

// CHECK-LABEL: func.func @up.d
// CHECK-SAME:    sched.cycles = {{.*}} : f64, sched.energy_pj = {{.*}} : f64
// CHECK:         "sched.task"() <{task = "up", kind = "einsum", {{.*}} flops = 2048 : i64
// CHECK:         "sched.task"() <{task = "gate", kind = "einsum", {{.*}} flops = 2048 : i64
// CHECK:         "sched.task"() <{task = "gate_act", kind = "silu", {{.*}} flops = 256 : i64
// CHECK:         "sched.task"() <{task = "hidden", kind = "mul", {{.*}} flops = 64 : i64
// CHECK:         "sched.task"() <{task = "down", kind = "einsum", {{.*}} flops = 2048 : i64
// CHECK-LABEL: func.func @e.d
// CHECK:         "sched.task"() <{task = "routed", kind = "dispatch", {{.*}} flops = 80 : i64
// CHECK:         "sched.task"() <{task = "up_experts", kind = "einsum", {{.*}} flops = 1024 : i64, bound = "dram", bytes = {sram = {{.*}}, dram = 2.048000e+03 : f64}
// CHECK:         "sched.task"() <{task = "down_experts", kind = "einsum", {{.*}} flops = 1024 : i64
// CHECK:         "sched.task"() <{task = "experts_out", kind = "combine", {{.*}} flops = 128 : i64
// CHECK:         "sched.task"() <{task = "output", kind = "add"
