// convert-la-to-linalg lowers `la` only: anything else in a layer function (here the attn op before lower-attn;
// after shard, the mesh collectives) is refused in one line, naming the op.
// RUN: not mlacc-opt %s -p convert-la-to-linalg 2>&1 | filecheck %s
// A weight layout the pass does not know is refused in one line, naming those it does:
// RUN: not mlacc-opt %s -p 'convert-la-to-linalg{layout=kn}' 2>&1 | filecheck %s --check-prefix=LAYOUT

builtin.module {
  func.func @a.p(%x: tensor<1x3x32xf32>) -> tensor<1x3x32xf32> attributes {attn.layer = "a", attn.kind = "mha", attn.workload = #attn.workload<"p", prefill, batch = 1, context = 0, new_tokens = 3>} {
    %out = attn.mha %x layer "a" workload <"p", prefill, batch = 1, context = 0, new_tokens = 3> d_model = 32 heads = 2 head_dim = 8 : tensor<1x3x32xf32> -> tensor<1x3x32xf32>
    func.return %out : tensor<1x3x32xf32>
  }
}

// CHECK:     error: convert-la-to-linalg: @a.p holds 'attn.mha', which has no upstream form here
// CHECK-NOT: Traceback

// LAYOUT:     error: convert-la-to-linalg: layout 'kn' is not one of reduction-last, dsl
// LAYOUT-NOT: Traceback
