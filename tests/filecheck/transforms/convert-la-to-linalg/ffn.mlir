// convert-la-to-linalg does not lower the MLP and MoE ops yet: an MLP layer is refused in one line, naming the op.
// RUN: mlacc compile %S/../shard/Inputs/ffn.attn --emit la -q > %t.mlir
// RUN: not mlacc-opt %t.mlir -p convert-la-to-linalg 2>&1 | filecheck %s

// CHECK:     error: convert-la-to-linalg: @up.d holds 'la.silu', which has no upstream form here
// CHECK-NOT: Traceback
