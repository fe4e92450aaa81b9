// mesh.all_to_all (a MoE layer's rows to the devices of their experts and back): prints, parses back, verifies
// its bytes against its type, and keeps the type.
// RUN: %roundtrip
// RUN: %generic-roundtrip
// RUN: sed 's/bytes = 128/bytes = 64/' %s | not mlacc-opt 2>&1 | filecheck %s --check-prefix=BYTES

builtin.module {
  mesh.mesh @node(dp = 2, tp = 1)
  func.func @e(%rows: tensor<2x1x16xf32>) -> tensor<2x1x16xf32> {
    %exchanged = mesh.all_to_all %rows on @node axes = ["dp"] bytes = 128 : tensor<2x1x16xf32> -> tensor<2x1x16xf32>
    func.return %exchanged : tensor<2x1x16xf32>
  }
}

// CHECK: %exchanged = mesh.all_to_all %rows on @node axes = ["dp"] bytes = 128 : tensor<2x1x16xf32> -> tensor<2x1x16xf32>
// BYTES: mesh.all_to_all moves 128 bytes per device, not 64
