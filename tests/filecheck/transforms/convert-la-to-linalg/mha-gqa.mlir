// convert-la-to-linalg on the layers without a scheme: a GQA decode step (4 query heads in 2 groups, head dim 8;
// batch 2, 6 cached tokens) and a causal MHA prefill of 3 tokens (2 heads, head dim 8).
// RUN: mlacc-opt %s -p convert-la-to-linalg | filecheck %s
// RUN: mlacc-opt %s -p convert-la-to-linalg | mlacc-opt | filecheck %s
// layout=dsl keeps every weight as the DSL declares it, with no mlacc.layout:
// RUN: mlacc-opt %s -p 'convert-la-to-linalg{layout=dsl}' | filecheck %s --check-prefix=DSL

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
    la.kv_store %key_rot into "key" : tensor<2x1x2x8xf32>
    %key_cached = la.kv_load "key" : tensor<2x6x2x8xf32>
    %key_all = la.concat %key_cached, %key_rot dim = 1 : tensor<2x6x2x8xf32>, tensor<2x1x2x8xf32> -> tensor<2x7x2x8xf32>
    la.kv_store %value_new into "value" : tensor<2x1x2x8xf32>
    %value_cached = la.kv_load "value" : tensor<2x6x2x8xf32>
    %value_all = la.concat %value_cached, %value_new dim = 1 : tensor<2x6x2x8xf32>, tensor<2x1x2x8xf32> -> tensor<2x7x2x8xf32>
    %scores = la.einsum "bsgre,btge->bgrst" %query_rot, %key_all : tensor<2x1x2x2x8xf32>, tensor<2x7x2x8xf32> -> tensor<2x2x2x1x7xf32>
    %probs = la.softmax %scores scale = 0.35355339059327373 : tensor<2x2x2x1x7xf32>
    %attn_out = la.einsum "bgrst,btge->bsgre" %probs, %value_all : tensor<2x2x2x1x7xf32>, tensor<2x7x2x8xf32> -> tensor<2x1x2x2x8xf32>
    %W_O = la.weight "W_O" : tensor<2x2x8x64xf32>
    %output = la.einsum "bsgre,gred->bsd" %attn_out, %W_O : tensor<2x1x2x2x8xf32>, tensor<2x2x8x64xf32> -> tensor<2x1x64xf32>
    func.return %output : tensor<2x1x64xf32>
  }
  func.func @a.p(%x: tensor<1x3x32xf32>) -> tensor<1x3x32xf32> attributes {attn.layer = "a", attn.kind = "mha", attn.workload = #attn.workload<"p", prefill, batch = 1, context = 0, new_tokens = 3>} {
    %W_Q = la.weight "W_Q" : tensor<32x2x8xf32>
    %query = la.einsum "bsd,dhe->bshe" %x, %W_Q : tensor<1x3x32xf32>, tensor<32x2x8xf32> -> tensor<1x3x2x8xf32>
    %query_rot = la.rope %query seq_dim = 1 offset = 0 : tensor<1x3x2x8xf32>
    %W_K = la.weight "W_K" : tensor<32x2x8xf32>
    %key_new = la.einsum "bsd,dhe->bshe" %x, %W_K : tensor<1x3x32xf32>, tensor<32x2x8xf32> -> tensor<1x3x2x8xf32>
    %key_rot = la.rope %key_new seq_dim = 1 offset = 0 : tensor<1x3x2x8xf32>
    %W_V = la.weight "W_V" : tensor<32x2x8xf32>
    %value_new = la.einsum "bsd,dhe->bshe" %x, %W_V : tensor<1x3x32xf32>, tensor<32x2x8xf32> -> tensor<1x3x2x8xf32>
    la.kv_store %key_rot into "key" : tensor<1x3x2x8xf32>
    la.kv_store %value_new into "value" : tensor<1x3x2x8xf32>
    %scores = la.einsum "bshe,bthe->bhst" %query_rot, %key_rot : tensor<1x3x2x8xf32>, tensor<1x3x2x8xf32> -> tensor<1x2x3x3xf32>
    %probs = la.softmax %scores scale = 0.35355339059327373 causal : tensor<1x2x3x3xf32>
    %attn_out = la.einsum "bhst,bthe->bshe" %probs, %value_new : tensor<1x2x3x3xf32>, tensor<1x3x2x8xf32> -> tensor<1x3x2x8xf32>
    %W_O = la.weight "W_O" : tensor<2x8x32xf32>
    %output = la.einsum "bshe,hed->bsd" %attn_out, %W_O : tensor<1x3x2x8xf32>, tensor<2x8x32xf32> -> tensor<1x3x32xf32>
    func.return %output : tensor<1x3x32xf32>
  }
}

// Caches in, new entries out, after the output. Each projection's weight comes in with the dimensions it keeps
// first and the one it sums (d_model, 64) innermost: W_Q "dgre" as [g, r, e, d] (the layout permutes the DSL's
// dims 1, 2, 3, 0); W_O "gred" sums g, r, e, so it comes in as [d, g, r, e].
// CHECK:      func.func @g.d(%x: tensor<2x1x64xf32>, %W_Q: tensor<2x2x8x64xf32> {mlacc.weight = "W_Q", mlacc.layout = array<i64: 1, 2, 3, 0>}, %W_K: tensor<2x8x64xf32> {mlacc.weight = "W_K", mlacc.layout = array<i64: 1, 2, 0>}, %W_V: tensor<2x8x64xf32> {mlacc.weight = "W_V", mlacc.layout = array<i64: 1, 2, 0>}, %key_cached: tensor<2x6x2x8xf32> {mlacc.cache = "key"}, %value_cached: tensor<2x6x2x8xf32> {mlacc.cache = "value"}, %W_O: tensor<64x2x2x8xf32> {mlacc.weight = "W_O", mlacc.layout = array<i64: 3, 0, 1, 2>}) -> (tensor<2x1x64xf32>, tensor<2x1x2x8xf32> {mlacc.cache = "key"}, tensor<2x1x2x8xf32> {mlacc.cache = "value"}) {
// DSL:        func.func @g.d(%x: tensor<2x1x64xf32>, %W_Q: tensor<64x2x2x8xf32> {mlacc.weight = "W_Q"}, %W_K: tensor<64x2x8xf32> {mlacc.weight = "W_K"}, %W_V: tensor<64x2x8xf32> {mlacc.weight = "W_V"}, %key_cached: tensor<2x6x2x8xf32> {mlacc.cache = "key"}, %value_cached: tensor<2x6x2x8xf32> {mlacc.cache = "value"}, %W_O: tensor<2x2x8x64xf32> {mlacc.weight = "W_O"}) -> (tensor<2x1x64xf32>, tensor<2x1x2x8xf32> {mlacc.cache = "key"}, tensor<2x1x2x8xf32> {mlacc.cache = "value"}) {
// The query projection reads W_Q [g, r, e, d] at (d2, d3, d4, d5), its summed d_model (d5) innermost:
// CHECK:      %query_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d2, d3, d4, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d4)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%x, %W_Q : tensor<2x1x64xf32>, tensor<2x2x8x64xf32>)
// DSL:        %query_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d5, d2, d3, d4)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d4)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%x, %W_Q : tensor<2x1x64xf32>, tensor<64x2x2x8xf32>)

// RoPE: the even and odd elements of each pair are strided slices; each half is rotated by a generic that computes
// its angle, (6 cached tokens + position) x exp(i x -2 ln(10000) / 8), from its indices; the halves go back in place.
// CHECK:      %query_rot = tensor.extract_slice %query_3[0, 0, 0, 0, 0] [2, 1, 2, 2, 4] [1, 1, 1, 1, 2] : tensor<2x1x2x2x8xf32> to tensor<2x1x2x2x4xf32>
// CHECK-NEXT: %query_rot_1 = tensor.extract_slice %query_3[0, 0, 0, 0, 1] [2, 1, 2, 2, 4] [1, 1, 1, 1, 2] : tensor<2x1x2x2x8xf32> to tensor<2x1x2x2x4xf32>
// CHECK:      %query_rot_3 = linalg.generic {{.*}} ins(%query_rot, %query_rot_1 : tensor<2x1x2x2x4xf32>, tensor<2x1x2x2x4xf32>) outs(%query_rot_2 : tensor<2x1x2x2x4xf32>) {
// CHECK-NEXT: ^bb0(%[[EVEN:.*]]: f32, %[[ODD:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:   %[[POS:.*]] = linalg.index 1 : index
// CHECK-NEXT:   %[[POSI:.*]] = arith.index_cast %[[POS]] : index to i64
// CHECK-NEXT:   %[[POSF:.*]] = arith.sitofp %[[POSI]] : i64 to f32
// CHECK-NEXT:   %[[OFFSET:.*]] = arith.constant 6.000000e+00 : f32
// CHECK-NEXT:   %[[TOKEN:.*]] = arith.addf %[[POSF]], %[[OFFSET]] : f32
// CHECK-NEXT:   %[[PAIR:.*]] = linalg.index 4 : index
// CHECK-NEXT:   %[[PAIRI:.*]] = arith.index_cast %[[PAIR]] : index to i64
// CHECK-NEXT:   %[[PAIRF:.*]] = arith.sitofp %[[PAIRI]] : i64 to f32
// CHECK-NEXT:   %[[C:.*]] = arith.constant -2.30258512 : f32
// CHECK-NEXT:   %[[E:.*]] = arith.mulf %[[PAIRF]], %[[C]] : f32
// CHECK-NEXT:   %[[FREQ:.*]] = math.exp %[[E]] : f32
// CHECK-NEXT:   %[[ANGLE:.*]] = arith.mulf %[[TOKEN]], %[[FREQ]] : f32
// CHECK-NEXT:   %[[COS:.*]] = math.cos %[[ANGLE]] : f32
// CHECK-NEXT:   %[[SIN:.*]] = math.sin %[[ANGLE]] : f32
// CHECK-NEXT:   %[[XC:.*]] = arith.mulf %[[EVEN]], %[[COS]] : f32
// CHECK-NEXT:   %[[YS:.*]] = arith.mulf %[[ODD]], %[[SIN]] : f32
// CHECK-NEXT:   %[[R:.*]] = arith.subf %[[XC]], %[[YS]] : f32
// CHECK-NEXT:   linalg.yield %[[R]] : f32
// CHECK:      %query_rot_5 = linalg.generic
// CHECK:        math.sin
// CHECK-NEXT:   %[[XS:.*]] = arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK-NEXT:   %[[YC:.*]] = arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK-NEXT:   %[[R2:.*]] = arith.addf %[[XS]], %[[YC]] : f32
// CHECK-NEXT:   linalg.yield %[[R2]] : f32
// CHECK:      %query_rot_7 = tensor.insert_slice %query_rot_3 into %query_rot_6[0, 0, 0, 0, 0] [2, 1, 2, 2, 4] [1, 1, 1, 1, 2] : tensor<2x1x2x2x4xf32> into tensor<2x1x2x2x8xf32>
// CHECK-NEXT: %query_rot_8 = tensor.insert_slice %query_rot_5 into %query_rot_7[0, 0, 0, 0, 1] [2, 1, 2, 2, 4] [1, 1, 1, 1, 2] : tensor<2x1x2x2x4xf32> into tensor<2x1x2x2x8xf32>

// The step attends over the cached keys where they lie: no tensor.concat joins them with the new entry (it would
// copy the whole cache every step). "bsgre,btge->bgrst" keeps t, so each part's scores are computed apart, the
// cached 6 keys' and the new one's, and only the scores are joined (each group's 2 query heads read its one key
// head); the weighted sum sums t, so the new value's share accumulates onto the cached values'.
// CHECK-NOT:  %key_all = tensor.concat
// CHECK:      %scores_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d3, d1, d2, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d4, d1, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d4)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%query_rot_8, %key_cached : tensor<2x1x2x2x8xf32>, tensor<2x6x2x8xf32>)
// CHECK:      %scores_7 = linalg.generic {{.*}} ins(%query_rot_8, %key_rot_8 : tensor<2x1x2x2x8xf32>, tensor<2x1x2x8xf32>)
// CHECK:      %scores_8 = tensor.concat dim(4) %scores_3, %scores_7 : (tensor<2x2x2x1x6xf32>, tensor<2x2x2x1x1xf32>) -> tensor<2x2x2x1x7xf32>
// CHECK:      %attn_out_2 = linalg.fill ins(%attn_out : f32) outs(%attn_out_1 : tensor<2x1x2x2x8xf32>)
// CHECK-NEXT: %attn_out_3 = tensor.extract_slice %probs_13[0, 0, 0, 0, 0] [2, 2, 2, 1, 6] [1, 1, 1, 1, 1] : tensor<2x2x2x1x7xf32> to tensor<2x2x2x1x6xf32>
// CHECK-NEXT: %attn_out_4 = linalg.generic {{.*}} ins(%attn_out_3, %value_cached : tensor<2x2x2x1x6xf32>, tensor<2x6x2x8xf32>) outs(%attn_out_2 : tensor<2x1x2x2x8xf32>)
// CHECK:      %attn_out_5 = tensor.extract_slice %probs_13[0, 0, 0, 0, 6] [2, 2, 2, 1, 1] [1, 1, 1, 1, 1] : tensor<2x2x2x1x7xf32> to tensor<2x2x2x1x1xf32>
// CHECK-NEXT: %attn_out_6 = linalg.generic {{.*}} ins(%attn_out_5, %value_new_3 : tensor<2x2x2x1x1xf32>, tensor<2x1x2x8xf32>) outs(%attn_out_4 : tensor<2x1x2x2x8xf32>)
// CHECK-NOT:  tensor.concat
// The output projection sums (g, r, e) in the order the attention output holds them, innermost in W_O too:
// CHECK:      %output_3 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d3, d4, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d2, d3, d4, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%attn_out_6, %W_O : tensor<2x1x2x2x8xf32>, tensor<64x2x2x8xf32>)
// CHECK:      func.return %output_3, %key_rot_8, %value_new_3 : tensor<2x1x64xf32>, tensor<2x1x2x8xf32>, tensor<2x1x2x8xf32>

// A prefill has no cache to read: it only stores.
// CHECK:      func.func @a.p(%x: tensor<1x3x32xf32>, %W_Q: tensor<2x8x32xf32> {mlacc.weight = "W_Q", mlacc.layout = array<i64: 1, 2, 0>}, %W_K: tensor<2x8x32xf32> {mlacc.weight = "W_K", mlacc.layout = array<i64: 1, 2, 0>}, %W_V: tensor<2x8x32xf32> {mlacc.weight = "W_V", mlacc.layout = array<i64: 1, 2, 0>}, %W_O: tensor<32x2x8xf32> {mlacc.weight = "W_O", mlacc.layout = array<i64: 2, 0, 1>}) -> (tensor<1x3x32xf32>, tensor<1x3x2x8xf32> {mlacc.cache = "key"}, tensor<1x3x2x8xf32> {mlacc.cache = "value"}) {
// DSL:        func.func @a.p(%x: tensor<1x3x32xf32>, %W_Q: tensor<32x2x8xf32> {mlacc.weight = "W_Q"}, %W_K: tensor<32x2x8xf32> {mlacc.weight = "W_K"}, %W_V: tensor<32x2x8xf32> {mlacc.weight = "W_V"}, %W_O: tensor<2x8x32xf32> {mlacc.weight = "W_O"}) -> (tensor<1x3x32xf32>, tensor<1x3x2x8xf32> {mlacc.cache = "key"}, tensor<1x3x2x8xf32> {mlacc.cache = "value"}) {
// DSL-NOT:    mlacc.layout
// The causal softmax's first generic scales by 1 / sqrt(8) and masks key j of query i where j > i + (3 - 3).
// CHECK:      %probs_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%scores_3 : tensor<1x2x3x3xf32>) outs(%probs : tensor<1x2x3x3xf32>) {
// CHECK-NEXT: ^bb0(%[[S:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:   %[[SCALE:.*]] = arith.constant 0.353553385 : f32
// CHECK-NEXT:   %[[SCALED:.*]] = arith.mulf %[[S]], %[[SCALE]] : f32
// CHECK-NEXT:   %[[Q:.*]] = linalg.index 2 : index
// CHECK-NEXT:   %[[K:.*]] = linalg.index 3 : index
// CHECK-NEXT:   %[[SHIFT:.*]] = arith.constant 0 : index
// CHECK-NEXT:   %[[LAST:.*]] = arith.addi %[[Q]], %[[SHIFT]] : index
// CHECK-NEXT:   %[[SEEN:.*]] = arith.cmpi ule, %[[K]], %[[LAST]] : index
// CHECK-NEXT:   %[[NEGINF:.*]] = arith.constant 0xff800000 : f32
// CHECK-NEXT:   %[[M:.*]] = arith.select %[[SEEN]], %[[SCALED]], %[[NEGINF]] : f32
// CHECK-NEXT:   linalg.yield %[[M]] : f32
// CHECK:      func.return %output_3, %key_rot_8, %value_new_3 : tensor<1x3x32xf32>, tensor<1x3x2x8xf32>, tensor<1x3x2x8xf32>
