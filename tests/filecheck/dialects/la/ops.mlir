// Every la op in its custom form (an MLA layer lowered, plus a causal softmax); print -> parse -> print is a fixed point.
// RUN: %roundtrip
// RUN: %generic-roundtrip

builtin.module {
  func.func @m.d(%x: tensor<2x1x64xf32>) -> tensor<2x1x64xf32> attributes {attn.layer = "m", attn.kind = "mla", attn.workload = #attn.workload<"d", decode, batch = 2, context = 6, new_tokens = 1>} {
    %W_DQ = la.weight "W_DQ" : tensor<64x32xf32>
    %c_q = la.einsum "bsd,dq->bsq" %x, %W_DQ : tensor<2x1x64xf32>, tensor<64x32xf32> -> tensor<2x1x32xf32>
    %q_norm = la.weight "q_norm" : tensor<32xf32>
    %c_q_normed = la.rmsnorm %c_q, %q_norm eps = 1.000000e-06 : tensor<2x1x32xf32>, tensor<32xf32>
    %W_UQ = la.weight "W_UQ" : tensor<32x2x8xf32>
    %q_nope = la.einsum "bsq,qhn->bshn" %c_q_normed, %W_UQ : tensor<2x1x32xf32>, tensor<32x2x8xf32> -> tensor<2x1x2x8xf32>
    %W_QR = la.weight "W_QR" : tensor<32x2x4xf32>
    %q_pe = la.einsum "bsq,qhp->bshp" %c_q_normed, %W_QR : tensor<2x1x32xf32>, tensor<32x2x4xf32> -> tensor<2x1x2x4xf32>
    %q_pe_rot = la.rope %q_pe seq_dim = 1 offset = 6 : tensor<2x1x2x4xf32>
    %W_DKV = la.weight "W_DKV" : tensor<64x16xf32>
    %c_kv = la.einsum "bsd,dc->bsc" %x, %W_DKV : tensor<2x1x64xf32>, tensor<64x16xf32> -> tensor<2x1x16xf32>
    %kv_norm = la.weight "kv_norm" : tensor<16xf32>
    %c_kv_normed = la.rmsnorm %c_kv, %kv_norm eps = 1.000000e-06 : tensor<2x1x16xf32>, tensor<16xf32>
    %W_KR = la.weight "W_KR" : tensor<64x4xf32>
    %k_pe = la.einsum "bsd,dp->bsp" %x, %W_KR : tensor<2x1x64xf32>, tensor<64x4xf32> -> tensor<2x1x4xf32>
    %k_pe_rot = la.rope %k_pe seq_dim = 1 offset = 6 : tensor<2x1x4xf32>
    la.kv_store %c_kv_normed into "latent" : tensor<2x1x16xf32>
    %latent_cached = la.kv_load "latent" : tensor<2x6x16xf32>
    %latent_all = la.concat %latent_cached, %c_kv_normed dim = 1 : tensor<2x6x16xf32>, tensor<2x1x16xf32> -> tensor<2x7x16xf32>
    la.kv_store %k_pe_rot into "rope_key" : tensor<2x1x4xf32>
    %rope_key_cached = la.kv_load "rope_key" : tensor<2x6x4xf32>
    %rope_key_all = la.concat %rope_key_cached, %k_pe_rot dim = 1 : tensor<2x6x4xf32>, tensor<2x1x4xf32> -> tensor<2x7x4xf32>
    %W_UK = la.weight "W_UK" : tensor<16x2x8xf32>
    %k_nope = la.einsum "btc,chn->bthn" %latent_all, %W_UK : tensor<2x7x16xf32>, tensor<16x2x8xf32> -> tensor<2x7x2x8xf32>
    %W_UV = la.weight "W_UV" : tensor<16x2x8xf32>
    %value = la.einsum "btc,chv->bthv" %latent_all, %W_UV : tensor<2x7x16xf32>, tensor<16x2x8xf32> -> tensor<2x7x2x8xf32>
    %scores_nope = la.einsum "bshn,bthn->bhst" %q_nope, %k_nope : tensor<2x1x2x8xf32>, tensor<2x7x2x8xf32> -> tensor<2x2x1x7xf32>
    %scores_pe = la.einsum "bshp,btp->bhst" %q_pe_rot, %rope_key_all : tensor<2x1x2x4xf32>, tensor<2x7x4xf32> -> tensor<2x2x1x7xf32>
    %scores = la.add %scores_nope, %scores_pe : tensor<2x2x1x7xf32>
    %probs = la.softmax %scores scale = 0.28867513459481292 : tensor<2x2x1x7xf32>
    %attn_out = la.einsum "bhst,bthv->bshv" %probs, %value : tensor<2x2x1x7xf32>, tensor<2x7x2x8xf32> -> tensor<2x1x2x8xf32>
    %W_O = la.weight "W_O" : tensor<2x8x64xf32>
    %output = la.einsum "bshv,hvd->bsd" %attn_out, %W_O : tensor<2x1x2x8xf32>, tensor<2x8x64xf32> -> tensor<2x1x64xf32>
    func.return %output : tensor<2x1x64xf32>
  }
  func.func @causal(%s: tensor<1x2x3x5xf32>) -> tensor<1x2x3x5xf32> {
    %p = la.softmax %s scale = 5.000000e-01 causal : tensor<1x2x3x5xf32>
    func.return %p : tensor<1x2x3x5xf32>
  }
}

// CHECK:        func.func @m.d(%x: tensor<2x1x64xf32>) -> tensor<2x1x64xf32> attributes {attn.layer = "m", attn.kind = "mla", attn.workload = #attn.workload<"d", decode, batch = 2, context = 6, new_tokens = 1>} {
// CHECK-NEXT:     %W_DQ = la.weight "W_DQ" : tensor<64x32xf32>
// CHECK-NEXT:     %c_q = la.einsum "bsd,dq->bsq" %x, %W_DQ : tensor<2x1x64xf32>, tensor<64x32xf32> -> tensor<2x1x32xf32>
// CHECK-NEXT:     %q_norm = la.weight "q_norm" : tensor<32xf32>
// CHECK-NEXT:     %c_q_normed = la.rmsnorm %c_q, %q_norm eps = 1.000000e-06 : tensor<2x1x32xf32>, tensor<32xf32>
// CHECK-NEXT:     %W_UQ = la.weight "W_UQ" : tensor<32x2x8xf32>
// CHECK-NEXT:     %q_nope = la.einsum "bsq,qhn->bshn" %c_q_normed, %W_UQ : tensor<2x1x32xf32>, tensor<32x2x8xf32> -> tensor<2x1x2x8xf32>
// CHECK-NEXT:     %W_QR = la.weight "W_QR" : tensor<32x2x4xf32>
// CHECK-NEXT:     %q_pe = la.einsum "bsq,qhp->bshp" %c_q_normed, %W_QR : tensor<2x1x32xf32>, tensor<32x2x4xf32> -> tensor<2x1x2x4xf32>
// CHECK-NEXT:     %q_pe_rot = la.rope %q_pe seq_dim = 1 offset = 6 : tensor<2x1x2x4xf32>
// CHECK-NEXT:     %W_DKV = la.weight "W_DKV" : tensor<64x16xf32>
// CHECK-NEXT:     %c_kv = la.einsum "bsd,dc->bsc" %x, %W_DKV : tensor<2x1x64xf32>, tensor<64x16xf32> -> tensor<2x1x16xf32>
// CHECK-NEXT:     %kv_norm = la.weight "kv_norm" : tensor<16xf32>
// CHECK-NEXT:     %c_kv_normed = la.rmsnorm %c_kv, %kv_norm eps = 1.000000e-06 : tensor<2x1x16xf32>, tensor<16xf32>
// CHECK-NEXT:     %W_KR = la.weight "W_KR" : tensor<64x4xf32>
// CHECK-NEXT:     %k_pe = la.einsum "bsd,dp->bsp" %x, %W_KR : tensor<2x1x64xf32>, tensor<64x4xf32> -> tensor<2x1x4xf32>
// CHECK-NEXT:     %k_pe_rot = la.rope %k_pe seq_dim = 1 offset = 6 : tensor<2x1x4xf32>
// CHECK-NEXT:     la.kv_store %c_kv_normed into "latent" : tensor<2x1x16xf32>
// CHECK-NEXT:     %latent_cached = la.kv_load "latent" : tensor<2x6x16xf32>
// CHECK-NEXT:     %latent_all = la.concat %latent_cached, %c_kv_normed dim = 1 : tensor<2x6x16xf32>, tensor<2x1x16xf32> -> tensor<2x7x16xf32>
// CHECK-NEXT:     la.kv_store %k_pe_rot into "rope_key" : tensor<2x1x4xf32>
// CHECK-NEXT:     %rope_key_cached = la.kv_load "rope_key" : tensor<2x6x4xf32>
// CHECK-NEXT:     %rope_key_all = la.concat %rope_key_cached, %k_pe_rot dim = 1 : tensor<2x6x4xf32>, tensor<2x1x4xf32> -> tensor<2x7x4xf32>
// CHECK-NEXT:     %W_UK = la.weight "W_UK" : tensor<16x2x8xf32>
// CHECK-NEXT:     %k_nope = la.einsum "btc,chn->bthn" %latent_all, %W_UK : tensor<2x7x16xf32>, tensor<16x2x8xf32> -> tensor<2x7x2x8xf32>
// CHECK-NEXT:     %W_UV = la.weight "W_UV" : tensor<16x2x8xf32>
// CHECK-NEXT:     %value = la.einsum "btc,chv->bthv" %latent_all, %W_UV : tensor<2x7x16xf32>, tensor<16x2x8xf32> -> tensor<2x7x2x8xf32>
// CHECK-NEXT:     %scores_nope = la.einsum "bshn,bthn->bhst" %q_nope, %k_nope : tensor<2x1x2x8xf32>, tensor<2x7x2x8xf32> -> tensor<2x2x1x7xf32>
// CHECK-NEXT:     %scores_pe = la.einsum "bshp,btp->bhst" %q_pe_rot, %rope_key_all : tensor<2x1x2x4xf32>, tensor<2x7x4xf32> -> tensor<2x2x1x7xf32>
// CHECK-NEXT:     %scores = la.add %scores_nope, %scores_pe : tensor<2x2x1x7xf32>
// CHECK-NEXT:     %probs = la.softmax %scores scale = 0.28867513459481292 : tensor<2x2x1x7xf32>
// CHECK-NEXT:     %attn_out = la.einsum "bhst,bthv->bshv" %probs, %value : tensor<2x2x1x7xf32>, tensor<2x7x2x8xf32> -> tensor<2x1x2x8xf32>
// CHECK-NEXT:     %W_O = la.weight "W_O" : tensor<2x8x64xf32>
// CHECK-NEXT:     %output = la.einsum "bshv,hvd->bsd" %attn_out, %W_O : tensor<2x1x2x8xf32>, tensor<2x8x64xf32> -> tensor<2x1x64xf32>
// CHECK-NEXT:     func.return %output : tensor<2x1x64xf32>
// CHECK-NEXT:   }
// CHECK-NEXT:   func.func @causal(%s: tensor<1x2x3x5xf32>) -> tensor<1x2x3x5xf32> {
// CHECK-NEXT:     %p = la.softmax %s scale = 5.000000e-01 causal : tensor<1x2x3x5xf32>
// CHECK-NEXT:     func.return %p : tensor<1x2x3x5xf32>
// CHECK-NEXT:   }
