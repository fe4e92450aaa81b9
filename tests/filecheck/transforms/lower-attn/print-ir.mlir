// The IR between passes, as in xdsl-opt (the last pass's output is the result) and mlir-opt.
// RUN: mlacc-opt %s -p lower-attn,cse --print-between-passes | filecheck %s
// RUN: mlacc-opt %s -p lower-attn --mlir-print-ir-after-all 2>&1 >/dev/null | filecheck %s --check-prefix=DUMP

builtin.module {
  func.func @q.d(%x: tensor<1x1x64xf32>) -> tensor<1x1x64xf32> {
    %out = attn.mqa %x layer "q" workload <"d", decode, batch = 1, context = 6, new_tokens = 1> d_model = 64 heads = 4 head_dim = 8 : tensor<1x1x64xf32> -> tensor<1x1x64xf32>
    func.return %out : tensor<1x1x64xf32>
  }
}

// CHECK:      IR after lower-attn:
// CHECK:        la.einsum "bsd,dhe->bshe"
// CHECK-NOT:  IR after
// CHECK:      builtin.module {
// CHECK:        la.einsum "bsd,dhe->bshe"

// DUMP:      // -----// IR Dump After lower-attn //----- //
// DUMP-NEXT: builtin.module {
// DUMP:        la.kv_load "key" : tensor<1x6x8xf32>
