// place: every op that computes or stores records where it reads each operand and writes its result.
// A 64-token MLA prefill under `expand` on tests/filecheck/dialects/hw/Inputs/tiny.toml (1 KiB SRAM): weights, the input,
// the output and the KV caches live in DRAM; intermediates that do not fit the SRAM spill to DRAM; attention
// scores and probabilities (2 heads x 64 x 64 fp32 = 32 KiB) are fused flash-style and stay in SRAM anyway.
// RUN: mlacc-opt %s -p place | filecheck %s
// RUN: mlacc-opt %s -p place | mlacc-opt | filecheck %s

builtin.module attributes {hw.target = #hw.target<"tiny",
    description = "test accelerator: one 4x4 MAC array, 1 KiB scratchpad, 1 MiB DRAM", frequency_hz = 1.0e9,
    compute = [#hw.compute<"array", count = 1, array = 4x4, macs_per_cycle = {fp32 = 16.0, bf16 = 16.0}>],
    memory = [
      #hw.memory<"sram", capacity_bytes = 1024, count = 1, read_bytes_per_cycle = 64.0, write_bytes_per_cycle = 64.0, read_pj_per_byte = 1.0, write_pj_per_byte = 1.0>,
      #hw.memory<"dram", capacity_bytes = 1048576, count = 1, read_bytes_per_cycle = 8.0, write_bytes_per_cycle = 8.0, read_pj_per_byte = 100.0, write_pj_per_byte = 100.0>],
    mac_pj = {fp32 = 4.0, bf16 = 1.0}>} {
  func.func @t.p(%x: tensor<1x64x16xf32>) -> tensor<1x64x16xf32> attributes {attn.layer = "t", attn.kind = "mla", attn.workload = #attn.workload<"p", prefill, batch = 1, context = 0, new_tokens = 64>, attn.scheme = "expand"} {
    %W_DQ = la.weight "W_DQ" : tensor<16x8xf32>
    %c_q = la.einsum "bsd,dq->bsq" %x, %W_DQ {mem.tiling = #mem.tiling<"sram", m = 1, n = 8, k = 16, order = "nkm">} : tensor<1x64x16xf32>, tensor<16x8xf32> -> tensor<1x64x8xf32>
    %q_norm = la.weight "q_norm" : tensor<8xf32>
    %c_q_normed = la.rmsnorm %c_q, %q_norm eps = 1.000000e-06 : tensor<1x64x8xf32>, tensor<8xf32>
    %W_UQ = la.weight "W_UQ" : tensor<8x2x4xf32>
    %q_nope = la.einsum "bsq,qhn->bshn" %c_q_normed, %W_UQ {mem.tiling = #mem.tiling<"sram", m = 1, n = 8, k = 8, order = "nkm">} : tensor<1x64x8xf32>, tensor<8x2x4xf32> -> tensor<1x64x2x4xf32>
    %W_QR = la.weight "W_QR" : tensor<8x2x2xf32>
    %q_pe = la.einsum "bsq,qhp->bshp" %c_q_normed, %W_QR {mem.tiling = #mem.tiling<"sram", m = 1, n = 4, k = 8, order = "nkm">} : tensor<1x64x8xf32>, tensor<8x2x2xf32> -> tensor<1x64x2x2xf32>
    %q_pe_rot = la.rope %q_pe seq_dim = 1 offset = 0 : tensor<1x64x2x2xf32>
    %W_DKV = la.weight "W_DKV" : tensor<16x8xf32>
    %c_kv = la.einsum "bsd,dc->bsc" %x, %W_DKV {mem.tiling = #mem.tiling<"sram", m = 1, n = 8, k = 16, order = "nkm">} : tensor<1x64x16xf32>, tensor<16x8xf32> -> tensor<1x64x8xf32>
    %kv_norm = la.weight "kv_norm" : tensor<8xf32>
    %c_kv_normed = la.rmsnorm %c_kv, %kv_norm eps = 1.000000e-06 : tensor<1x64x8xf32>, tensor<8xf32>
    %W_KR = la.weight "W_KR" : tensor<16x2xf32>
    %k_pe = la.einsum "bsd,dp->bsp" %x, %W_KR {mem.tiling = #mem.tiling<"sram", m = 1, n = 2, k = 16, order = "nkm">} : tensor<1x64x16xf32>, tensor<16x2xf32> -> tensor<1x64x2xf32>
    %k_pe_rot = la.rope %k_pe seq_dim = 1 offset = 0 : tensor<1x64x2xf32>
    la.kv_store %c_kv_normed into "latent" : tensor<1x64x8xf32>
    la.kv_store %k_pe_rot into "rope_key" : tensor<1x64x2xf32>
    %W_UK = la.weight "W_UK" : tensor<8x2x4xf32>
    %k_nope = la.einsum "btc,chn->bthn" %c_kv_normed, %W_UK {mem.tiling = #mem.tiling<"sram", m = 1, n = 8, k = 8, order = "nkm">} : tensor<1x64x8xf32>, tensor<8x2x4xf32> -> tensor<1x64x2x4xf32>
    %W_UV = la.weight "W_UV" : tensor<8x2x4xf32>
    %value = la.einsum "btc,chv->bthv" %c_kv_normed, %W_UV {mem.tiling = #mem.tiling<"sram", m = 1, n = 8, k = 8, order = "nkm">} : tensor<1x64x8xf32>, tensor<8x2x4xf32> -> tensor<1x64x2x4xf32>
    %scores_nope = la.einsum "bshn,bthn->bhst" %q_nope, %k_nope {mem.tiling = #mem.tiling<"sram", m = 1, n = 64, k = 2, order = "nkm">} : tensor<1x64x2x4xf32>, tensor<1x64x2x4xf32> -> tensor<1x2x64x64xf32>
    %scores_pe = la.einsum "bshp,btp->bhst" %q_pe_rot, %k_pe_rot {mem.tiling = #mem.tiling<"sram", m = 1, n = 64, k = 2, order = "nkm">} : tensor<1x64x2x2xf32>, tensor<1x64x2xf32> -> tensor<1x2x64x64xf32>
    %scores = la.add %scores_nope, %scores_pe : tensor<1x2x64x64xf32>
    %probs = la.softmax %scores scale = 0.40824829046386307 causal : tensor<1x2x64x64xf32>
    %attn_out = la.einsum "bhst,bthv->bshv" %probs, %value {mem.tiling = #mem.tiling<"sram", m = 32, n = 4, k = 1, order = "mnk">} : tensor<1x2x64x64xf32>, tensor<1x64x2x4xf32> -> tensor<1x64x2x4xf32>
    %W_O = la.weight "W_O" : tensor<2x4x16xf32>
    %output = la.einsum "bshv,hvd->bsd" %attn_out, %W_O {mem.tiling = #mem.tiling<"sram", m = 1, n = 16, k = 8, order = "nkm">} : tensor<1x64x2x4xf32>, tensor<2x4x16xf32> -> tensor<1x64x16xf32>
    func.return %output : tensor<1x64x16xf32>
  }
}

// The target prints in the hw dialect's keyword syntax, one line.
// CHECK:      builtin.module attributes {hw.target = #hw.target<"tiny", description = "test accelerator: {{.*}}", frequency_hz = 1.0e9, compute = [#hw.compute<"array", count = 1, array = 4x4, macs_per_cycle = {fp32 = 16.0, bf16 = 16.0}>], memory = [#hw.memory<"sram", {{.*}}>, #hw.memory<"dram", {{.*}}>], mac_pj = {fp32 = 4.0, bf16 = 1.0}>} {
// CHECK:      mem.transfer %x "dram" -> "sram" bytes = 4096 : tensor<1x64x16xf32>
// CHECK-NEXT: mem.transfer %W_DQ "dram" -> "sram" bytes = 512 : tensor<16x8xf32>
// CHECK-NEXT: %c_q = la.einsum {{.*}}mem.place = #mem.place<["dram", "dram"], "dram">
// CHECK-NEXT: mem.transfer %c_q "sram" -> "dram" bytes = 2048 : tensor<1x64x8xf32>
// CHECK:      %c_q_normed = la.rmsnorm {{.*}}mem.place = #mem.place<["dram"], "dram">
// 64 x 2 x 2 fp32 (1 KiB) fits: q_pe stays in SRAM, no transfer after it.
// CHECK:      %q_pe = la.einsum {{.*}}mem.place = #mem.place<["dram", "dram"], "sram">
// CHECK-NEXT: %q_pe_rot = la.rope
// CHECK:      la.kv_store %c_kv_normed into "latent" {mem.place = #mem.place<["dram"], "dram">}
// CHECK-NEXT: mem.transfer %c_kv_normed "sram" -> "dram" bytes = 2048 : tensor<1x64x8xf32>
// Scores and probabilities (32 KiB each) are fused flash-style: no transfer in or out.
// CHECK:      %scores_nope = la.einsum {{.*}}mem.place = #mem.place<["dram", "dram"], "sram">
// CHECK:      %scores = la.add %scores_nope, %scores_pe {mem.place = #mem.place<["sram", "sram"], "sram">}
// CHECK-NEXT: %probs = la.softmax {{.*}}mem.place = #mem.place<["sram"], "sram">
// With 32-row tiles of the 64 queries, the 2 KiB of values are read twice, less the blocks the causal mask
// hides: 2 x 2048 x (64 x 64 - 64 x 63 / 2) / (64 x 64) = 2080 bytes.
// CHECK-NEXT: mem.transfer %value "dram" -> "sram" bytes = 2080 : tensor<1x64x2x4xf32>
// CHECK-NEXT: %attn_out = la.einsum {{.*}}mem.place = #mem.place<["sram", "dram"], "dram">
// CHECK-NEXT: mem.transfer %attn_out "sram" -> "dram" bytes = 2048
// CHECK:      %output = la.einsum {{.*}}mem.place = #mem.place<["dram", "dram"], "dram">
// CHECK-NEXT: mem.transfer %output "sram" -> "dram" bytes = 4096 : tensor<1x64x16xf32>
// CHECK-NEXT: func.return %output
