// shard on a MoE layer with no shared expert (Mixtral, Qwen-MoE): the combine's result is the layer's output, with
// no `la.add` of a shared expert's `bsd` to give it its letters, so it takes them from the combine itself (the
// logits' `bs`, the rows' `d`) and splits over dp like the batch it came from: each GPU's combine yields its
// batch / dp tokens (4 / 2 = 2), the function returns them, and the experts' partial sum is reduced after it.
// - dp 2 (ep = dp): rows cross by all_to_all, nothing to reduce.
// - tp 2 x dp 2: each expert's width over tp, the combine's partial sum reduced over tp.
// - tp 4 x dp 2, ep 4: @node_ep4(dp = 2, ep = 2, tp = 2), reduced over ep and tp.
// - tp 2, ep 2: no dp, the combine's output whole on every GPU (unchanged before the fix too).
// RUN: mlacc compile %S/Inputs/moe-unshared.attn --emit sharded --hw h100x8 --dp 2 -q | filecheck %s
// RUN: mlacc compile %S/Inputs/moe-unshared.attn --emit sharded --hw h100x8 --tp 2 --dp 2 -q | filecheck %s --check-prefix=TPDP
// RUN: mlacc compile %S/Inputs/moe-unshared.attn --emit sharded --hw h100x8 --tp 4 --dp 2 --ep 4 -q | filecheck %s --check-prefix=MIX
// RUN: mlacc compile %S/Inputs/moe-unshared.attn --emit sharded --hw h100x8 --tp 2 --ep 2 -q | filecheck %s --check-prefix=TPEP

// CHECK:       mesh.mesh @node(dp = 2, tp = 1)
// CHECK-LABEL: func.func @e.d(%x: tensor<2x1x16xf32> {mesh.sharding = #mesh.sharding<@node, [(dp), (), ()]>}) -> tensor<2x1x16xf32>
// CHECK:       %down_experts_returned = mesh.all_to_all %down_experts on @node axes = ["dp"]
// CHECK-NEXT:  %experts_out = la.combine %down_experts_returned, %router_logits {mesh.sharding = #mesh.sharding<@node, [(dp), (), ()]>} : tensor<3x2x16xf32>, tensor<2x1x8xf32> -> tensor<2x1x16xf32>
// CHECK-NEXT:  func.return %experts_out : tensor<2x1x16xf32>

// TPDP:       mesh.mesh @node(dp = 2, tp = 2)
// TPDP-LABEL: func.func @e.d(%x: tensor<2x1x16xf32> {{.*}}) -> tensor<2x1x16xf32>
// TPDP:       %experts_out_partial = la.combine %down_experts_returned, %router_logits {mesh.sharding = #mesh.sharding<@node, [(dp), (), ()]>} : tensor<3x2x16xf32>, tensor<2x1x8xf32> -> tensor<2x1x16xf32>
// TPDP-NEXT:  %experts_out = mesh.all_reduce %experts_out_partial on @node axes = ["tp"] bytes = 128 {mesh.sharding = #mesh.sharding<@node, [(dp), (), ()]>} : tensor<2x1x16xf32> -> tensor<2x1x16xf32>
// TPDP-NEXT:  func.return %experts_out : tensor<2x1x16xf32>

// MIX:       mesh.mesh @node_ep4(dp = 2, ep = 2, tp = 2)
// MIX-LABEL: func.func @e.d(%x: tensor<2x1x16xf32> {{.*}}) -> tensor<2x1x16xf32>
// MIX:       %experts_out_partial = la.combine %down_experts_returned, %router_logits {mesh.sharding = #mesh.sharding<@node_ep4, [(dp), (), ()]>} : tensor<2x2x16xf32>, tensor<2x1x8xf32> -> tensor<2x1x16xf32>
// MIX-NEXT:  %experts_out = mesh.all_reduce %experts_out_partial on @node_ep4 axes = ["ep", "tp"] bytes = 128 {{.*}} : tensor<2x1x16xf32> -> tensor<2x1x16xf32>
// MIX-NEXT:  func.return %experts_out : tensor<2x1x16xf32>

// TPEP:       mesh.mesh @node_ep2(dp = 1, ep = 2, tp = 1)
// TPEP-LABEL: func.func @e.d(%x: tensor<4x1x16xf32> {{.*}}) -> tensor<4x1x16xf32>
// TPEP-NOT:   mesh.all_to_all
// TPEP:       %experts_out_partial = la.combine %down_experts, %router_logits {mesh.sharding = #mesh.sharding<@node_ep2, [(), (), ()]>} : tensor<3x2x16xf32>, tensor<4x1x8xf32> -> tensor<4x1x16xf32>
// TPEP-NEXT:  %experts_out = mesh.all_reduce %experts_out_partial on @node_ep2 axes = ["ep"] bytes = 256 {{.*}} : tensor<4x1x16xf32> -> tensor<4x1x16xf32>
// TPEP-NEXT:  func.return %experts_out : tensor<4x1x16xf32>
