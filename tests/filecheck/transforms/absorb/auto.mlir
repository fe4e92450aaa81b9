// absorb{scheme=auto} estimates every scheme on the module's hw.target with the shared cost model, keeps the
// fastest and records every scheme's [cycles, energy pJ]. Without a target it says what is missing.
// RUN: mlacc compile %S/../../cli/Inputs/small.attn --hw %S/../../dialects/hw/Inputs/tiny.toml --emit absorbed --workload d 2>/dev/null | filecheck %s
// At batch 4096 no scheme's weights, KV cache and activations fit the 1 MiB DRAM: auto warns and takes the fastest.
// RUN: mlacc compile %S/../../cli/Inputs/small.attn --hw %S/../../dialects/hw/Inputs/tiny.toml --emit absorbed --workload d --batch 4096 2>&1 >/dev/null | filecheck %s --check-prefix=NOFIT
// RUN: not mlacc-opt %s -p 'absorb{scheme=auto}' 2>&1 | filecheck %s --check-prefix=NOTARGET
// RUN: not mlacc-opt %s -p 'absorb{scheme=fastest}' 2>&1 | filecheck %s --check-prefix=UNKNOWN

builtin.module {
}

// CHECK:      builtin.module attributes {hw.target = #hw.target<"tiny", description = "test accelerator: {{.*}}", frequency_hz = 1.0e9, compute = [#hw.compute<"array", count = 1, array = 4x4, {{.*}}], mac_pj = {fp32 = 4.0, bf16 = 1.0}>} {
// CHECK:      func.func @m.d
// CHECK-SAME: attn.scheme = "recompute"
// CHECK-SAME: attn.alternatives = {recompute = [3.420000e+03 : f64, {{.*}}], reuse = [3.932000e+03 : f64, {{.*}}], expand = [3.948000e+03 : f64, {{.*}}], "cache-kv" = [3.548000e+03 : f64, {{.*}}]}
// CHECK:      la.einsum "bshn,chn->bshc"

// NOTARGET:     error: module has no 'hw.target' attribute: compile with `mlacc compile --hw NAME|PATH`, or attach a #hw.target to the module
// NOTARGET-NOT: Traceback
// UNKNOWN:      error: {{.*}}fastest
// UNKNOWN-NOT:  Traceback

// NOFIT: small.attn:2:7: warning: absorb: no scheme of @m.d fits tiny; picking the fastest
