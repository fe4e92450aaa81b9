// mlacc import: a Hugging Face config.json as DSL (an MLA model without query compression, a GQA model), the
// same config compiled and opted directly, and errors placed in the JSON.
// RUN: mlacc import %S/../../fixtures/hf/deepseek_v2_lite.json | filecheck %s --check-prefix=MLA
// RUN: mlacc import %S/../../fixtures/hf/llama3_70b.json -o %t.attn
// RUN: filecheck %s --check-prefix=GQA < %t.attn
// RUN: mlacc compile %t.attn --emit attn --workload decode | filecheck %s --check-prefix=ATTN
// RUN: mlacc compile %S/../../fixtures/hf/llama3_70b.json --emit attn --workload decode | filecheck %s --check-prefix=ATTN
// RUN: mlacc-opt %S/../../fixtures/hf/deepseek_v2_lite.json -p lower-attn | filecheck %s --check-prefix=OPT

// MLA:      // deepseek_v2_lite: multi-head latent attention, 27 layers (num_hidden_layers): reports give one layer and the model.
// MLA-NEXT: // Imported by `mlacc import` from deepseek_v2_lite.json (model_type deepseek_v2); edit the workloads to taste.
// MLA-NEXT: layer deepseek_v2_lite : mla {
// MLA-NEXT:   d_model           = 2048   // hidden_size
// MLA-NEXT:   heads             = 16     // num_attention_heads
// MLA-NEXT:   q_rank            = 0      // q_lora_rank null: no query compression
// MLA-NEXT:   kv_rank           = 512    // kv_lora_rank
// MLA-NEXT:   qk_nope_dim       = 128    // qk_nope_head_dim
// MLA-NEXT:   qk_rope_dim       = 64     // qk_rope_head_dim
// MLA-NEXT:   v_dim             = 128    // v_head_dim
// MLA-NEXT:   layers            = 27     // num_hidden_layers
// MLA-NEXT:   vocab             = 102400 // vocab_size
// MLA-NEXT:   experts           = 64     // n_routed_experts
// MLA-NEXT:   experts_per_token = 6      // num_experts_per_tok
// MLA-NEXT:   expert_width      = 1408   // moe_intermediate_size
// MLA-NEXT:   shared_experts    = 2      // n_shared_experts
// MLA-NEXT:   dense_layers      = 1      // first_k_dense_replace: dense MLP first
// MLA-NEXT:   mlp               = 10944  // intermediate_size
// MLA-NEXT:   dtype             = bf16   // torch_dtype bfloat16
// MLA-NEXT: }
// MLA-EMPTY:
// MLA-NEXT: // One new token per sequence against a 4k-token cache.
// MLA-NEXT: workload decode {
// MLA-NEXT:   phase   = decode
// MLA-NEXT:   batch   = 1
// MLA-NEXT:   context = 4k
// MLA-NEXT: }
// MLA-EMPTY:
// MLA-NEXT: // A 4k-token prompt with nothing cached yet.
// MLA-NEXT: workload prefill {
// MLA-NEXT:   phase      = prefill
// MLA-NEXT:   batch      = 1
// MLA-NEXT:   new_tokens = 4k
// MLA-NEXT: }

// GQA:      // llama3_70b: grouped-query attention, 80 layers (num_hidden_layers): reports give one layer and the model.
// GQA-NEXT: // Imported by `mlacc import` from llama3_70b.json (model_type llama); edit the workloads to taste.
// GQA-NEXT: layer llama3_70b : gqa {
// GQA-NEXT:   d_model  = 8192   // hidden_size
// GQA-NEXT:   heads    = 64     // num_attention_heads
// GQA-NEXT:   kv_heads = 8      // num_key_value_heads
// GQA-NEXT:   head_dim = 128    // hidden_size / num_attention_heads
// GQA-NEXT:   layers   = 80     // num_hidden_layers
// GQA-NEXT:   vocab    = 128256 // vocab_size
// GQA-NEXT:   mlp      = 28672  // intermediate_size
// GQA-NEXT:   dtype    = bf16   // torch_dtype bfloat16
// GQA-NEXT: }
// GQA:      workload decode {
// GQA:      workload prefill {

// ATTN:      func.func @llama3_70b.decode(%x: tensor<1x1x8192xbf16>) -> tensor<1x1x8192xbf16> {
// ATTN-NEXT:   %out = attn.gqa %x layer "llama3_70b" layers = 80 model <vocab = 128256, tie_embeddings = 0, mlp = 28672, gated = 1, dense_layers = 0, experts = 0, experts_per_token = 0, shared_experts = 0, expert_width = 0, mtp_layers = 0> workload <"decode", decode, batch = 1, context = 4096, new_tokens = 1> d_model = 8192 heads = 64 kv_heads = 8 head_dim = 128
// ATTN-NOT:  func.func

// OPT:      func.func @deepseek_v2_lite.decode(%x: tensor<1x1x2048xbf16>) {{.*}} attn.layers = 27 : i64, attn.model = #attn.model<vocab = 102400, tie_embeddings = 0, mlp = 10944, gated = 1, dense_layers = 1, experts = 64, experts_per_token = 6, shared_experts = 2, expert_width = 1408, mtp_layers = 0>, attn.params = 13763072 : i64}
// OPT-NOT:  W_DQ
// OPT:        la.kv_store {{.*}} into "latent"

// Errors: one line at the field's place in the JSON, exit 1, no file written.
// RUN: rm -f %t.bad.attn
// RUN: not mlacc import %S/Inputs/gpt2.json -o %t.bad.attn 2>&1 | filecheck %s --check-prefix=FAMILY
// RUN: not test -e %t.bad.attn
// RUN: not mlacc compile %S/Inputs/gpt2.json 2>&1 | filecheck %s --check-prefix=FAMILY
// RUN: not mlacc-opt %S/Inputs/gpt2.json 2>&1 | filecheck %s --check-prefix=FAMILY
// FAMILY:     gpt2.json:3:17: error: unsupported model_type 'gpt2' (mlacc imports model_type: deepseek_v2, deepseek_v3, kimi_k2, llama, mistral, mixtral, qwen2, qwen2_moe, qwen3, qwen3_moe)
// FAMILY-NOT: Traceback
