"""Probe kernels for calibration: a read-only sweep of a buffer that stays in L2 (NVIDIA publishes no L2
bandwidth, and a copy of an L2-sized buffer is too short to outlast its launch latency)."""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _sweep_kernel(x_ptr, out_ptr, n, passes, BLOCK: tl.constexpr):
    pid, programs = tl.program_id(0), tl.num_programs(0)
    acc = tl.zeros((BLOCK,), dtype=tl.float32)
    chunks = tl.cdiv(n, BLOCK)
    for _ in range(passes):
        for c in range(pid, chunks, programs):
            offs = c * BLOCK + tl.arange(0, BLOCK)
            acc += tl.load(x_ptr + offs, mask=offs < n, other=0.0).to(tl.float32)
    tl.store(out_ptr + pid, tl.sum(acc, axis=0))


def sweep(x: torch.Tensor, passes: int, out: torch.Tensor) -> torch.Tensor:
    """Reads every element of contiguous `x` `passes` times; one partial sum per program into `out`."""
    _sweep_kernel[(out.numel(),)](x, out, x.numel(), passes, BLOCK=2048)
    return out
