// A KV cache held in another dtype than the layer's (`stored`): its store and load print, parse back and verify.
// RUN: %roundtrip
// RUN: %generic-roundtrip

builtin.module {
  func.func @g(%k: tensor<1x1x2x8xbf16>) -> tensor<1x5x2x8xbf16> {
    la.kv_store %k into "key" stored f8E4M3FN : tensor<1x1x2x8xbf16>
    %key_cached = la.kv_load "key" stored f8E4M3FN : tensor<1x4x2x8xbf16>
    %key_all = la.concat %key_cached, %k dim = 1 : tensor<1x4x2x8xbf16>, tensor<1x1x2x8xbf16> -> tensor<1x5x2x8xbf16>
    func.return %key_all : tensor<1x5x2x8xbf16>
  }
}

// CHECK:      la.kv_store %k into "key" stored f8E4M3FN : tensor<1x1x2x8xbf16>
// CHECK-NEXT: %key_cached = la.kv_load "key" stored f8E4M3FN : tensor<1x4x2x8xbf16>
