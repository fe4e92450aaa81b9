// convert-la-to-linalg on a small MLA decode step (2 heads, q_rank 32, kv_rank 16, nope 8, rope 4, v 8; batch 2,
// 6 cached tokens) under each absorb scheme: the output is func/arith/math/tensor/linalg only. Weights and the
// cached context become arguments, the new cache entries extra results, each tagged with its name; reuse's
// precomposed products move to a function of their own, which the step takes as arguments. Every weight and
// product the step reads comes in with its contraction's summed dimensions innermost ([N, K]), its `mlacc.layout`
// the permutation of the DSL's dimensions it is in; a norm's gamma and the caches keep their layout.
// RUN: mlacc-opt %s -p 'absorb{scheme=recompute},convert-la-to-linalg' | filecheck %s --check-prefixes=CHECK,RECOMPUTE
// RUN: mlacc-opt %s -p 'absorb{scheme=reuse},convert-la-to-linalg' | filecheck %s --check-prefixes=CHECK,REUSE
// RUN: mlacc-opt %s -p 'absorb{scheme=expand},convert-la-to-linalg' | filecheck %s --check-prefixes=CHECK,EXPAND
// RUN: mlacc-opt %s -p 'absorb{scheme=cache-kv},convert-la-to-linalg' | filecheck %s --check-prefixes=CHECK,CACHEKV
// RUN: mlacc-opt %s -p 'absorb{scheme=cache-kv},convert-la-to-linalg' | filecheck %s --check-prefix=UPSTREAM
// The lowered IR prints and parses back unchanged (xDSL's upstream dialects):
// RUN: mlacc-opt %s -p 'absorb{scheme=reuse},convert-la-to-linalg' | mlacc-opt | filecheck %s --check-prefixes=CHECK,REUSE
// `mlacc compile --emit mlir` runs the same passes from a DSL file:
// RUN: mlacc compile %S/../../cli/Inputs/small.attn --emit mlir --scheme reuse --workload d -q | filecheck %s --check-prefixes=CHECK,REUSE

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

// No op or attribute of mlacc's dialects is left (upstream tools could not read it):
// UPSTREAM-NOT: {{(^|[^.a-z])(la|attn|mem|hw|sched)\.}}

// The precomposition reads the weights as the DSL declares them (offline, once) and writes each product in the
// layout the step reads it in: W_UQ W_UK ("qhc", read by "bsq,qhc->bshc") as [h, c, q], W_UV W_O ("chd", read by
// "bhsc,chd->bsd", which sums h and c in that order) as [d, h, c].
// REUSE:      func.func @m.d.precompose(%W_UQ: tensor<32x2x8xf32> {mlacc.weight = "W_UQ"}, %W_UK: tensor<16x2x8xf32> {mlacc.weight = "W_UK"}, %W_UV: tensor<16x2x8xf32> {mlacc.weight = "W_UV"}, %W_O: tensor<2x8x64xf32> {mlacc.weight = "W_O"}) -> (tensor<2x16x32xf32> {mlacc.precomposed = "W_UQ_W_UK", mlacc.layout = array<i64: 1, 2, 0>}, tensor<64x2x16xf32> {mlacc.precomposed = "W_UV_W_O", mlacc.layout = array<i64: 2, 1, 0>}) {
// "qhn,chn->hcq": h, c and q parallel, n summed
// REUSE:      %W_UQ_W_UK_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d2, d0, d3)>, affine_map<(d0, d1, d2, d3) -> (d1, d0, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%W_UQ, %W_UK : tensor<32x2x8xf32>, tensor<16x2x8xf32>)
// REUSE:      func.return %W_UQ_W_UK_3, %W_UV_W_O_3 : tensor<2x16x32xf32>, tensor<64x2x16xf32>

// CHECK:      func.func @m.d(%x: tensor<2x1x64xf32>, %W_DQ: tensor<32x64xf32> {mlacc.weight = "W_DQ", mlacc.layout = array<i64: 1, 0>}, %q_norm: tensor<32xf32> {mlacc.weight = "q_norm"},
// recompute: W_UK of "bshn,chn->bshc" as [h, c, n] (h is a batch dimension of the product), W_UV of
// "bhsc,chv->bshv" as [h, v, c].
// RECOMPUTE-SAME: %latent_cached: tensor<2x6x16xf32> {mlacc.cache = "latent"}, %rope_key_cached: tensor<2x6x4xf32> {mlacc.cache = "rope_key"}, %W_UK: tensor<2x16x8xf32> {mlacc.weight = "W_UK", mlacc.layout = array<i64: 1, 0, 2>}, %W_UV: tensor<2x8x16xf32> {mlacc.weight = "W_UV", mlacc.layout = array<i64: 1, 2, 0>}, %W_O: tensor<64x2x8xf32> {mlacc.weight = "W_O", mlacc.layout = array<i64: 2, 0, 1>}) -> (tensor<2x1x64xf32>, tensor<2x1x16xf32> {mlacc.cache = "latent"}, tensor<2x1x4xf32> {mlacc.cache = "rope_key"}) {
// REUSE-SAME: %latent_cached: tensor<2x6x16xf32> {mlacc.cache = "latent"}, %rope_key_cached: tensor<2x6x4xf32> {mlacc.cache = "rope_key"}, %W_UQ_W_UK: tensor<2x16x32xf32> {mlacc.precomposed = "W_UQ_W_UK", mlacc.layout = array<i64: 1, 2, 0>}, %W_UV_W_O: tensor<64x2x16xf32> {mlacc.precomposed = "W_UV_W_O", mlacc.layout = array<i64: 2, 1, 0>}) -> (tensor<2x1x64xf32>, tensor<2x1x16xf32> {mlacc.cache = "latent"}, tensor<2x1x4xf32> {mlacc.cache = "rope_key"}) {
// expand and cache-kv: W_UK and W_UV of "btc,chn->bthn" as [h, n, c].
// EXPAND-SAME: %latent_cached: tensor<2x6x16xf32> {mlacc.cache = "latent"}, %rope_key_cached: tensor<2x6x4xf32> {mlacc.cache = "rope_key"}, %W_UK: tensor<2x8x16xf32> {mlacc.weight = "W_UK", mlacc.layout = array<i64: 1, 2, 0>}, %W_UV: tensor<2x8x16xf32> {mlacc.weight = "W_UV", mlacc.layout = array<i64: 1, 2, 0>}, %W_O: tensor<64x2x8xf32> {mlacc.weight = "W_O", mlacc.layout = array<i64: 2, 0, 1>}) -> (tensor<2x1x64xf32>, tensor<2x1x16xf32> {mlacc.cache = "latent"}, tensor<2x1x4xf32> {mlacc.cache = "rope_key"}) {
// CACHEKV-SAME: %W_UK: tensor<2x8x16xf32> {mlacc.weight = "W_UK", mlacc.layout = array<i64: 1, 2, 0>}, %k_nope_cached: tensor<2x6x2x8xf32> {mlacc.cache = "k_nope"}, %W_UV: tensor<2x8x16xf32> {mlacc.weight = "W_UV", mlacc.layout = array<i64: 1, 2, 0>}, %value_cached: tensor<2x6x2x8xf32> {mlacc.cache = "value"}, %rope_key_per_head_cached: tensor<2x6x2x4xf32> {mlacc.cache = "rope_key_per_head"}, %W_O: tensor<64x2x8xf32> {mlacc.weight = "W_O", mlacc.layout = array<i64: 2, 0, 1>}) -> (tensor<2x1x64xf32>, tensor<2x1x2x8xf32> {mlacc.cache = "k_nope"}, tensor<2x1x2x8xf32> {mlacc.cache = "value"}, tensor<2x1x2x4xf32> {mlacc.cache = "rope_key_per_head"}) {

// An einsum ("bsd,dq->bsq") is a generic over its output letters, then the summed ones, from a zero fill; it
// reads W_DQ, laid out [q, d], at (q, d): (d2, d3).
// CHECK:      %c_q = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %c_q_1 = tensor.empty() : tensor<2x1x32xf32>
// CHECK-NEXT: %c_q_2 = linalg.fill ins(%c_q : f32) outs(%c_q_1 : tensor<2x1x32xf32>) -> tensor<2x1x32xf32>
// CHECK-NEXT: %c_q_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x, %W_DQ : tensor<2x1x64xf32>, tensor<32x64xf32>) outs(%c_q_2 : tensor<2x1x32xf32>) {
// CHECK-NEXT: ^bb0(%[[X:.*]]: f32, %[[W:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT:   %[[P:.*]] = arith.mulf %[[X]], %[[W]] : f32
// CHECK-NEXT:   %[[S:.*]] = arith.addf %[[ACC]], %[[P]] : f32
// CHECK-NEXT:   linalg.yield %[[S]] : f32
// CHECK-NEXT: } -> tensor<2x1x32xf32>

// RMSNorm: a sum of squares over the last axis, then x * rsqrt(sum / 32 + eps) * gamma.
// CHECK:      %c_q_normed_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%c_q_3 : tensor<2x1x32xf32>) outs(%c_q_normed_2 : tensor<2x1xf32>) {
// CHECK:      %c_q_normed_5 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%c_q_3, %c_q_normed_3, %q_norm : tensor<2x1x32xf32>, tensor<2x1xf32>, tensor<32xf32>)
// CHECK:        arith.constant 3.200000e+01 : f32
// CHECK:        arith.constant 1.000000e-06 : f32
// CHECK:        math.rsqrt

// recompute: the query absorbs W_UK ("bshn,chn->bshc", W_UK read at (h, c, n): (d2, d3, d4)) and attends over
// the latent ("bshc,btc->bhst") where it lies: the 6 cached latents' scores and the new one's apart, then joined
// (no tensor.concat copies the cache).
// RECOMPUTE:  %q_nope_absorbed_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d2, d3, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q_nope_3, %W_UK
// RECOMPUTE-NOT: %latent_all
// RECOMPUTE:  %scores_nope_3 = linalg.generic {{.*}} ins(%q_nope_absorbed_3, %latent_cached : tensor<2x1x2x16xf32>, tensor<2x6x16xf32>)
// RECOMPUTE:  %scores_nope_7 = linalg.generic {{.*}} ins(%q_nope_absorbed_3, %c_kv_normed_5 : tensor<2x1x2x16xf32>, tensor<2x1x16xf32>)
// RECOMPUTE:  %scores_nope_8 = tensor.concat dim(3) %scores_nope_3, %scores_nope_7 : (tensor<2x2x1x6xf32>, tensor<2x2x1x1xf32>) -> tensor<2x2x1x7xf32>
// REUSE:      %q_nope_absorbed_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d2, d3, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%c_q_normed_5, %W_UQ_W_UK : tensor<2x1x32xf32>, tensor<2x16x32xf32>)
// expand: every step up-projects all 7 latents to keys and values; the up-projection writes more than it reads,
// so the latents are joined first.
// EXPAND:     %latent_all = tensor.concat dim(1) %latent_cached, %c_kv_normed_5 : (tensor<2x6x16xf32>, tensor<2x1x16xf32>) -> tensor<2x7x16xf32>
// EXPAND:     %k_nope_3 = linalg.generic {{.*}} ins(%latent_all, %W_UK : tensor<2x7x16xf32>, tensor<2x8x16xf32>)
// EXPAND:     %value_3 = linalg.generic {{.*}} ins(%latent_all, %W_UV : tensor<2x7x16xf32>, tensor<2x8x16xf32>)
// cache-kv: the shared RoPE key is copied per head (la.broadcast) by a generic that reads it without the head axis.
// CACHEKV:    %k_pe_rot_h_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%k_pe_rot_8 : tensor<2x1x4xf32>)
// CACHEKV-NOT: %rope_key_per_head_all
// CACHEKV:    %scores_pe_3 = linalg.generic {{.*}} ins(%q_pe_rot_8, %rope_key_per_head_cached : tensor<2x1x2x4xf32>, tensor<2x6x2x4xf32>)

// Two scores add elementwise; the softmax (1 / sqrt(8 + 4), no causal mask at one new token) scales, takes the row max, exp, sums, divides.
// RECOMPUTE:  %scores_1 = linalg.generic {{.*}} ins(%scores_nope_8, %scores_pe_8 : tensor<2x2x1x7xf32>, tensor<2x2x1x7xf32>)
// REUSE:      %scores_1 = linalg.generic {{.*}} ins(%scores_nope_8, %scores_pe_8 : tensor<2x2x1x7xf32>, tensor<2x2x1x7xf32>)
// EXPAND:     %scores_1 = linalg.generic {{.*}} ins(%scores_nope_3, %scores_pe_8 : tensor<2x2x1x7xf32>, tensor<2x2x1x7xf32>)
// CACHEKV:    %scores_1 = linalg.generic {{.*}} ins(%scores_nope_8, %scores_pe_8 : tensor<2x2x1x7xf32>, tensor<2x2x1x7xf32>)
// CHECK:        arith.addf
// CHECK:      %probs_1 = linalg.generic
// CHECK:        arith.constant 0.288675129 : f32
// CHECK-NOT:    linalg.index
// CHECK:      %probs_2 = arith.constant 0xff800000 : f32
// CHECK:      %probs_5 = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%probs_1 : tensor<2x2x1x7xf32>) outs(%probs_4 : tensor<2x2x1xf32>)
// CHECK:        arith.maximumf
// CHECK:      %probs_7 = linalg.generic
// CHECK:        arith.subf
// CHECK:        math.exp
// CHECK:      %probs_11 = linalg.generic
// CHECK:        arith.addf
// CHECK:      %probs_13 = linalg.generic
// CHECK:        arith.divf

// The weighted sum sums the keys: the new entry's share accumulates onto the cached entries' (the generic of the
// new latent takes the cached latents' result as its init). Its result, which the output projection sums over h
// and c, is written [b, s, h, c] (the DSL's [b, h, s, c] holds h and c apart): "bhst,btc->bshc".
// REUSE:      %attn_out_latent_2 = linalg.fill ins(%attn_out_latent : f32) outs(%attn_out_latent_1 : tensor<2x1x2x16xf32>)
// REUSE:      %attn_out_latent_3 = tensor.extract_slice %probs_13[0, 0, 0, 0] [2, 2, 1, 6] [1, 1, 1, 1] : tensor<2x2x1x7xf32> to tensor<2x2x1x6xf32>
// REUSE-NEXT: %attn_out_latent_4 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d0, d2, d1, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d4, d3)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%attn_out_latent_3, %latent_cached : tensor<2x2x1x6xf32>, tensor<2x6x16xf32>) outs(%attn_out_latent_2 : tensor<2x1x2x16xf32>)
// REUSE:      %attn_out_latent_5 = tensor.extract_slice %probs_13[0, 0, 0, 6] [2, 2, 1, 1] [1, 1, 1, 1] : tensor<2x2x1x7xf32> to tensor<2x2x1x1xf32>
// REUSE-NEXT: %attn_out_latent_6 = linalg.generic {{.*}} ins(%attn_out_latent_5, %c_kv_normed_5 : tensor<2x2x1x1xf32>, tensor<2x1x16xf32>) outs(%attn_out_latent_4 : tensor<2x1x2x16xf32>)
// reuse: the output projection reads the precomposed W_UV W_O, [d, h, c], at (d2, d3, d4): h and c summed innermost,
// as the attention output holds them.
// REUSE:      %output_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d2, d3, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%attn_out_latent_6, %W_UV_W_O : tensor<2x1x2x16xf32>, tensor<64x2x16xf32>)

// RECOMPUTE:  func.return %output_3, %c_kv_normed_5, %k_pe_rot_8 : tensor<2x1x64xf32>, tensor<2x1x16xf32>, tensor<2x1x4xf32>
// REUSE:      func.return %output_3, %c_kv_normed_5, %k_pe_rot_8 : tensor<2x1x64xf32>, tensor<2x1x16xf32>, tensor<2x1x4xf32>
// EXPAND:     func.return %output_3, %c_kv_normed_5, %k_pe_rot_8 : tensor<2x1x64xf32>, tensor<2x1x16xf32>, tensor<2x1x4xf32>
// CACHEKV:    func.return %output_3, %k_nope_new_3, %value_new_3, %k_pe_rot_h_1 : tensor<2x1x64xf32>, tensor<2x1x2x8xf32>, tensor<2x1x2x8xf32>, tensor<2x1x2x4xf32>
