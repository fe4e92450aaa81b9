// Every attn op prints in its custom form, and print -> parse -> print is a fixed point.
// RUN: %roundtrip
// RUN: %generic-roundtrip
// RUN: mlacc-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

builtin.module {
  func.func @m.d(%x: tensor<2x1x64xf32>) -> tensor<2x1x64xf32> {
    %out = attn.mla %x layer "m" workload <"d", decode, batch = 2, context = 6, new_tokens = 1> d_model = 64 heads = 2 q_rank = 32 kv_rank = 16 qk_nope_dim = 8 qk_rope_dim = 4 v_dim = 8 : tensor<2x1x64xf32> -> tensor<2x1x64xf32>
    func.return %out : tensor<2x1x64xf32>
  }
  func.func @lite.p(%x: tensor<1x8x64xbf16>) -> tensor<1x8x64xbf16> {
    %out = attn.mla %x layer "lite" workload <"p", prefill, batch = 1, context = 0, new_tokens = 8> d_model = 64 heads = 2 q_rank = 0 kv_rank = 16 qk_nope_dim = 8 qk_rope_dim = 4 v_dim = 8 : tensor<1x8x64xbf16> -> tensor<1x8x64xbf16>
    func.return %out : tensor<1x8x64xbf16>
  }
  func.func @h.d(%x: tensor<1x1x64xf16>) -> tensor<1x1x64xf16> {
    %out = attn.mha %x layer "h" layers = 80 workload <"d", decode, batch = 1, context = 4, new_tokens = 1> d_model = 64 heads = 4 head_dim = 16 : tensor<1x1x64xf16> -> tensor<1x1x64xf16>
    func.return %out : tensor<1x1x64xf16>
  }
  func.func @g.d(%x: tensor<2x1x64xf32>) -> tensor<2x1x64xf32> {
    %out = attn.gqa %x layer "g" workload <"d", decode, batch = 2, context = 6, new_tokens = 1> d_model = 64 heads = 4 kv_heads = 2 head_dim = 8 : tensor<2x1x64xf32> -> tensor<2x1x64xf32>
    func.return %out : tensor<2x1x64xf32>
  }
  func.func @q.d(%x: tensor<1x1x64xf32>) -> tensor<1x1x64xf32> {
    %out = attn.mqa %x layer "q" workload <"d", decode, batch = 1, context = 6, new_tokens = 1> d_model = 64 heads = 4 head_dim = 8 : tensor<1x1x64xf32> -> tensor<1x1x64xf32>
    func.return %out : tensor<1x1x64xf32>
  }
}

// CHECK:      func.func @m.d(%x: tensor<2x1x64xf32>) -> tensor<2x1x64xf32> {
// CHECK-NEXT:   %out = attn.mla %x layer "m" workload <"d", decode, batch = 2, context = 6, new_tokens = 1> d_model = 64 heads = 2 q_rank = 32 kv_rank = 16 qk_nope_dim = 8 qk_rope_dim = 4 v_dim = 8 : tensor<2x1x64xf32> -> tensor<2x1x64xf32>
// CHECK:        attn.mla %x layer "lite" workload <"p", prefill, batch = 1, context = 0, new_tokens = 8> d_model = 64 heads = 2 q_rank = 0
// CHECK:        attn.mha %x layer "h" layers = 80 workload {{.*}} d_model = 64 heads = 4 head_dim = 16 : tensor<1x1x64xf16> -> tensor<1x1x64xf16>
// CHECK:        attn.gqa %x layer "g" {{.*}} heads = 4 kv_heads = 2 head_dim = 8
// CHECK:        attn.mqa %x layer "q" {{.*}} heads = 4 head_dim = 8

// GENERIC: "attn.mla"(%x) <{layer = "m", workload = #attn.workload<"d", decode, batch = 2, context = 6, new_tokens = 1>, d_model = 64 : i64, heads = 2 : i64, q_rank = 32 : i64, kv_rank = 16 : i64, qk_nope_dim = 8 : i64, qk_rope_dim = 4 : i64, v_dim = 8 : i64}>
// GENERIC: "attn.mha"(%x) <{layer = "h", layers = 80 : i64, workload = #attn.workload<"d", decode, batch = 1, context = 4, new_tokens = 1>, d_model = 64 : i64, heads = 4 : i64, head_dim = 16 : i64}>
