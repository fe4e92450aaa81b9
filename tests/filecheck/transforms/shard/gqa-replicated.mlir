// shard past the KV heads (tp 4 over 2 KV heads), as vLLM runs it: each GPU holds one KV head (its cache and K/V
// weights copied on tp / kv_heads = 2 GPUs) and 2 of its 4 query heads. A mesh splits a tensor over an axis only
// once, so tp becomes two axes of a mesh of its own: tp_kv (which KV head) x tp_q (which share of its queries).
// RUN: mlacc compile %S/Inputs/gqa.attn --emit sharded --tp 4 --dp 2 -q | filecheck %s
// RUN: mlacc compile %S/Inputs/gqa.attn --emit sharded --tp 4 --dp 2 -q | mlacc-opt --print-op-generic | mlacc-opt | filecheck %s
// The report says what the copies cost: KV bytes per GPU stay one KV head's.
// RUN: mlacc compile %S/Inputs/gqa.attn --hw h200x8 --tp 4 -q | filecheck %s --check-prefix=REPORT
// RUN: mlacc compile %S/Inputs/gqa.attn --hw h200x8 --tp 4 --format json -q | filecheck %s --check-prefix=JSON
// tp 3 divides neither the heads nor the KV heads; tp 2 x dp 8 needs more GPUs than the node has:
// RUN: not mlacc compile %S/Inputs/gqa.attn --hw h200x8 --tp 3 2>&1 | filecheck %s --check-prefix=THREE
// RUN: not mlacc compile %S/Inputs/gqa.attn --hw h200x8 --tp 2 --dp 8 --batch 8 2>&1 | filecheck %s --check-prefix=NODE

// CHECK:      mesh.mesh @node(dp = 2, tp = 4)
// CHECK-NEXT: mesh.mesh @node_kv2(dp = 2, tp_kv = 2, tp_q = 2)
// CHECK:      func.func @q.d({{.*}}mesh.tp = 4 : i64, mesh.dp = 2 : i64, mesh.kv_head_replicas = 2 : i64}
// CHECK:      %W_Q = la.weight "W_Q" {mesh.sharding = #mesh.sharding<@node_kv2, [(), (tp_kv), (tp_q), ()]>} : tensor<64x1x2x8xf32>
// The K/V weights and caches are split over tp_kv only: copied along tp_q.
// CHECK:      %W_K = la.weight "W_K" {mesh.sharding = #mesh.sharding<@node_kv2, [(), (tp_kv), ()]>} : tensor<64x1x8xf32>
// CHECK:      %key_cached = la.kv_load "key" {mesh.sharding = #mesh.sharding<@node_kv2, [(dp), (), (tp_kv), ()]>} : tensor<1x6x1x8xf32>
// CHECK:      %scores = la.einsum "bsgre,btge->bgrst" {{.*}} -> tensor<1x1x2x1x7xf32>
// The output projection sums over both axes of the heads: its all_reduce spans all 4 tp GPUs.
// CHECK:      %output = mesh.all_reduce %output_partial on @node_kv2 axes = ["tp_kv", "tp_q"] bytes = 256
// CHECK-NEXT: %output_gathered = mesh.all_gather %output on @node_kv2 axes = ["dp"] dim = 0 bytes = 512

// REPORT:      sharded over tp 4 x dp 1 = 4 GPUs
// REPORT-NEXT: KV heads copied: tp 4 passes the layer's 2 KV heads, so each GPU holds one KV head, its cache and K/V weights copied on 2 GPUs (as vLLM does)
// JSON:        "max_batch_node": {{[0-9]+}},
// JSON-NEXT:   "kv_head_replicas": 2

// THREE:     gqa.attn:3:7: error: layer 'q' has 8 heads, which tp 3 does not divide: tp must divide the heads
// THREE-NOT: Traceback
// NODE:      error: tp 2 x dp 8 needs 16 GPUs, but 'h200x8' is a node of 8: choose tp x dp <= 8
