// The feed-forward kinds: attn.mlp (gated or plain) and attn.moe print, parse back and verify; their verifiers
// state the same rules as the DSL's checks.
// RUN: %roundtrip
// RUN: %generic-roundtrip
// RUN: sed 's/experts_per_token = 2/experts_per_token = 9/' %s | not mlacc-opt 2>&1 | filecheck %s --check-prefix=K
// RUN: sed 's/width = 128 gated/width = 0 gated/' %s | not mlacc-opt 2>&1 | filecheck %s --check-prefix=WIDTH

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
}

// CHECK: attn.mlp %x layer "up" layers = 3 workload <"d", decode, batch = 2, context = 8, new_tokens = 1> d_model = 64 width = 128 gated : tensor<2x1x64xbf16> -> tensor<2x1x64xbf16>
// CHECK: attn.mlp %x layer "plain" workload <"d", decode, batch = 2, context = 8, new_tokens = 1> d_model = 64 width = 256 : tensor<2x1x64xbf16> -> tensor<2x1x64xbf16>
// CHECK: attn.moe %x layer "e" layers = 58 workload <"d", decode, batch = 2, context = 8, new_tokens = 1> d_model = 64 experts = 8 experts_per_token = 2 expert_width = 32 shared_experts = 0 gated : tensor<2x1x64xbf16> -> tensor<2x1x64xbf16>

// K: experts_per_token (9) must not exceed experts (8)
// WIDTH: width must be positive, got 0
