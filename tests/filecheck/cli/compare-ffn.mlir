// mlacc compare of a file with MLP and MoE layers: one row each beside the attention layer's schemes, and in the
// whole-model table their layers' step with no max batch (they hold no cache; capacity is attention's).
// RUN: mlacc compare %S/../transforms/shard/Inputs/ffn.attn %S/Inputs/small.attn --hw %S/../dialects/hw/Inputs/tiny.toml -q | filecheck %s
// RUN: mlacc compare %S/../../../examples/deepseek_v3_step.attn --workload decode -q | filecheck %s --check-prefix=MODEL

// CHECK:      up (mlp)
// CHECK-NEXT: e (moe)

// MODEL:      whole model (each row its own layers' step; MLP/MoE rows have no KV cache, the step's sum is compile's):
// MODEL:      dense (mlp) x3 {{ +}}0 B | {{.*}} -
// MODEL-NEXT: moe (moe) x58 {{ +}}0 B | {{.*}} - no fit
