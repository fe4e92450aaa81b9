// lower-attn on a MoE layer whose routing is group-limited (expert_groups > 1): la.dispatch carries
// `expert_groups = 4 groups_per_token = 2` (what the cost model charges its routing kernels by); the routing's
// counts (4 experts of 1 row, as in moe.mlir) and every other op are those of plain top-k. A layer without the
// fields lowers as before: no property on its dispatch.
// RUN: mlacc-opt %s -p lower-attn | filecheck %s

builtin.module {
  func.func @grouped.d(%x: tensor<2x1x16xf32>) -> tensor<2x1x16xf32> {
    %out = attn.moe %x layer "grouped" workload <"d", decode, batch = 2, context = 4, new_tokens = 1> d_model = 16 experts = 8 experts_per_token = 2 expert_width = 8 shared_experts = 0 expert_groups = 4 groups_per_token = 2 gated : tensor<2x1x16xf32> -> tensor<2x1x16xf32>
    func.return %out : tensor<2x1x16xf32>
  }
  func.func @plain.d(%x: tensor<2x1x16xf32>) -> tensor<2x1x16xf32> {
    %out = attn.moe %x layer "plain" workload <"d", decode, batch = 2, context = 4, new_tokens = 1> d_model = 16 experts = 8 experts_per_token = 2 expert_width = 8 shared_experts = 0 gated : tensor<2x1x16xf32> -> tensor<2x1x16xf32>
    func.return %out : tensor<2x1x16xf32>
  }
}

// CHECK-LABEL: func.func @grouped.d
// CHECK:         %router_logits = la.einsum "bsd,dx->bsx" %x, %W_router : tensor<2x1x16xf32>, tensor<16x8xf32> -> tensor<2x1x8xf32>
// CHECK-NEXT:    %routed = la.dispatch %x, %router_logits expert_groups = 4 groups_per_token = 2 : tensor<2x1x16xf32>, tensor<2x1x8xf32> -> tensor<4x1x16xf32>
// CHECK-NEXT:    %W_up_experts = la.weight "W_up_experts" of 8 : tensor<4x16x8xf32>
// CHECK:         %experts_out = la.combine %down_experts, %router_logits : tensor<4x1x16xf32>, tensor<2x1x8xf32> -> tensor<2x1x16xf32>
// CHECK-NEXT:    func.return %experts_out

// CHECK-LABEL: func.func @plain.d
// CHECK:         %router_logits = la.einsum "bsd,dx->bsx" %x, %W_router : tensor<2x1x16xf32>, tensor<16x8xf32> -> tensor<2x1x8xf32>
// CHECK-NEXT:    %routed = la.dispatch %x, %router_logits : tensor<2x1x16xf32>, tensor<2x1x8xf32> -> tensor<4x1x16xf32>
// CHECK-NEXT:    %W_up_experts = la.weight "W_up_experts" of 8 : tensor<4x16x8xf32>
// CHECK:         %experts_out = la.combine %down_experts, %router_logits : tensor<4x1x16xf32>, tensor<2x1x8xf32> -> tensor<2x1x16xf32>
// CHECK-NEXT:    func.return %experts_out
