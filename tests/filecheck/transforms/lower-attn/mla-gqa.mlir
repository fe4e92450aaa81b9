// lower-attn: MLA lowers to its unabsorbed projections (W_DQ, W_UQ, W_QR, W_DKV, W_KR, W_UK, W_UV, W_O)
// with the latent and the RoPE key as its two caches; GQA to grouped heads over key and value caches.
// RUN: mlacc-opt %s -p lower-attn | filecheck %s
// RUN: mlacc-opt %s -p lower-attn | mlacc-opt | filecheck %s

builtin.module {
  func.func @m.d(%x: tensor<2x1x64xf32>) -> tensor<2x1x64xf32> {
    %out = attn.mla %x layer "m" workload <"d", decode, batch = 2, context = 6, new_tokens = 1> d_model = 64 heads = 2 q_rank = 32 kv_rank = 16 qk_nope_dim = 8 qk_rope_dim = 4 v_dim = 8 : tensor<2x1x64xf32> -> tensor<2x1x64xf32>
    func.return %out : tensor<2x1x64xf32>
  }
  func.func @g.d(%x: tensor<2x1x64xf32>) -> tensor<2x1x64xf32> {
    %out = attn.gqa %x layer "g" workload <"d", decode, batch = 2, context = 6, new_tokens = 1> d_model = 64 heads = 4 kv_heads = 2 head_dim = 8 : tensor<2x1x64xf32> -> tensor<2x1x64xf32>
    func.return %out : tensor<2x1x64xf32>
  }
}

// CHECK-LABEL: func.func @m.d
// CHECK-NEXT:  %W_DQ = la.weight "W_DQ" : tensor<64x32xf32>
// CHECK-NEXT:  %c_q = la.einsum "bsd,dq->bsq" %x, %W_DQ : tensor<2x1x64xf32>, tensor<64x32xf32> -> tensor<2x1x32xf32>
// CHECK-NEXT:  %q_norm = la.weight "q_norm" : tensor<32xf32>
// CHECK-NEXT:  %c_q_normed = la.rmsnorm %c_q, %q_norm eps = 1.000000e-06 : tensor<2x1x32xf32>, tensor<32xf32>
// CHECK-NEXT:  %W_UQ = la.weight "W_UQ" : tensor<32x2x8xf32>
// CHECK-NEXT:  %q_nope = la.einsum "bsq,qhn->bshn" %c_q_normed, %W_UQ : tensor<2x1x32xf32>, tensor<32x2x8xf32> -> tensor<2x1x2x8xf32>
// CHECK-NEXT:  %W_QR = la.weight "W_QR" : tensor<32x2x4xf32>
// CHECK-NEXT:  %q_pe = la.einsum "bsq,qhp->bshp" %c_q_normed, %W_QR : tensor<2x1x32xf32>, tensor<32x2x4xf32> -> tensor<2x1x2x4xf32>
// CHECK-NEXT:  %q_pe_rot = la.rope %q_pe seq_dim = 1 offset = 6 : tensor<2x1x2x4xf32>
// CHECK-NEXT:  %W_DKV = la.weight "W_DKV" : tensor<64x16xf32>
// CHECK-NEXT:  %c_kv = la.einsum "bsd,dc->bsc" %x, %W_DKV : tensor<2x1x64xf32>, tensor<64x16xf32> -> tensor<2x1x16xf32>
// CHECK-NEXT:  %kv_norm = la.weight "kv_norm" : tensor<16xf32>
// CHECK-NEXT:  %c_kv_normed = la.rmsnorm %c_kv, %kv_norm eps = 1.000000e-06 : tensor<2x1x16xf32>, tensor<16xf32>
// CHECK-NEXT:  %W_KR = la.weight "W_KR" : tensor<64x4xf32>
// CHECK-NEXT:  %k_pe = la.einsum "bsd,dp->bsp" %x, %W_KR : tensor<2x1x64xf32>, tensor<64x4xf32> -> tensor<2x1x4xf32>
// CHECK-NEXT:  %k_pe_rot = la.rope %k_pe seq_dim = 1 offset = 6 : tensor<2x1x4xf32>
// CHECK-NEXT:  la.kv_store %c_kv_normed into "latent" : tensor<2x1x16xf32>
// CHECK-NEXT:  %latent_cached = la.kv_load "latent" : tensor<2x6x16xf32>
// CHECK-NEXT:  %latent_all = la.concat %latent_cached, %c_kv_normed dim = 1 : tensor<2x6x16xf32>, tensor<2x1x16xf32> -> tensor<2x7x16xf32>
// CHECK-NEXT:  la.kv_store %k_pe_rot into "rope_key" : tensor<2x1x4xf32>
// CHECK-NEXT:  %rope_key_cached = la.kv_load "rope_key" : tensor<2x6x4xf32>
// CHECK-NEXT:  %rope_key_all = la.concat %rope_key_cached, %k_pe_rot dim = 1 : tensor<2x6x4xf32>, tensor<2x1x4xf32> -> tensor<2x7x4xf32>
// CHECK-NEXT:  %W_UK = la.weight "W_UK" : tensor<16x2x8xf32>
// CHECK-NEXT:  %k_nope = la.einsum "btc,chn->bthn" %latent_all, %W_UK : tensor<2x7x16xf32>, tensor<16x2x8xf32> -> tensor<2x7x2x8xf32>
// CHECK-NEXT:  %W_UV = la.weight "W_UV" : tensor<16x2x8xf32>
// CHECK-NEXT:  %value = la.einsum "btc,chv->bthv" %latent_all, %W_UV : tensor<2x7x16xf32>, tensor<16x2x8xf32> -> tensor<2x7x2x8xf32>
// CHECK-NEXT:  %scores_nope = la.einsum "bshn,bthn->bhst" %q_nope, %k_nope : tensor<2x1x2x8xf32>, tensor<2x7x2x8xf32> -> tensor<2x2x1x7xf32>
// CHECK-NEXT:  %scores_pe = la.einsum "bshp,btp->bhst" %q_pe_rot, %rope_key_all : tensor<2x1x2x4xf32>, tensor<2x7x4xf32> -> tensor<2x2x1x7xf32>
// CHECK-NEXT:  %scores = la.add %scores_nope, %scores_pe : tensor<2x2x1x7xf32>
// CHECK-NEXT:  %probs = la.softmax %scores scale = 0.28867513459481292 : tensor<2x2x1x7xf32>
// CHECK-NEXT:  %attn_out = la.einsum "bhst,bthv->bshv" %probs, %value : tensor<2x2x1x7xf32>, tensor<2x7x2x8xf32> -> tensor<2x1x2x8xf32>
// CHECK-NEXT:  %W_O = la.weight "W_O" : tensor<2x8x64xf32>
// CHECK-NEXT:  %output = la.einsum "bshv,hvd->bsd" %attn_out, %W_O : tensor<2x1x2x8xf32>, tensor<2x8x64xf32> -> tensor<2x1x64xf32>
// CHECK-NEXT:  func.return %output : tensor<2x1x64xf32>
// CHECK-NEXT:  }

// GQA reads each cached KV head once for its group of query heads (index g, r = heads per group).
// CHECK-LABEL: func.func @g.d
// CHECK-NEXT:  %W_Q = la.weight "W_Q" : tensor<64x2x2x8xf32>
// CHECK-NEXT:  %query = la.einsum "bsd,dgre->bsgre" %x, %W_Q : tensor<2x1x64xf32>, tensor<64x2x2x8xf32> -> tensor<2x1x2x2x8xf32>
// CHECK-NEXT:  %query_rot = la.rope %query seq_dim = 1 offset = 6 : tensor<2x1x2x2x8xf32>
// CHECK-NEXT:  %W_K = la.weight "W_K" : tensor<64x2x8xf32>
// CHECK-NEXT:  %key_new = la.einsum "bsd,dge->bsge" %x, %W_K : tensor<2x1x64xf32>, tensor<64x2x8xf32> -> tensor<2x1x2x8xf32>
// CHECK-NEXT:  %key_rot = la.rope %key_new seq_dim = 1 offset = 6 : tensor<2x1x2x8xf32>
// CHECK-NEXT:  %W_V = la.weight "W_V" : tensor<64x2x8xf32>
// CHECK-NEXT:  %value_new = la.einsum "bsd,dge->bsge" %x, %W_V : tensor<2x1x64xf32>, tensor<64x2x8xf32> -> tensor<2x1x2x8xf32>
// CHECK-NEXT:  la.kv_store %key_rot into "key" : tensor<2x1x2x8xf32>
// CHECK-NEXT:  %key_cached = la.kv_load "key" : tensor<2x6x2x8xf32>
// CHECK-NEXT:  %key_all = la.concat %key_cached, %key_rot dim = 1 : tensor<2x6x2x8xf32>, tensor<2x1x2x8xf32> -> tensor<2x7x2x8xf32>
// CHECK-NEXT:  la.kv_store %value_new into "value" : tensor<2x1x2x8xf32>
// CHECK-NEXT:  %value_cached = la.kv_load "value" : tensor<2x6x2x8xf32>
// CHECK-NEXT:  %value_all = la.concat %value_cached, %value_new dim = 1 : tensor<2x6x2x8xf32>, tensor<2x1x2x8xf32> -> tensor<2x7x2x8xf32>
// CHECK-NEXT:  %scores = la.einsum "bsgre,btge->bgrst" %query_rot, %key_all : tensor<2x1x2x2x8xf32>, tensor<2x7x2x8xf32> -> tensor<2x2x2x1x7xf32>
// CHECK-NEXT:  %probs = la.softmax %scores scale = 0.35355339059327373 : tensor<2x2x2x1x7xf32>
// CHECK-NEXT:  %attn_out = la.einsum "bgrst,btge->bsgre" %probs, %value_all : tensor<2x2x2x1x7xf32>, tensor<2x7x2x8xf32> -> tensor<2x1x2x2x8xf32>
// CHECK-NEXT:  %W_O = la.weight "W_O" : tensor<2x2x8x64xf32>
// CHECK-NEXT:  %output = la.einsum "bsgre,gred->bsd" %attn_out, %W_O : tensor<2x1x2x2x8xf32>, tensor<2x2x8x64xf32> -> tensor<2x1x64xf32>
// CHECK-NEXT:  func.return %output : tensor<2x1x64xf32>
