// convert-la-to-linalg on MLP layers (a gated SwiGLU one: d_model 16, width 32; a plain GELU one, width 24): the
// GEMMs are generics with their weights laid out [N, K] as an attention layer's are, SiLU, GELU and the gate's
// product elementwise generics.
// RUN: mlacc-opt %s -p convert-la-to-linalg | filecheck %s
// RUN: mlacc-opt %s -p convert-la-to-linalg | mlacc-opt | filecheck %s
// A MoE layer's routing (la.dispatch, la.combine) keeps the rows each expert gets under uniform routing, not which
// tokens go where: it is refused in one line, naming the op.
// RUN: mlacc compile %S/../shard/Inputs/ffn.attn --emit la -q > %t.mlir
// RUN: not mlacc-opt %t.mlir -p convert-la-to-linalg 2>&1 | filecheck %s --check-prefix=MOE

builtin.module {
  func.func @up.d(%x: tensor<2x1x16xf32>) -> tensor<2x1x16xf32> attributes {attn.layer = "up", attn.kind = "mlp", attn.workload = #attn.workload<"d", decode, batch = 2, context = 4, new_tokens = 1>} {
    %W_up = la.weight "W_up" : tensor<16x32xf32>
    %up = la.einsum "bsd,df->bsf" %x, %W_up : tensor<2x1x16xf32>, tensor<16x32xf32> -> tensor<2x1x32xf32>
    %W_gate = la.weight "W_gate" : tensor<16x32xf32>
    %gate = la.einsum "bsd,df->bsf" %x, %W_gate : tensor<2x1x16xf32>, tensor<16x32xf32> -> tensor<2x1x32xf32>
    %gate_act = la.silu %gate : tensor<2x1x32xf32>
    %hidden = la.mul %gate_act, %up : tensor<2x1x32xf32>
    %W_down = la.weight "W_down" : tensor<32x16xf32>
    %down = la.einsum "bsf,fd->bsd" %hidden, %W_down : tensor<2x1x32xf32>, tensor<32x16xf32> -> tensor<2x1x16xf32>
    func.return %down : tensor<2x1x16xf32>
  }
  func.func @plain.d(%x: tensor<2x1x16xf32>) -> tensor<2x1x16xf32> attributes {attn.layer = "plain", attn.kind = "mlp", attn.workload = #attn.workload<"d", decode, batch = 2, context = 4, new_tokens = 1>} {
    %W_up = la.weight "W_up" : tensor<16x24xf32>
    %up = la.einsum "bsd,df->bsf" %x, %W_up : tensor<2x1x16xf32>, tensor<16x24xf32> -> tensor<2x1x24xf32>
    %hidden = la.gelu %up : tensor<2x1x24xf32>
    %W_down = la.weight "W_down" : tensor<24x16xf32>
    %down = la.einsum "bsf,fd->bsd" %hidden, %W_down : tensor<2x1x24xf32>, tensor<24x16xf32> -> tensor<2x1x16xf32>
    func.return %down : tensor<2x1x16xf32>
  }
}

// CHECK:      func.func @up.d(%x: tensor<2x1x16xf32>, %W_up: tensor<32x16xf32> {mlacc.weight = "W_up", mlacc.layout = array<i64: 1, 0>}, %W_gate: tensor<32x16xf32> {mlacc.weight = "W_gate", mlacc.layout = array<i64: 1, 0>}, %W_down: tensor<16x32xf32> {mlacc.weight = "W_down", mlacc.layout = array<i64: 1, 0>})
// SiLU: x / (1 + exp(-x)).
// CHECK:      %gate_act_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%gate_3 : tensor<2x1x32xf32>) outs(%gate_act : tensor<2x1x32xf32>) {
// CHECK-NEXT: ^bb0(%[[G:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:   %[[NEG:.*]] = arith.negf %[[G]] : f32
// CHECK-NEXT:   %[[E:.*]] = math.exp %[[NEG]] : f32
// CHECK-NEXT:   %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT:   %[[D:.*]] = arith.addf %[[ONE]], %[[E]] : f32
// CHECK-NEXT:   %[[S:.*]] = arith.divf %[[G]], %[[D]] : f32
// CHECK-NEXT:   linalg.yield %[[S]] : f32
// The gate times the up projection, elementwise:
// CHECK:      %hidden_1 = linalg.generic {{.*}} ins(%gate_act_1, %up_3 : tensor<2x1x32xf32>, tensor<2x1x32xf32>)
// CHECK-NEXT: ^bb0(%[[A:.*]]: f32, %[[B:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:   %[[P:.*]] = arith.mulf %[[A]], %[[B]] : f32
// CHECK-NEXT:   linalg.yield %[[P]] : f32
// The down projection reads W_down [d, f] at (d2, d3), the width summed innermost:
// CHECK:      %down_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%hidden_1, %W_down : tensor<2x1x32xf32>, tensor<16x32xf32>)
// CHECK:      func.return %down_3 : tensor<2x1x16xf32>

// GELU, tanh form: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
// CHECK:      func.func @plain.d(%x: tensor<2x1x16xf32>, %W_up: tensor<24x16xf32> {mlacc.weight = "W_up", mlacc.layout = array<i64: 1, 0>}, %W_down: tensor<16x24xf32> {mlacc.weight = "W_down", mlacc.layout = array<i64: 1, 0>})
// CHECK:      %hidden_1 = linalg.generic {{.*}} ins(%up_3 : tensor<2x1x24xf32>) outs(%hidden : tensor<2x1x24xf32>) {
// CHECK-NEXT: ^bb0(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:   %[[X2:.*]] = arith.mulf %[[X]], %[[X]] : f32
// CHECK-NEXT:   %[[X3:.*]] = arith.mulf %[[X2]], %[[X]] : f32
// CHECK-NEXT:   %[[C:.*]] = arith.constant 4.471500e-02 : f32
// CHECK-NEXT:   %[[CX3:.*]] = arith.mulf %[[C]], %[[X3]] : f32
// CHECK-NEXT:   %[[IN:.*]] = arith.addf %[[X]], %[[CX3]] : f32
// CHECK-NEXT:   %[[K:.*]] = arith.constant 0.797884583 : f32
// CHECK-NEXT:   %[[KIN:.*]] = arith.mulf %[[K]], %[[IN]] : f32
// CHECK-NEXT:   %[[ONE2:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT:   %[[T:.*]] = math.tanh %[[KIN]] : f32
// CHECK-NEXT:   %[[OPT:.*]] = arith.addf %[[ONE2]], %[[T]] : f32
// CHECK-NEXT:   %[[HALF:.*]] = arith.constant 5.000000e-01 : f32
// CHECK-NEXT:   %[[HX:.*]] = arith.mulf %[[HALF]], %[[X]] : f32
// CHECK-NEXT:   %[[R:.*]] = arith.mulf %[[HX]], %[[OPT]] : f32
// CHECK-NEXT:   linalg.yield %[[R]] : f32
// CHECK-NOT:  la.

// MOE:     error: convert-la-to-linalg: @e.d holds 'la.dispatch', a MoE layer's routing, which has no upstream form here: the IR keeps the rows each expert gets under uniform routing, not which tokens go where (that depends on the data)
// MOE-NOT: Traceback
