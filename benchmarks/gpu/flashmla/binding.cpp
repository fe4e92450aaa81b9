// FlashMLA's dense decode for Hopper (deepseek-ai/FlashMLA 9241ae3, csrc/api/dense_decode.h) as a small torch
// extension: its own interface, which runs the scheduling-metadata kernel when no metadata is passed, the sm90
// bf16 split-KV kernel and the combine kernel. Nothing of the kernels is changed; flashmla_build.py compiles this
// with the three .cu files that interface needs (fp16 left out: -DFLASH_MLA_DISABLE_FP16).
#include <pybind11/pybind11.h>

#include "api/dense_decode.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.doc() = "FlashMLA dense decode (sm90, bf16)";
    m.def("dense_decode_fwd", &dense_attn_decode_interface,
          "(q, kcache, head_size_v, seqlens_k, block_table, softmax_scale, is_causal, tile_scheduler_metadata, "
          "num_splits) -> (out, lse, tile_scheduler_metadata, num_splits)");
}
