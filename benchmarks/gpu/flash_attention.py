"""A Triton flash-attention forward kernel for every attention scheme mlacc costs, decode and prefill.

Used to measure what a fused attention costs on a real GPU: scores, softmax and the weighted sum
in one kernel, scores never written to memory, as mlacc's flash-style fusion assumes.

- Keys are dotted in two parts, `q1.k1 + q2.k2`, each of power-of-two width: DeepSeek's absorbed
  latent attention (512 latent + 64 RoPE), its expanded heads (128 + 64), or plain MHA (128, no part 2).
- Grouped queries: the `Hq / Hkv` query heads of one key/value head and the query tokens form the rows
  of a block (token-major, so a causal block spans few tokens), so one loaded key/value block serves
  every head of its group at once: MLA's absorbed decode (Hkv = 1, 128 heads) reads each latent block
  once per row block, not once per head. `v` may alias `k1` (the latent is both key and value).
- Causal: query token i of S sits at position T - S + i and sees keys at positions <= its own; key
  blocks past a row block's last visible key are never loaded.
- Long contexts are split along the keys (flash-decoding): each split writes its partial
  (max, sum, accumulator) and a second kernel combines them.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

LOG2E = 1.4426950408889634


@triton.jit
def _attention_kernel(
    q1_ptr, q2_ptr, k1_ptr, k2_ptr, v_ptr, out_ptr, part_acc_ptr, part_ml_ptr,
    sq1b, sq1h, sq1s, sq2b, sq2h, sq2s,
    sk1b, sk1h, sk1t, sk2b, sk2h, sk2t, svb, svh, svt,
    sob, soh, sos,
    kv_heads, group, queries, keys, rows, blocks_per_split, splits, qk_scale,
    D1: tl.constexpr, D2: tl.constexpr, DV: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, CAUSAL: tl.constexpr, SPLIT: tl.constexpr,
    V_IS_K1: tl.constexpr,
):  # fmt: skip
    pid_m, pid_bh, pid_split = tl.program_id(0), tl.program_id(1).to(tl.int64), tl.program_id(2)
    b, kv_head = pid_bh // kv_heads, pid_bh % kv_heads  # 64-bit: caches pass 2**31 elements
    r = pid_m * BLOCK_M + tl.arange(0, BLOCK_M).to(tl.int64)
    row_ok = r < rows
    token = r // group
    head = kv_head * group + r % group
    d1 = tl.arange(0, D1)
    dv = tl.arange(0, DV)
    q1 = tl.load(q1_ptr + b * sq1b + head[:, None] * sq1h + token[:, None] * sq1s + d1[None, :],
                 mask=row_ok[:, None], other=0.0)  # fmt: skip
    if D2 > 0:
        d2 = tl.arange(0, D2)
        q2 = tl.load(q2_ptr + b * sq2b + head[:, None] * sq2h + token[:, None] * sq2s + d2[None, :],
                     mask=row_ok[:, None], other=0.0)  # fmt: skip
    visible = keys
    if CAUSAL:
        last_token = tl.minimum((pid_m * BLOCK_M + BLOCK_M - 1) // group, queries - 1)
        visible = keys - queries + last_token + 1
    start = pid_split * blocks_per_split
    end = tl.minimum(start + blocks_per_split, tl.cdiv(visible, BLOCK_N))
    m_i = tl.full((BLOCK_M,), float("-inf"), dtype=tl.float32)
    l_i = tl.zeros((BLOCK_M,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_M, DV), dtype=tl.float32)
    for block in range(start, end):
        n = block * BLOCK_N + tl.arange(0, BLOCK_N).to(tl.int64)
        n_ok = n < keys
        k1 = tl.load(k1_ptr + b * sk1b + kv_head * sk1h + n[:, None] * sk1t + d1[None, :], mask=n_ok[:, None],
                     other=0.0)  # fmt: skip
        qk = tl.dot(q1, tl.trans(k1))
        if D2 > 0:
            k2 = tl.load(k2_ptr + b * sk2b + kv_head * sk2h + n[:, None] * sk2t + d2[None, :], mask=n_ok[:, None],
                         other=0.0)  # fmt: skip
            qk += tl.dot(q2, tl.trans(k2))
        qk = qk * qk_scale
        keep = n_ok[None, :]
        if CAUSAL:
            keep = keep & (n[None, :] <= (keys - queries + token)[:, None])
        qk = tl.where(keep, qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, 1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp2(m_i - m_safe)
        p = tl.exp2(qk - m_safe[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        if V_IS_K1:  # the latent is key and value: one load serves both products
            v = k1
        else:
            v = tl.load(v_ptr + b * svb + kv_head * svh + n[:, None] * svt + dv[None, :], mask=n_ok[:, None],
                        other=0.0)  # fmt: skip
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    if SPLIT:
        part = (pid_bh * splits + pid_split) * rows + r
        tl.store(part_acc_ptr + part[:, None] * DV + dv[None, :], acc, mask=row_ok[:, None])
        tl.store(part_ml_ptr + 2 * part, m_i, mask=row_ok)
        tl.store(part_ml_ptr + 2 * part + 1, l_i, mask=row_ok)
    else:
        out = acc / l_i[:, None]
        tl.store(out_ptr + b * sob + head[:, None] * soh + token[:, None] * sos + dv[None, :],
                 out.to(out_ptr.dtype.element_ty), mask=row_ok[:, None])  # fmt: skip


@triton.jit
def _combine_kernel(
    part_acc_ptr, part_ml_ptr, out_ptr, sob, soh, sos, kv_heads, group, rows, splits,
    DV: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_DV: tl.constexpr,
):  # fmt: skip
    """Merges the splits' partial results; programs over (row block, batch x kv head, value columns)."""
    pid_m, pid_bh, pid_d = tl.program_id(0), tl.program_id(1).to(tl.int64), tl.program_id(2)
    b, kv_head = pid_bh // kv_heads, pid_bh % kv_heads
    r = pid_m * BLOCK_M + tl.arange(0, BLOCK_M).to(tl.int64)
    row_ok = r < rows
    dv = pid_d * BLOCK_DV + tl.arange(0, BLOCK_DV)
    m = tl.full((BLOCK_M,), float("-inf"), dtype=tl.float32)
    for i in range(splits):
        part = (pid_bh * splits + i) * rows + r
        m = tl.maximum(m, tl.load(part_ml_ptr + 2 * part, mask=row_ok, other=float("-inf")))
    m = tl.where(m == float("-inf"), 0.0, m)
    total = tl.zeros((BLOCK_M,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_M, BLOCK_DV), dtype=tl.float32)
    for i in range(splits):
        part = (pid_bh * splits + i) * rows + r
        weight = tl.exp2(tl.load(part_ml_ptr + 2 * part, mask=row_ok, other=float("-inf")) - m)
        total += weight * tl.load(part_ml_ptr + 2 * part + 1, mask=row_ok, other=0.0)
        acc += weight[:, None] * tl.load(part_acc_ptr + part[:, None] * DV + dv[None, :], mask=row_ok[:, None],
                                         other=0.0)  # fmt: skip
    token, head = r // group, kv_head * group + r % group
    tl.store(out_ptr + b * sob + head[:, None] * soh + token[:, None] * sos + dv[None, :],
             (acc / total[:, None]).to(out_ptr.dtype.element_ty), mask=row_ok[:, None])  # fmt: skip


def default_splits(programs: int, keys: int, block_n: int, sm_count: int, min_keys: int = 512) -> int:
    """Splits along the keys so that about two programs per SM run, each over at least `min_keys` keys."""
    if programs >= sm_count:
        return 1
    return max(1, min(math.ceil(2 * sm_count / programs), math.ceil(keys / max(min_keys, block_n))))


def attention(
    q1: torch.Tensor,
    q2: torch.Tensor | None,
    k1: torch.Tensor,
    k2: torch.Tensor | None,
    v: torch.Tensor,
    *,
    causal: bool,
    scale: float,
    out: torch.Tensor | None = None,
    splits: int | None = None,
    block_m: int | None = None,
    block_n: int = 64,
    num_warps: int | None = None,
    num_stages: int = 2,
    combine: bool = True,
) -> torch.Tensor:
    """softmax(scale (q1 k1^T + q2 k2^T), causal) v, per query head; q [B, Hq, S, D], k/v [B, Hkv, T, D].

    Any strides with a contiguous last axis (a stride-0 head axis broadcasts one key to every head);
    `out` [B, Hq, S, Dv] may be a strided view, so results land in the layout the next op reads.
    `combine=False` leaves a split kernel's partial results uncombined (`out` unwritten): only to time the
    split kernel apart from its combine (benchmarks/gpu/kernel_grid.py).
    """
    b, hq, s, d1 = q1.shape
    hkv, t, dv = k1.shape[1], k1.shape[2], v.shape[3]
    d2 = 0 if q2 is None else q2.shape[3]
    assert hq % hkv == 0 and (k2 is None) == (q2 is None)
    for x in (q1, q2, k1, k2, v):
        assert x is None or x.stride(3) == 1, "the last axis must be contiguous"
    group, rows = hq // hkv, (hq // hkv) * s
    v_is_k1 = v.data_ptr() == k1.data_ptr() and v.stride() == k1.stride() and dv == d1
    if out is None:
        out = torch.empty(b, hq, s, dv, device=q1.device, dtype=q1.dtype)
    assert out.stride(3) == 1
    if block_m is None:
        block_m = 16 if rows <= 16 else 32 if d1 + dv > 512 else 64
    if num_warps is None:
        num_warps = 8 if d1 + dv > 512 or block_m >= 128 else 4
    row_blocks = triton.cdiv(rows, block_m)
    if splits is None:
        sm_count = torch.cuda.get_device_properties(q1.device).multi_processor_count if q1.is_cuda else 4
        splits = 1 if causal else default_splits(row_blocks * b * hkv, t, block_n, sm_count)
    blocks_per_split = triton.cdiv(triton.cdiv(t, block_n), splits)
    splits = triton.cdiv(triton.cdiv(t, block_n), blocks_per_split)
    if splits > 1:
        part_acc = torch.empty(b * hkv * splits * rows * dv, device=q1.device, dtype=torch.float32)
        part_ml = torch.empty(b * hkv * splits * rows * 2, device=q1.device, dtype=torch.float32)
    else:
        part_acc = part_ml = out
    q2_, k2_ = (q1, k1) if q2 is None else (q2, k2)
    assert k2_ is not None
    _attention_kernel[(row_blocks, b * hkv, splits)](
        q1, q2_, k1, k2_, v, out, part_acc, part_ml,
        q1.stride(0), q1.stride(1), q1.stride(2), q2_.stride(0), q2_.stride(1), q2_.stride(2),
        k1.stride(0), k1.stride(1), k1.stride(2), k2_.stride(0), k2_.stride(1), k2_.stride(2),
        v.stride(0), v.stride(1), v.stride(2), out.stride(0), out.stride(1), out.stride(2),
        hkv, group, s, t, rows, blocks_per_split, splits, scale * LOG2E,
        D1=d1, D2=d2, DV=dv, BLOCK_M=block_m, BLOCK_N=block_n, CAUSAL=causal, SPLIT=splits > 1, V_IS_K1=v_is_k1,
        num_warps=num_warps, num_stages=num_stages,
    )  # fmt: skip
    if splits > 1 and combine:
        block_dv = min(dv, 64)
        _combine_kernel[(triton.cdiv(rows, 16), b * hkv, dv // block_dv)](
            part_acc, part_ml, out, out.stride(0), out.stride(1), out.stride(2), hkv, group, rows, splits,
            DV=dv, BLOCK_M=16, BLOCK_DV=block_dv, num_warps=4,
        )  # fmt: skip
    return out


def reference(q1, q2, k1, k2, v, causal: bool, scale: float) -> torch.Tensor:
    """The same attention in float64, heads of a group sharing their key/value head."""
    group = q1.shape[1] // k1.shape[1]
    s, t = q1.shape[2], k1.shape[2]

    def per_head(x: torch.Tensor) -> torch.Tensor:
        return x.double().repeat_interleave(group, dim=1)

    scores = q1.double() @ per_head(k1).transpose(-1, -2)
    if q2 is not None:
        scores = scores + q2.double() @ per_head(k2).transpose(-1, -2)
    scores = scores * scale
    if causal:
        position = torch.arange(s, device=q1.device)[:, None] + (t - s)
        scores = scores.masked_fill(torch.arange(t, device=q1.device)[None, :] > position, float("-inf"))
    return torch.softmax(scores, dim=-1) @ per_head(v)


def check(out: torch.Tensor, ref: torch.Tensor) -> float:
    """||out - ref|| / ||ref||; a NaN anywhere fails (infinity)."""
    error = float(torch.linalg.vector_norm(out.double() - ref) / torch.linalg.vector_norm(ref))
    return error if math.isfinite(error) else math.inf
