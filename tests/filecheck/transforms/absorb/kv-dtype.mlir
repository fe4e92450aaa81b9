// absorb keeps a cache's dtype: the caches cache-kv makes in place of the latent (per-head keys and values) and of
// the shared RoPE key (one per head) are stored and loaded as fp8, as the latent was.
// RUN: mlacc-opt %s -p lower-attn,absorb{scheme=cache-kv} | filecheck %s

builtin.module {
  func.func @m.d(%x: tensor<1x1x64xbf16>) -> tensor<1x1x64xbf16> {
    %out = attn.mla %x layer "m" kv_dtype = f8E4M3FN workload <"d", decode, batch = 1, context = 6, new_tokens = 1> d_model = 64 heads = 2 q_rank = 32 kv_rank = 16 qk_nope_dim = 8 qk_rope_dim = 4 v_dim = 8 : tensor<1x1x64xbf16> -> tensor<1x1x64xbf16>
    func.return %out : tensor<1x1x64xbf16>
  }
}

// CHECK-LABEL: func.func @m.d
// CHECK-NOT:     la.kv_store {{%[a-z_]+}} into "{{[a-z_]+}}" :
// CHECK-DAG:     la.kv_store %k_nope_new into "k_nope" stored f8E4M3FN
// CHECK-DAG:     la.kv_load "k_nope" stored f8E4M3FN
// CHECK-DAG:     la.kv_store %value_new into "value" stored f8E4M3FN
// CHECK-DAG:     la.kv_store %k_pe_rot_h into "rope_key_per_head" stored f8E4M3FN
// CHECK-DAG:     la.kv_load "rope_key_per_head" stored f8E4M3FN
