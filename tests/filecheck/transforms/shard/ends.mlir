// shard on the parts of a step around its layers (Inputs/ends.mlir, as mlacc/whole_step.py builds them): the
// norms and the embedding's first norm split the batch over dp and are whole on every tp rank; the embedding lookup
// is vocabulary-parallel (each GPU finds the rows of its 1/tp of the vocabulary: an all-reduce of the rows over tp
// before the norm reads them), and so is the LM head (1/tp of the vocabulary's logits, all-gathered over tp; a
// vocabulary tp does not divide is padded: 40 over tp 3 is 14 per GPU, 42 gathered). Then tile, place and
// schedule time the collectives and the norms like any layer's.
// RUN: mlacc-opt %S/Inputs/ends.mlir --hw h100x8 -p 'shard{tp=2 dp=2}' | filecheck %s
// RUN: mlacc-opt %S/Inputs/ends.mlir --hw h100x8 -p 'shard{tp=3 dp=1}' | filecheck %s --check-prefix=PAD
// RUN: mlacc-opt %S/Inputs/ends.mlir --hw h100x8 -p 'shard{tp=2 dp=2},tile,place,schedule' | filecheck %s --check-prefix=SCHED
// RUN: not mlacc-opt %S/Inputs/ends.mlir --hw h100x8 -p 'shard{tp=1 dp=4}' 2>&1 | filecheck %s --check-prefix=DP

// CHECK:       mesh.mesh @node(dp = 2, tp = 2)
// CHECK-LABEL: func.func @a_norms.d(%x: tensor<1x1x16xf32> {mesh.sharding = #mesh.sharding<@node, [(dp), (), ()]>})
// CHECK-NOT:   mesh.all
// CHECK:       %next_input = la.rmsnorm %ffn_input, %input_norm {{.*}} : tensor<1x1x16xf32>, tensor<16xf32>
// CHECK-LABEL: func.func @a_embedding.d(%rows: tensor<1x1x16xf32>
// CHECK-NEXT:  %embedded_rows = mesh.all_reduce %rows on @node axes = ["tp"] bytes = 64 {{.*}} : tensor<1x1x16xf32> -> tensor<1x1x16xf32>
// CHECK:       %first_input = la.rmsnorm %embedded_rows, %input_norm
// CHECK-LABEL: func.func @a_lm_head.d(%x: tensor<1x1x16xf32> {{.*}}) -> tensor<1x1x40xf32>
// CHECK-NEXT:  %W_lm_head = la.weight "W_lm_head" {mesh.sharding = #mesh.sharding<@node, [(), (tp)]>} : tensor<16x20xf32>
// CHECK-NEXT:  %logits = la.einsum "bsd,dw->bsw" %x, %W_lm_head {{.*}} -> tensor<1x1x20xf32>
// CHECK-NEXT:  %logits_gathered = mesh.all_gather %logits on @node axes = ["tp"] dim = 2 bytes = 160 {{.*}} : tensor<1x1x20xf32> -> tensor<1x1x40xf32>
// CHECK-NEXT:  func.return %logits_gathered

// PAD: %W_lm_head = la.weight "W_lm_head" {{.*}} : tensor<16x14xf32>
// PAD: mesh.all_gather %logits on @node axes = ["tp"] dim = 2 bytes = 336 {{.*}} : tensor<2x1x14xf32> -> tensor<2x1x42xf32>

// SCHED-LABEL: func.func @a_norms.d
// SCHED:       "sched.task"() <{task = "ffn_input", kind = "rmsnorm", {{.*}} bound = "hbm"
// SCHED:       "sched.task"() <{task = "next_input", kind = "rmsnorm"
// SCHED-LABEL: func.func @a_embedding.d
// SCHED:       "sched.task"() <{task = "embedded_rows", kind = "all_reduce", unit = "interconnect"
// SCHED:       "sched.task"() <{task = "first_input", kind = "rmsnorm"
// SCHED-LABEL: func.func @a_lm_head.d
// SCHED:       "sched.task"() <{task = "logits", kind = "einsum", {{.*}} library = "cublaslt"
// SCHED:       "sched.task"() <{task = "logits_gathered", kind = "all_gather", unit = "interconnect"

// DP: error: batch 2 of layer 'norms' does not split over dp 4: dp must divide the batch
