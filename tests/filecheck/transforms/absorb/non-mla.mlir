// absorb leaves layers other than MLA unchanged and says so in a remark (stderr), not an error.
// RUN: mlacc-opt %s -p 'absorb{scheme=recompute}' 2>%t.err | filecheck %s
// RUN: filecheck %s --check-prefix=REMARK < %t.err
// RUN: mlacc-opt %s > %t.before
// RUN: mlacc-opt %s -p 'absorb{scheme=reuse}' 2>/dev/null > %t.after
// RUN: diff %t.before %t.after

builtin.module {
  func.func @g.d(%x: tensor<1x1x32xf32>) -> tensor<1x1x32xf32> attributes {attn.layer = "g", attn.kind = "gqa", attn.workload = #attn.workload<"d", decode, batch = 1, context = 3, new_tokens = 1>} {
    %W_Q = la.weight "W_Q" : tensor<32x2x2x8xf32>
    %query = la.einsum "bsd,dgre->bsgre" %x, %W_Q : tensor<1x1x32xf32>, tensor<32x2x2x8xf32> -> tensor<1x1x2x2x8xf32>
    %query_rot = la.rope %query seq_dim = 1 offset = 3 : tensor<1x1x2x2x8xf32>
    %W_K = la.weight "W_K" : tensor<32x2x8xf32>
    %key_new = la.einsum "bsd,dge->bsge" %x, %W_K : tensor<1x1x32xf32>, tensor<32x2x8xf32> -> tensor<1x1x2x8xf32>
    %key_rot = la.rope %key_new seq_dim = 1 offset = 3 : tensor<1x1x2x8xf32>
    %W_V = la.weight "W_V" : tensor<32x2x8xf32>
    %value_new = la.einsum "bsd,dge->bsge" %x, %W_V : tensor<1x1x32xf32>, tensor<32x2x8xf32> -> tensor<1x1x2x8xf32>
    la.kv_store %key_rot into "key" : tensor<1x1x2x8xf32>
    %key_cached = la.kv_load "key" : tensor<1x3x2x8xf32>
    %key_all = la.concat %key_cached, %key_rot dim = 1 : tensor<1x3x2x8xf32>, tensor<1x1x2x8xf32> -> tensor<1x4x2x8xf32>
    la.kv_store %value_new into "value" : tensor<1x1x2x8xf32>
    %value_cached = la.kv_load "value" : tensor<1x3x2x8xf32>
    %value_all = la.concat %value_cached, %value_new dim = 1 : tensor<1x3x2x8xf32>, tensor<1x1x2x8xf32> -> tensor<1x4x2x8xf32>
    %scores = la.einsum "bsgre,btge->bgrst" %query_rot, %key_all : tensor<1x1x2x2x8xf32>, tensor<1x4x2x8xf32> -> tensor<1x2x2x1x4xf32>
    %probs = la.softmax %scores scale = 0.35355339059327373 : tensor<1x2x2x1x4xf32>
    %attn_out = la.einsum "bgrst,btge->bsgre" %probs, %value_all : tensor<1x2x2x1x4xf32>, tensor<1x4x2x8xf32> -> tensor<1x1x2x2x8xf32>
    %W_O = la.weight "W_O" : tensor<2x2x8x32xf32>
    %output = la.einsum "bsgre,gred->bsd" %attn_out, %W_O : tensor<1x1x2x2x8xf32>, tensor<2x2x8x32xf32> -> tensor<1x1x32xf32>
    func.return %output : tensor<1x1x32xf32>
  }
}

// CHECK-NOT:  attn.scheme
// CHECK:      la.einsum "bsgre,btge->bgrst" %query_rot, %key_all
// REMARK:     remark: absorb: @g.d is a gqa layer; MLA schemes do not apply, unchanged
