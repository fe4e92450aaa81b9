// absorb on a small MLA decode step (2 heads, q_rank 32, kv_rank 16, nope 8, rope 4, v 8; batch 2, 6 cached tokens).
// The input below is lower-attn's unabsorbed form (= scheme expand): every step up-projects all 7 latents with
// W_UK and W_UV. Each RUN line shows what one scheme makes of it.
// RUN: mlacc-opt %s -p 'absorb{scheme=expand}' | filecheck %s --check-prefix=EXPAND
// RUN: mlacc-opt %s -p 'absorb{scheme=recompute}' | filecheck %s --check-prefix=RECOMPUTE
// RUN: mlacc-opt %s -p 'absorb{scheme=reuse}' | filecheck %s --check-prefix=REUSE
// RUN: mlacc-opt %s -p 'absorb{scheme=cache-kv}' | filecheck %s --check-prefix=CACHEKV
// Every scheme's output is valid IR that prints and parses back unchanged:
// RUN: mlacc-opt %s -p 'absorb{scheme=reuse}' | mlacc-opt | mlacc-opt -p 'absorb{scheme=reuse}' | filecheck %s --check-prefix=REUSE
// RUN: mlacc-opt %s -p 'absorb{scheme=cache-kv}' | mlacc-opt --print-op-generic | mlacc-opt | filecheck %s --check-prefix=CACHEKV

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
}

// expand leaves the dataflow alone and records the scheme.
// EXPAND:      attn.scheme = "expand"
// EXPAND:      %k_nope = la.einsum "btc,chn->bthn" %latent_all, %W_UK : tensor<2x7x16xf32>, tensor<16x2x8xf32> -> tensor<2x7x2x8xf32>
// EXPAND:      %value = la.einsum "btc,chv->bthv" %latent_all, %W_UV : tensor<2x7x16xf32>, tensor<16x2x8xf32> -> tensor<2x7x2x8xf32>

// recompute: W_UK joins the query (q_nope . W_UK, the cheaper pairing on the score side), W_UV is applied after
// attention over the latents (probs . latent, the cheaper pairing on the value side); no latent is up-projected.
// RECOMPUTE:      attn.scheme = "recompute"
// RECOMPUTE-NOT:  "btc,chn->bthn"
// RECOMPUTE:      %q_nope_absorbed = la.einsum "bshn,chn->bshc" %q_nope, %W_UK : tensor<2x1x2x8xf32>, tensor<16x2x8xf32> -> tensor<2x1x2x16xf32>
// RECOMPUTE-NEXT: %scores_nope = la.einsum "bshc,btc->bhst" %q_nope_absorbed, %latent_all : tensor<2x1x2x16xf32>, tensor<2x7x16xf32> -> tensor<2x2x1x7xf32>
// RECOMPUTE-NEXT: %scores_pe = la.einsum "bshp,btp->bhst" %q_pe_rot, %rope_key_all
// RECOMPUTE:      %attn_out_latent = la.einsum "bhst,btc->bhsc" %probs, %latent_all : tensor<2x2x1x7xf32>, tensor<2x7x16xf32> -> tensor<2x2x1x16xf32>
// RECOMPUTE-NEXT: %attn_out = la.einsum "bhsc,chv->bshv" %attn_out_latent, %W_UV : tensor<2x2x1x16xf32>, tensor<16x2x8xf32> -> tensor<2x1x2x8xf32>
// RECOMPUTE:      %output = la.einsum "bshv,hvd->bsd" %attn_out, %W_O
// RECOMPUTE-NOT:  la.precompose

// reuse: as recompute, then the weight pairs that meet are composed once: W_UQ . W_UK (query side) and W_UV . W_O.
// REUSE:      attn.scheme = "reuse"
// REUSE:      %W_UQ_W_UK = la.precompose "qhn,chn->qhc" %W_UQ, %W_UK : tensor<32x2x8xf32>, tensor<16x2x8xf32> -> tensor<32x2x16xf32>
// REUSE-NEXT: %q_nope_absorbed = la.einsum "bsq,qhc->bshc" %c_q_normed, %W_UQ_W_UK : tensor<2x1x32xf32>, tensor<32x2x16xf32> -> tensor<2x1x2x16xf32>
// REUSE-NEXT: %scores_nope = la.einsum "bshc,btc->bhst" %q_nope_absorbed, %latent_all
// REUSE:      %attn_out_latent = la.einsum "bhst,btc->bhsc" %probs, %latent_all
// REUSE:      %W_UV_W_O = la.precompose "chv,hvd->chd" %W_UV, %W_O : tensor<16x2x8xf32>, tensor<2x8x64xf32> -> tensor<16x2x64xf32>
// REUSE-NEXT: %output = la.einsum "bhsc,chd->bsd" %attn_out_latent, %W_UV_W_O : tensor<2x2x1x16xf32>, tensor<16x2x64xf32> -> tensor<2x1x64xf32>
// REUSE-NEXT: func.return %output

// cache-kv: the up-projections move to the new token and their results are cached per head, as MHA caches K and V;
// the shared RoPE key is cached once per head too. The latent cache is gone.
// CACHEKV:      attn.scheme = "cache-kv"
// CACHEKV-NOT:  "latent"
// CACHEKV:      %k_nope_new = la.einsum "btc,chn->bthn" %c_kv_normed, %W_UK : tensor<2x1x16xf32>, tensor<16x2x8xf32> -> tensor<2x1x2x8xf32>
// CACHEKV-NEXT: la.kv_store %k_nope_new into "k_nope" : tensor<2x1x2x8xf32>
// CACHEKV-NEXT: %k_nope_cached = la.kv_load "k_nope" : tensor<2x6x2x8xf32>
// CACHEKV-NEXT: %k_nope_all = la.concat %k_nope_cached, %k_nope_new dim = 1
// CACHEKV:      %value_new = la.einsum "btc,chv->bthv" %c_kv_normed, %W_UV
// CACHEKV-NEXT: la.kv_store %value_new into "value" : tensor<2x1x2x8xf32>
// CACHEKV:      %scores_nope = la.einsum "bshn,bthn->bhst" %q_nope, %k_nope_all
// CACHEKV-NEXT: %k_pe_rot_h = la.broadcast %k_pe_rot dim = 2 size = 2 : tensor<2x1x4xf32> -> tensor<2x1x2x4xf32>
// CACHEKV-NEXT: la.kv_store %k_pe_rot_h into "rope_key_per_head" : tensor<2x1x2x4xf32>
// CACHEKV:      %scores_pe = la.einsum "bshp,bthp->bhst" %q_pe_rot, %rope_key_per_head_all
// CACHEKV:      %attn_out = la.einsum "bhst,bthv->bshv" %probs, %value_all
// CACHEKV-NOT:  "latent"
