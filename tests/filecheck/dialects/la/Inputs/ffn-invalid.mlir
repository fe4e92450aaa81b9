// The verifiers of the MLP and MoE ops reject ill-shaped dataflow (run by ../ffn.mlir).

%w = la.weight "W_up_experts" of 2 : tensor<3x16x4xf32>
// CHECK: a slice of 2 entries has 1 to 2 of them

// -----

%x = la.weight "X" : tensor<2x1x16xf32>
%l = la.weight "L" : tensor<2x1x8xf32>
%r = la.dispatch %x, %l : tensor<2x1x16xf32>, tensor<2x1x8xf32> -> tensor<9x2x16xf32>
// CHECK: dispatch yields at most 8 experts' rows of d, got tensor<9x2x16xf32>

// -----

%y = la.weight "Y" : tensor<3x2x16xf32>
%l = la.weight "L" : tensor<2x1x8xf32>
%c = la.combine %y, %l : tensor<3x2x16xf32>, tensor<2x1x8xf32> -> tensor<2x2x16xf32>
// CHECK: combine yields [2, 1, 16] (the logits' b x s, the rows' d), got tensor<2x2x16xf32>
