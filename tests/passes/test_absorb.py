"""Per-scheme accounting of the DeepSeek-V3 decode step (batch 1, context 4096) against hand derivations.

Each scheme's op-level FLOPs are written out from the dimensions (see the
unabsorbed ones in test_lower_attn_counts.py); weights, KV-cache and minimum
bytes likewise. These are the numbers docs/schemes.md quotes.
"""

from __future__ import annotations

import pytest
from xdsl.dialects.builtin import ModuleOp

from dialects import la
from mlacc.pipeline import make_context
from passes.absorb import SCHEMES, AbsorbPass
from passes.accounting import Accounting, account
from tests.conftest import function
from tests.passes.test_lower_attn_counts import BF16, QR, V3_DECODE_FLOPS, C, D, H, L, N, P, T, V

UNCHANGED = {k: v for k, v in V3_DECODE_FLOPS.items() if k not in ("k_nope", "value")}

SCHEME_FLOPS: dict[str, dict[str, int]] = {
    "expand": V3_DECODE_FLOPS,
    # W_UK joins each head's query; every head attends over the T latents; W_UV after attention.
    "recompute": UNCHANGED
    | {
        "q_nope_absorbed": 2 * H * N * C,
        "scores_nope": 2 * H * C * T,
        "attn_out_latent": 2 * H * T * C,
        "attn_out": 2 * H * C * V,
    },
    # W_UQ.W_UK and W_UV.W_O are composed offline: the query goes straight to latent space,
    # the latent attention output straight to d_model.
    "reuse": {k: v for k, v in UNCHANGED.items() if k not in ("q_nope", "attn_out")}
    | {
        "q_nope_absorbed": 2 * QR * H * C,
        "scores_nope": 2 * H * C * T,
        "attn_out_latent": 2 * H * T * C,
        "output": 2 * H * C * D,
    },
    # Only the new token is up-projected; per-head keys and values come from the cache.
    "cache-kv": UNCHANGED | {"k_nope_new": 2 * C * H * N, "value_new": 2 * C * H * V},
}

COMMON_WEIGHTS = D * QR + QR + QR * H * P + D * (C + P) + C  # W_DQ, q_norm, W_QR, W_DKV, W_KR, kv_norm
WEIGHTS = {
    "expand": COMMON_WEIGHTS + QR * H * N + C * H * (N + V) + H * V * D,
    "recompute": COMMON_WEIGHTS + QR * H * N + C * H * (N + V) + H * V * D,
    "reuse": COMMON_WEIGHTS + QR * H * C + C * H * D,  # W_UQ.W_UK and W_UV.W_O replace W_UQ, W_UK, W_UV, W_O
    "cache-kv": COMMON_WEIGHTS + QR * H * N + C * H * (N + V) + H * V * D,
}
KV_VALUES_PER_TOKEN = {
    "expand": C + P,
    "recompute": C + P,
    "reuse": C + P,
    "cache-kv": H * (N + P + V),
}


@pytest.fixture(scope="module")
def v3_decode(deepseek_v3: ModuleOp) -> dict[str, Accounting]:
    decode = function(deepseek_v3, "deepseek_v3.decode")
    results: dict[str, Accounting] = {}
    for scheme in SCHEMES:
        module = ModuleOp([decode.clone()])
        AbsorbPass(scheme=scheme).apply(make_context(), module)
        module.verify()
        (rewritten,) = module.ops
        results[scheme] = account(rewritten)  # type: ignore[arg-type]
    return results


@pytest.mark.parametrize("scheme", SCHEMES)
def test_flops_per_op(v3_decode: dict[str, Accounting], scheme: str):
    counted = {op.name: op.flops for op in v3_decode[scheme].ops if op.flops}
    assert counted == SCHEME_FLOPS[scheme]
    assert v3_decode[scheme].flops == sum(SCHEME_FLOPS[scheme].values())


@pytest.mark.parametrize("scheme", SCHEMES)
def test_weights_kv_cache_and_minimum_bytes(v3_decode: dict[str, Accounting], scheme: str):
    a = v3_decode[scheme]
    assert a.weight_bytes == WEIGHTS[scheme] * BF16
    assert a.kv_bytes_per_token == KV_VALUES_PER_TOKEN[scheme] * BF16
    assert a.kv_cache_bytes == KV_VALUES_PER_TOKEN[scheme] * BF16 * T
    assert a.kv_read_bytes == KV_VALUES_PER_TOKEN[scheme] * BF16 * L
    assert a.min_bytes == (WEIGHTS[scheme] + KV_VALUES_PER_TOKEN[scheme] * T + 2 * D) * BF16


def test_the_numbers_the_readme_quotes(v3_decode: dict[str, Accounting]):
    # The latent cache: 512 + 64 values per token; cache-kv: 128 x (192 + 128) values.
    assert v3_decode["recompute"].kv_bytes_per_token == 1152
    assert v3_decode["cache-kv"].kv_bytes_per_token == 81920
    assert v3_decode["cache-kv"].kv_bytes_per_token // v3_decode["recompute"].kv_bytes_per_token == 71
    # reuse stores more weight bytes than recompute (W_UV.W_O alone is 470 M values).
    assert v3_decode["reuse"].weight_bytes > 3 * v3_decode["recompute"].weight_bytes
    assert v3_decode["reuse"].precompose_flops == 2 * (QR * H * N * C + C * H * V * D)
    flops = {s: v3_decode[s].flops for s in SCHEMES}
    assert flops == {
        "recompute": 1_518_519_232,
        "reuse": 2_340_602_816,
        "expand": 138_151_969_728,
        "cache-kv": 713_016_256,
    }
    # Absorption trades ~90x fewer FLOPs than expand for the same compulsory bytes.
    assert v3_decode["recompute"].min_bytes == v3_decode["expand"].min_bytes


def test_prefill_runs_the_same_schemes(deepseek_v3: ModuleOp):
    prefill = function(deepseek_v3, "deepseek_v3.prefill")
    flops = {}
    for scheme in SCHEMES:
        module = ModuleOp([prefill.clone()])
        AbsorbPass(scheme=scheme).apply(make_context(), module)
        (rewritten,) = module.ops
        flops[scheme] = account(rewritten).flops  # type: ignore[arg-type]
        assert not any(isinstance(op, la.KvLoadOp) for op in rewritten.walk())
    # With nothing cached, expand and cache-kv project the same 4096 tokens once; absorbing
    # makes every one of 4096 queries attend in the 512-wide latent space instead of 128.
    assert flops["expand"] == flops["cache-kv"]
    assert flops["recompute"] > 2 * flops["expand"]
