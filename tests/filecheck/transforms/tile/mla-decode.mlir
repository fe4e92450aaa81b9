// tile: every einsum gets the tiling (M, N, K tile extents at the outermost on-chip level, loop order with the
// innermost loop last) that minimises the cost model on the module's hw.target (tests/filecheck/dialects/hw/Inputs/tiny.toml:
// one 4x4 array, 1 KiB SRAM, DRAM at 8 B/cycle). Input: a small MLA decode step under `recompute`.
// RUN: mlacc-opt %s -p tile | filecheck %s
// RUN: mlacc-opt %s -p tile | mlacc-opt | filecheck %s
// RUN: mlacc-opt %s -p tile --print-op-generic | mlacc-opt | filecheck %s

builtin.module attributes {hw.target = #hw.target<"tiny",
    description = "test accelerator: one 4x4 MAC array, 1 KiB scratchpad, 1 MiB DRAM", frequency_hz = 1.0e9,
    compute = [#hw.compute<"array", count = 1, array = 4x4, macs_per_cycle = {fp32 = 16.0, bf16 = 16.0}>],
    memory = [
      #hw.memory<"sram", capacity_bytes = 1024, count = 1, read_bytes_per_cycle = 64.0, write_bytes_per_cycle = 64.0, read_pj_per_byte = 1.0, write_pj_per_byte = 1.0>,
      #hw.memory<"dram", capacity_bytes = 1048576, count = 1, read_bytes_per_cycle = 8.0, write_bytes_per_cycle = 8.0, read_pj_per_byte = 100.0, write_pj_per_byte = 100.0>],
    mac_pj = {fp32 = 4.0, bf16 = 1.0}>} {
  func.func @t.d(%x: tensor<1x1x16xf32>) -> tensor<1x1x16xf32> attributes {attn.layer = "t", attn.kind = "mla", attn.workload = #attn.workload<"d", decode, batch = 1, context = 3, new_tokens = 1>, attn.scheme = "recompute"} {
    %W_DQ = la.weight "W_DQ" : tensor<16x8xf32>
    %c_q = la.einsum "bsd,dq->bsq" %x, %W_DQ : tensor<1x1x16xf32>, tensor<16x8xf32> -> tensor<1x1x8xf32>
    %q_norm = la.weight "q_norm" : tensor<8xf32>
    %c_q_normed = la.rmsnorm %c_q, %q_norm eps = 1.000000e-06 : tensor<1x1x8xf32>, tensor<8xf32>
    %W_UQ = la.weight "W_UQ" : tensor<8x2x4xf32>
    %q_nope = la.einsum "bsq,qhn->bshn" %c_q_normed, %W_UQ : tensor<1x1x8xf32>, tensor<8x2x4xf32> -> tensor<1x1x2x4xf32>
    %W_QR = la.weight "W_QR" : tensor<8x2x2xf32>
    %q_pe = la.einsum "bsq,qhp->bshp" %c_q_normed, %W_QR : tensor<1x1x8xf32>, tensor<8x2x2xf32> -> tensor<1x1x2x2xf32>
    %q_pe_rot = la.rope %q_pe seq_dim = 1 offset = 3 : tensor<1x1x2x2xf32>
    %W_DKV = la.weight "W_DKV" : tensor<16x8xf32>
    %c_kv = la.einsum "bsd,dc->bsc" %x, %W_DKV : tensor<1x1x16xf32>, tensor<16x8xf32> -> tensor<1x1x8xf32>
    %kv_norm = la.weight "kv_norm" : tensor<8xf32>
    %c_kv_normed = la.rmsnorm %c_kv, %kv_norm eps = 1.000000e-06 : tensor<1x1x8xf32>, tensor<8xf32>
    %W_KR = la.weight "W_KR" : tensor<16x2xf32>
    %k_pe = la.einsum "bsd,dp->bsp" %x, %W_KR : tensor<1x1x16xf32>, tensor<16x2xf32> -> tensor<1x1x2xf32>
    %k_pe_rot = la.rope %k_pe seq_dim = 1 offset = 3 : tensor<1x1x2xf32>
    la.kv_store %c_kv_normed into "latent" : tensor<1x1x8xf32>
    %latent_cached = la.kv_load "latent" : tensor<1x3x8xf32>
    %latent_all = la.concat %latent_cached, %c_kv_normed dim = 1 : tensor<1x3x8xf32>, tensor<1x1x8xf32> -> tensor<1x4x8xf32>
    la.kv_store %k_pe_rot into "rope_key" : tensor<1x1x2xf32>
    %rope_key_cached = la.kv_load "rope_key" : tensor<1x3x2xf32>
    %rope_key_all = la.concat %rope_key_cached, %k_pe_rot dim = 1 : tensor<1x3x2xf32>, tensor<1x1x2xf32> -> tensor<1x4x2xf32>
    %W_UK = la.weight "W_UK" : tensor<8x2x4xf32>
    %W_UV = la.weight "W_UV" : tensor<8x2x4xf32>
    %q_nope_absorbed = la.einsum "bshn,chn->bshc" %q_nope, %W_UK : tensor<1x1x2x4xf32>, tensor<8x2x4xf32> -> tensor<1x1x2x8xf32>
    %scores_nope = la.einsum "bshc,btc->bhst" %q_nope_absorbed, %latent_all : tensor<1x1x2x8xf32>, tensor<1x4x8xf32> -> tensor<1x2x1x4xf32>
    %scores_pe = la.einsum "bshp,btp->bhst" %q_pe_rot, %rope_key_all : tensor<1x1x2x2xf32>, tensor<1x4x2xf32> -> tensor<1x2x1x4xf32>
    %scores = la.add %scores_nope, %scores_pe : tensor<1x2x1x4xf32>
    %probs = la.softmax %scores scale = 0.40824829046386307 : tensor<1x2x1x4xf32>
    %attn_out_latent = la.einsum "bhst,btc->bhsc" %probs, %latent_all : tensor<1x2x1x4xf32>, tensor<1x4x8xf32> -> tensor<1x2x1x8xf32>
    %attn_out = la.einsum "bhsc,chv->bshv" %attn_out_latent, %W_UV : tensor<1x2x1x8xf32>, tensor<8x2x4xf32> -> tensor<1x1x2x4xf32>
    %W_O = la.weight "W_O" : tensor<2x4x16xf32>
    %output = la.einsum "bshv,hvd->bsd" %attn_out, %W_O : tensor<1x1x2x4xf32>, tensor<2x4x16xf32> -> tensor<1x1x16xf32>
    func.return %output : tensor<1x1x16xf32>
  }
}

// The target prints in the hw dialect's keyword syntax, one line.
// CHECK:      builtin.module attributes {hw.target = #hw.target<"tiny", description = "test accelerator: {{.*}}", frequency_hz = 1.0e9, compute = [#hw.compute<"array", count = 1, array = 4x4, macs_per_cycle = {fp32 = 16.0, bf16 = 16.0}>], memory = [#hw.memory<"sram", {{.*}}>, #hw.memory<"dram", {{.*}}>], mac_pj = {fp32 = 4.0, bf16 = 1.0}>} {

// A GEMV (M = 1) reading W_DQ (16 x 8) once: the whole 8-wide output row in one tile and K innermost, so the
// input row and W_DQ are each read once. (Cheaper tilings do not exist; of equally cheap ones the search keeps
// its first candidate: K innermost, the widest output tile.)
// CHECK:      %c_q = la.einsum "bsd,dq->bsq" %x, %W_DQ {mem.tiling = #mem.tiling<"sram", m = 1, n = 8, k = 1, order = "mnk">}
// Scores over the 4 cached latents: both heads (M) and the 4 tokens (N) in one output tile, K innermost.
// CHECK:      %scores_nope = la.einsum "bshc,btc->bhst" %q_nope_absorbed, %latent_all {mem.tiling = #mem.tiling<"sram", m = 2, n = 4, k = 1, order = "mnk">}
// Non-contractions are not tiled.
// CHECK:      %probs = la.softmax %scores scale = {{.*}} : tensor<1x2x1x4xf32>
// CHECK:      %output = la.einsum "bshv,hvd->bsd" %attn_out, %W_O {mem.tiling = #mem.tiling<"sram"
