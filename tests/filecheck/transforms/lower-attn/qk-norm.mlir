// lower-attn on a layer with q/k norms (Qwen3): an RMSNorm over every query head and every key head, each with
// its head_dim-wide gamma, between the projection and RoPE; the cached keys are the normalised ones.
// RUN: mlacc-opt %s -p lower-attn | filecheck %s
// RUN: mlacc-opt %s | filecheck %s --check-prefix=ROUNDTRIP

builtin.module {
  func.func @q.d(%x: tensor<1x1x64xbf16>) -> tensor<1x1x64xbf16> {
    %out = attn.gqa %x layer "q" qk_norm workload <"d", decode, batch = 1, context = 8, new_tokens = 1> d_model = 64 heads = 8 kv_heads = 2 head_dim = 8 : tensor<1x1x64xbf16> -> tensor<1x1x64xbf16>
    func.return %out : tensor<1x1x64xbf16>
  }
}

// ROUNDTRIP: attn.gqa %x layer "q" qk_norm workload

// CHECK-LABEL: func.func @q.d
// CHECK:         %query = la.einsum "bsd,dgre->bsgre" %x, %W_Q
// CHECK-NEXT:    %q_norm = la.weight "q_norm" : tensor<8xbf16>
// CHECK-NEXT:    %query_normed = la.rmsnorm %query, %q_norm eps = 1.000000e-06 : tensor<1x1x2x4x8xbf16>, tensor<8xbf16>
// CHECK-NEXT:    %query_rot = la.rope %query_normed
// CHECK:         %key_new = la.einsum "bsd,dge->bsge" %x, %W_K
// CHECK-NEXT:    %k_norm = la.weight "k_norm" : tensor<8xbf16>
// CHECK-NEXT:    %key_normed = la.rmsnorm %key_new, %k_norm eps = 1.000000e-06 : tensor<1x1x2x8xbf16>, tensor<8xbf16>
// CHECK-NEXT:    %key_rot = la.rope %key_normed
// CHECK:         la.kv_store %key_rot into "key"
