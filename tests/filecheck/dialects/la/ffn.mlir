// The ops of MLP and MoE layers: la.silu, la.gelu, la.mul, la.dispatch (with group-limited routing's
// `expert_groups` and `groups_per_token`, or without) and la.combine, and a weight that is the step's slice of a
// stacked parameter (`of 8`: 3 of 8 experts read, all 8 resident). Round trips, and the verifiers' one-line errors.
// RUN: %roundtrip
// RUN: %generic-roundtrip
// RUN: mlacc-opt %S/Inputs/ffn-invalid.mlir --split-input-file --verify-diagnostics | filecheck %S/Inputs/ffn-invalid.mlir

builtin.module {
  func.func @e(%x: tensor<2x1x16xf32>, %logits: tensor<2x1x8xf32>) -> tensor<2x1x16xf32> {
    %routed = la.dispatch %x, %logits : tensor<2x1x16xf32>, tensor<2x1x8xf32> -> tensor<3x2x16xf32>
    %W_up = la.weight "W_up_experts" of 8 : tensor<3x16x4xf32>
    %up = la.einsum "amd,adf->amf" %routed, %W_up : tensor<3x2x16xf32>, tensor<3x16x4xf32> -> tensor<3x2x4xf32>
    %act = la.silu %up : tensor<3x2x4xf32>
    %plain = la.gelu %up : tensor<3x2x4xf32>
    %hidden = la.mul %act, %plain : tensor<3x2x4xf32>
    %W_down = la.weight "W_down_experts" of 8 : tensor<3x4x16xf32>
    %down = la.einsum "amf,afd->amd" %hidden, %W_down : tensor<3x2x4xf32>, tensor<3x4x16xf32> -> tensor<3x2x16xf32>
    %out = la.combine %down, %logits : tensor<3x2x16xf32>, tensor<2x1x8xf32> -> tensor<2x1x16xf32>
    func.return %out : tensor<2x1x16xf32>
  }
  func.func @grouped(%x: tensor<2x1x16xf32>, %logits: tensor<2x1x8xf32>) -> tensor<3x2x16xf32> {
    %routed = la.dispatch %x, %logits expert_groups = 4 groups_per_token = 2 : tensor<2x1x16xf32>, tensor<2x1x8xf32> -> tensor<3x2x16xf32>
    func.return %routed : tensor<3x2x16xf32>
  }
}

// CHECK:      %routed = la.dispatch %x, %logits : tensor<2x1x16xf32>, tensor<2x1x8xf32> -> tensor<3x2x16xf32>
// CHECK-NEXT: %W_up = la.weight "W_up_experts" of 8 : tensor<3x16x4xf32>
// CHECK:      %act = la.silu %up : tensor<3x2x4xf32>
// CHECK-NEXT: %plain = la.gelu %up : tensor<3x2x4xf32>
// CHECK-NEXT: %hidden = la.mul %act, %plain : tensor<3x2x4xf32>
// CHECK:      %out = la.combine %down, %logits : tensor<3x2x16xf32>, tensor<2x1x8xf32> -> tensor<2x1x16xf32>
// CHECK:      %routed = la.dispatch %x, %logits expert_groups = 4 groups_per_token = 2 : tensor<2x1x16xf32>, tensor<2x1x8xf32> -> tensor<3x2x16xf32>
