// shard{ep=E}: a MoE layer's experts spread over E of the tp x dp GPUs (default E = dp), dp times a divisor of tp.
// - tp 2, ep 2 (SGLang's --tp 2 --ep 2): the mesh @node_ep2(dp = 1, ep = 2, tp = 1) splits the experts over `ep`;
//   each GPU holds 8 / 2 = 4 experts whole and computes 2 of the 4 that receive tokens. Every GPU holds every
//   token already (tp), so there is no all_to_all: the combine leaves a partial sum over the experts the GPU does
//   not hold, reduced over `ep` once with the shared expert's (its width split over all tp GPUs, here `ep`).
// - tp 4, dp 2, ep 4: @node_ep4(dp = 2, ep = 2, tp = 2): experts over (dp, ep), each expert's width over `tp`,
//   the shared expert's over (ep, tp); the rows cross the dp groups by all_to_all, and the output is reduced over
//   ep and tp together.
// - tp 2, dp 2 (ep = dp): the experts' partial sum over tp is reduced once with the shared expert's.
// - mlacc-opt takes ep as a pass option; the MLP layer keeps @node (ep is for experts).
// RUN: mlacc compile %S/Inputs/ffn.attn --emit sharded --hw h100x8 --tp 2 --ep 2 -q | filecheck %s
// RUN: mlacc compile %S/Inputs/ffn.attn --emit sharded --hw h100x8 --tp 4 --dp 2 --ep 4 --batch 4 -q | filecheck %s --check-prefix=MIX
// RUN: mlacc compile %S/Inputs/ffn.attn --emit sharded --hw h100x8 --tp 2 --dp 2 --batch 4 -q | filecheck %s --check-prefix=TPDP
// RUN: mlacc compile %S/Inputs/ffn.attn --emit absorbed -q -o %t.mlir
// RUN: mlacc-opt %t.mlir --hw h100x8 -p 'shard{tp=2 dp=1 ep=2}' | filecheck %s

// CHECK:       mesh.mesh @node(dp = 1, tp = 2)
// CHECK-NEXT:  mesh.mesh @node_ep2(dp = 1, ep = 2, tp = 1)
// CHECK-LABEL: func.func @up.d
// CHECK-SAME:  mesh.tp = 2 : i64, mesh.dp = 1 : i64, mesh.ep = 2 : i64
// CHECK:       %W_up = la.weight "W_up" {mesh.sharding = #mesh.sharding<@node, [(), (tp)]>} : tensor<16x16xf32>
// CHECK-LABEL: func.func @e.d
// CHECK:       %W_up_shared = la.weight "W_up_shared" {mesh.sharding = #mesh.sharding<@node_ep2, [(), (ep)]>} : tensor<16x4xf32>
// CHECK:       %routed = la.dispatch %x, %router_logits {mesh.sharding = #mesh.sharding<@node_ep2, [(ep), (), ()]>} : tensor<2x1x16xf32>, tensor<2x1x8xf32> -> tensor<2x1x16xf32>
// CHECK-NEXT:  %W_up_experts = la.weight "W_up_experts" of 4 {mesh.sharding = #mesh.sharding<@node_ep2, [(ep), (), ()]>} : tensor<2x16x8xf32>
// CHECK-NOT:   mesh.all_to_all
// CHECK:       %experts_out = la.combine %down_experts, %router_logits
// CHECK-NEXT:  %output_partial = la.add %experts_out, %down_shared
// CHECK-NEXT:  %output = mesh.all_reduce %output_partial on @node_ep2 axes = ["ep"] bytes = 128 {{.*}} : tensor<2x1x16xf32> -> tensor<2x1x16xf32>
// CHECK-NEXT:  func.return %output

// MIX:       mesh.mesh @node_ep4(dp = 2, ep = 2, tp = 2)
// MIX-LABEL: func.func @e.d(%x: tensor<2x1x16xf32>
// MIX:       %W_up_shared = la.weight "W_up_shared" {mesh.sharding = #mesh.sharding<@node_ep4, [(), (ep, tp)]>} : tensor<16x2xf32>
// MIX:       %routed = la.dispatch %x, %router_logits {mesh.sharding = #mesh.sharding<@node_ep4, [(dp, ep), (), ()]>} : tensor<2x1x16xf32>, tensor<2x1x8xf32> -> tensor<2x2x16xf32>
// MIX-NEXT:  %routed_exchanged = mesh.all_to_all %routed on @node_ep4 axes = ["dp"] bytes = 256
// MIX-NEXT:  %W_up_experts = la.weight "W_up_experts" of 2 {mesh.sharding = #mesh.sharding<@node_ep4, [(dp, ep), (), (tp)]>} : tensor<2x16x4xf32>
// MIX:       %down_experts_returned = mesh.all_to_all %down_experts on @node_ep4 axes = ["dp"] bytes = 256
// MIX-NEXT:  %experts_out = la.combine %down_experts_returned, %router_logits
// MIX-NEXT:  %output_partial = la.add %experts_out, %down_shared
// MIX-NEXT:  %output = mesh.all_reduce %output_partial on @node_ep4 axes = ["ep", "tp"] bytes = 128

// TPDP-LABEL: func.func @e.d
// TPDP:       %down_shared = la.einsum "bsf,fd->bsd"
// TPDP-NOT:   mesh.all_reduce
// TPDP:       %experts_out = la.combine %down_experts_returned, %router_logits
// TPDP-NEXT:  %output_partial = la.add %experts_out, %down_shared
// TPDP-NEXT:  %output = mesh.all_reduce %output_partial on @node axes = ["tp"] bytes = 128
