// A KV cache held in a dtype of its own (`--kv-dtype fp8`: `stored` on la.kv_load and la.kv_store) crosses the
// function's boundary in that dtype: the cached entries come in as fp8 and are widened as they are read, the new
// entries are narrowed to fp8 on their way out. An integer cache (int8) needs scales the IR does not carry: refused.
// RUN: mlacc-opt %s -p convert-la-to-linalg | filecheck %s
// RUN: not mlacc compile %S/../../cli/Inputs/small.attn --workload d --scheme recompute --kv-dtype int8 --emit mlir 2>&1 | filecheck %s --check-prefix=INT8

builtin.module {
  func.func @g.d(%x: tensor<2x1x64xf32>) -> tensor<2x1x64xf32> attributes {attn.layer = "g", attn.kind = "gqa", attn.workload = #attn.workload<"d", decode, batch = 2, context = 6, new_tokens = 1>} {
    %W_Q = la.weight "W_Q" : tensor<64x2x2x8xf32>
    %query = la.einsum "bsd,dgre->bsgre" %x, %W_Q : tensor<2x1x64xf32>, tensor<64x2x2x8xf32> -> tensor<2x1x2x2x8xf32>
    %query_rot = la.rope %query seq_dim = 1 offset = 6 : tensor<2x1x2x2x8xf32>
    %W_K = la.weight "W_K" : tensor<64x2x8xf32>
    %key_new = la.einsum "bsd,dge->bsge" %x, %W_K : tensor<2x1x64xf32>, tensor<64x2x8xf32> -> tensor<2x1x2x8xf32>
    %key_rot = la.rope %key_new seq_dim = 1 offset = 6 : tensor<2x1x2x8xf32>
    %W_V = la.weight "W_V" : tensor<64x2x8xf32>
    %value_new = la.einsum "bsd,dge->bsge" %x, %W_V : tensor<2x1x64xf32>, tensor<64x2x8xf32> -> tensor<2x1x2x8xf32>
    la.kv_store %key_rot into "key" stored f8E4M3FN : tensor<2x1x2x8xf32>
    %key_cached = la.kv_load "key" stored f8E4M3FN : tensor<2x6x2x8xf32>
    %key_all = la.concat %key_cached, %key_rot dim = 1 : tensor<2x6x2x8xf32>, tensor<2x1x2x8xf32> -> tensor<2x7x2x8xf32>
    la.kv_store %value_new into "value" stored f8E4M3FN : tensor<2x1x2x8xf32>
    %value_cached = la.kv_load "value" stored f8E4M3FN : tensor<2x6x2x8xf32>
    %value_all = la.concat %value_cached, %value_new dim = 1 : tensor<2x6x2x8xf32>, tensor<2x1x2x8xf32> -> tensor<2x7x2x8xf32>
    %scores = la.einsum "bsgre,btge->bgrst" %query_rot, %key_all : tensor<2x1x2x2x8xf32>, tensor<2x7x2x8xf32> -> tensor<2x2x2x1x7xf32>
    %probs = la.softmax %scores scale = 0.35355339059327373 : tensor<2x2x2x1x7xf32>
    %attn_out = la.einsum "bgrst,btge->bsgre" %probs, %value_all : tensor<2x2x2x1x7xf32>, tensor<2x7x2x8xf32> -> tensor<2x1x2x2x8xf32>
    %W_O = la.weight "W_O" : tensor<2x2x8x64xf32>
    %output = la.einsum "bsgre,gred->bsd" %attn_out, %W_O : tensor<2x1x2x2x8xf32>, tensor<2x2x8x64xf32> -> tensor<2x1x64xf32>
    func.return %output : tensor<2x1x64xf32>
  }
}

// CHECK:      func.func @g.d({{.*}} %key_cached: tensor<2x6x2x8xf8E4M3FN> {mlacc.cache = "key"}, %value_cached: tensor<2x6x2x8xf8E4M3FN> {mlacc.cache = "value"}, {{.*}}) -> (tensor<2x1x64xf32>, tensor<2x1x2x8xf8E4M3FN> {mlacc.cache = "key"}, tensor<2x1x2x8xf8E4M3FN> {mlacc.cache = "value"}) {
// CHECK:      %key_cached_1 = linalg.generic {{.*}} ins(%key_cached : tensor<2x6x2x8xf8E4M3FN>) outs(%{{.*}} : tensor<2x6x2x8xf32>) {
// CHECK-NEXT: ^bb0(%[[E:.*]]: f8E4M3FN, %{{.*}}: f32):
// CHECK-NEXT:   %[[W:.*]] = arith.extf %[[E]] : f8E4M3FN to f32
// CHECK-NEXT:   linalg.yield %[[W]] : f32
// The scores read the widened cache where it lies (the new key's scores apart, joined after):
// CHECK:      %scores_3 = linalg.generic {{.*}} ins(%query_rot_8, %key_cached_1 : tensor<2x1x2x2x8xf32>, tensor<2x6x2x8xf32>)
// CHECK:      %key_stored = linalg.generic {{.*}} ins(%key_rot_8 : tensor<2x1x2x8xf32>) outs(%{{.*}} : tensor<2x1x2x8xf8E4M3FN>) {
// CHECK-NEXT: ^bb0(%[[N:.*]]: f32, %{{.*}}: f8E4M3FN):
// CHECK-NEXT:   %[[T:.*]] = arith.truncf %[[N]] : f32 to f8E4M3FN
// CHECK:      %value_stored = linalg.generic {{.*}} ins(%value_new_3 : tensor<2x1x2x8xf32>)
// CHECK:      func.return %output_3, %key_stored, %value_stored : tensor<2x1x64xf32>, tensor<2x1x2x8xf8E4M3FN>, tensor<2x1x2x8xf8E4M3FN>

// INT8:     error: convert-la-to-linalg: @m.d holds 'la.kv_store' on integer elements: only float dtypes are lowered (an int8 tensor needs its quantisation scales, which the IR does not carry)
// INT8-NOT: Traceback
