// mlacc import --step: the MLP and MoE layers of a config as layers of their own after the attention layer (dense
// ones first, from first_k_dense_replace), so that compile reports the whole step; a dense model's MLP in every
// layer. The config gives its vocabulary, so the step times the LM head too. Without --step the import is what it
// was (import.mlir). DeepSeek-V3's group-limited routing (n_group 8, topk_group 4) goes to its MoE layer; V2-Lite's
// one group writes nothing.
// RUN: mlacc import %S/../../fixtures/hf/deepseek_v2_lite.json --step -o %t.attn
// RUN: filecheck %s --check-prefix=MOE < %t.attn
// RUN: mlacc compile %t.attn --workload decode -q | filecheck %s --check-prefix=STEP
// RUN: mlacc import %S/../../fixtures/hf/llama3_70b.json --step | filecheck %s --check-prefix=DENSE
// RUN: mlacc import %S/../../fixtures/hf/deepseek_v3.json --step | filecheck %s --check-prefix=GROUPS

// MOE:      layer deepseek_v2_lite : mla {
// MOE:      }
// MOE-EMPTY:
// MOE-NEXT: // The MLP after attention in 1 layer.
// MOE-NEXT: layer deepseek_v2_lite_mlp : mlp {
// MOE-NEXT:   d_model = 2048   // hidden_size
// MOE-NEXT:   width   = 10944  // intermediate_size
// MOE-NEXT:   layers  = 1      // first_k_dense_replace
// MOE-NEXT:   dtype   = bf16
// MOE-NEXT: }
// MOE-EMPTY:
// MOE-NEXT: // The mixture of experts after attention in 26 layers.
// MOE-NEXT: layer deepseek_v2_lite_moe : moe {
// MOE-NEXT:   d_model           = 2048   // hidden_size
// MOE-NEXT:   experts           = 64     // n_routed_experts
// MOE-NEXT:   experts_per_token = 6      // num_experts_per_tok
// MOE-NEXT:   expert_width      = 1408   // moe_intermediate_size
// MOE-NEXT:   shared_experts    = 2      // n_shared_experts
// MOE-NEXT:   layers            = 26     // num_hidden_layers - first_k_dense_replace
// MOE-NEXT:   dtype             = bf16
// MOE-NEXT: }

// STEP:      whole step (attention, MLP/MoE layers, norms, embedding lookup and LM head timed):
// STEP-NEXT:   part {{ +}}layers    latency energy/GPU
// STEP-NEXT:   deepseek_v2_lite (mla) {{ +}}27
// STEP-NEXT:   deepseek_v2_lite_mlp (mlp) {{ +}}1
// STEP-NEXT:   deepseek_v2_lite_moe (moe) {{ +}}26
// STEP-NEXT:   norms (rmsnorm) {{ +}}27
// STEP-NEXT:   embedding (embedding) {{ +}}1
// STEP-NEXT:   lm_head (lm_head) {{ +}}1
// STEP-NEXT:   step: {{.*}} on 1 GPU; 1 token: {{.*}} tokens/s, {{.*}} tokens/s per GPU

// DENSE:      layer llama3_70b_mlp : mlp {
// DENSE-NEXT:   d_model = 8192   // hidden_size
// DENSE-NEXT:   width   = 28672  // intermediate_size
// DENSE-NEXT:   layers  = 80     // num_hidden_layers
// DENSE-NOT:  layer llama3_70b_moe

// GROUPS:      layer deepseek_v3_moe : moe {
// GROUPS:        shared_experts    = 1      // n_shared_experts
// GROUPS-NEXT:   expert_groups     = 8      // n_group
// GROUPS-NEXT:   groups_per_token  = 4      // topk_group
// GROUPS-NEXT:   layers            = 58     // num_hidden_layers - first_k_dense_replace
