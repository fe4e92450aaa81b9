"""FlashMLA's decode kernel model (costmodel/flashmla.py) and the production stack the GPU presets default to."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel import Machine
from costmodel.estimate import JOIN_SPLIT_ELEMENTS
from costmodel.flashmla import BLOCK_ROWS, FIXED_OVERHEAD_BLOCKS, kernel_cycles, schedule, soft_maximum
from costmodel.la_ops import flash_group, flash_shape, is_decode
from dialects import la
from dialects.hw import attach_target
from mlacc.frontend.dsl import parse_dsl
from mlacc.hardware import load_hardware
from mlacc.hardware.loader import read_hardware
from mlacc.hardware.overrides import hypothetical_target
from mlacc.pipeline import compile_to, estimate
from tests.conftest import examples

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "deepseek_v3.attn"


def replay(sms: int, batch: int, rows: int, keys: int) -> tuple[int, int, int, int]:
    """FlashMLA's `get_mla_metadata_kernel` (csrc/smxx/decode/get_decoding_sched_meta) line by line, for requests
    of equal length: (parts, payload, pieces of the most-split request, pieces of all)."""
    parts = max(sms // math.ceil(rows / BLOCK_ROWS), 1)
    blocks = max(math.ceil(keys / 64), 1)
    payload = math.ceil(batch * (blocks + FIXED_OVERHEAD_BLOCKS) / parts) + FIXED_OVERHEAD_BLOCKS
    request, block, split, splits = 0, 0, 0, [0] * batch
    for _ in range(parts):
        remain = payload
        while request < batch:
            left = blocks - block
            if remain >= left + FIXED_OVERHEAD_BLOCKS:
                splits[request] = split + 1
                remain -= left + FIXED_OVERHEAD_BLOCKS
                request, block, split = request + 1, 0, 0
            else:
                if remain - FIXED_OVERHEAD_BLOCKS > 0:
                    block += remain - FIXED_OVERHEAD_BLOCKS
                    split += 1
                break
    return parts, payload, max(splits), sum(splits)


@settings(max_examples=examples(60))
@given(
    st.lists(
        st.tuples(
            st.integers(1, 300), st.sampled_from([16, 32, 64, 128, 256]), st.integers(1, 70000), st.integers(1, 2)
        ),
        min_size=1,
        max_size=8,
    )
)
def test_schedule_replays_flashmla_scheduler(shapes: list[tuple[int, int, int, int]]) -> None:
    batch, heads, keys, tokens = (np.array(x) for x in zip(*shapes, strict=True))
    got = np.stack(schedule(132, batch, heads * tokens, keys), axis=1)
    for row, (b, h, t, s) in zip(got, shapes, strict=True):
        assert tuple(int(x) for x in row) == replay(132, b, h * s, t)


def test_soft_maximum_is_the_maximum_without_an_exponent() -> None:
    assert soft_maximum(3.0, 4.0, 0.0) == 4.0
    assert soft_maximum(3.0, 4.0, 2.0) == pytest.approx(5.0)


def test_regimes() -> None:
    """16 heads fill a quarter of a 64-row block: a large batch reads the cache at the measured rate; 128 heads x 2
    query tokens do four times the mainloop work per key and are bound by it."""
    h100 = Machine.of(load_hardware("h100"))
    mainloop, read, _ = kernel_cycles(h100, "bf16", 1152, 128, 16, 32769, 576, 512)
    assert read > 1.5 * mainloop
    seconds = float(read) / h100.frequency
    assert 128 * 32769 * 1152 / seconds == pytest.approx(3.35e12 * float(h100.attention_latent_memory), rel=1e-6)
    mainloop, read, _ = kernel_cycles(h100, "bf16", 1152, 128, 256, 4098, 576, 512)
    assert mainloop > 1.5 * read


def lowered(scheme: str, hardware: str = "h100", until: str = "absorbed"):
    """examples/deepseek_v3.attn on `hardware`, lowered to `until` as `scheme`."""
    module = parse_dsl(EXAMPLE.read_text(), str(EXAMPLE))
    attach_target(module, load_hardware(hardware))
    return compile_to(module, until, scheme=scheme)


def test_the_mainloop_follows_the_chip_s_mac_rate() -> None:
    """FlashMLA's mainloop is a fraction of the SM's peak, so a what-if chip with half the MAC rate (`--set
    sm.macs_per_cycle.bf16=1024`) takes twice as long in the compute-bound regime, and the cache read is unchanged."""
    h100 = Machine.of(load_hardware("h100"))
    half = replace(h100, macs_per_cycle={**h100.macs_per_cycle, "bf16": 1024})
    full, read, _ = kernel_cycles(h100, "bf16", 1152, 128, 256, 4098, 576, 512)
    slow, same, _ = kernel_cycles(half, "bf16", 1152, 128, 256, 4098, 576, 512)
    assert slow == pytest.approx(2 * full) and same == read


def shapes(scheme: str) -> dict[str, object]:
    """The decode workload's `FlashShape` under `scheme`."""
    module = lowered(scheme)
    softmax = next(op for op in module.walk() if isinstance(op, la.SoftmaxOp) and is_decode(op))
    return vars(flash_shape(softmax, flash_group(softmax), is_decode(softmax)))


def test_parts_a_one_tensor_library_joins() -> None:
    """expand's keys (128 per head + a 64-wide RoPE key shared by all heads) are broadcast and joined into 192-wide
    keys per head, written and read back; the latent's parts live in one 576-wide cache already."""
    expand, recompute = shapes("expand"), shapes("recompute")
    batch, keys = 1, 4096 + 1  # examples/deepseek_v3.attn's decode workload: batch 1 x context 4k + 1 new token
    assert expand["key_concat_bytes"] == 2 * batch * keys * 128 * 192 * 2
    assert expand["query_concat_bytes"] == 2 * batch * 128 * 192 * 2
    assert expand["key_broadcast_bytes"] == batch * keys * 128 * 64 * 2  # what the kernel reads of the RoPE key
    assert recompute["key_concat_bytes"] == recompute["key_broadcast_bytes"] == 0
    assert recompute["query_concat_bytes"] == 2 * batch * 128 * 576 * 2
    assert (recompute["batch"], recompute["rows"], recompute["key_bytes"], recompute["value_width"]) == (
        batch, 128, 576 * 2, 512
    )  # fmt: skip


def test_presets_default_to_production_kernels() -> None:
    """`--hw h100` runs the latent decode on FlashMLA; `h100:triton` keeps our own kernel and its figures."""

    def decode(hardware: str):
        module = parse_dsl(EXAMPLE.read_text(), str(EXAMPLE))
        attach_target(module, load_hardware(hardware))
        return next(r for r in estimate(module, "recompute") if r.phase == "decode")

    production, triton = decode("h100"), decode("h100:triton")
    assert production.kernels["attention_decode_latent"] == "flashmla"
    assert triton.kernels["attention_decode_latent"] == "triton-flash"
    assert production.seconds < triton.seconds


def test_an_fp8_cache_halves_flashmla_s_read() -> None:
    """With `kv_dtype = fp8` the latent cache holds one byte a value: FlashMLA reads half the bytes per key (the
    mainloop's MACs are the same), so a memory-bound decode (a 16-head shard at batch 64 x 32k: 740 us of cache read
    against a 372 us mainloop) speeds up until its mainloop binds. Before, the kernel model read the layer's dtype
    whatever the cache held."""

    def recompute_decode(text: str):
        module = parse_dsl(text, str(EXAMPLE))
        attach_target(module, load_hardware("h100"))
        return next(r for r in estimate(module, "recompute") if r.phase == "decode")

    text = EXAMPLE.read_text().replace("heads       = 128", "heads       = 16", 1)
    text = text.replace("batch   = 1\n  context = 4k", "batch   = 64\n  context = 32k", 1)
    assert "heads       = 16" in text and "context = 32k" in text
    fp8_text = text.replace("dtype       = bf16", "dtype       = bf16\n  kv_dtype    = fp8", 1)
    assert fp8_text != text
    module = parse_dsl(fp8_text, str(EXAMPLE))
    attach_target(module, load_hardware("h100"))
    softmax = next(
        op for op in compile_to(module, "absorbed", scheme="recompute").walk() if isinstance(op, la.SoftmaxOp)
    )
    fp8_shape = flash_shape(softmax, flash_group(softmax), is_decode(softmax))
    assert (fp8_shape.key_bytes, fp8_shape.key_read_bytes) == (576 * 2, 576)
    bf16, fp8 = recompute_decode(text), recompute_decode(fp8_text)
    flash = [op.name for op in bf16.ops if op.library == "flashmla"]
    seconds = {r: sum(op.seconds for op in res.ops if op.name in flash) for r, res in (("bf16", bf16), ("fp8", fp8))}
    assert 0.5 * seconds["bf16"] < seconds["fp8"] < 0.7 * seconds["bf16"]


def test_a_broadcast_join_runs_at_the_generic_concatenation_s_rate() -> None:
    """expand's key join (each head's 128 keys beside the shared RoPE key) is torch's generic concatenation, timed
    at 0.89 TB/s (`join_memory`), not a copy's 3 TB/s: halving that rate adds the join's bytes at the halved rate
    once more to the step; from 2^31 joined elements torch copies each part apart, at `join_split_memory`. Before,
    the model charged the join at a GEMM's read rate and expand's decode ran 37% fast (docs/validation.md)."""
    h100 = Machine.of(load_hardware("h100"))
    halved = hypothetical_target(read_hardware("h100"), (("efficiency.join_memory", float(h100.join_memory) / 2),))

    def expand_decode(target) -> float:
        module = parse_dsl(EXAMPLE.read_text(), str(EXAMPLE))
        attach_target(module, target)
        return next(r for r in estimate(module, "expand") if r.phase == "decode").seconds

    moved = shapes("expand")["key_concat_bytes"]
    assert isinstance(moved, int) and moved / 2 / 2 < JOIN_SPLIT_ELEMENTS  # batch 1 x 4k: the concatenation kernel
    extra = expand_decode(halved) - expand_decode(load_hardware("h100"))
    bandwidth = float(h100.dram.read_bandwidth) * float(h100.frequency)
    assert extra == pytest.approx(moved / (bandwidth * float(h100.join_memory)), rel=0.05)


def test_an_absurd_overlap_exponent_gives_an_infinite_time_without_a_warning() -> None:
    # The hardware fuzzer's files reach exponents like 1e-300: (a^p + b^p)^(1/p) overflows to infinity, which the
    # estimate reports, but numpy's overflow warning used to reach the user's terminal.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert soft_maximum(3.0, 4.0, 1e-300) == float("inf")
