// verify, which takes attention layers only, refuses a file of MLP and MoE layers in one line, at the layer (it
// skips MLP and MoE layers with a remark otherwise). Sweeps take them (sweep.mlir).
// RUN: not mlacc verify %S/../transforms/shard/Inputs/ffn.attn 2>&1 | filecheck %s --check-prefix=VERIFY
// RUN: mlacc verify %S/../../../examples/deepseek_v3_step.attn --shrink 16 --workload decode 2>&1 | filecheck %s --check-prefix=SKIP

// VERIFY:     ffn.attn:2:7: error: no attention layer to verify ('up' is a mlp layer)
// VERIFY-NOT: Traceback
// SKIP:       deepseek_v3_step.attn:11:7: remark: verify: layer 'dense' is a mlp layer, with no scheme to check: skipped
// SKIP:       deepseek_v3_step.attn:13:7: remark: verify: layer 'moe' is a moe layer, with no scheme to check: skipped
// SKIP:       verify: 5 comparisons over 1 layer x workload cases, all within 1e-09
