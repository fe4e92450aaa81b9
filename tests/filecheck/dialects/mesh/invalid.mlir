// The mesh verifiers: axis sizes positive, collectives' bytes and shapes consistent with the mesh.
// RUN: mlacc-opt %s --split-input-file --verify-diagnostics | filecheck %s

mesh.mesh @node(dp = 2, tp = 0)
// CHECK: mesh @node: axis tp has size 0, must be positive

// -----

mesh.mesh @node(tp = 2, tp = 4)
// CHECK: mesh @node names an axis twice: ['tp', 'tp']

// -----

mesh.mesh @node(tp = 2)
%a = la.weight "A" : tensor<2x8xf32>
%b = mesh.all_reduce %a on @node axes = ["tp"] bytes = 32 : tensor<2x8xf32> -> tensor<2x8xf32>
// CHECK: mesh.all_reduce moves 64 bytes per device, not 32

// -----

mesh.mesh @node(tp = 2)
%a = la.weight "A" : tensor<2x8xf32>
%b = mesh.all_reduce %a on @node axes = ["dp"] bytes = 64 : tensor<2x8xf32> -> tensor<2x8xf32>
// CHECK: mesh.all_reduce: mesh @node has no axis dp (axes: tp)

// -----

mesh.mesh @node(dp = 4)
%a = la.weight "A" : tensor<2x8xf32>
%b = mesh.all_gather %a on @node axes = ["dp"] dim = 0 bytes = 128 : tensor<2x8xf32> -> tensor<4x8xf32>
// CHECK: mesh.all_gather over 4 devices along dim 0: tensor<2x8xf32> -> tensor<4x8xf32> does not match

// -----

%a = la.weight "A" {mesh.sharding = #mesh.sharding<@node, [(tp), (tp)]>} : tensor<2x8xf32>
// CHECK: sharding splits over mesh axis more than once: ['tp', 'tp']
