// lower-attn on MoE layers, uniform routing: T routed tokens (batch x new tokens) send T k rows to the E experts,
// of which E (1 - (1 - k/E)^T) receive any (rounded), each ceil(T k / that) rows. The grouped expert GEMMs batch
// those experts (letter a) and read only their weights (`of 8`: all 8 stay resident); shared experts are one
// dense MLP of their summed width, added after the combine.
// Decode, T = 2, k = 2, E = 8: 8 (1 - 0.75^2) = 3.5 -> 4 experts of 1 row. Prefill, T = 64: all 8 experts, 16 rows
// each. No shared experts and a plain MLP: up, GELU, down, and the combine is the output.
// RUN: mlacc-opt %s -p lower-attn | filecheck %s

builtin.module {
  func.func @e.d(%x: tensor<2x1x16xf32>) -> tensor<2x1x16xf32> {
    %out = attn.moe %x layer "e" workload <"d", decode, batch = 2, context = 4, new_tokens = 1> d_model = 16 experts = 8 experts_per_token = 2 expert_width = 8 shared_experts = 1 gated : tensor<2x1x16xf32> -> tensor<2x1x16xf32>
    func.return %out : tensor<2x1x16xf32>
  }
  func.func @e.p(%x: tensor<1x64x16xf32>) -> tensor<1x64x16xf32> {
    %out = attn.moe %x layer "e" workload <"p", prefill, batch = 1, context = 0, new_tokens = 64> d_model = 16 experts = 8 experts_per_token = 2 expert_width = 8 shared_experts = 0 : tensor<1x64x16xf32> -> tensor<1x64x16xf32>
    func.return %out : tensor<1x64x16xf32>
  }
}

// CHECK-LABEL: func.func @e.d
// CHECK:         %W_up_shared = la.weight "W_up_shared" : tensor<16x8xf32>
// CHECK:         %down_shared = la.einsum "bsf,fd->bsd" %hidden_shared, %W_down_shared : tensor<2x1x8xf32>, tensor<8x16xf32> -> tensor<2x1x16xf32>
// CHECK-NEXT:    %W_router = la.weight "W_router" : tensor<16x8xf32>
// CHECK-NEXT:    %router_logits = la.einsum "bsd,dx->bsx" %x, %W_router : tensor<2x1x16xf32>, tensor<16x8xf32> -> tensor<2x1x8xf32>
// CHECK-NEXT:    %routed = la.dispatch %x, %router_logits : tensor<2x1x16xf32>, tensor<2x1x8xf32> -> tensor<4x1x16xf32>
// CHECK-NEXT:    %W_up_experts = la.weight "W_up_experts" of 8 : tensor<4x16x8xf32>
// CHECK-NEXT:    %up_experts = la.einsum "amd,adf->amf" %routed, %W_up_experts : tensor<4x1x16xf32>, tensor<4x16x8xf32> -> tensor<4x1x8xf32>
// CHECK-NEXT:    %W_gate_experts = la.weight "W_gate_experts" of 8 : tensor<4x16x8xf32>
// CHECK-NEXT:    %gate_experts = la.einsum "amd,adf->amf" %routed, %W_gate_experts
// CHECK-NEXT:    %gate_experts_act = la.silu %gate_experts : tensor<4x1x8xf32>
// CHECK-NEXT:    %hidden_experts = la.mul %gate_experts_act, %up_experts : tensor<4x1x8xf32>
// CHECK-NEXT:    %W_down_experts = la.weight "W_down_experts" of 8 : tensor<4x8x16xf32>
// CHECK-NEXT:    %down_experts = la.einsum "amf,afd->amd" %hidden_experts, %W_down_experts : tensor<4x1x8xf32>, tensor<4x8x16xf32> -> tensor<4x1x16xf32>
// CHECK-NEXT:    %experts_out = la.combine %down_experts, %router_logits : tensor<4x1x16xf32>, tensor<2x1x8xf32> -> tensor<2x1x16xf32>
// CHECK-NEXT:    %output = la.add %experts_out, %down_shared : tensor<2x1x16xf32>
// CHECK-NEXT:    func.return %output : tensor<2x1x16xf32>

// CHECK-LABEL: func.func @e.p
// CHECK-NOT:     shared
// CHECK:         %routed = la.dispatch %x, %router_logits : tensor<1x64x16xf32>, tensor<1x64x8xf32> -> tensor<8x16x16xf32>
// CHECK-NEXT:    %W_up_experts = la.weight "W_up_experts" of 8 : tensor<8x16x8xf32>
// CHECK-NEXT:    %up_experts = la.einsum "amd,adf->amf"
// CHECK-NEXT:    %hidden_experts = la.gelu %up_experts : tensor<8x16x8xf32>
// CHECK:         %experts_out = la.combine %down_experts, %router_logits : tensor<8x16x16xf32>, tensor<1x64x8xf32> -> tensor<1x64x16xf32>
// CHECK-NEXT:    func.return %experts_out : tensor<1x64x16xf32>
