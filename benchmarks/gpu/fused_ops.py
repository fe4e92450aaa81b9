"""One-kernel RMSNorm, RoPE and KV-cache store for the measured attention steps.

mlacc costs each `la.rmsnorm` and `la.rope` as one op that reads its input once
and writes its output once, as serving systems' fused kernels do; plain torch
would run five or six kernels for each. These Triton kernels make the measured
step match that accounting (one launch each, one pass over the data).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _rmsnorm_kernel(x_ptr, g_ptr, out_ptr, cols, x_row_stride, out_row_stride, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK)
    mask = offs < cols
    x = tl.load(x_ptr + row * x_row_stride + offs, mask=mask, other=0.0).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    inv = 1.0 / tl.sqrt(tl.sum(x * x, axis=0) / cols + eps)
    tl.store(out_ptr + row * out_row_stride + offs, (x * inv * g).to(out_ptr.dtype.element_ty), mask=mask)


def rmsnorm(x: torch.Tensor, gamma: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """RMSNorm over the last axis of a 2-D view (rows may be strided, columns contiguous)."""
    assert x.dim() == 2 and x.stride(1) == 1
    out = torch.empty(x.shape, device=x.device, dtype=x.dtype)
    rows, cols = x.shape
    _rmsnorm_kernel[(rows,)](x, gamma, out, cols, x.stride(0), out.stride(0), eps, BLOCK=triton.next_power_of_2(cols))
    return out


@triton.jit
def _rope_kernel(
    x_ptr, out_ptr, rows, heads, seq, offset, x_row_stride, out_row_stride, HALF: tl.constexpr, ROWS: tl.constexpr
):
    # rows are (batch, token, head) in that order
    r = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)[:, None]
    i = tl.arange(0, HALF)[None, :]
    mask = (r < rows) & (i < HALF)
    position = (r // heads) % seq + offset
    freq = tl.exp2(-(i.to(tl.float32) / HALF) * 13.287712379549449)  # 10000 ** (-i / half)
    angle = position.to(tl.float32) * freq
    cos, sin = tl.cos(angle), tl.sin(angle)
    x1 = tl.load(x_ptr + r * x_row_stride + i, mask=mask, other=0.0).to(tl.float32)
    x2 = tl.load(x_ptr + r * x_row_stride + HALF + i, mask=mask, other=0.0).to(tl.float32)
    ty = out_ptr.dtype.element_ty
    tl.store(out_ptr + r * out_row_stride + i, (x1 * cos - x2 * sin).to(ty), mask=mask)
    tl.store(out_ptr + r * out_row_stride + HALF + i, (x2 * cos + x1 * sin).to(ty), mask=mask)


def rope(x: torch.Tensor, heads: int, seq: int, offset: int) -> torch.Tensor:
    """Rotary embedding of a (rows, dim) view whose rows are (batch, token, head); token t sits at offset + t."""
    assert x.dim() == 2 and x.stride(1) == 1
    out = torch.empty(x.shape, device=x.device, dtype=x.dtype)
    rows, dim = x.shape
    block = 16
    _rope_kernel[(triton.cdiv(rows, block),)](
        x, out, rows, heads, seq, offset, x.stride(0), out.stride(0), HALF=dim // 2, ROWS=block
    )
    return out
