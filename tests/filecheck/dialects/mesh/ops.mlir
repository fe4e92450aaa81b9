// Every mesh op and the sharding attribute in their custom form; print -> parse -> print is a fixed point.
// RUN: %roundtrip
// RUN: %generic-roundtrip

builtin.module {
  mesh.mesh @node(dp = 2, tp = 4)
  func.func @f(%x: tensor<2x1x64xf32> {mesh.sharding = #mesh.sharding<@node, [(dp), (), ()]>}) -> tensor<4x1x64xf32> {
    %W = la.weight "W" {mesh.sharding = #mesh.sharding<@node, [(), (tp)]>} : tensor<64x16xf32>
    %y = la.einsum "bsd,dq->bsq" %x, %W {mesh.sharding = #mesh.sharding<@node, [(dp), (), (tp)]>} : tensor<2x1x64xf32>, tensor<64x16xf32> -> tensor<2x1x16xf32>
    %W_O = la.weight "W_O" : tensor<16x64xf32>
    %partial = la.einsum "bsq,qd->bsd" %y, %W_O : tensor<2x1x16xf32>, tensor<16x64xf32> -> tensor<2x1x64xf32>
    %sum = mesh.all_reduce %partial on @node axes = ["tp"] bytes = 512 : tensor<2x1x64xf32> -> tensor<2x1x64xf32>
    %part = mesh.reduce_scatter %sum on @node axes = ["dp"] dim = 0 bytes = 512 : tensor<2x1x64xf32> -> tensor<1x1x64xf32>
    %all = mesh.all_gather %sum on @node axes = ["dp"] dim = 0 bytes = 1024 : tensor<2x1x64xf32> -> tensor<4x1x64xf32>
    func.return %all : tensor<4x1x64xf32>
  }
}

// CHECK:      builtin.module {
// CHECK-NEXT:   mesh.mesh @node(dp = 2, tp = 4)
// CHECK-NEXT:   func.func @f(%x: tensor<2x1x64xf32> {mesh.sharding = #mesh.sharding<@node, [(dp), (), ()]>}) -> tensor<4x1x64xf32> {
// CHECK-NEXT:     %W = la.weight "W" {mesh.sharding = #mesh.sharding<@node, [(), (tp)]>} : tensor<64x16xf32>
// CHECK-NEXT:     %y = la.einsum "bsd,dq->bsq" %x, %W {mesh.sharding = #mesh.sharding<@node, [(dp), (), (tp)]>} : tensor<2x1x64xf32>, tensor<64x16xf32> -> tensor<2x1x16xf32>
// CHECK:          %sum = mesh.all_reduce %partial on @node axes = ["tp"] bytes = 512 : tensor<2x1x64xf32> -> tensor<2x1x64xf32>
// CHECK-NEXT:     %part = mesh.reduce_scatter %sum on @node axes = ["dp"] dim = 0 bytes = 512 : tensor<2x1x64xf32> -> tensor<1x1x64xf32>
// CHECK-NEXT:     %all = mesh.all_gather %sum on @node axes = ["dp"] dim = 0 bytes = 1024 : tensor<2x1x64xf32> -> tensor<4x1x64xf32>
// CHECK-NEXT:     func.return %all : tensor<4x1x64xf32>
