// lower-attn on MLP layers: gated (SwiGLU: gate and up GEMMs, SiLU of the gate times the up, down GEMM) and plain
// (up, GELU, down), every GEMM a plain `la.einsum` over the width letter f.
// RUN: mlacc-opt %s -p lower-attn | filecheck %s

builtin.module {
  func.func @up.d(%x: tensor<2x1x16xf32>) -> tensor<2x1x16xf32> {
    %out = attn.mlp %x layer "up" layers = 3 workload <"d", decode, batch = 2, context = 4, new_tokens = 1> d_model = 16 width = 32 gated : tensor<2x1x16xf32> -> tensor<2x1x16xf32>
    func.return %out : tensor<2x1x16xf32>
  }
  func.func @plain.p(%x: tensor<1x8x16xf32>) -> tensor<1x8x16xf32> {
    %out = attn.mlp %x layer "plain" workload <"p", prefill, batch = 1, context = 0, new_tokens = 8> d_model = 16 width = 64 : tensor<1x8x16xf32> -> tensor<1x8x16xf32>
    func.return %out : tensor<1x8x16xf32>
  }
}

// CHECK-LABEL: func.func @up.d(%x: tensor<2x1x16xf32>) -> tensor<2x1x16xf32> attributes {attn.layer = "up", attn.kind = "mlp", attn.workload = #attn.workload<"d", decode, batch = 2, context = 4, new_tokens = 1>, attn.layers = 3 : i64} {
// CHECK-NEXT:    %W_up = la.weight "W_up" : tensor<16x32xf32>
// CHECK-NEXT:    %up = la.einsum "bsd,df->bsf" %x, %W_up : tensor<2x1x16xf32>, tensor<16x32xf32> -> tensor<2x1x32xf32>
// CHECK-NEXT:    %W_gate = la.weight "W_gate" : tensor<16x32xf32>
// CHECK-NEXT:    %gate = la.einsum "bsd,df->bsf" %x, %W_gate : tensor<2x1x16xf32>, tensor<16x32xf32> -> tensor<2x1x32xf32>
// CHECK-NEXT:    %gate_act = la.silu %gate : tensor<2x1x32xf32>
// CHECK-NEXT:    %hidden = la.mul %gate_act, %up : tensor<2x1x32xf32>
// CHECK-NEXT:    %W_down = la.weight "W_down" : tensor<32x16xf32>
// CHECK-NEXT:    %down = la.einsum "bsf,fd->bsd" %hidden, %W_down : tensor<2x1x32xf32>, tensor<32x16xf32> -> tensor<2x1x16xf32>
// CHECK-NEXT:    func.return %down : tensor<2x1x16xf32>

// CHECK-LABEL: func.func @plain.p
// CHECK-NEXT:    %W_up = la.weight "W_up" : tensor<16x64xf32>
// CHECK-NEXT:    %up = la.einsum "bsd,df->bsf" %x, %W_up : tensor<1x8x16xf32>, tensor<16x64xf32> -> tensor<1x8x64xf32>
// CHECK-NEXT:    %hidden = la.gelu %up : tensor<1x8x64xf32>
// CHECK-NEXT:    %W_down = la.weight "W_down" : tensor<64x16xf32>
// CHECK-NEXT:    %down = la.einsum "bsf,fd->bsd" %hidden, %W_down : tensor<1x8x64xf32>, tensor<64x16xf32> -> tensor<1x8x16xf32>
// CHECK-NEXT:    func.return %down : tensor<1x8x16xf32>
