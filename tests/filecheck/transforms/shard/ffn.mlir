// shard on MLP and MoE layers: tp splits the width letter f (the MLP's, each expert's and the shared experts'),
// the router, dispatch and combine are replicated, and the down projection's partial sum is all-reduced over tp:
// right after it in an MLP, once after the experts' combine and the shared experts' add in a MoE layer (linear
// ops carry the partial sum on). Under dp a MoE layer is expert parallel over the dp axis: each device holds
// 8 / 2 = 4 experts (`of 4`) and computes ceil(4 / 2) = 2 of the 4 that receive tokens, their rows brought by a
// mesh.all_to_all after the dispatch and sent back by another before the combine; its tokens stay on their dp
// rank (no all_gather). Located one-line errors: tp not dividing a width, dp not dividing the experts.
// RUN: mlacc compile %S/Inputs/ffn.attn --emit sharded --tp 2 -q | filecheck %s
// RUN: mlacc compile %S/Inputs/ffn.attn --emit sharded --tp 8 -q | filecheck %s --check-prefix=TP8
// RUN: not mlacc compile %S/Inputs/ffn.attn --emit sharded --tp 3 2>&1 | filecheck %s --check-prefix=WIDTH
// RUN: mlacc compile %S/Inputs/ffn.attn --emit sharded --dp 2 -q | filecheck %s --check-prefix=EP
// RUN: not mlacc compile %S/Inputs/ffn.attn --emit sharded --dp 3 --batch 6 2>&1 | filecheck %s --check-prefix=DP

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
// EP-LABEL: func.func @e.d(%x: tensor<1x1x16xf32>
// EP:      %routed = la.dispatch %x, %router_logits {{.*}} : tensor<1x1x16xf32>, tensor<1x1x8xf32> -> tensor<2x1x16xf32>
// EP-NEXT: %routed_exchanged = mesh.all_to_all %routed on @node axes = ["dp"] bytes = 128 {{.*}} : tensor<2x1x16xf32> -> tensor<2x1x16xf32>
// EP-NEXT: %W_up_experts = la.weight "W_up_experts" of 4 {mesh.sharding = #mesh.sharding<@node, [(dp), (), ()]>} : tensor<2x16x8xf32>
// EP-NEXT: %up_experts = la.einsum "amd,adf->amf" %routed_exchanged, %W_up_experts
// EP:      %down_experts_returned = mesh.all_to_all %down_experts on @node axes = ["dp"] bytes = 128 {{.*}} : tensor<2x1x16xf32> -> tensor<2x1x16xf32>
// EP-NEXT: %experts_out = la.combine %down_experts_returned, %router_logits {{.*}} -> tensor<1x1x16xf32>
// EP-NEXT: %output = la.add %experts_out, %down_shared
// EP-NEXT: func.return %output : tensor<1x1x16xf32>
// DP: ffn.attn:3:7: error: layer 'e' has 8 experts, which dp 3 does not divide: under dp a MoE layer's experts are spread over the dp GPUs (expert parallelism), so dp must divide them
// DP-NOT: Traceback
