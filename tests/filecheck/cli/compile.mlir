// mlacc compile: the default hardware-independent report, --emit stages, --workload, -o.
// RUN: mlacc compile %S/Inputs/small.attn | filecheck %s --check-prefix=REPORT
// RUN: mlacc compile %S/Inputs/small.attn --emit la --workload d | filecheck %s --check-prefix=LA
// RUN: mlacc compile %S/Inputs/small.attn --emit attn | mlacc-opt -p lower-attn | filecheck %s --check-prefix=LA
// RUN: mlacc-opt %S/Inputs/small.attn -p lower-attn | filecheck %s --check-prefix=LA
// RUN: mlacc compile %S/Inputs/small.attn --emit la -o %t.mlir
// RUN: mlacc-opt %t.mlir | filecheck %s --check-prefix=LA

// REPORT:      == m (mla, fp32) x d: decode, batch 2, context 6, new tokens 1
// REPORT:        k_nope           einsum btc,chn->bthn     7.17 kFLOP
// REPORT:        total: 36.6 kFLOP; weights 22.7 kB; KV cache read 960 B, written 160 B
// REPORT:      == g (gqa, fp32) x d: decode, batch 2, context 6, new tokens 1
// REPORT:        total: 26.9 kFLOP; weights 24.6 kB; KV cache read 1.54 kB, written 256 B

// LA:      func.func @m.d(%x: tensor<2x1x64xf32>)
// LA:        la.kv_store %c_kv_normed into "latent" : tensor<2x1x16xf32>
// LA:      func.func @g.d(%x: tensor<2x1x64xf32>)
