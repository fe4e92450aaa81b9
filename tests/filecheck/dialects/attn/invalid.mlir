// The attn verifiers reject impossible shapes in hand-written IR too.
// RUN: mlacc-opt %s --split-input-file --verify-diagnostics | filecheck %s

%x = "test.op"() : () -> tensor<1x1x64xf32>
%out = attn.mla %x layer "m" workload <"d", decode, batch = 1, context = 6, new_tokens = 1> d_model = 64 heads = 2 q_rank = 32 kv_rank = 128 qk_nope_dim = 8 qk_rope_dim = 4 v_dim = 8 : tensor<1x1x64xf32> -> tensor<1x1x64xf32>
// CHECK: kv_rank (128) must not exceed d_model (64): it compresses

// -----

%x = "test.op"() : () -> tensor<1x1x64xf32>
%out = attn.gqa %x layer "g" workload <"d", decode, batch = 1, context = 6, new_tokens = 1> d_model = 64 heads = 6 kv_heads = 4 head_dim = 8 : tensor<1x1x64xf32> -> tensor<1x1x64xf32>
// CHECK: heads (6) must be divisible by kv_heads (4)

// -----

%x = "test.op"() : () -> tensor<1x1x64xf32>
%out = attn.mha %x layer "h" workload <"d", decode, batch = 1, context = 0, new_tokens = 1> d_model = 64 heads = 4 head_dim = 16 : tensor<1x1x64xf32> -> tensor<1x1x64xf32>
// CHECK: a decode step needs a cached context of at least one token

// -----

%x = "test.op"() : () -> tensor<1x1x64xf32>
%out = attn.mha %x layer "h" workload <"d", decode, batch = 2, context = 4, new_tokens = 1> d_model = 64 heads = 4 head_dim = 16 : tensor<1x1x64xf32> -> tensor<1x1x64xf32>
// CHECK: hidden states must be tensor<2x1x64xf32> (batch x new_tokens x d_model), got tensor<1x1x64xf32>

// -----

%x = "test.op"() : () -> tensor<1x1x64xf32>
%out = attn.mha %x layer "h" model <vocab = 100, tie_embeddings = 0, mlp = 128, gated = 1, dense_layers = 0, experts = 0, experts_per_token = 0, shared_experts = 0, expert_width = 0, mtp_layers = 0> workload <"d", decode, batch = 1, context = 4, new_tokens = 1> d_model = 64 heads = 4 head_dim = 16 : tensor<1x1x64xf32> -> tensor<1x1x64xf32>
// CHECK: a whole-model field needs `layers = N` (how many layers the model stacks)

// -----

%x = "test.op"() : () -> tensor<1x1x64xf32>
%out = attn.mha %x layer "h" layers = 2 model <vocab = 100, tie_embeddings = 0, mlp = 0, gated = 1, dense_layers = 0, experts = 4, experts_per_token = 8, shared_experts = 0, expert_width = 16, mtp_layers = 0> workload <"d", decode, batch = 1, context = 4, new_tokens = 1> d_model = 64 heads = 4 head_dim = 16 : tensor<1x1x64xf32> -> tensor<1x1x64xf32>
// CHECK: experts_per_token (8) must not exceed experts (4)

// -----

%x = "test.op"() : () -> tensor<1x1x64xf32>
%out = attn.mha %x layer "h" kv_dtype = i32 workload <"d", decode, batch = 1, context = 4, new_tokens = 1> d_model = 64 heads = 4 head_dim = 16 : tensor<1x1x64xf32> -> tensor<1x1x64xf32>
// CHECK: unsupported kv_dtype i32

// -----

%x = "test.op"() : () -> tensor<1x1x64xf32>
%out = attn.mla %x layer "m" qk_norm workload <"d", decode, batch = 1, context = 6, new_tokens = 1> d_model = 64 heads = 2 q_rank = 32 kv_rank = 16 qk_nope_dim = 8 qk_rope_dim = 4 v_dim = 8 : tensor<1x1x64xf32> -> tensor<1x1x64xf32>
// CHECK: qk_norm is for mha, gqa and mqa layers (MLA normalises its latents)
