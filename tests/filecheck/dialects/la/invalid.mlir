// The la verifiers reject ill-shaped dataflow.
// RUN: mlacc-opt %s --split-input-file --verify-diagnostics | filecheck %s

%a = la.weight "A" : tensor<4x8xf32>
%b = la.weight "B" : tensor<16x2xf32>
%c = la.einsum "ij,jk->ik" %a, %b : tensor<4x8xf32>, tensor<16x2xf32> -> tensor<4x2xf32>
// CHECK: einsum 'ij,jk->ik': index 'j' is 8 in one operand, 16 in another

// -----

%a = la.weight "A" : tensor<4x8xf32>
%b = la.weight "B" : tensor<8x2xf32>
%c = la.einsum "ij,jk->ik" %a, %b : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x3xf32>
// CHECK: einsum 'ij,jk->ik' yields shape [4, 2], result has [4, 3]

// -----

%a = la.weight "A" : tensor<4x8xf32>
%b = la.weight "B" : tensor<8x2xf32>
%c = la.einsum "ij,jk" %a, %b : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
// CHECK: einsum spec 'ij,jk' must have exactly one '->'

// -----

%a = la.weight "A" : tensor<2x5xf32>
%r = la.rope %a seq_dim = 0 offset = 0 : tensor<2x5xf32>
// CHECK: rope rotates pairs: last axis must be even, got 5

// -----

%a = la.weight "A" : tensor<1x4x3xf32>
%p = la.softmax %a scale = 1.0 causal : tensor<1x4x3xf32>
// CHECK: causal softmax needs queries <= keys on the last two axes, got [1, 4, 3]

// -----

%a = la.weight "A" : tensor<1x3x8xf32>
%g = la.weight "g" : tensor<4xf32>
%n = la.rmsnorm %a, %g eps = 1.0e-06 : tensor<1x3x8xf32>, tensor<4xf32>
// CHECK: rmsnorm gamma must be tensor<8xf32>, got tensor<4xf32>

// -----

%a = la.weight "A" : tensor<1x3x8xf32>
%b = la.weight "B" : tensor<1x2x4xf32>
%c = la.concat %a, %b dim = 1 : tensor<1x3x8xf32>, tensor<1x2x4xf32> -> tensor<1x5x8xf32>
// CHECK: cannot concatenate tensor<1x3x8xf32> and tensor<1x2x4xf32> along dim 1 into tensor<1x5x8xf32>
