// lower-attn on a layer with its own KV-cache dtype and a whole model around it: the caches are stored and loaded
// as fp8 (`stored`), the function records the model (attn.model) and one attention layer's parameters
// (attn.params: 64x8x8 W_Q + 2 x 64x2x8 W_K, W_V + 8x8x64 W_O = 10240).
// RUN: mlacc-opt %s -p lower-attn | filecheck %s

builtin.module {
  func.func @llama.d(%x: tensor<1x1x64xbf16>) -> tensor<1x1x64xbf16> {
    %out = attn.gqa %x layer "llama" layers = 4 model <vocab = 1000, tie_embeddings = 0, mlp = 224, gated = 1, dense_layers = 0, experts = 0, experts_per_token = 0, shared_experts = 0, expert_width = 0, mtp_layers = 0> kv_dtype = f8E4M3FN workload <"d", decode, batch = 1, context = 8, new_tokens = 1> d_model = 64 heads = 8 kv_heads = 2 head_dim = 8 : tensor<1x1x64xbf16> -> tensor<1x1x64xbf16>
    func.return %out : tensor<1x1x64xbf16>
  }
}

// CHECK-LABEL: func.func @llama.d
// CHECK-SAME:    attn.layers = 4 : i64, attn.model = #attn.model<vocab = 1000, tie_embeddings = 0, mlp = 224, gated = 1, dense_layers = 0, experts = 0, experts_per_token = 0, shared_experts = 0, expert_width = 0, mtp_layers = 0>, attn.params = 10240 : i64
// CHECK:         la.kv_store %key_rot into "key" stored f8E4M3FN : tensor<1x1x2x8xbf16>
// CHECK-NEXT:    %key_cached = la.kv_load "key" stored f8E4M3FN : tensor<1x8x2x8xbf16>
// CHECK:         la.kv_store %value_new into "value" stored f8E4M3FN : tensor<1x1x2x8xbf16>
// CHECK-NEXT:    %value_cached = la.kv_load "value" stored f8E4M3FN : tensor<1x8x2x8xbf16>
