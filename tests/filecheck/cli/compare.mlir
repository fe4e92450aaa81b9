// mlacc compare of several files side by side, against a baseline layer: a speedup column per hardware.
// RUN: mlacc compare %S/Inputs/small.attn %S/../transforms/shard/Inputs/gqa.attn --hw %S/../dialects/hw/Inputs/tiny.toml --baseline q -q | filecheck %s
// RUN: not mlacc compare %S/Inputs/small.attn %S/Inputs/small.attn -q 2>&1 | filecheck %s --check-prefix=TWICE

// CHECK:      == d: decode, batch 2, context 6, new tokens 1
// CHECK-NEXT:   layer / scheme  KV cache |       tiny latency    energy   bound vs q
// CHECK-NEXT:   m recompute*   1.12 kB |            3.42 us   2.69 uJ    dram 1.72x
// CHECK:        g (gqa)        1.79 kB |            3.73 us   2.98 uJ    dram 1.58x
// CHECK-NEXT:   q (gqa)        1.79 kB |            5.89 us   4.69 uJ    dram 1.00x
// CHECK:      vs q = q's latency (its auto scheme's) over the row's on the same hardware and workload: above 1x is faster.

// TWICE:      error: layer 'm' is in both {{.*}}small.attn and {{.*}}small.attn: rename one to compare them
// TWICE-NOT:  Traceback
