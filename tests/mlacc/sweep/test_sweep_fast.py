"""The op-table fast path of `mlacc sweep` against the IR path it replaces, and the tiling search it rests on."""

from __future__ import annotations

import csv
import io
import math
import random
from functools import cache
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from xdsl.dialects import func

from costmodel import Gemm, Machine, OpSpec
from costmodel.attention import FlashShape
from costmodel.energy import dynamic_energy_pj
from costmodel.estimate import contraction_compute, level_cycles
from costmodel.op import LevelIndices, column
from costmodel.tiles import best_tilings
from costmodel.traffic import contraction_work
from dialects.attn import AttentionLayerOp
from mlacc.diagnostics import InputError, UsageError
from mlacc.hardware import load_hardware
from mlacc.sweep.evaluate import _point_rows, evaluate
from mlacc.sweep.fast_rows import fast_layers
from mlacc.sweep.optable import NotParametric, OpTable, _solve
from mlacc.sweep.space import Chip, DesignPoint, SweepInput, chips, file_module
from passes import SCHEMES
from tests.conftest import ROOT, SMALL_ATTN, TINY_TOML, examples

EXAMPLES = ROOT / "examples"
FILES = ["deepseek_v3.attn", "mha_baseline.attn", "llama3_70b_gqa.attn", "deepseek_v2_lite.attn"]
OVERRIDES = [
    ("hbm.read_bandwidth_bytes_per_cycle", [600.0, 2500.0, 9000.0]),
    ("frequency_hz", [1.2e9, 2.0e9]),
    ("energy.static_power_watts", [0.0, 150.0]),
    ("efficiency.compute", [0.4, 0.9]),
]


def _same(a: dict[str, Any], b: dict[str, Any], scale: dict[str, float] | None = None) -> list[str]:
    """Fields where two rows differ: keys, order and types exactly, floats to 1e-9 relative (or of `scale`'s
    figure for the field, for an op's share of the step)."""
    if list(a) != list(b):
        return [f"columns {list(a)} != {list(b)}"]
    out = []
    for key in a:
        x, y = a[key], b[key]
        if type(x) is not type(y):
            out.append(f"{key}: {type(x).__name__} != {type(y).__name__}")
        elif isinstance(x, float):
            if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9 * (scale or {}).get(key, 1.0)):
                out.append(f"{key}: {x} != {y}")
        elif key == "ops":
            step = {k: a[k] for k in ("cycles", "seconds", "energy_pj")}
            out += [f"ops[{i}] {d}" for i, (u, v) in enumerate(zip(x, y, strict=True)) for d in _same_op(u, v, step)]
        elif x != y:
            out.append(f"{key}: {x!r} != {y!r}")
    return out


def _same_op(a: dict[str, Any], b: dict[str, Any], step: dict[str, float]) -> list[str]:
    """The IR path keeps a task's start and end cycle, so an op's cycles (and its static energy) carry the
    rounding of the step's clock: they are compared to 1e-9 of the step's figures."""
    flat = {k: v for k, v in a.items() if k != "bytes"} | {f"bytes.{k}": v for k, v in a["bytes"].items()}
    other = {k: v for k, v in b.items() if k != "bytes"} | {f"bytes.{k}": v for k, v in b["bytes"].items()}
    return _same(flat, other, step)


def fast_rows(sweep: SweepInput, points: list[DesignPoint]) -> list[list[dict[str, Any]] | None]:
    """The op-table path's rows of each point, its layers' in file order (None: left to the IR path)."""
    per_point = fast_layers(sweep, points)
    return [None if layers is None else [r for _, rows in layers for r in rows] for layers in per_point]


def _ir_rows(sweep: SweepInput, point: DesignPoint) -> list[dict[str, Any]]:
    """The IR path's rows of a point, its layers' in file order."""
    return [row for _, rows in _point_rows(sweep, point) for row in rows]


def _random_points(rng: random.Random, count: int) -> dict[str, list[DesignPoint]]:
    """`count` points over the example files, workloads, phases, batches, contexts, speculative decode,
    presets with random `--set` overrides, and tp x dp layouts on the 8-GPU presets."""
    out: dict[str, list[DesignPoint]] = {}
    for _ in range(count):
        name = rng.choice(FILES)
        field, values = rng.choice(OVERRIDES)
        hardware = rng.choice(["h100", "h200", "a100", "h20", "tpu_like", "edge_npu", "h200x8"])
        overrides = ((field, rng.choice(values)),) if rng.random() < 0.6 else ()
        try:
            chips([hardware], [(f, [v]) for f, v in overrides])
        except (UsageError, InputError):  # a field this preset does not have (edge_npu has no hbm)
            overrides = ()
        phase = rng.choice(["decode", "prefill"])
        tp, dp = rng.choice([(1, 1), (1, 1), (2, 1), (1, 2), (2, 4)]) if hardware == "h200x8" else (1, 1)
        out.setdefault(name, []).append(
            DesignPoint(
                Chip(hardware, overrides),
                "decode",
                phase,
                rng.choice([1, 2, 8, 24, 64]) * dp,
                rng.choice([0, 512, 3000, 16384]) if phase == "prefill" else rng.choice([1, 700, 4096, 32768]),
                rng.choice([256, 1024, 2048]) if phase == "prefill" else rng.choice([1, 1, 1, 4]),
                tp,
                dp,
            )
        )
    return out


@cache
def _sample() -> dict[str, list[DesignPoint]]:
    """The random points, by file (drawn once per process)."""
    return _random_points(random.Random(20261130), 84)


def _rows_per_point(name: str) -> int:
    """Rows a point of the file's `decode` workload gives with every scheme: one per scheme of an MLA layer,
    one for any other layer."""
    path = EXAMPLES / name
    layers = [f.body.block.first_op for f in file_module(str(path), path.read_text()).ops if isinstance(f, func.FuncOp)]
    return sum(len(SCHEMES) if layer.kind == "mla" else 1 for layer in layers
               if isinstance(layer, AttentionLayerOp) and layer.workload.workload_name.data == "decode")  # fmt: skip


def test_the_random_points_give_at_least_200_rows():
    assert sum(len(points) * _rows_per_point(name) for name, points in _sample().items()) >= 200


@pytest.mark.parametrize("name", FILES)
def test_the_fast_path_gives_the_ir_paths_rows_at_random_points(name: str):
    """At least 200 rows (random layers, workloads, presets, overrides, layouts, every scheme; the test above
    counts them over the files) equal the IR path's: every column, its type, and `auto`'s choice; cycles,
    energy and bytes to 1e-9 relative."""
    points = _sample()[name]
    path = EXAMPLES / name
    sweep = SweepInput(str(path), path.read_text(), SCHEMES, ops=True)
    fast = fast_rows(sweep, points)
    assert all(r is not None for r in fast), "every point of one-core chips takes the fast path"
    for point, point_rows in zip(points, fast, strict=True):
        assert point_rows is not None
        slow = _ir_rows(sweep, point)
        assert len(point_rows) == len(slow) == _rows_per_point(name)
        for a, b in zip(point_rows, slow, strict=True):
            assert not _same(a, b), (point, a["scheme"], _same(a, b)[:5])


def test_auto_only_and_multicore_chips_match_too():
    """`--scheme auto` keeps the chosen row; a chip of several cores is left to the IR path, in order."""
    path = EXAMPLES / "deepseek_v3.attn"
    sweep = SweepInput(str(path), path.read_text(), ("auto",))
    points = [
        DesignPoint(Chip(hw), "decode", None, batch, context)
        for hw in ("h100", "multicore")
        for batch, context in ((1, 1024), (64, 65536))
    ]
    assert [r is None for r in fast_rows(sweep, points)] == [False, False, True, True]
    rows = evaluate(sweep, points)
    slow = [row for point in points for row in _ir_rows(sweep, point)]
    assert len(rows) == len(slow) == 4
    for a, b in zip(rows, slow, strict=True):
        assert not _same(a, b)


def test_integers_that_are_not_bilinear_in_batch_and_context_are_refused():
    batch_squared = [(3, 1001, [9]), (5, 1001, [25]), (3, 3001, [9]), (5, 3001, [25])]
    assert _solve(batch_squared).tolist() == [[-15.0, 8.0, 0.0, 0.0]]  # fits on the probes ...
    halves = [(3, 1001, [1]), (5, 1001, [2]), (3, 3001, [1]), (5, 3001, [2])]
    with pytest.raises(NotParametric):
        _solve(halves)  # ... but a half per sequence is not an integer polynomial


def _exhaustive(machine: Machine, op: OpSpec, homes: LevelIndices) -> tuple[float, float]:
    """The fewest cycles (then least energy) over every power-of-two-or-full tiling that fits, as `tile`
    searched before the candidates were pruned."""

    def sizes(extent: float) -> list[float]:
        return sorted({float(extent), *(2.0**i for i in range(64) if 2**i < extent)})

    assert op.gemm is not None
    grid = np.array(
        [
            (a, b, c, i)
            for a in sizes(op.gemm.extents["m"])
            for b in sizes(op.gemm.extents["n"])
            for c in sizes(op.gemm.extents["k"])
            for i in range(3)
        ]
    ).T
    tm, tn, tk, inner = (x[None, :] for x in grid)
    fits = op.element_bytes * (tm * tk + tk * tn + tm * tn) <= machine.tile_level.capacity
    work = contraction_work(machine, op, homes, tm, tn, tk, inner)
    cycles = contraction_compute(machine, op, work)
    for level in level_cycles(machine, work.reads, work.writes, work.units, op):
        cycles = np.maximum(cycles, level)
    energy = sum(dynamic_energy_pj(machine, column(op.macs), op.dtype, work.reads, work.writes, op.flash))
    cycles = np.where(fits, cycles, np.inf)[0]
    best = np.lexsort((np.asarray(energy)[0], cycles))[0]
    return float(cycles[best]), float(np.asarray(energy)[0][best])


@settings(max_examples=examples(60))
@given(
    hardware=st.sampled_from(["h100", "a100", "tpu_like", "edge_npu", "multicore"]),
    g=st.sampled_from([1, 4, 128]),
    m=st.integers(1, 5000),
    n=st.integers(1, 70000),
    k=st.integers(1, 9000),
    flash=st.booleans(),
    homes=st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
)
def test_the_pruned_tiling_search_finds_the_exhaustive_searchs_best(
    hardware: str, g: int, m: int, n: int, k: int, flash: bool, homes: tuple[int, int, int]
):
    """Tile counts only ever add cycles and energy, so the frontier of widest tiles, pruned to candidates no
    other beats on every cost, holds the cheapest tiling of all: the same cycles and energy."""
    machine = Machine.of(load_hardware(hardware))
    last = len(machine.levels) - 1
    a_home, b_home, c_home = (min(h, last) for h in homes)
    gemm = Gemm({"g": "g", "m": "m", "n": "n", "k": "k"}, {"g": g, "m": m, "n": n, "k": k})
    op = OpSpec("x", "einsum", "bf16", 2, 2 * g * m * n * k, (2 * g * m * k, 2 * g * k * n), 2 * g * m * n, gemm,
                attention=FlashShape(n) if flash else None)  # fmt: skip
    placement = LevelIndices((np.array([a_home]), np.array([b_home])), np.array([c_home]))
    tiling = tuple(column(x) for x in best_tilings(machine, op, placement))
    work = contraction_work(machine, op, placement, *tiling)
    cycles = contraction_compute(machine, op, work)
    for level in level_cycles(machine, work.reads, work.writes, work.units, op):
        cycles = np.maximum(cycles, level)
    energy = sum(dynamic_energy_pj(machine, column(op.macs), op.dtype, work.reads, work.writes, op.flash))
    best_cycles, best_energy = _exhaustive(machine, op, placement)
    assert float(cycles[0, 0]) == pytest.approx(best_cycles, rel=1e-12)
    assert float(np.asarray(energy)[0, 0]) == pytest.approx(best_energy, rel=1e-12)


@pytest.mark.parametrize(("hardware", "tp"), [("h100", 2), ("h200x8", 16)])
def test_a_layout_the_chip_cannot_run_is_never_priced(hardware: str, tp: int, capsys: pytest.CaptureFixture[str]):
    """Collectives over more devices than the chip's node has are never rows with a time (the fast path once
    priced them over a link of 0 bytes/cycle): a lone chip's are the IR path's error, a node too small for the
    layout is a skipped row."""
    from mlacc import cli

    code = cli.main(["sweep", str(EXAMPLES / "deepseek_v3.attn"), "--hw", hardware, "--tp", str(tp), "-q"])
    out, err = capsys.readouterr()
    if hardware == "h100":
        assert code == 1
        assert err.count("\n") == 1 and err.startswith("error:") and "no [interconnect]" in err
        return
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and all(r["skipped"].startswith("tp 16 x dp 1 needs 16 GPUs") and not r.get("seconds") for r in rows)
    assert err.startswith(f"sweep: {len(rows)} of {len(rows)} rows skipped")


def test_kv_heads_copied_past_tp_give_the_ir_paths_rows():
    """tp 16 over Llama-3-70B's 8 KV heads (on a 16-GPU what-if node) copies each KV head to 2 GPUs: the fast path
    gives the IR path's rows, `kv_head_replicas` included, and the KV bytes per GPU are tp 8's."""
    path = EXAMPLES / "llama3_70b_gqa.attn"
    sweep = SweepInput(str(path), path.read_text(), SCHEMES, ops=True)
    node16 = Chip("h100x8", (("interconnect.devices", 16),))
    points = [DesignPoint(node16, "decode", None, 4, 4096, None, tp) for tp in (8, 16)]
    fast = fast_rows(sweep, points)
    for point, point_rows in zip(points, fast, strict=True):
        assert point_rows is not None
        slow = _ir_rows(sweep, point)
        assert len(point_rows) == len(slow) == 1
        assert not _same(point_rows[0], slow[0]), _same(point_rows[0], slow[0])[:5]
    tp8, tp16 = (rows[0] for rows in fast if rows is not None)
    assert "kv_head_replicas" not in tp8 and tp16["kv_head_replicas"] == 2
    assert tp16["kv_cache_bytes"] == tp8["kv_cache_bytes"]
    assert tp16["weight_bytes"] > tp8["weight_bytes"] / 2  # the K/V weights are copied, the rest halves


def test_a_moe_models_capacity_under_dp_gives_the_ir_paths_rows():
    """DeepSeek-V2-Lite's config read directly (attention with its model's 64 experts): under dp its MoE layers
    spread their experts over the dp GPUs (ep = dp), which the fast path's `max_batch` counts as the IR path's
    does, and its rows say `ep` as compile's JSON does."""
    path = ROOT / "tests" / "fixtures" / "hf" / "deepseek_v2_lite.json"
    sweep = SweepInput(str(path), path.read_text(), SCHEMES, ops=True)
    points = [DesignPoint(Chip("h200x8"), "decode", None, 8, 4096, None, tp, dp) for tp, dp in ((2, 1), (1, 4))]
    fast = fast_rows(sweep, points)
    for point, point_rows in zip(points, fast, strict=True):
        assert point_rows is not None
        slow = _ir_rows(sweep, point)
        assert len(point_rows) == len(slow) == len(SCHEMES)
        for a, b in zip(point_rows, slow, strict=True):
            assert not _same(a, b), (point, _same(a, b)[:5])
            assert a["ep"] == point.dp


def test_sizes_beyond_64_bit_integers_leave_the_point_to_the_ir_path(capsys: pytest.CaptureFixture[str]):
    """An absurd workload (1e153 new tokens, found by tests/test_fuzz.py) once crashed the probes' fit
    converting its coefficients to floats; terms beyond int64 (which the IR's attributes cannot hold either)
    are refused, and the IR path's one-line error reports the point."""
    huge = [(3, 1001, [2**64]), (5, 1001, [2**64]), (3, 3001, [2**64]), (5, 3001, [2**64])]
    with pytest.raises(NotParametric):
        _solve(huge)
    from mlacc import cli

    with np.errstate(all="ignore"):
        argv = ["sweep", str(SMALL_ATTN), "--hw", str(TINY_TOML), "-q", "--new-tokens", "1.0734837651974575e+153"]
        code = cli.main(argv)
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert code == 1 and len(errors) == 1 and "too large" in errors[0]


def test_integers_past_float64s_exact_range_stay_exact():
    """The op table's integers are int64, exact where float64's are not (past 2**53): an integer of 2**53 + 1 at
    a point is that integer, not 2**53."""
    coefficients = _solve([(3, 1001, [2**53 + 3]), (5, 1001, [2**53 + 5]), (3, 3001, [2**53 + 3]),
                           (5, 3001, [2**53 + 5])])  # fmt: skip
    table = OpTable("l", "mla", "s", "bf16", None, 0, (), (), 0, 0, 0, (), "f", None, coefficients)  # type: ignore[arg-type]
    assert table.integers(np.array([1, 2**40]), np.array([0, 5])).tolist() == [[2**53 + 1, 2**53 + 2**40]]
    with pytest.raises(NotParametric):  # past int64 at the point: the IR cannot hold it either
        table.integers(np.array([2**63 - 2**52]), np.array([0]))


def test_large_prefill_points_take_the_fast_path_with_the_ir_paths_rows():
    """Prefill at batch 128-256 x 64k-128k context has FLOP counts past 2**53 (float64's exact integers), which
    once sent the whole prefill half of `mlacc sweep examples/deepseek_v3.attn --batch 1..256:x2 --context
    1k..128k:x2` to the IR path: every such point now takes the fast path, and its rows (the exact FLOPs among
    them) are the IR path's."""
    path = EXAMPLES / "deepseek_v3.attn"
    sweep = SweepInput(str(path), path.read_text(), SCHEMES, ops=True)
    shapes = (("h100", 256, 131072), ("h200", 128, 131072), ("h100", 256, 65536), ("h200", 1, 1024))
    points = [DesignPoint(Chip(hw), "prefill", None, batch, context) for hw, batch, context in shapes]
    fast = fast_rows(sweep, points)
    assert all(rows is not None for rows in fast)
    big = 0
    for point, point_rows in zip(points, fast, strict=True):
        assert point_rows is not None
        slow = _ir_rows(sweep, point)
        assert len(point_rows) == len(slow) == len(SCHEMES)
        for a, b in zip(point_rows, slow, strict=True):
            assert not _same(a, b), (point, a["scheme"], _same(a, b)[:5])
            big += a["flops"] > 2**53
    assert big >= 8
