// schedule: every op that computes or stores becomes a sched.task (unit, start/end cycle, bytes per level,
// energy per component, bound, and `kernel = "flash"` on the ops fused into one attention kernel),
// list-scheduled on the dataflow graph by longest path to the end; the function gets the totals. Input: the
// small MLA decode step, tiled and placed for tests/filecheck/dialects/hw/Inputs/tiny.toml.
// RUN: mlacc-opt %s -p schedule | filecheck %s
// RUN: mlacc-opt %s -p schedule | mlacc-opt | filecheck %s
// A target that names its kernel libraries (`kernels`, by op class) puts each op's on its task: the GEMMs', the
// small ops', and the latent decode attention's on every member of its flash group; a class it names no library
// for (here the per-head and prefill attention) gets none:
// RUN: sed 's/mac_pj = {fp32 = 4.0, bf16 = 1.0}>} {/mac_pj = {fp32 = 4.0, bf16 = 1.0}, kernels = {gemm = "blas", attention_decode_latent = "mla-decode", elementwise = "ew"}>} {/' %s | mlacc-opt -p schedule | filecheck %s --check-prefix=LIB
// Scheduling needs the tiling and placement in the IR:
// RUN: mlacc compile %S/../../cli/Inputs/small.attn --hw %S/../../dialects/hw/Inputs/tiny.toml --emit absorbed --workload d > %t.mlir
// RUN: not mlacc-opt %t.mlir -p schedule 2>&1 | filecheck %s --check-prefix=NOTILE

builtin.module attributes {hw.target = #hw.target<"tiny",
    description = "test accelerator: one 4x4 MAC array, 1 KiB scratchpad, 1 MiB DRAM", frequency_hz = 1.0e9,
    compute = [#hw.compute<"array", count = 1, array = 4x4, macs_per_cycle = {fp32 = 16.0, bf16 = 16.0}>],
    memory = [
      #hw.memory<"sram", capacity_bytes = 1024, count = 1, read_bytes_per_cycle = 64.0, write_bytes_per_cycle = 64.0, read_pj_per_byte = 1.0, write_pj_per_byte = 1.0>,
      #hw.memory<"dram", capacity_bytes = 1048576, count = 1, read_bytes_per_cycle = 8.0, write_bytes_per_cycle = 8.0, read_pj_per_byte = 100.0, write_pj_per_byte = 100.0>],
    mac_pj = {fp32 = 4.0, bf16 = 1.0}>} {
  func.func @t.d(%x: tensor<1x1x16xf32>) -> tensor<1x1x16xf32> attributes {attn.layer = "t", attn.kind = "mla", attn.workload = #attn.workload<"d", decode, batch = 1, context = 3, new_tokens = 1>, attn.scheme = "recompute"} {
    %W_DQ = la.weight "W_DQ" : tensor<16x8xf32>
    mem.transfer %x "dram" -> "sram" bytes = 64 : tensor<1x1x16xf32>
    mem.transfer %W_DQ "dram" -> "sram" bytes = 512 : tensor<16x8xf32>
    %c_q = la.einsum "bsd,dq->bsq" %x, %W_DQ {mem.tiling = #mem.tiling<"sram", m = 1, n = 1, k = 16, order = "mkn">, mem.place = #mem.place<["dram", "dram"], "sram">} : tensor<1x1x16xf32>, tensor<16x8xf32> -> tensor<1x1x8xf32>
    %q_norm = la.weight "q_norm" : tensor<8xf32>
    %c_q_normed = la.rmsnorm %c_q, %q_norm eps = 1.000000e-06 {mem.place = #mem.place<["sram"], "sram">} : tensor<1x1x8xf32>, tensor<8xf32>
    %W_UQ = la.weight "W_UQ" : tensor<8x2x4xf32>
    mem.transfer %W_UQ "dram" -> "sram" bytes = 256 : tensor<8x2x4xf32>
    %q_nope = la.einsum "bsq,qhn->bshn" %c_q_normed, %W_UQ {mem.tiling = #mem.tiling<"sram", m = 1, n = 1, k = 8, order = "mkn">, mem.place = #mem.place<["sram", "dram"], "sram">} : tensor<1x1x8xf32>, tensor<8x2x4xf32> -> tensor<1x1x2x4xf32>
    %W_QR = la.weight "W_QR" : tensor<8x2x2xf32>
    mem.transfer %W_QR "dram" -> "sram" bytes = 128 : tensor<8x2x2xf32>
    %q_pe = la.einsum "bsq,qhp->bshp" %c_q_normed, %W_QR {mem.tiling = #mem.tiling<"sram", m = 1, n = 1, k = 8, order = "mkn">, mem.place = #mem.place<["sram", "dram"], "sram">} : tensor<1x1x8xf32>, tensor<8x2x2xf32> -> tensor<1x1x2x2xf32>
    %q_pe_rot = la.rope %q_pe seq_dim = 1 offset = 3 {mem.place = #mem.place<["sram"], "sram">} : tensor<1x1x2x2xf32>
    %W_DKV = la.weight "W_DKV" : tensor<16x8xf32>
    mem.transfer %x "dram" -> "sram" bytes = 64 : tensor<1x1x16xf32>
    mem.transfer %W_DKV "dram" -> "sram" bytes = 512 : tensor<16x8xf32>
    %c_kv = la.einsum "bsd,dc->bsc" %x, %W_DKV {mem.tiling = #mem.tiling<"sram", m = 1, n = 1, k = 16, order = "mkn">, mem.place = #mem.place<["dram", "dram"], "sram">} : tensor<1x1x16xf32>, tensor<16x8xf32> -> tensor<1x1x8xf32>
    %kv_norm = la.weight "kv_norm" : tensor<8xf32>
    %c_kv_normed = la.rmsnorm %c_kv, %kv_norm eps = 1.000000e-06 {mem.place = #mem.place<["sram"], "sram">} : tensor<1x1x8xf32>, tensor<8xf32>
    %W_KR = la.weight "W_KR" : tensor<16x2xf32>
    mem.transfer %x "dram" -> "sram" bytes = 64 : tensor<1x1x16xf32>
    mem.transfer %W_KR "dram" -> "sram" bytes = 128 : tensor<16x2xf32>
    %k_pe = la.einsum "bsd,dp->bsp" %x, %W_KR {mem.tiling = #mem.tiling<"sram", m = 1, n = 1, k = 16, order = "mkn">, mem.place = #mem.place<["dram", "dram"], "sram">} : tensor<1x1x16xf32>, tensor<16x2xf32> -> tensor<1x1x2xf32>
    %k_pe_rot = la.rope %k_pe seq_dim = 1 offset = 3 {mem.place = #mem.place<["sram"], "sram">} : tensor<1x1x2xf32>
    la.kv_store %c_kv_normed into "latent" {mem.place = #mem.place<["sram"], "dram">} : tensor<1x1x8xf32>
    mem.transfer %c_kv_normed "sram" -> "dram" bytes = 32 : tensor<1x1x8xf32>
    %latent_cached = la.kv_load "latent" : tensor<1x3x8xf32>
    %latent_all = la.concat %latent_cached, %c_kv_normed dim = 1 : tensor<1x3x8xf32>, tensor<1x1x8xf32> -> tensor<1x4x8xf32>
    la.kv_store %k_pe_rot into "rope_key" {mem.place = #mem.place<["sram"], "dram">} : tensor<1x1x2xf32>
    mem.transfer %k_pe_rot "sram" -> "dram" bytes = 8 : tensor<1x1x2xf32>
    %rope_key_cached = la.kv_load "rope_key" : tensor<1x3x2xf32>
    %rope_key_all = la.concat %rope_key_cached, %k_pe_rot dim = 1 : tensor<1x3x2xf32>, tensor<1x1x2xf32> -> tensor<1x4x2xf32>
    %W_UK = la.weight "W_UK" : tensor<8x2x4xf32>
    %W_UV = la.weight "W_UV" : tensor<8x2x4xf32>
    mem.transfer %W_UK "dram" -> "sram" bytes = 256 : tensor<8x2x4xf32>
    %q_nope_absorbed = la.einsum "bshn,chn->bshc" %q_nope, %W_UK {mem.tiling = #mem.tiling<"sram", m = 1, n = 1, k = 4, order = "mkn">, mem.place = #mem.place<["sram", "dram"], "sram">} : tensor<1x1x2x4xf32>, tensor<8x2x4xf32> -> tensor<1x1x2x8xf32>
    mem.transfer %latent_all "dram" -> "sram" bytes = 128 : tensor<1x4x8xf32>
    %scores_nope = la.einsum "bshc,btc->bhst" %q_nope_absorbed, %latent_all {mem.tiling = #mem.tiling<"sram", m = 1, n = 4, k = 8, order = "nkm">, mem.place = #mem.place<["sram", "dram"], "sram">} : tensor<1x1x2x8xf32>, tensor<1x4x8xf32> -> tensor<1x2x1x4xf32>
    mem.transfer %rope_key_all "dram" -> "sram" bytes = 32 : tensor<1x4x2xf32>
    %scores_pe = la.einsum "bshp,btp->bhst" %q_pe_rot, %rope_key_all {mem.tiling = #mem.tiling<"sram", m = 1, n = 4, k = 2, order = "nkm">, mem.place = #mem.place<["sram", "dram"], "sram">} : tensor<1x1x2x2xf32>, tensor<1x4x2xf32> -> tensor<1x2x1x4xf32>
    %scores = la.add %scores_nope, %scores_pe {mem.place = #mem.place<["sram", "sram"], "sram">} : tensor<1x2x1x4xf32>
    %probs = la.softmax %scores scale = 0.40824829046386307 {mem.place = #mem.place<["sram"], "sram">} : tensor<1x2x1x4xf32>
    mem.transfer %latent_all "dram" -> "sram" bytes = 128 : tensor<1x4x8xf32>
    %attn_out_latent = la.einsum "bhst,btc->bhsc" %probs, %latent_all {mem.tiling = #mem.tiling<"sram", m = 1, n = 8, k = 4, order = "nkm">, mem.place = #mem.place<["sram", "dram"], "sram">} : tensor<1x2x1x4xf32>, tensor<1x4x8xf32> -> tensor<1x2x1x8xf32>
    mem.transfer %W_UV "dram" -> "sram" bytes = 256 : tensor<8x2x4xf32>
    %attn_out = la.einsum "bhsc,chv->bshv" %attn_out_latent, %W_UV {mem.tiling = #mem.tiling<"sram", m = 1, n = 1, k = 8, order = "mkn">, mem.place = #mem.place<["sram", "dram"], "sram">} : tensor<1x2x1x8xf32>, tensor<8x2x4xf32> -> tensor<1x1x2x4xf32>
    %W_O = la.weight "W_O" : tensor<2x4x16xf32>
    mem.transfer %W_O "dram" -> "sram" bytes = 512 : tensor<2x4x16xf32>
    %output = la.einsum "bshv,hvd->bsd" %attn_out, %W_O {mem.tiling = #mem.tiling<"sram", m = 1, n = 1, k = 8, order = "mkn">, mem.place = #mem.place<["sram", "dram"], "dram">} : tensor<1x1x2x4xf32>, tensor<2x4x16xf32> -> tensor<1x1x16xf32>
    mem.transfer %output "sram" -> "dram" bytes = 64 : tensor<1x1x16xf32>
    func.return %output : tensor<1x1x16xf32>
  }
}

// The target prints in the hw dialect's keyword syntax, one line.
// CHECK:      builtin.module attributes {hw.target = #hw.target<"tiny", description = "test accelerator: {{.*}}", frequency_hz = 1.0e9, compute = [#hw.compute<"array", count = 1, array = 4x4, macs_per_cycle = {fp32 = 16.0, bf16 = 16.0}>], memory = [#hw.memory<"sram", {{.*}}>, #hw.memory<"dram", {{.*}}>], mac_pj = {fp32 = 4.0, bf16 = 1.0}>} {
// CHECK:      func.func @t.d{{.*}}sched.cycles = 4.255000e+02 : f64, sched.energy_pj = 3.232720e+05 : f64
// c_q: W_DQ (512 B) and x (64 B) from DRAM at 8 B/cycle = 72 cycles, DRAM-bound; 256 FLOPs, 128 MACs x 4 pJ.
// CHECK:      %c_q = la.einsum
// CHECK-NEXT: "sched.task"() <{task = "c_q", kind = "einsum", unit = "array", units_used = 1 : i64, start = 0.000000e+00 : f64, end = 7.200000e+01 : f64, flops = 256 : i64, bound = "dram", bytes = {sram = 8.640000e+02 : f64, dram = 5.760000e+02 : f64}, energy_pj = {mac = 5.120000e+02 : f64, sram = 8.640000e+02 : f64, dram = 5.760000e+04 : f64}}>
// c_kv is independent of c_q's consumers and has a longer path to the end, so it runs next (72 to 144).
// CHECK:      %c_kv = la.einsum
// CHECK-NEXT: "sched.task"() <{task = "c_kv", {{.*}}start = 7.200000e+01 : f64, end = 1.440000e+02 : f64
// CHECK:      la.kv_store %c_kv_normed into "latent"
// CHECK-NEXT: "sched.task"() <{task = "store latent", kind = "kv_store"
// The scores, their sum, the softmax and the latent's weighted sum run inside one flash kernel; W_UV's product
// after it is a kernel of its own.
// CHECK:      %scores_nope = la.einsum
// CHECK-NEXT: "sched.task"() <{task = "scores_nope", {{.*}}, kernel = "flash"}>
// CHECK:      %probs = la.softmax
// CHECK-NEXT: "sched.task"() <{task = "probs", {{.*}}, kernel = "flash"}>
// CHECK:      %attn_out_latent = la.einsum
// CHECK-NEXT: "sched.task"() <{task = "attn_out_latent", {{.*}}, kernel = "flash"}>
// CHECK:      %attn_out = la.einsum
// CHECK-NEXT: "sched.task"() <{task = "attn_out", {{.*}} : f64}}>
// The output projection is not last: the cache stores (no successors, lowest priority) finish the layer.
// CHECK:      %output = la.einsum
// CHECK-NEXT: "sched.task"() <{task = "output", {{.*}}start = 3.485000e+02 : f64, end = 4.205000e+02 : f64

// NOTILE: error: schedule needs 'tile' first: einsum 'c_q' has no mem.tiling

// LIB:      "sched.task"() <{task = "c_q", {{.*}}, library = "blas"}>
// LIB:      "sched.task"() <{task = "c_q_normed", {{.*}}, library = "ew"}>
// LIB:      "sched.task"() <{task = "store latent", {{.*}}, library = "ew"}>
// LIB:      "sched.task"() <{task = "scores_nope", {{.*}}, kernel = "flash", library = "mla-decode"}>
// LIB:      "sched.task"() <{task = "probs", {{.*}}, kernel = "flash", library = "mla-decode"}>
// LIB:      "sched.task"() <{task = "attn_out_latent", {{.*}}, kernel = "flash", library = "mla-decode"}>
// LIB:      "sched.task"() <{task = "output", {{.*}}, library = "blas"}>
