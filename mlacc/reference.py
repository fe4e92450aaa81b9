"""Attention layers written straight from their papers' formulas in numpy, with no IR and no cache.

`mlacc verify` checks the lowered `la` IR (run by mlacc/interp.py over a KV
cache filled by earlier steps) against these functions, which attend over the
whole token sequence at once: a bug in `lower-attn`, in the cache ops or in
the interpreter's cache handling shows up as a mismatch. The weights are the
ones `lower-attn` names, with the same layouts.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import sqrt

import numpy as np

from mlacc.interp import Array, rmsnorm, rope, softmax


def _attend(q: Array, k: Array, v: Array, scale: float) -> Array:
    """Causal attention of the last S tokens' queries (b, S, H, e) over all T keys/values (b, T, H, e)."""
    probs = softmax(np.einsum("bshe,bthe->bhst", q, k), scale, causal=True)
    return np.einsum("bhst,bthe->bshe", probs, v)


def mla(weights: Mapping[str, Array], dims: Mapping[str, int], tokens: Array, new_tokens: int) -> Array:
    """DeepSeek-V2/V3 MLA (V2 report, eqs. 9-19), unabsorbed; `tokens` holds all T tokens, cached first."""
    w = weights
    queries = tokens[:, -new_tokens:]
    if dims["q_rank"]:
        c_q = rmsnorm(queries @ w["W_DQ"], w["q_norm"], 1e-6)
        q_nope = np.einsum("bsq,qhn->bshn", c_q, w["W_UQ"])
        q_pe = np.einsum("bsq,qhp->bshp", c_q, w["W_QR"])
    else:
        q_nope = np.einsum("bsd,dhn->bshn", queries, w["W_Q"])
        q_pe = np.einsum("bsd,dhp->bshp", queries, w["W_QR"])
    first = tokens.shape[1] - new_tokens  # the queries' first position
    c_kv = rmsnorm(tokens @ w["W_DKV"], w["kv_norm"], 1e-6)
    k_pe = rope(tokens @ w["W_KR"], seq_dim=1, offset=0)
    heads = dims["heads"]
    q = np.concatenate([q_nope, rope(q_pe, seq_dim=1, offset=first)], axis=-1)
    k_pe_per_head = np.repeat(k_pe[:, :, None, :], heads, axis=2)
    k = np.concatenate([np.einsum("btc,chn->bthn", c_kv, w["W_UK"]), k_pe_per_head], axis=-1)
    v = np.einsum("btc,chv->bthv", c_kv, w["W_UV"])
    scale = 1.0 / sqrt(dims["qk_nope_dim"] + dims["qk_rope_dim"])
    out = _attend(q, k, v, scale)
    return np.einsum("bshv,hvd->bsd", out, w["W_O"])


def standard(kind: str, weights: Mapping[str, Array], dims: Mapping[str, int], tokens: Array, new_tokens: int) -> Array:
    """MHA, GQA (query head i uses kv head i // (heads / kv_heads)) and MQA (one kv head), with RoPE."""
    d, heads, e = dims["d_model"], dims["heads"], dims["head_dim"]
    kv_heads = {"mha": heads, "mqa": 1}.get(kind) or dims["kv_heads"]
    first = tokens.shape[1] - new_tokens  # the queries' first position
    q = np.einsum("bsd,dhe->bshe", tokens[:, first:], weights["W_Q"].reshape(d, heads, e))
    k = np.einsum("btd,dge->btge", tokens, weights["W_K"].reshape(d, kv_heads, e))
    if "q_norm" in weights:  # Qwen3's q/k norms: every head's query and key, before RoPE
        q, k = rmsnorm(q, weights["q_norm"], 1e-6), rmsnorm(k, weights["k_norm"], 1e-6)
    q = rope(q, seq_dim=1, offset=first)
    k = rope(k, seq_dim=1, offset=0)
    v = np.einsum("btd,dge->btge", tokens, weights["W_V"].reshape(d, kv_heads, e))
    group = heads // kv_heads
    out = _attend(q, np.repeat(k, group, axis=2), np.repeat(v, group, axis=2), 1.0 / sqrt(e))
    return np.einsum("bshe,hed->bsd", out, weights["W_O"].reshape(heads, e, d))


def reference_output(
    kind: str, weights: Mapping[str, Array], dims: Mapping[str, int], tokens: Array, new_tokens: int
) -> Array:
    """The layer's output for the last `new_tokens` of `tokens` (batch x all tokens x d_model)."""
    if kind == "mla":
        return mla(weights, dims, tokens, new_tokens)
    return standard(kind, weights, dims, tokens, new_tokens)
