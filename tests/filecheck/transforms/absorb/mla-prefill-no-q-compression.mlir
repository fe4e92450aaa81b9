// absorb on an MLA prefill with nothing cached (5 new tokens) and no query compression (q_rank = 0, as in
// DeepSeek-V2-Lite): the same rewrites apply to the new tokens' latents, and reuse composes W_Q . W_UK.
// RUN: mlacc-opt %s -p 'absorb{scheme=recompute}' | filecheck %s --check-prefix=RECOMPUTE
// RUN: mlacc-opt %s -p 'absorb{scheme=reuse}' | filecheck %s --check-prefix=REUSE
// RUN: mlacc-opt %s -p 'absorb{scheme=cache-kv}' | filecheck %s --check-prefix=CACHEKV

builtin.module {
  func.func @m.p(%x: tensor<1x5x64xf32>) -> tensor<1x5x64xf32> attributes {attn.layer = "m", attn.kind = "mla", attn.workload = #attn.workload<"p", prefill, batch = 1, context = 0, new_tokens = 5>} {
    %W_Q = la.weight "W_Q" : tensor<64x2x8xf32>
    %q_nope = la.einsum "bsd,dhn->bshn" %x, %W_Q : tensor<1x5x64xf32>, tensor<64x2x8xf32> -> tensor<1x5x2x8xf32>
    %W_QR = la.weight "W_QR" : tensor<64x2x4xf32>
    %q_pe = la.einsum "bsd,dhp->bshp" %x, %W_QR : tensor<1x5x64xf32>, tensor<64x2x4xf32> -> tensor<1x5x2x4xf32>
    %q_pe_rot = la.rope %q_pe seq_dim = 1 offset = 0 : tensor<1x5x2x4xf32>
    %W_DKV = la.weight "W_DKV" : tensor<64x16xf32>
    %c_kv = la.einsum "bsd,dc->bsc" %x, %W_DKV : tensor<1x5x64xf32>, tensor<64x16xf32> -> tensor<1x5x16xf32>
    %kv_norm = la.weight "kv_norm" : tensor<16xf32>
    %c_kv_normed = la.rmsnorm %c_kv, %kv_norm eps = 1.000000e-06 : tensor<1x5x16xf32>, tensor<16xf32>
    %W_KR = la.weight "W_KR" : tensor<64x4xf32>
    %k_pe = la.einsum "bsd,dp->bsp" %x, %W_KR : tensor<1x5x64xf32>, tensor<64x4xf32> -> tensor<1x5x4xf32>
    %k_pe_rot = la.rope %k_pe seq_dim = 1 offset = 0 : tensor<1x5x4xf32>
    la.kv_store %c_kv_normed into "latent" : tensor<1x5x16xf32>
    la.kv_store %k_pe_rot into "rope_key" : tensor<1x5x4xf32>
    %W_UK = la.weight "W_UK" : tensor<16x2x8xf32>
    %k_nope = la.einsum "btc,chn->bthn" %c_kv_normed, %W_UK : tensor<1x5x16xf32>, tensor<16x2x8xf32> -> tensor<1x5x2x8xf32>
    %W_UV = la.weight "W_UV" : tensor<16x2x8xf32>
    %value = la.einsum "btc,chv->bthv" %c_kv_normed, %W_UV : tensor<1x5x16xf32>, tensor<16x2x8xf32> -> tensor<1x5x2x8xf32>
    %scores_nope = la.einsum "bshn,bthn->bhst" %q_nope, %k_nope : tensor<1x5x2x8xf32>, tensor<1x5x2x8xf32> -> tensor<1x2x5x5xf32>
    %scores_pe = la.einsum "bshp,btp->bhst" %q_pe_rot, %k_pe_rot : tensor<1x5x2x4xf32>, tensor<1x5x4xf32> -> tensor<1x2x5x5xf32>
    %scores = la.add %scores_nope, %scores_pe : tensor<1x2x5x5xf32>
    %probs = la.softmax %scores scale = 0.28867513459481292 causal : tensor<1x2x5x5xf32>
    %attn_out = la.einsum "bhst,bthv->bshv" %probs, %value : tensor<1x2x5x5xf32>, tensor<1x5x2x8xf32> -> tensor<1x5x2x8xf32>
    %W_O = la.weight "W_O" : tensor<2x8x64xf32>
    %output = la.einsum "bshv,hvd->bsd" %attn_out, %W_O : tensor<1x5x2x8xf32>, tensor<2x8x64xf32> -> tensor<1x5x64xf32>
    func.return %output : tensor<1x5x64xf32>
  }
}

// RECOMPUTE:      la.kv_store %c_kv_normed into "latent" : tensor<1x5x16xf32>
// RECOMPUTE:      %q_nope_absorbed = la.einsum "bshn,chn->bshc" %q_nope, %W_UK : tensor<1x5x2x8xf32>, tensor<16x2x8xf32> -> tensor<1x5x2x16xf32>
// RECOMPUTE-NEXT: %scores_nope = la.einsum "bshc,btc->bhst" %q_nope_absorbed, %c_kv_normed : tensor<1x5x2x16xf32>, tensor<1x5x16xf32> -> tensor<1x2x5x5xf32>
// RECOMPUTE:      %probs = la.softmax %scores scale = {{.*}} causal
// RECOMPUTE-NEXT: %attn_out_latent = la.einsum "bhst,btc->bhsc" %probs, %c_kv_normed
// RECOMPUTE-NEXT: %attn_out = la.einsum "bhsc,chv->bshv" %attn_out_latent, %W_UV

// REUSE:      %W_Q_W_UK = la.precompose "dhn,chn->dhc" %W_Q, %W_UK : tensor<64x2x8xf32>, tensor<16x2x8xf32> -> tensor<64x2x16xf32>
// REUSE-NEXT: %q_nope_absorbed = la.einsum "bsd,dhc->bshc" %x, %W_Q_W_UK : tensor<1x5x64xf32>, tensor<64x2x16xf32> -> tensor<1x5x2x16xf32>
// REUSE:      %W_UV_W_O = la.precompose "chv,hvd->chd" %W_UV, %W_O
// REUSE-NEXT: %output = la.einsum "bhsc,chd->bsd" %attn_out_latent, %W_UV_W_O

// CACHEKV-NOT:  "latent"
// CACHEKV:      la.kv_store %k_nope_new into "k_nope" : tensor<1x5x2x8xf32>
// CACHEKV:      la.kv_store %value_new into "value" : tensor<1x5x2x8xf32>
// CACHEKV:      %scores_nope = la.einsum "bshn,bthn->bhst" %q_nope, %k_nope_new
// CACHEKV:      la.kv_store %k_pe_rot_h into "rope_key_per_head" : tensor<1x5x2x4xf32>
// CACHEKV-NEXT: %scores_pe = la.einsum "bshp,bthp->bhst" %q_pe_rot, %k_pe_rot_h
// CACHEKV-NOT:  "latent"
