// Commands that take attention layers only refuse an MLP or MoE layer in one line, at the layer.
// RUN: not mlacc sweep %S/../transforms/shard/Inputs/ffn.attn --batch 1,2 -o %t.csv 2>&1 | filecheck %s --check-prefix=SWEEP
// RUN: not mlacc verify %S/../transforms/shard/Inputs/ffn.attn 2>&1 | filecheck %s --check-prefix=VERIFY

// SWEEP:      ffn.attn:2:7: error: layer 'up' is a mlp layer: sweeps take attention layers only
// SWEEP-NOT:  Traceback
// VERIFY:     ffn.attn:2:7: error: layer 'up' is a mlp layer: verify checks attention layers' schemes
// VERIFY-NOT: Traceback
