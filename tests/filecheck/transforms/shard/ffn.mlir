// shard on MLP and MoE layers: tp splits the width letter f (the MLP's, each expert's and the shared experts'),
// the router, dispatch and combine are replicated, and the down projection's partial sum is all-reduced over tp:
// right after it in an MLP, once after the experts' combine and the shared experts' add in a MoE layer (linear
// ops carry the partial sum on). Located one-line errors: tp not dividing a width, a MoE layer under dp.
// RUN: mlacc compile %S/Inputs/ffn.attn --emit sharded --tp 2 -q | filecheck %s
// RUN: mlacc compile %S/Inputs/ffn.attn --emit sharded --tp 8 -q | filecheck %s --check-prefix=TP8
// RUN: not mlacc compile %S/Inputs/ffn.attn --emit sharded --tp 3 2>&1 | filecheck %s --check-prefix=WIDTH
// RUN: not mlacc compile %S/Inputs/ffn.attn --emit sharded --dp 2 2>&1 | filecheck %s --check-prefix=DP

// CHECK:      mesh.mesh @node(dp = 1, tp = 2)
// CHECK-LABEL: func.func @up.d
// CHECK:      %W_up = la.weight "W_up" {mesh.sharding = #mesh.sharding<@node, [(), (tp)]>} : tensor<16x16xf32>
// CHECK:      %gate_act = la.silu %gate {mesh.sharding = #mesh.sharding<@node, [(), (), (tp)]>} : tensor<2x1x16xf32>
// CHECK-NEXT: %hidden = la.mul %gate_act, %up {mesh.sharding = #mesh.sharding<@node, [(), (), (tp)]>} : tensor<2x1x16xf32>
// CHECK:      %W_down = la.weight "W_down" {mesh.sharding = #mesh.sharding<@node, [(tp), ()]>} : tensor<16x16xf32>
// CHECK-NEXT: %down_partial = la.einsum "bsf,fd->bsd" %hidden, %W_down
// CHECK-NEXT: %down = mesh.all_reduce %down_partial on @node axes = ["tp"] bytes = 128 {{.*}} : tensor<2x1x16xf32> -> tensor<2x1x16xf32>
// CHECK-NEXT: func.return %down
// CHECK-LABEL: func.func @e.d
// CHECK:      %down_shared = la.einsum "bsf,fd->bsd"
// CHECK-NOT:  mesh.all_reduce
// CHECK:      %W_router = la.weight "W_router" {mesh.sharding = #mesh.sharding<@node, [(), ()]>} : tensor<16x8xf32>
// CHECK:      %routed = la.dispatch %x, %router_logits {mesh.sharding = #mesh.sharding<@node, [(), (), ()]>} : tensor<2x1x16xf32>, tensor<2x1x8xf32> -> tensor<4x1x16xf32>
// CHECK-NEXT: %W_up_experts = la.weight "W_up_experts" of 8 {mesh.sharding = #mesh.sharding<@node, [(), (), (tp)]>} : tensor<4x16x4xf32>
// CHECK:      %down_experts = la.einsum "amf,afd->amd"
// CHECK-NOT:  mesh.all_reduce
// CHECK:      %experts_out = la.combine %down_experts, %router_logits
// CHECK-NEXT: %output_partial = la.add %experts_out, %down_shared
// CHECK-NEXT: %output = mesh.all_reduce %output_partial on @node axes = ["tp"] bytes = 128 {{.*}} : tensor<2x1x16xf32> -> tensor<2x1x16xf32>
// CHECK-NEXT: func.return %output

// TP8: %W_up_experts = la.weight "W_up_experts" of 8 {{.*}} : tensor<4x16x1xf32>

// WIDTH: ffn.attn:2:7: error: layer 'up' is 32 wide, which tp 3 does not divide: tp must divide an MLP's (and each expert's) width
// WIDTH-NOT: Traceback
// DP: ffn.attn:3:7: error: layer 'e' is a mixture of experts: dp 2 would change its routing on each GPU, which is not modelled: use tp (expert parallelism is not built)
// DP-NOT: Traceback
