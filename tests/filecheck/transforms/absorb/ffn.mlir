// absorb leaves MLP and MoE layers as they are (MLA's schemes do not apply) and says so in a remark.
// RUN: mlacc compile %S/../shard/Inputs/ffn.attn --emit la -q > %t.mlir
// RUN: mlacc-opt %t.mlir -p 'absorb{scheme=recompute}' 2>%t.err > %t.after
// RUN: mlacc-opt %t.mlir > %t.before
// RUN: diff %t.before %t.after
// RUN: filecheck %s < %t.err

// CHECK: remark: absorb: @up.d is a mlp layer; MLA schemes do not apply, unchanged
// CHECK: remark: absorb: @e.d is a moe layer; MLA schemes do not apply, unchanged
