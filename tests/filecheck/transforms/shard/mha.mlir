// shard on an MHA layer: per-head key and value caches split over tp (6 heads -> 2 per device at tp 3); located
// errors when tp does not divide the heads or dp the batch.
// RUN: mlacc compile %S/Inputs/mha.attn --emit sharded --tp 3 -q | filecheck %s
// RUN: not mlacc compile %S/Inputs/mha.attn --emit sharded --tp 4 2>&1 | filecheck %s --check-prefix=HEADS
// RUN: not mlacc compile %S/Inputs/mha.attn --tp 2 --dp 4 --hw h200x8 2>&1 | filecheck %s --check-prefix=BATCH
// RUN: not mlacc compile %S/Inputs/mha.attn --tp 2 --hw h200 2>&1 | filecheck %s --check-prefix=NOLINK
// A layout larger than the node is refused before any layer is split (9 GPUs asked of 8):
// RUN: not mlacc compile %S/Inputs/mha.attn --tp 3 --dp 3 --hw h200x8 2>&1 | filecheck %s --check-prefix=NODE

// CHECK:      mesh.mesh @node(dp = 1, tp = 3)
// CHECK:      %W_K = la.weight "W_K" {mesh.sharding = #mesh.sharding<@node, [(), (tp), ()]>} : tensor<48x2x8xf32>
// CHECK:      la.kv_store %key_rot into "key" {mesh.sharding = #mesh.sharding<@node, [(), (), (tp), ()]>} : tensor<2x1x2x8xf32>
// CHECK:      %key_cached = la.kv_load "key" {mesh.sharding = #mesh.sharding<@node, [(), (), (tp), ()]>} : tensor<2x6x2x8xf32>
// CHECK:      %output = mesh.all_reduce %output_partial on @node axes = ["tp"] bytes = 384 {{.*}} : tensor<2x1x48xf32> -> tensor<2x1x48xf32>
// CHECK-NEXT: func.return %output : tensor<2x1x48xf32>

// HEADS: mha.attn:2:7: error: layer 'a' has 6 heads, which tp 4 does not divide: tp must divide the heads
// HEADS-NOT: Traceback
// BATCH: mha.attn:2:7: error: batch 2 of layer 'a' does not split over dp 4: dp must divide the batch
// NODE:      error: tp 3 x dp 3 needs 9 GPUs, but 'h200x8' is a node of 8: choose tp x dp <= 8
// NODE-NOT:  Traceback
// NOLINK: error: hardware 'h200' has no [interconnect] to run mesh.all_reduce over 2 devices: use a node preset (h100x8, h200x8) or add [interconnect] to the TOML
