// Commands that take attention layers only refuse an MLP or MoE layer in one line, at the layer: sweep, and
// verify when the file has no attention layer (it skips MLP and MoE layers with a remark otherwise).
// RUN: not mlacc sweep %S/../transforms/shard/Inputs/ffn.attn --batch 1,2 -o %t.csv 2>&1 | filecheck %s --check-prefix=SWEEP
// RUN: not mlacc verify %S/../transforms/shard/Inputs/ffn.attn 2>&1 | filecheck %s --check-prefix=VERIFY
// RUN: mlacc verify %S/../../../examples/deepseek_v3_step.attn --shrink 16 --workload decode 2>&1 | filecheck %s --check-prefix=SKIP

// SWEEP:      ffn.attn:2:7: error: layer 'up' is a mlp layer: sweeps take attention layers only
// SWEEP-NOT:  Traceback
// VERIFY:     ffn.attn:2:7: error: no attention layer to verify ('up' is a mlp layer)
// VERIFY-NOT: Traceback
// SKIP:       deepseek_v3_step.attn:11:7: remark: verify: layer 'dense' is a mlp layer, with no scheme to check: skipped
// SKIP:       deepseek_v3_step.attn:13:7: remark: verify: layer 'moe' is a moe layer, with no scheme to check: skipped
// SKIP:       verify: 5 comparisons over 1 layer x workload cases, all within 1e-09
