// shard{tp=2 dp=2} on the small MLA and GQA layers: the mesh, per-device shapes, sharding annotations, and the
// collectives: an all_reduce over tp after the head-summing output projection, an all_gather over dp of the output.
// RUN: mlacc compile %S/../../cli/Inputs/small.attn --emit sharded --scheme recompute --tp 2 --dp 2 -q | filecheck %s
// The sharded IR round-trips (custom and generic), and goes on through tile, place and schedule on a node preset:
// RUN: mlacc compile %S/../../cli/Inputs/small.attn --emit sharded --scheme recompute --tp 2 --dp 2 -q | mlacc-opt | filecheck %s
// RUN: mlacc compile %S/../../cli/Inputs/small.attn --emit sharded --scheme recompute --tp 2 --dp 2 -q | mlacc-opt --print-op-generic | mlacc-opt | filecheck %s
// RUN: mlacc compile %S/../../cli/Inputs/small.attn --emit sched --hw h200x8 --scheme recompute --tp 2 --dp 2 -q | filecheck %s --check-prefix=SCHED

// CHECK:      builtin.module {
// CHECK-NEXT:   mesh.mesh @node(dp = 2, tp = 2)
// The batch (2) is split over dp: one sequence per device.
// CHECK-NEXT:   func.func @m.d(%x: tensor<1x1x64xf32> {mesh.sharding = #mesh.sharding<@node, [(dp), (), ()]>}) -> tensor<2x1x64xf32> attributes {{{.*}}mesh.tp = 2 : i64, mesh.dp = 2 : i64}
// The latent projection and cache have no head axis: replicated on both tp ranks (whole kv_rank 16).
// CHECK:        %W_DKV = la.weight "W_DKV" {mesh.sharding = #mesh.sharding<@node, [(), ()]>} : tensor<64x16xf32>
// CHECK:        la.kv_store %c_kv_normed into "latent" {mesh.sharding = #mesh.sharding<@node, [(dp), (), ()]>} : tensor<1x1x16xf32>
// CHECK-NEXT:   %latent_cached = la.kv_load "latent" {mesh.sharding = #mesh.sharding<@node, [(dp), (), ()]>} : tensor<1x6x16xf32>
// Per-head weights split over tp: 2 heads -> 1 per device.
// CHECK:        %W_UK = la.weight "W_UK" {mesh.sharding = #mesh.sharding<@node, [(), (tp), ()]>} : tensor<16x1x8xf32>
// CHECK:        %scores_nope = la.einsum "bshc,btc->bhst" %q_nope_absorbed, %latent_all {mesh.sharding = #mesh.sharding<@node, [(dp), (tp), (), ()]>} : tensor<1x1x1x16xf32>, tensor<1x7x16xf32> -> tensor<1x1x1x7xf32>
// CHECK:        %W_O = la.weight "W_O" {mesh.sharding = #mesh.sharding<@node, [(tp), (), ()]>} : tensor<1x8x64xf32>
// CHECK-NEXT:   %output_partial = la.einsum "bshv,hvd->bsd" %attn_out, %W_O {{.*}} -> tensor<1x1x64xf32>
// CHECK-NEXT:   %output = mesh.all_reduce %output_partial on @node axes = ["tp"] bytes = 256 {{.*}} : tensor<1x1x64xf32> -> tensor<1x1x64xf32>
// CHECK-NEXT:   %output_gathered = mesh.all_gather %output on @node axes = ["dp"] dim = 0 bytes = 512 {{.*}} : tensor<1x1x64xf32> -> tensor<2x1x64xf32>
// CHECK-NEXT:   func.return %output_gathered : tensor<2x1x64xf32>
// GQA: 2 KV heads over tp 2, one per device, with both of its query heads; the per-head caches split.
// CHECK:      func.func @g.d(
// CHECK:        %W_Q = la.weight "W_Q" {mesh.sharding = #mesh.sharding<@node, [(), (tp), (), ()]>} : tensor<64x1x2x8xf32>
// CHECK:        la.kv_store %key_rot into "key" {mesh.sharding = #mesh.sharding<@node, [(dp), (), (tp), ()]>} : tensor<1x1x1x8xf32>
// CHECK:        %output = mesh.all_reduce %output_partial on @node axes = ["tp"] bytes = 256

// SCHED: "sched.task"() <{task = "output", kind = "all_reduce", unit = "interconnect", {{.*}} bound = "interconnect", bytes = {interconnect = 2.560000e+02 : f64}
// SCHED: "sched.task"() <{task = "output_gathered", kind = "all_gather", unit = "interconnect", {{.*}} bytes = {interconnect = 2.560000e+02 : f64}
