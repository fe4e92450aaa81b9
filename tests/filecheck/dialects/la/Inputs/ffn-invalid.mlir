// The verifiers of the MLP and MoE ops reject ill-shaped dataflow (run by ../ffn.mlir).

%w = la.weight "W_up_experts" of 2 : tensor<3x16x4xf32>
// CHECK: a slice of 2 entries has 1 to 2 of them

// -----

%x = la.weight "X" : tensor<2x1x16xf32>
%l = la.weight "L" : tensor<2x1x8xf32>
%r = la.dispatch %x, %l : tensor<2x1x16xf32>, tensor<2x1x8xf32> -> tensor<9x2x16xf32>
// CHECK: dispatch yields at most 8 experts' rows of d, got tensor<9x2x16xf32>

// -----

%x = la.weight "X" : tensor<2x1x16xf32>
%l = la.weight "L" : tensor<2x1x8xf32>
%r = la.dispatch %x, %l expert_groups = 3 groups_per_token = 1 : tensor<2x1x16xf32>, tensor<2x1x8xf32> -> tensor<3x2x16xf32>
// CHECK: expert_groups (3) must divide the 8 experts

// -----

%x = la.weight "X" : tensor<2x1x16xf32>
%l = la.weight "L" : tensor<2x1x8xf32>
%r = la.dispatch %x, %l expert_groups = 4 groups_per_token = 5 : tensor<2x1x16xf32>, tensor<2x1x8xf32> -> tensor<3x2x16xf32>
// CHECK: groups_per_token (5) must be between 1 and expert_groups (4)

// -----

%x = la.weight "X" : tensor<2x1x16xf32>
%l = la.weight "L" : tensor<2x1x8xf32>
%r = la.dispatch %x, %l expert_groups = 1 groups_per_token = 1 : tensor<2x1x16xf32>, tensor<2x1x8xf32> -> tensor<3x2x16xf32>
// CHECK: group-limited dispatch needs more than one expert group, got 1

// -----

%x = la.weight "X" : tensor<2x1x16xf32>
%l = la.weight "L" : tensor<2x1x8xf32>
%r = "la.dispatch"(%x, %l) <{expert_groups = 4 : i64}> : (tensor<2x1x16xf32>, tensor<2x1x8xf32>) -> tensor<3x2x16xf32>
// CHECK: group-limited dispatch needs both expert_groups and groups_per_token

// -----

%y = la.weight "Y" : tensor<3x2x16xf32>
%l = la.weight "L" : tensor<2x1x8xf32>
%c = la.combine %y, %l : tensor<3x2x16xf32>, tensor<2x1x8xf32> -> tensor<2x2x16xf32>
// CHECK: combine yields [2, 1, 16] (the logits' b x s, the rows' d), got tensor<2x2x16xf32>
