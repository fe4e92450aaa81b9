// The parts of the decode step of Inputs/step.attn around its layers, as mlacc/whole_step.py `model_ends` builds
// them (the `la` stage; mlacc's reports shard, tile, place and schedule them with the layers).
builtin.module {
  func.func @a_norms.d(%x: tensor<2x1x16xf32>) -> tensor<2x1x16xf32> attributes {attn.layer = "norms", attn.kind = "rmsnorm", attn.workload = #attn.workload<"d", decode, batch = 2, context = 4, new_tokens = 1>, attn.layers = 2 : i64} {
    %post_attention_norm = la.weight "post_attention_norm" : tensor<16xf32>
    %ffn_input = la.rmsnorm %x, %post_attention_norm eps = 1.000000e-06 : tensor<2x1x16xf32>, tensor<16xf32>
    %input_norm = la.weight "input_norm" : tensor<16xf32>
    %next_input = la.rmsnorm %ffn_input, %input_norm eps = 1.000000e-06 : tensor<2x1x16xf32>, tensor<16xf32>
    func.return %next_input : tensor<2x1x16xf32>
  }
  func.func @a_embedding.d(%rows: tensor<2x1x16xf32>) -> tensor<2x1x16xf32> attributes {attn.layer = "embedding", attn.kind = "embedding", attn.workload = #attn.workload<"d", decode, batch = 2, context = 4, new_tokens = 1>, attn.layers = 1 : i64} {
    %input_norm = la.weight "input_norm" : tensor<16xf32>
    %first_input = la.rmsnorm %rows, %input_norm eps = 1.000000e-06 : tensor<2x1x16xf32>, tensor<16xf32>
    func.return %first_input : tensor<2x1x16xf32>
  }
  func.func @a_lm_head.d(%x: tensor<2x1x16xf32>) -> tensor<2x1x40xf32> attributes {attn.layer = "lm_head", attn.kind = "lm_head", attn.workload = #attn.workload<"d", decode, batch = 2, context = 4, new_tokens = 1>, attn.layers = 1 : i64} {
    %W_lm_head = la.weight "W_lm_head" : tensor<16x40xf32>
    %logits = la.einsum "bsd,dw->bsw" %x, %W_lm_head : tensor<2x1x16xf32>, tensor<16x40xf32> -> tensor<2x1x40xf32>
    func.return %logits : tensor<2x1x40xf32>
  }
}
