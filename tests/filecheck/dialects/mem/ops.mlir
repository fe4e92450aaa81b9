// The mem dialect in its custom form: a transfer between levels, and the tiling and placement attributes that tile and
// place record on an op; print -> parse -> print is a fixed point.
// RUN: %roundtrip
// RUN: %generic-roundtrip

builtin.module {
  func.func @m.d(%x: tensor<1x64x16xf32>) -> tensor<1x64x8xf32> {
    %W = la.weight "W" : tensor<16x8xf32>
    mem.transfer %x "dram" -> "sram" bytes = 4096 : tensor<1x64x16xf32>
    %y = la.einsum "bsd,dq->bsq" %x, %W {mem.tiling = #mem.tiling<"sram", m = 1, n = 8, k = 16, order = "nkm">, mem.place = #mem.place<["sram", "dram"], "dram">} : tensor<1x64x16xf32>, tensor<16x8xf32> -> tensor<1x64x8xf32>
    func.return %y : tensor<1x64x8xf32>
  }
}

// CHECK:      builtin.module {
// CHECK-NEXT:   func.func @m.d(%x: tensor<1x64x16xf32>) -> tensor<1x64x8xf32> {
// CHECK-NEXT:     %W = la.weight "W" : tensor<16x8xf32>
// CHECK-NEXT:     mem.transfer %x "dram" -> "sram" bytes = 4096 : tensor<1x64x16xf32>
// CHECK-NEXT:     %y = la.einsum "bsd,dq->bsq" %x, %W {mem.tiling = #mem.tiling<"sram", m = 1, n = 8, k = 16, order = "nkm">, mem.place = #mem.place<["sram", "dram"], "dram">} : tensor<1x64x16xf32>, tensor<16x8xf32> -> tensor<1x64x8xf32>
// CHECK-NEXT:     func.return %y : tensor<1x64x8xf32>
// CHECK-NEXT:   }
// CHECK-NEXT: }
