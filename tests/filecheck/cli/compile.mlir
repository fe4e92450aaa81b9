// mlacc compile: the default hardware-independent report (a row per scheme), --scheme, --emit stages, --workload, -o.
// RUN: mlacc compile %S/Inputs/small.attn --counts | filecheck %s --check-prefix=SCHEMES
// RUN: mlacc compile %S/Inputs/small.attn --counts --scheme expand | filecheck %s --check-prefix=REPORT
// RUN: mlacc compile %S/Inputs/small.attn --emit absorbed --scheme recompute | filecheck %s --check-prefix=ABSORBED
// RUN: mlacc compile %S/Inputs/small.attn --emit la --workload d | filecheck %s --check-prefix=LA
// RUN: mlacc compile %S/Inputs/small.attn --emit attn | mlacc-opt -p lower-attn | filecheck %s --check-prefix=LA
// RUN: mlacc-opt %S/Inputs/small.attn -p lower-attn | filecheck %s --check-prefix=LA
// RUN: mlacc compile %S/Inputs/small.attn --emit la -o %t.mlir
// RUN: mlacc-opt %t.mlir | filecheck %s --check-prefix=LA

// SCHEMES:      == m (mla, fp32) x d: decode, batch 2, context 6, new tokens 1
// SCHEMES-NEXT:   scheme          FLOPs  weights  KV/token  KV cache  min bytes  FLOP/B     offline
// SCHEMES-NEXT:   recompute  25.2 kFLOP  22.7 kB      80 B   1.12 kB    24.9 kB    1.01      0 FLOP
// SCHEMES-NEXT:   reuse      29.3 kFLOP  26.8 kB      80 B   1.12 kB      29 kB    1.01  49.2 kFLOP
// SCHEMES-NEXT:   expand     36.6 kFLOP  22.7 kB      80 B   1.12 kB    24.9 kB    1.47      0 FLOP
// SCHEMES-NEXT:   cache-kv   24.3 kFLOP  22.7 kB     160 B   2.24 kB      26 kB   0.934      0 FLOP
// SCHEMES:      == g (gqa, fp32) x d: decode, batch 2, context 6, new tokens 1
// SCHEMES-NEXT:   scheme       FLOPs  weights  KV/token  KV cache  min bytes  FLOP/B  offline
// SCHEMES-NEXT:   -       26.9 kFLOP  24.6 kB     128 B   1.79 kB    27.4 kB   0.983   0 FLOP

// REPORT:      == m (mla, fp32) x d: decode, batch 2, context 6, new tokens 1; scheme expand
// REPORT:        k_nope           einsum btc,chn->bthn     7.17 kFLOP
// REPORT:        total: 36.6 kFLOP; weights 22.7 kB; KV cache read 960 B, written 160 B; minimum traffic 24.9 kB
// REPORT:      == g (gqa, fp32) x d: decode, batch 2, context 6, new tokens 1
// REPORT:        total: 26.9 kFLOP; weights 24.6 kB; KV cache read 1.54 kB, written 256 B; minimum traffic 27.4 kB

// ABSORBED:      func.func @m.d{{.*}}attn.scheme = "recompute"
// ABSORBED:        la.einsum "bshn,chn->bshc" %q_nope, %W_UK
// ABSORBED:      func.func @g.d
// ABSORBED-NOT:  attn.scheme


// LA:      func.func @m.d(%x: tensor<2x1x64xf32>)
// LA:        la.kv_store %c_kv_normed into "latent" : tensor<2x1x16xf32>
// LA:      func.func @g.d(%x: tensor<2x1x64xf32>)

// mlacc-opt --hw attaches a target, so the whole pipeline runs there too:
// RUN: mlacc-opt %S/Inputs/small.attn --hw %S/../dialects/hw/Inputs/tiny.toml -p 'lower-attn,absorb,tile,place,schedule' | filecheck %s --check-prefix=OPT
// RUN: not mlacc-opt %S/Inputs/small.attn --hw no-such-chip -p lower-attn 2>&1 | filecheck %s --check-prefix=OPTBAD
// OPT:      builtin.module attributes {hw.target = #hw.target<"tiny", description = "test accelerator: {{.*}}", frequency_hz = 1.0e9, compute = [#hw.compute<"array", count = 1, array = 4x4, {{.*}}], mac_pj = {fp32 = 4.0, bf16 = 1.0}>} {
// OPT:      func.func @m.d{{.*}}attn.scheme = "recompute"{{.*}}sched.cycles
// OPT:      "sched.task"() <{task = "c_q", kind = "einsum", unit = "array"
// OPT:      func.func @g.d{{.*}}sched.cycles
// OPTBAD:   error: unknown hardware 'no-such-chip'
