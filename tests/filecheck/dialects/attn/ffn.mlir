// The feed-forward kinds: attn.mlp (gated or plain) and attn.moe (its routing group-limited or not) print, parse
// back and verify; their verifiers state the same rules as the DSL's checks.
// RUN: %roundtrip
// RUN: %generic-roundtrip
// RUN: sed 's/experts_per_token = 2/experts_per_token = 9/' %s | not mlacc-opt 2>&1 | filecheck %s --check-prefix=K
// RUN: sed 's/width = 128 gated/width = 0 gated/' %s | not mlacc-opt 2>&1 | filecheck %s --check-prefix=WIDTH
// RUN: sed 's/expert_groups = 4/expert_groups = 3/' %s | not mlacc-opt 2>&1 | filecheck %s --check-prefix=GROUPS
// RUN: sed 's/groups_per_token = 2/groups_per_token = 5/' %s | not mlacc-opt 2>&1 | filecheck %s --check-prefix=PICKED
// RUN: sed 's/groups_per_token = 2/groups_per_token = 1/' %s | not mlacc-opt 2>&1 | filecheck %s --check-prefix=HOLD

builtin.module {
  func.func @up.d(%x: tensor<2x1x64xbf16>) -> tensor<2x1x64xbf16> {
    %out = attn.mlp %x layer "up" layers = 3 workload <"d", decode, batch = 2, context = 8, new_tokens = 1> d_model = 64 width = 128 gated : tensor<2x1x64xbf16> -> tensor<2x1x64xbf16>
    func.return %out : tensor<2x1x64xbf16>
  }
  func.func @plain.d(%x: tensor<2x1x64xbf16>) -> tensor<2x1x64xbf16> {
    %out = attn.mlp %x layer "plain" workload <"d", decode, batch = 2, context = 8, new_tokens = 1> d_model = 64 width = 256 : tensor<2x1x64xbf16> -> tensor<2x1x64xbf16>
    func.return %out : tensor<2x1x64xbf16>
  }
  func.func @e.d(%x: tensor<2x1x64xbf16>) -> tensor<2x1x64xbf16> {
    %out = attn.moe %x layer "e" layers = 58 workload <"d", decode, batch = 2, context = 8, new_tokens = 1> d_model = 64 experts = 8 experts_per_token = 2 expert_width = 32 shared_experts = 0 gated : tensor<2x1x64xbf16> -> tensor<2x1x64xbf16>
    func.return %out : tensor<2x1x64xbf16>
  }
  func.func @grouped.d(%x: tensor<2x1x64xbf16>) -> tensor<2x1x64xbf16> {
    %out = attn.moe %x layer "grouped" workload <"d", decode, batch = 2, context = 8, new_tokens = 1> d_model = 64 experts = 8 experts_per_token = 4 expert_width = 32 shared_experts = 1 expert_groups = 4 groups_per_token = 2 gated : tensor<2x1x64xbf16> -> tensor<2x1x64xbf16>
    func.return %out : tensor<2x1x64xbf16>
  }
}

// CHECK: attn.mlp %x layer "up" layers = 3 workload <"d", decode, batch = 2, context = 8, new_tokens = 1> d_model = 64 width = 128 gated : tensor<2x1x64xbf16> -> tensor<2x1x64xbf16>
// CHECK: attn.mlp %x layer "plain" workload <"d", decode, batch = 2, context = 8, new_tokens = 1> d_model = 64 width = 256 : tensor<2x1x64xbf16> -> tensor<2x1x64xbf16>
// CHECK: attn.moe %x layer "e" layers = 58 workload <"d", decode, batch = 2, context = 8, new_tokens = 1> d_model = 64 experts = 8 experts_per_token = 2 expert_width = 32 shared_experts = 0 gated : tensor<2x1x64xbf16> -> tensor<2x1x64xbf16>
// CHECK: attn.moe %x layer "grouped" workload <"d", decode, batch = 2, context = 8, new_tokens = 1> d_model = 64 experts = 8 experts_per_token = 4 expert_width = 32 shared_experts = 1 expert_groups = 4 groups_per_token = 2 gated : tensor<2x1x64xbf16> -> tensor<2x1x64xbf16>

// K: experts_per_token (9) must not exceed experts (8)
// WIDTH: width must be positive, got 0
// GROUPS: experts (8) must be divisible by expert_groups (3): the groups are equal
// PICKED: groups_per_token (5) must not exceed expert_groups (4)
// HOLD: groups_per_token (1) of expert_groups (4) hold 2 of the 8 experts, fewer than experts_per_token (4)
