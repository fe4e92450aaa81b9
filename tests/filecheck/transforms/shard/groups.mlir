// shard keeps a group-limited dispatch's `expert_groups` and `groups_per_token`: under expert parallelism over dp
// (tp 2, dp 2, ep 4, as ep.mlir's MIX) the routing is replicated, each GPU routing its own tokens over every group.
// RUN: mlacc-opt %s --hw h100x8 -p 'lower-attn,shard{tp=2 dp=2 ep=4}' | filecheck %s

builtin.module {
  func.func @grouped.d(%x: tensor<4x1x16xf32>) -> tensor<4x1x16xf32> {
    %out = attn.moe %x layer "grouped" workload <"d", decode, batch = 4, context = 4, new_tokens = 1> d_model = 16 experts = 8 experts_per_token = 2 expert_width = 8 shared_experts = 1 expert_groups = 4 groups_per_token = 2 gated : tensor<4x1x16xf32> -> tensor<4x1x16xf32>
    func.return %out : tensor<4x1x16xf32>
  }
}

// CHECK:      %routed = la.dispatch %x, %router_logits expert_groups = 4 groups_per_token = 2 {mesh.sharding = #mesh.sharding<@node_ep4, [(dp, ep), (), ()]>} : tensor<2x1x16xf32>, tensor<2x1x8xf32> -> tensor<2x2x16xf32>
// CHECK-NEXT: %routed_exchanged = mesh.all_to_all %routed on @node_ep4 axes = ["dp"]
