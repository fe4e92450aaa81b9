// lower-attn on MHA and MQA, and a prefill: no cache load when nothing is cached, a causal softmax.
// RUN: mlacc-opt %s -p lower-attn | filecheck %s

builtin.module {
  func.func @h.d(%x: tensor<1x1x64xf32>) -> tensor<1x1x64xf32> {
    %out = attn.mha %x layer "h" workload <"d", decode, batch = 1, context = 4, new_tokens = 1> d_model = 64 heads = 4 head_dim = 16 : tensor<1x1x64xf32> -> tensor<1x1x64xf32>
    func.return %out : tensor<1x1x64xf32>
  }
  func.func @q.d(%x: tensor<1x1x64xf32>) -> tensor<1x1x64xf32> {
    %out = attn.mqa %x layer "q" workload <"d", decode, batch = 1, context = 6, new_tokens = 1> d_model = 64 heads = 4 head_dim = 8 : tensor<1x1x64xf32> -> tensor<1x1x64xf32>
    func.return %out : tensor<1x1x64xf32>
  }
  func.func @m.p(%x: tensor<1x8x64xf32>) -> tensor<1x8x64xf32> {
    %out = attn.mla %x layer "m" workload <"p", prefill, batch = 1, context = 0, new_tokens = 8> d_model = 64 heads = 2 q_rank = 0 kv_rank = 16 qk_nope_dim = 8 qk_rope_dim = 4 v_dim = 8 : tensor<1x8x64xf32> -> tensor<1x8x64xf32>
    func.return %out : tensor<1x8x64xf32>
  }
}

// MHA: per-head keys and values are cached, RoPE on queries and keys, softmax scale 1/sqrt(16).
// CHECK-LABEL: func.func @h.d
// CHECK-SAME:    attn.kind = "mha"
// CHECK:         %key_rot = la.rope %key_new seq_dim = 1 offset = 4 : tensor<1x1x4x16xf32>
// CHECK:         la.kv_store %key_rot into "key" : tensor<1x1x4x16xf32>
// CHECK-NEXT:    %key_cached = la.kv_load "key" : tensor<1x4x4x16xf32>
// CHECK:         la.kv_store %value_new into "value" : tensor<1x1x4x16xf32>
// CHECK:         %scores = la.einsum "bshe,bthe->bhst" %query_rot, %key_all
// CHECK-NEXT:    %probs = la.softmax %scores scale = 2.500000e-01 : tensor<1x4x1x5xf32>

// MQA: one shared key and value head, no head index on the cache.
// CHECK-LABEL: func.func @q.d
// CHECK:         %W_K = la.weight "W_K" : tensor<64x8xf32>
// CHECK:         %key_cached = la.kv_load "key" : tensor<1x6x8xf32>
// CHECK:         %scores = la.einsum "bshe,bte->bhst" %query_rot, %key_all : tensor<1x1x4x8xf32>, tensor<1x7x8xf32> -> tensor<1x4x1x7xf32>

// MLA prefill without query compression (q_rank = 0): W_Q straight from x, nothing loaded, causal softmax.
// CHECK-LABEL: func.func @m.p
// CHECK-NEXT:    %W_Q = la.weight "W_Q" : tensor<64x2x8xf32>
// CHECK-NOT:     la.kv_load
// CHECK:         la.kv_store %c_kv_normed into "latent" : tensor<1x8x16xf32>
// CHECK-NEXT:    la.kv_store %k_pe_rot into "rope_key" : tensor<1x8x4xf32>
// CHECK-NOT:     la.kv_load
// CHECK:         %probs = la.softmax %scores scale = 0.28867513459481292 causal : tensor<1x2x8x8xf32>
