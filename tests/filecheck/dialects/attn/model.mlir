// A layer that says what the rest of its model is (#attn.model) and keeps its KV cache in another dtype
// (kv_dtype): both print, parse back and verify, in the custom and the generic form.
// RUN: %roundtrip
// RUN: %generic-roundtrip

builtin.module {
  func.func @llama.d(%x: tensor<1x1x64xbf16>) -> tensor<1x1x64xbf16> {
    %out = attn.gqa %x layer "llama" layers = 4 model <vocab = 1000, tie_embeddings = 0, mlp = 224, gated = 1, dense_layers = 0, experts = 0, experts_per_token = 0, shared_experts = 0, expert_width = 0, mtp_layers = 0> kv_dtype = f8E4M3FN workload <"d", decode, batch = 1, context = 8, new_tokens = 1> d_model = 64 heads = 8 kv_heads = 2 head_dim = 8 : tensor<1x1x64xbf16> -> tensor<1x1x64xbf16>
    func.return %out : tensor<1x1x64xbf16>
  }
  func.func @v3.d(%x: tensor<1x1x64xbf16>) -> tensor<1x1x64xbf16> {
    %out = attn.mla %x layer "v3" layers = 4 model <vocab = 1000, tie_embeddings = 1, mlp = 128, gated = 1, dense_layers = 1, experts = 8, experts_per_token = 2, shared_experts = 1, expert_width = 32, mtp_layers = 1> workload <"d", decode, batch = 1, context = 8, new_tokens = 1> d_model = 64 heads = 2 q_rank = 32 kv_rank = 16 qk_nope_dim = 8 qk_rope_dim = 4 v_dim = 8 : tensor<1x1x64xbf16> -> tensor<1x1x64xbf16>
    func.return %out : tensor<1x1x64xbf16>
  }
}

// CHECK:      attn.gqa %x layer "llama" layers = 4 model <vocab = 1000, tie_embeddings = 0, mlp = 224, gated = 1, dense_layers = 0, experts = 0, experts_per_token = 0, shared_experts = 0, expert_width = 0, mtp_layers = 0> kv_dtype = f8E4M3FN workload
// CHECK:      attn.mla %x layer "v3" layers = 4 model <vocab = 1000, tie_embeddings = 1, mlp = 128, gated = 1, dense_layers = 1, experts = 8, experts_per_token = 2, shared_experts = 1, expert_width = 32, mtp_layers = 1> workload
