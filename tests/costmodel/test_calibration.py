"""Estimates against the measurements committed in benchmarks/results/ (no GPU needed), and the model
features those estimates rest on: flash groups, causal masking, static energy, memory capacity."""

from __future__ import annotations

import csv
import json
import math
import statistics
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from costmodel import (
    Estimate,
    Gemm,
    Machine,
    OpSpec,
    Placement,
    Tiling,
    best_tiling,
    estimate_contraction,
    estimate_elementwise,
)
from costmodel.attention import FlashShape, flash_programs, in_flight_share
from costmodel.clock import ClockedOp, step_clock
from costmodel.estimate import compute_efficiency
from costmodel.gemm_library import library_splits_k
from costmodel.la_ops import causal_density, op_spec
from costmodel.plan import clocked_op
from dialects import la
from dialects.hw import attach_target
from mlacc import cli
from mlacc.diagnostics import InputError
from mlacc.energy_fit import fit_energy
from mlacc.estimates import LayerResult
from mlacc.frontend import parse_dsl
from mlacc.frontend.irgen import override_workloads
from mlacc.hardware import load_hardware
from mlacc.pipeline import compile_to
from mlacc.step_profile import breakdown
from mlacc.validate import (
    RANK_TIE,
    SMALL_KERNELS,
    TABLE_RUNS,
    Point,
    Validation,
    check_limits,
    estimate_point,
    estimate_points,
    markdown_table,
    preset_for,
    read_measurements,
    read_profile,
    validate,
    with_heads,
)
from tests.conftest import ROOT

RESULTS = ROOT / "benchmarks" / "results"

# The figures of the committed CSVs (docs/validation.md), each with a little headroom: a change of the model
# that makes any of them worse fails here. Time: median |error| of the worst (phase, scheme) and the largest;
# energy: median |error| over all steps.
LIMITS = {
    # H100's largest is expand decode b1 x 1k (10.2%), a 264 us step the step clock puts at the top clock.
    "h100_2026-11-24.csv": {"median": 0.03, "max_median": 0.05, "max_error": 0.12, "max_energy": 0.05},
    # The H200 runs up to h200_settled_2026-12-01 ran the per-head decode kernel (MHA's, cache-kv's, expand's)
    # with 64 query rows a program, a choice `tune` made by a 0.1-0.5% tie at its one shape; at the validation
    # shapes that kernel is up to 28% slower than with 16 rows (h200_head_blocks_2026-12-01.csv), the one the
    # preset is now fit on, so the model runs their decode cache-kv and expand steps 5-15% fast (the worst group
    # medians below). Their other groups and their rankings still hold; the limits pin them against regressions.
    "h200_2026-11-24.csv": {"median": 0.03, "max_median": 0.08, "max_error": 0.28, "max_energy": 0.065},
    # The same validation grid measured again six days later on another lent H200 (measure.py --only
    # tune,validation): steps within 0.5% of the first run's (median; 4.9% at most).
    "h200_2026-11-30.csv": {"median": 0.035, "max_median": 0.08, "max_error": 0.28, "max_energy": 0.065},
    # The same grid on a third lent H200 with each GEMM run the fastest of cuBLAS's own kernel and a split
    # along K in 2 or 4 (measure.py --tuned-gemms): reuse's K = 65536 product at batch 128 runs split in 4.
    "h200_tuned_2026-11-30.csv": {"median": 0.03, "max_median": 0.06, "max_error": 0.19, "max_energy": 0.075},
    # The same again on a fourth lent H200 (its autotuner split other GEMMs: reuse's at M = 1 and 8, and the
    # K = 7168 projections at M = 32).
    "h200_tuned2_2026-11-30.csv": {"median": 0.03, "max_median": 0.09, "max_error": 0.19, "max_energy": 0.06},
    # A third grid of shapes in neither of the others (measure.py --only tune,holdout: batch 4-96 x context
    # 3k-12k, prompts 1.5k and 6k), on two boards, unsettled: MHA decode at batch 12 x 12k read slow right after
    # expand's 96 x 6k (h200_profile_order_2026-12-01.csv).
    "h200_holdout_2026-12-01.csv": {"median": 0.035, "max_median": 0.1, "max_error": 0.18, "max_energy": 0.065},
    "h200_holdout2_2026-12-01.csv": {"median": 0.03, "max_median": 0.125, "max_error": 0.175, "max_energy": 0.045},
    # The same hold-out grid on a third board with each step replayed back to back for 0.5 s before it is timed
    # (measure.py --settle).
    "h200_holdout3_2026-12-01.csv": {"median": 0.025, "max_median": 0.105, "max_error": 0.2, "max_energy": 0.065},
    # The validation grid settled on another H200; its largest is reuse at 128 x 1k (25.2%), cuBLAS's own kernel
    # for its 65536-deep product (671 us settled, 675 unsettled).
    "h200_settled_2026-12-01.csv": {"median": 0.03, "max_median": 0.09, "max_error": 0.26, "max_energy": 0.06},
    # Settled, with tuned GEMMs, the validation and the hold-out grids on a sixth board.
    "h200_tuned_settled_2026-12-01.csv": {"median": 0.04, "max_median": 0.1, "max_error": 0.225, "max_energy": 0.06},
    "h200_holdout_tuned_2026-12-01.csv": {"median": 0.03, "max_median": 0.155, "max_error": 0.18, "max_energy": 0.035},
    # The same board right after, cuBLAS's own GEMMs: `tune` picked 16-row blocks for the per-head decode kernel
    # (by 0.07%), which ran its per-head decode steps 4-18% faster than the run before it on the same board.
    "h200_settled2_2026-12-01.csv": {"median": 0.02, "max_median": 0.04, "max_error": 0.255, "max_energy": 0.05},
    # Every run from here on: `tune` gives the per-head decode kernel 16-row blocks (never taller than its rows),
    # the kernel the preset's per-head decode constants are fit on (h200_head16_2026-12-01.csv), settled. The
    # validation grid with cuBLAS's own GEMMs and with tuned ones, and the hold-out grid, on a board that draws
    # 7-12% less than the others on decode steps (energy median 11.4%, 8.5%) at their speed.
    "h200_head16_validation_2026-12-01.csv": {
        "median": 0.02,
        "max_median": 0.05,
        "max_error": 0.26,
        "max_energy": 0.115,
    },
    "h200_head16_tuned_2026-12-01.csv": {"median": 0.025, "max_median": 0.035, "max_error": 0.125, "max_energy": 0.09},
    # The tuned validation grid again on another board (idle 124 W, drawing as the first boards did).
    "h200_head16_tuned2_2026-12-01.csv": {"median": 0.025, "max_median": 0.03, "max_error": 0.145, "max_energy": 0.06},
    "h200_head16_holdout_2026-12-01.csv": {"median": 0.02, "max_median": 0.025, "max_error": 0.075, "max_energy": 0.08},
    # The GEMMs called through cuBLASLt (measure.py --blas cublaslt), which streams reuse's 65536-deep product at
    # batch 128 as fast as the model gives (h200_gemm_kernels_2026-12-01.csv): the validation grid on two boards
    # and the hold-out grid on the second. Nothing was fit on them; every bar of the issue holds on each.
    "h200_cublaslt_2026-12-01.csv": {"median": 0.02, "max_median": 0.04, "max_error": 0.1, "max_energy": 0.055},
    "h200_cublaslt2_2026-12-01.csv": {"median": 0.025, "max_median": 0.05, "max_error": 0.09, "max_energy": 0.055},
    # Decode at batch 192 and 256 (measure.py part large-batch), past the grids: the projections' GEMMs sit near
    # the ridge, where the model is 10-14% fast on the kernel grid (h200_gemm_ridge_2026-12-01.csv), so reuse's
    # and recompute's steps run fast; the limits pin that error, not a bar the model meets.
    "h200_large_batch_2026-12-01.csv": {"median": 0.05, "max_median": 0.14, "max_error": 0.17, "max_energy": 0.075},
    "h200_large_batch_cublas_2026-12-01.csv": {
        "median": 0.045,
        "max_median": 0.1,
        "max_error": 0.16,
        "max_energy": 0.08,
    },
    "h200_cublaslt_holdout_2026-12-01.csv": {
        "median": 0.025,
        "max_median": 0.05,
        "max_error": 0.09,
        "max_energy": 0.04,
    },
}

FIT_ON = ("h100_2026-11-24.csv", "h200_2026-11-24.csv")
"""The runs whose calibration rows the presets were fit on (the later H200 run measured the validation grid only)."""


def dram_gemm(machine: Machine, m: int, n: int, k: int, g: int = 1) -> tuple[OpSpec, Estimate]:
    """A bf16 (g x) M x K . K x N GEMM whose operands and result live in DRAM, as the kernel grids time them, and
    the model's estimate of it at its best tiling."""
    op = OpSpec("g", "einsum", "bf16", 2, 2 * g * m * n * k, (2 * g * m * k, 2 * g * k * n), 2 * g * m * n,
                Gemm.of("gmk,gkn->gmn", {"g": g, "m": m, "n": n, "k": k}))  # fmt: skip
    dram = machine.dram.name
    return op, best_tiling(machine, op, Placement((dram, dram), dram))[1]


def row_error(machine: Machine, row: dict[str, str]) -> float:
    """estimate / measurement - 1 of a kernel-grid GEMM row (`gemm`, or per-head batched `bmm`)."""
    g = int(row["heads"]) if row["kind"] == "bmm" else 1
    _, est = dram_gemm(machine, int(row["m"]), int(row["n"]), int(row["k"]), g)
    return float(est.cycles / machine.frequency) / float(row["seconds"]) - 1


@cache
def validated(name: str) -> Validation:
    (v,) = validate(str(RESULTS / name))
    return v


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_estimates_hold_on_the_committed_measurements(name: str):
    v = validated(name)
    limits = LIMITS[name]
    assert check_limits([v], limits["max_median"], limits["max_error"], limits["max_energy"]) == []
    assert v.summary()["median_time_error"] <= limits["median"]
    # The estimates rank the schemes as measured wherever the measurements tell them apart beyond run-to-run noise.
    assert v.summary()["rankings_agreeing_within_ties"] == v.summary()["rankings"]


PRODUCTION_LIMITS = {
    # Steps of production kernels (benchmarks/gpu/production.py: FlashMLA, cuDNN through torch SDPA, cuBLASLt) on the
    # H100, judged on the default `h100` preset, whose attention constants benchmarks/gpu/fit_production.py fit on
    # kernel grids these steps do not share. Largest median per (phase, scheme): at issue #26's 5% where the model
    # meets it, else pinned where it is against regressions (docs/validation.md says why each is off: the short
    # prompts' small GEMMs and cuDNN kernels run slower than the model gives them).
    "h100_production_2026-12-07.csv": {
        ("decode", "recompute"): 0.05, ("decode", "reuse"): 0.05, ("decode", "mha"): 0.05,
        ("decode", "cache-kv"): 0.05, ("decode", "expand"): 0.05, ("prefill", "mha"): 0.05,
        ("prefill", "expand"): 0.05, ("prefill", "cache-kv"): 0.09, ("prefill", "recompute"): 0.06,
        ("prefill", "reuse"): 0.05,
    },
    # The same steps with 64 and 16 heads (tensor-parallel shards of both layers; `heads` column).
    "h100_production_tp_2026-12-07.csv": {
        ("decode", "recompute"): 0.05, ("decode", "reuse"): 0.05, ("decode", "mha"): 0.05,
        ("decode", "cache-kv"): 0.05, ("decode", "expand"): 0.05,
    },
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PRODUCTION_LIMITS))
def test_production_kernel_steps_hold_on_the_default_presets(name: str):
    v = validated(name)
    assert v.hardware == "h100"
    medians = {group: statistics.median(abs(r.time_error) for r in rows) for group, rows in v.groups().items()}
    assert set(medians) == set(PRODUCTION_LIMITS[name])
    assert {g: m for g, m in medians.items() if m > PRODUCTION_LIMITS[name][g]} == {}
    # Board energy: issue #26's 10% median, with the busy floor and library draws fit on other steps
    # (benchmarks/gpu/fit_step_energy.py on h100_production_calsteps_2026-12-07.csv).
    assert statistics.median(abs(r.energy_error) for r in v.rows) <= 0.10
    if name.endswith("_tp_2026-12-07.csv"):  # every step is a shard: 64 or 16 heads, never the layer's 128
        assert {r.point.heads for r in v.rows} == {64, 16}


def test_whole_layers_hold_where_no_moe_constant_was_fit():
    """Issue #28 point 6: whole layers (attention + MoE or dense MLP) on the H100 within 10%. The MoE constants (the
    grouped GEMMs', the routing's, the combine's) were fit by benchmarks/gpu/fit_moe.py on the kernels of 7 layers
    profiled inside their replay; those 7 are left out here, so every layer judged is one no constant saw."""
    profiled = {
        Point(r["model"], r["phase"], int(r["batch"]), int(r["context"]), int(r["new_tokens"]), ffn=r["ffn"])
        for r in csv.DictReader(open(RESULTS / "h100_layer_profile_2026-12-08.csv"))
    }
    v = validated("h100_layer_2026-12-08.csv")
    held_out = [r for r in v.rows if r.point not in profiled]
    assert len(profiled) == 7 and len(held_out) == len(v.rows) - 7 == 35
    by_layer: dict[str, list[float]] = {}
    for r in held_out:
        by_layer.setdefault(f"{r.point.phase} {r.point.ffn}", []).append(abs(r.time_error))
    assert {k: statistics.median(e) for k, e in by_layer.items() if statistics.median(e) > 0.10} == {}
    assert max(abs(r.time_error) for r in held_out) <= 0.10


def _ir_estimate(point: Point, hardware: str) -> dict[str, LayerResult]:
    """Every scheme's estimate of a point through the IR pipeline, as `mlacc compile` runs it."""
    from mlacc.pipeline import estimate

    path = ROOT / "examples" / f"{point.model}.attn"
    module = parse_dsl(path.read_text(), str(path))
    override_workloads(module, phase=point.phase, batch=point.batch, context=point.context, new_tokens=point.new_tokens)
    for function in list(module.ops)[1:]:
        function.detach()
        function.erase()
    attach_target(module, load_hardware(hardware))
    (result,) = estimate(module, None)
    return {alt.scheme: alt for alt in result.alternatives} if result.alternatives else {result.kind: result}


def _differences(a: object, b: object, where: str = "", scale: dict[str, float] | None = None) -> list[str]:
    """Where two JSON values differ: keys, order, types and values exactly, floats to 1e-9 relative (an op's
    cycles, seconds and energy to 1e-9 of its step's: the IR path carries the step clock's rounding in them)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return [f"{where}: keys {list(a)} != {list(b)}"]
        inner = scale
        if "ops" in a:
            inner = {k: abs(a[k]) for k in ("cycles", "seconds", "energy_pj")}
        return [d for k in a for d in _differences(a[k], b[k], f"{where}.{k}", inner if k == "ops" else scale)]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items != {len(b)}"]
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in _differences(x, y, f"{where}[{i}]", scale)]
    if type(a) is not type(b):
        return [f"{where}: {type(a).__name__} != {type(b).__name__}"]
    if isinstance(a, float) and isinstance(b, float):
        tolerance = 1e-9 * (scale or {}).get(where.rsplit(".", 1)[-1], 1.0)
        return [] if math.isclose(a, b, rel_tol=1e-9, abs_tol=tolerance) else [f"{where}: {a} != {b}"]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


@pytest.mark.parametrize("name", ["h100_2026-11-24.csv", "h200_head16_holdout_2026-12-01.csv"])
def test_validate_estimates_its_points_as_the_ir_path_does(name: str):
    """`mlacc validate` estimates its points as `mlacc sweep` does (op tables, `estimate_points`): on a sample of
    a committed CSV's points (each layer and phase, the largest batch and context among them) every scheme's
    result is the IR pipeline's, every JSON field to 1e-9 relative."""
    (device, rows), *_ = read_measurements(str(RESULTS / name), "validation").items()
    points = list(dict.fromkeys(Point(r["model"], r["phase"], int(r["batch"]), int(r["context"]), int(r["new_tokens"]))
                                for r in rows))  # fmt: skip
    sample = []
    for model, phase in sorted({(p.model, p.phase) for p in points}):
        mine = [p for p in points if (p.model, p.phase) == (model, phase)]
        sample += list(dict.fromkeys([mine[0], max(mine, key=lambda p: p.batch * (p.context + p.new_tokens))]))
    assert len(sample) >= 6
    hardware = preset_for(device)
    fast = estimate_points(points, hardware)  # the whole CSV at once, as `validate` estimates it
    for point in sample:
        slow = _ir_estimate(point, hardware)
        assert list(fast[point]) == list(slow)
        assert estimate_point(point, hardware).keys() == slow.keys()
        for scheme, result in slow.items():
            assert not _differences(fast[point][scheme].json(), result.json()), (point, scheme)


def test_a_ranking_tie_is_what_two_runs_of_one_grid_differ_by():
    """`RANK_TIE` is measured: two H200 runs of the same validation grid, on different boards six days apart,
    time 90% of the steps within it of each other (so two schemes measured closer are not ordered by the
    measurement)."""

    def steps(name: str) -> dict[tuple[str, ...], float]:
        keys = ("model", "scheme", "phase", "batch", "context", "new_tokens")
        rows = csv.DictReader(open(RESULTS / name))
        steps = (r for r in rows if r["kind"] == "step" and r["status"] == "ok")
        return {tuple(r[k] for k in keys): float(r["seconds"]) for r in steps}

    first, second = steps("h200_2026-11-24.csv"), steps("h200_2026-11-30.csv")
    apart = [abs(second[k] / first[k] - 1) for k in first.keys() & second.keys()]
    assert len(apart) == 104
    assert 0.5 * RANK_TIE < float(np.percentile(apart, 90)) <= RANK_TIE


def test_the_validation_page_shows_todays_validation_table():
    """docs/validation.md's table of four runs is `python benchmarks/validation_table.py`'s output for today's model
    (a regeneration once left it with no rows but the totals)."""
    table = markdown_table([validated(name) for name in TABLE_RUNS], list(TABLE_RUNS.values()))
    assert table.count("\n") == 13 and "H200, tuned GEMMs: time median" in table
    assert table in (ROOT / "docs" / "validation.md").read_text()


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_every_measured_attention_passed_its_float64_check(name: str):
    rows = list(csv.DictReader(open(RESULTS / name)))
    checked = [r for r in rows if r["kind"] in ("step", "attention") and r["status"] == "ok"]
    assert len(checked) >= 20  # the smallest grid, large-batch's 20 steps
    assert all(float(r["rel_error"]) < 1e-2 for r in checked)
    assert {r["status"] for r in rows} <= {"ok", "skipped"}


def test_validate_command_prints_the_table_and_exits_1_over_a_limit(capsys: pytest.CaptureFixture[str]):
    csv_path = str(RESULTS / "h100_2026-11-24.csv")
    assert cli.main(["validate", csv_path]) == 0
    out = capsys.readouterr().out
    assert "NVIDIA H100" in out and "scheme ranking agrees" in out
    # The one point whose order differs says how far apart the measurement put the pair it swaps.
    assert "(the pair it swaps measured 0.9% apart: a tie)" in out
    assert cli.main(["validate", csv_path, "--max-error", "0.01"]) == 1
    assert "limit exceeded" in capsys.readouterr().out


def test_validate_rejects_a_file_that_is_not_a_measurement(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    assert cli.main(["validate", str(bad)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error:") and "not a measurement CSV" in line


def _compile_json(*args: str, capsys: pytest.CaptureFixture[str]) -> dict:
    assert cli.main(["compile", *args, "--format", "json"]) == 0
    captured = capsys.readouterr()
    return {**json.loads(captured.out), "stderr": captured.err}


def test_schemes_that_do_not_fit_are_marked_and_auto_picks_one_that_fits(capsys: pytest.CaptureFixture[str]):
    # DeepSeek-V3 decode at batch 512 x 128k context on an 80 GB H100: the latent cache (512 x 131073 x 1152 B
    # = 77.3 GB) fits with the 374 MB of weights; per-head caches (cache-kv, 5.5 TB) and expand's expanded keys
    # and values (4.5 TB live) do not.
    report = _compile_json(
        "examples/deepseek_v3.attn", "--workload", "decode", "--batch", "512", "--context", "128k", capsys=capsys
    )
    (result,) = report["results"]
    fits = {alt["scheme"]: alt["fits"] for alt in result["alternatives"]}
    assert fits == {"recompute": True, "reuse": True, "expand": False, "cache-kv": False}
    assert result["fits"] and result["scheme"] in ("recompute", "reuse")
    assert result["resident_bytes"] == result["weight_bytes"] + result["kv_cache_bytes"] + 180224 * 512
    assert cli.main(["compile", "examples/deepseek_v3.attn", "--workload", "decode", "--batch", "512",
                     "--context", "128k"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert text.count("(does not fit)") == 2 and "schemes that fit" in text


def test_auto_says_so_when_no_scheme_fits(capsys: pytest.CaptureFixture[str]):
    report = _compile_json(
        "examples/deepseek_v3.attn", "--workload", "decode", "--batch", "4096", "--context", "128k", capsys=capsys
    )
    (result,) = report["results"]
    assert not any(alt["fits"] for alt in result["alternatives"])
    assert "no scheme of @deepseek_v3.decode fits h100" in report["stderr"]


def test_reports_say_whether_the_hardware_was_calibrated_and_charge_static_power(
    capsys: pytest.CaptureFixture[str],
):
    h100 = _compile_json("examples/mha_baseline.attn", "--workload", "decode", capsys=capsys)
    a100 = _compile_json("examples/mha_baseline.attn", "--workload", "decode", "--hw", "a100", capsys=capsys)
    assert (h100["calibrated"], a100["calibrated"]) == (True, False)
    (result,) = h100["results"]
    assert result["calibrated"]
    machine = Machine.of(load_hardware("h100"))
    assert machine.busy_power > 0  # the production stack's busy floor, charged with the idle power over the step
    static = (machine.static_power + machine.busy_power) * result["seconds"] * 1e12
    assert result["energy_breakdown_pj"]["static"] == pytest.approx(static)
    assert "static" not in a100["results"][0]["energy_breakdown_pj"]


def test_big_prefill_gemms_are_compute_bound_on_h100(capsys: pytest.CaptureFixture[str]):
    report = _compile_json("examples/mha_baseline.attn", "--workload", "prefill", "--new-tokens", "8k", capsys=capsys)
    ops = {op["name"]: op for op in report["results"][0]["ops"]}
    assert all(ops[name]["bound"] == "compute" for name in ("query", "key_new", "value_new", "output"))


def test_causal_attention_skips_the_masked_half(capsys: pytest.CaptureFixture[str]):
    report = _compile_json("examples/mha_baseline.attn", "--workload", "prefill", "--new-tokens", "8k", capsys=capsys)
    ops = {op["name"]: op for op in report["results"][0]["ops"]}
    full = 2 * 128 * 8192 * 8192 * 128  # scores of every (query, key) pair, one layer
    assert ops["scores"]["flops"] == round(full * (8192 * 8192 - 8192 * 8191 / 2) / (8192 * 8192))


def test_flash_group_reads_the_latent_once_and_launches_once(capsys: pytest.CaptureFixture[str]):
    # Absorbed decode: the latent is the keys of the scores and the values of the weighted sum; the fused
    # kernel loads each block once for both, and the group is one kernel launch.
    report = _compile_json("examples/deepseek_v3.attn", "--workload", "decode", "--scheme", "recompute", capsys=capsys)
    ops = {op["name"]: op for op in report["results"][0]["ops"]}
    # Each op says the kernel it runs inside: the scores, their sum, the softmax and the weighted sum of the
    # latent are one flash kernel; the W_UV product after it is a kernel of its own.
    assert {n for n, op in ops.items() if op["kernel"] == "flash"} == {
        "scores_nope", "scores_pe", "scores", "probs", "attn_out_latent"
    }  # fmt: skip
    assert ops["attn_out"]["kernel"] is None
    latent = 4097 * 512 * 2
    assert ops["scores_nope"]["bytes"]["hbm"] == pytest.approx(latent)
    machine = Machine.of(load_hardware("h100:triton"))
    # The weighted sum reads no latent; off chip it only writes and reads back its split kernel's fp32 partial
    # rows (128 heads in two row blocks of 64, the 4097 keys split 9 ways), which the combine merges.
    splits = float(flash_programs(machine.units, 2, 4097)[()]) / 2
    assert ops["attn_out_latent"]["bytes"]["hbm"] == pytest.approx(2 * 128 * 512 * 4 * splits)
    group = [ops[n]["seconds"] for n in ("scores_nope", "scores_pe", "scores", "attn_out_latent")]
    assert min(group) * machine.frequency < machine.contraction_latency  # only the softmax pays the launch


@pytest.mark.parametrize("s, t, expected", [(1, 4096, 1.0), (4, 4, 10 / 16), (2, 10, 19 / 20)])
def test_causal_density_counts_the_visible_pairs(s: int, t: int, expected: float):
    class Softmax:  # the two things causal_density reads
        causal = True
        input = None

    from xdsl.dialects.builtin import TensorType, f32
    from xdsl.utils.test_value import create_ssa_value

    from dialects import la

    op = Softmax()
    op.input = create_ssa_value(TensorType(f32, [1, s, t]))  # type: ignore[assignment]
    assert causal_density(op) == pytest.approx(expected)  # type: ignore[arg-type]
    assert la is not None


def test_validate_says_which_device_it_cannot_model_and_which_grid_is_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    rows = list(csv.DictReader(open(RESULTS / "h100_2026-11-24.csv")))
    steps = [r for r in rows if r["kind"] == "step" and r["status"] == "ok"][:1]
    path = tmp_path / "m.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows([{**r, "device": "NVIDIA B200"} for r in steps])
    assert cli.main(["validate", str(path)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line == "error: no preset models device 'NVIDIA B200': name one with --hw"
    assert cli.main(["validate", str(path), "--grid", "calibration"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"error: {path}: no measured steps in grid 'calibration'"


def test_fused_attention_macs_cost_the_measured_ratio_of_a_gemms():
    """Board energy of the Triton attention kernel is about four times a cuBLAS GEMM's per MAC (fit.py), cuDNN's
    about twice (fit_production.py): the same contraction costs that ratio more inside a flash group, and nothing
    more outside it."""
    assert Machine.of(load_hardware("h100")).attention_mac_energy_ratio > 2
    h100 = Machine.of(load_hardware("h100:triton"))
    assert h100.attention_mac_energy_ratio > 3
    gemm = Gemm.of("gmk,gkn->gmn", {"g": 128, "m": 64, "n": 4096, "k": 192})
    plain = OpSpec("s", "einsum", "bf16", 2, 2 * gemm.macs, (2 * 128 * 64 * 192, 2 * 128 * 4096 * 192),
                   2 * 128 * 64 * 4096, gemm)  # fmt: skip
    fused = replace(plain, attention=FlashShape(4096))
    hbm = h100.dram.name
    placement = Placement((hbm, hbm), h100.levels[0].name)
    tiling = Tiling(64, 256, 64, "mnk")
    ratio = (
        estimate_contraction(h100, fused, placement, tiling).energy_pj["mac"]
        / (estimate_contraction(h100, plain, placement, tiling).energy_pj["mac"])
    )
    assert ratio == pytest.approx(h100.attention_mac_energy_ratio)


def test_elementwise_work_inside_a_measured_fused_kernel_costs_no_on_chip_time():
    """A flash group's softmax and score sum live in the kernel's registers; its measured rate pays for them,
    so on a calibrated machine only off-chip bytes (none here) could add time."""
    h100 = Machine.of(load_hardware("h100:triton"))
    on_chip = h100.levels[0].name
    softmax = OpSpec("p", "softmax", "bf16", 2, 5 * 2**30, (2**31,), 2**31, attention=FlashShape(0), launch=False)
    est = estimate_elementwise(h100, softmax, Placement((on_chip,), on_chip))
    assert est.cycles == 0.0
    assert est.read_bytes[on_chip] > 0  # the traffic is still counted (and priced in energy)


@pytest.mark.parametrize("name", FIT_ON)
def test_big_gemms_of_the_calibration_grid_follow_the_epilogue_model(name: str):
    """cuBLAS reaches 0.58 of peak at K = 512 and 0.70 at K = 7168: with one constant efficiency the model
    was up to 14-15% off on these calibration GEMMs; the mainloop rate with a write-out of `epilogue_slices`
    per output tile holds within 7.2% (H100) and 7.1% (H200)."""
    rows = [r for r in csv.DictReader(open(RESULTS / name)) if r["grid"] == "calibration" and r["kind"] == "gemm"]
    big = [r for r in rows if int(r["m"]) >= 4096]
    machine = Machine.of(load_hardware(name.split("_")[0]))
    assert machine.epilogue_slices > 1
    assert all(dram_gemm(machine, int(r["m"]), int(r["n"]), int(r["k"]))[1].bound == "compute" for r in big)
    errors = [row_error(machine, r) for r in big]
    assert len(errors) == 20 and max(map(abs, errors)) < 0.08


@pytest.mark.parametrize("name", FIT_ON)
def test_weight_streams_pay_the_split_k_kernel_where_the_library_splits_k(name: str):
    """The calibration grid's 27 skinny GEMMs (M <= 16, plain and per-head batched): a latency plus the weights
    at one rate was 13-26% fast on the K = 7168 projections onto 576 and 1536 columns, which cuBLAS splits along
    K and sums in a second kernel, and 9-17% slow on the small unsplit ones. With that kernel charged where
    `library_splits_k` says the library splits, every one holds within 9%."""
    rows = [r for r in csv.DictReader(open(RESULTS / name)) if r["grid"] == "calibration" and r["status"] == "ok"]
    skinny = [r for r in rows if r["kind"] in ("gemm", "bmm") and int(r["m"]) <= 16]
    machine = Machine.of(load_hardware(name.split("_")[0]))
    assert machine.split_k_latency > 0
    errors = [row_error(machine, r) for r in skinny]
    gemms = [(int(r["heads"]) if r["kind"] == "bmm" else 1, int(r["m"]), int(r["n"]), int(r["k"])) for r in skinny]
    shapes = (Gemm.of("gmk,gkn->gmn", {"g": g, "m": m, "n": n, "k": k}) for g, m, n, k in gemms)
    split = sum(bool(library_splits_k(machine.units, gemm)) for gemm in shapes)
    assert len(errors) == 27 and split == 9
    assert max(map(abs, errors)) < 0.09 and statistics.median(map(abs, errors)) < 0.03


@pytest.mark.parametrize("name", FIT_ON)
def test_stores_run_at_the_measured_write_rate(name: str):
    """The per-head batched GEMMs with M >= 64 of the calibration grid write outputs up to 3x their reads: with
    writes at the weight stream's read rate the model was up to 21% (H200) and 14% (H100) fast on them; at the
    measured write rate (`memory_write`, fit by fit.py on these rows) every one holds within 11%."""
    rows = [r for r in csv.DictReader(open(RESULTS / name)) if r["grid"] == "calibration" and r["kind"] == "bmm"]
    machine = Machine.of(load_hardware(name.split("_")[0]))
    assert machine.memory_write_efficiency < 0.9 * machine.memory_efficiency
    errors = [row_error(machine, r) for r in rows if int(r["m"]) >= 64]
    assert len(errors) == 10 and max(map(abs, errors)) < 0.11


def test_a_fill_writes_at_the_rate_fit_on_gemm_stores():
    """The write rate `memory_write` was fit on GEMMs; a 1 GiB fill, which does nothing but write, runs within 1%
    of it, and a 1 GiB sum, which only reads, within 3% of the read rate (kernel_grid.py part `streams`). A 256 MiB
    copy moves more than either alone (its reads and writes interleave): copy-like ops keep one rate."""
    streams = (r for r in csv.DictReader(open(RESULTS / "h200_streams_2026-12-01.csv")) if r["kind"] == "stream")
    rows = {(r["model"], int(r["bytes"])): float(r["bytes"]) / float(r["seconds"]) for r in streams}
    machine = Machine.of(load_hardware("h200:triton"))
    peak = machine.dram.read_bandwidth * machine.frequency
    assert abs(rows[("write", 2**30)] / (machine.memory_write_efficiency * peak) - 1) < 0.01
    assert abs(rows[("read", 2**30)] / (machine.memory_efficiency * peak) - 1) < 0.03
    assert rows[("copy", 2**29)] > max(rows[("write", 2**28)], rows[("read", 2**28)])
    copy = OpSpec("copy", "copy", "bf16", 2, 0, (2**28,), 2**28)
    dram = machine.dram.name
    seconds = estimate_elementwise(machine, copy, Placement((dram,), dram)).cycles / machine.frequency
    assert abs(seconds * rows[("copy", 2**29)] / 2**29 - 1) < 0.03


def test_small_ops_cost_in_a_step_what_its_profile_measured():
    """A norm, a RoPE or a cache store adds its kernel and the launch gap after it to a step: 2.57 us (median)
    in the profiled calibration steps (`fit.py --profiles`), where a tiny op replayed alone back to back took
    1.30 us, the figure the model charged before: then every step's small ops came out 40-65% short."""
    errors = []
    steps = [step for step in read_profile(RESULTS / "h200_profile_gaps_2026-11-30.csv") if step.gap is not None]
    # (a long step's profiled replays run hotter than its timed ones: no gap to read)
    point = {id(s): Point(s.kernels[0]["model"], "decode", int(s.kernels[0]["batch"]), int(s.kernels[0]["context"]), 1)
             for s in steps}  # fmt: skip
    estimates = estimate_points(point.values(), "h200:triton")
    for step in steps:
        kernels = step.kernels
        assert step.gap is not None
        measured = sum(float(k["seconds"]) + step.gap for k in kernels if k["kernel"].startswith(SMALL_KERNELS))
        ops = estimates[point[id(step)]][kernels[0]["scheme"]].ops
        estimated = sum(op.seconds for op in ops if op.kind != "einsum" and op.kernel != "flash")
        errors.append(estimated / measured - 1)
    assert len(errors) == 13
    # MHA's RoPE over 128 heads x 128 dims takes longer than MLA's (2.6-3.0 us): its steps' small ops are 8-31% short.
    assert statistics.median(map(abs, errors)) < 0.08 and max(map(abs, errors)) < 0.35


def test_gemm_rates_are_the_sustained_ones_under_the_power_limit():
    """The board holds its power limit by lowering the SM clock (benchmarks/gpu/kernel_grid.py part `clocks`):
    1498 MHz under expand's K = 512 up-projection back to back, 1428 MHz under a K = 7168 GEMM, 1980 at most.
    The H200 preset's GEMM rates are those sustained rates (within 6.2%), measured at `gemm_clock`; a GEMM
    between memory-bound kernels runs cooler (1624 MHz) and faster, which the step clock gives it."""
    rows = {r["model"]: r for r in csv.DictReader(open(RESULTS / "h200_clocks_2026-11-30.csv")) if r["kind"] == "clock"}
    machine = Machine.of(load_hardware("h200:triton"))

    def model_seconds(r: dict[str, str]) -> float:
        return float(dram_gemm(machine, int(r["m"]), int(r["n"]), int(r["k"]))[1].cycles / machine.frequency)

    for name in ("gemm back-to-back", "deep gemm back-to-back"):
        assert int(rows[name]["sm_mhz"]) < 0.8 * 1980
        assert abs(model_seconds(rows[name]) / float(rows[name]["seconds"]) - 1) < 0.07
    between = rows["gemm between copies"]
    gemm_seconds = float(between["seconds"]) - float(rows["copy"]["seconds"])
    assert int(between["sm_mhz"]) > int(rows["gemm back-to-back"]["sm_mhz"])
    assert model_seconds(between) / gemm_seconds - 1 > 0.1


def test_the_step_clock_speeds_a_gemm_between_copies_as_measured():
    """kernel_grid.py part `duty-mix`: a K = 7168 GEMM holds 1486 MHz and 677 TFLOP/s back to back, but
    between copies taking half the time the board holds 1732 MHz and the GEMM runs at 790 TFLOP/s. The step
    clock (costmodel/clock.py) gives that mix its clock within 3% and the GEMM its time within 5%; alone,
    the GEMM keeps the rate it was measured at."""
    rows = {
        r["model"]: r for r in csv.DictReader(open(RESULTS / "h200_duty_mix_2026-11-30.csv")) if r["kind"] == "clock"
    }
    machine = Machine.of(load_hardware("h200:triton"))
    op, estimate = dram_gemm(machine, 8192, 16384, 7168)
    gemm = clocked_op(machine, op, estimate)
    copy = ClockedOp(None, 0.0, 0.0, 0.0, float(rows["mix copy alone"]["seconds"]) * machine.frequency)
    alone_clock, (alone,) = step_clock(machine, [gemm])
    assert alone_clock[0] == pytest.approx(machine.gemm_clock, rel=0.01)
    mix = rows["mix gemm k7168 0.50 with copy"]
    copies = int(mix["note"].split(" then ")[1].split(" x ")[0])
    clock, (in_mix, *_) = step_clock(machine, [gemm] + [copy] * copies)
    assert clock[0] == pytest.approx(float(mix["sm_mhz"]) * 1e6, rel=0.03)
    assert clock[0] > 1.1 * alone_clock[0]
    measured = float(mix["flops"]) / (790.0e12)
    assert float(in_mix[0]) / machine.frequency == pytest.approx(measured, rel=0.05)
    assert float(alone[0]) / machine.frequency == pytest.approx(float(op.flops) / 677.4e12, rel=0.07)


def test_each_kernel_holds_its_own_clock_back_to_back():
    """The model's rates were each measured back to back (benchmarks/gpu/kernel_grid.py part `duty`): there
    the power limit holds cuBLAS GEMMs at 1430-1630 MHz but the fused attention kernels near 1930 and copies
    at 1980, the most. A step mixes them under one clock between these, so no one rate is right in every
    step."""
    rows = {r["model"]: r for r in csv.DictReader(open(RESULTS / "h200_duty_2026-11-30.csv")) if r["kind"] == "clock"}
    mhz = {name: int(row["sm_mhz"]) for name, row in rows.items()}
    assert mhz["duty gemm k512"] < 1650 and mhz["duty gemm k7168"] < 1500
    for name in ("duty mha prefill b2 x 4096", "duty mla-latent prefill b2 x 4096", "duty expand decode b16 x 8k"):
        assert mhz[name] > 1900
    assert mhz["duty copy 256 MiB"] == 1980
    # Alternating with copies, the GEMM's share of the time sets the board's mean clock.
    by_share = [[v for k, v in mhz.items() if k.startswith(f"duty share {s}")] for s in ("0.25", "0.50", "0.75")]
    shares = [statistics.mean(clocks) for clocks in by_share]
    assert shares[0] > shares[1] > shares[2] > mhz["duty gemm k512"]


def test_in_step_profiles_agree_with_the_step_clock():
    """Kernels timed inside their steps' own CUDA-graph replays (profile_step.py --graph), by class against the
    model's ops (benchmarks/step_breakdown.py). Every step's clock is within 16% of the one measured (within 3%
    for the median step), and decode steps that leave the clock at its top are given it. The per-head decode
    steps are judged on the kernel the preset is fit on, 16 query rows a program
    (h200_profile_head16_2026-12-01.csv; the 2026-11-30 profile ran 64): expand's up-projection GEMMs (at the
    step clock) and its attention kernel within 13% and 10% in every step, cache-kv's and MHA's attention
    within 11%."""
    old = breakdown(str(RESULTS / "h200_profile_graph_2026-11-30.csv"))
    head16 = breakdown(str(RESULTS / "h200_profile_head16_2026-12-01.csv"))
    assert len(old) == 39 and len(head16) == 16
    clock_errors = []
    for step in old + head16:
        assert step.model_mhz is not None
        clock_errors.append(abs(step.model_mhz / int(step.sm_mhz) - 1))
        # (expand decode at batch 2 x 2k held the top clock with the 64-row kernel; the model, which charges the
        # 16-row kernel a memory-bound kernel's draw, gives it 1663 MHz)
        if "decode" in step.step and int(step.sm_mhz) > 1840 and not (step in old and "expand" in step.step):
            assert step.model_mhz == pytest.approx(1980, abs=1), step.step
    assert max(clock_errors) < 0.165 and statistics.median(clock_errors) < 0.03
    for step in head16:
        err = {c: step.estimate[c] / step.measured[c] - 1 for c in ("gemm", "attention")}
        if "expand" in step.step:
            assert abs(err["gemm"]) < 0.13 and abs(err["attention"]) < 0.1, step.step
        else:
            assert abs(err["attention"]) < 0.11, step.step
    for step in old:  # the latent kernel's steps (recompute, reuse), unchanged by the per-head kernel's blocks
        if "decode" in step.step and ("recompute" in step.step or "reuse" in step.step):
            keys = int(step.step.split(" ctx ")[1].split()[0])
            err = step.estimate["attention"] / step.measured["attention"] - 1
            assert abs(err) < (0.05 if keys >= 4096 else 0.15), step.step


def test_flash_programs_over_few_keys_run_below_the_kernels_rate():
    """A flash program's start and end (query rows in, output out) overlap nothing: on H200 they are worth
    `attention_program_keys` keys of its mainloop (fit on benchmarks/results/h200_decode_kernels_2026-11-30.csv), so
    batch-1 latent decode, split into programs of 512 keys, runs at 512 / (512 + k0) of the long-program rate."""
    h200 = Machine.of(load_hardware("h200:triton"))
    assert 100 < h200.attention_program_keys < 400 and h200.attention_split_cycles > 0
    op = latent_scores(batch=1, keys=32768)
    keys = 512  # 2 row blocks, 64 splits (flash_programs): 128 programs on 132 SMs
    expected = h200.attention_decode_compute * keys / (keys + h200.attention_program_keys)
    assert compute_efficiency(h200, op) == pytest.approx(expected)
    # Elementwise over arrays of shapes, as sweeps call it.
    assert list(flash_programs(132, np.array([2.0, 256.0]), np.array([32768, 4096]))) == [128, 256]


def latent_scores(batch: int, keys: int, causal: bool = False) -> OpSpec:
    """The latent scores of DeepSeek-V3's absorbed decode (128 heads x one token against the shared latent)."""
    gemm = Gemm.of("gmk,gkn->gmn", {"g": batch, "m": 128, "n": keys, "k": 576})
    return OpSpec("scores", "einsum", "bf16", 2, 2 * gemm.macs, (2 * batch * 128 * 576, 2 * batch * keys * 576),
                  2 * batch * 128 * keys, gemm, attention=FlashShape(keys), density=0.5 if causal else 1.0)  # fmt: skip


def test_each_compiled_flash_kernel_runs_at_its_own_measured_rate():
    """The kernel grids time three compiled kernels apart (benchmarks/gpu/fit.py --kernels): causal prefill
    programs, split decode programs and the decode kernel without splits, whose mainloop measured 2% slower
    than the split one's on H200 (batch 72-100 unsplit against batch 3-64 split, key counts not a multiple of 16
    as the steps have them)."""
    h200 = Machine.of(load_hardware("h200:triton"))
    assert h200.attention_decode_unsplit_compute < h200.attention_decode_compute < h200.attention_compute_efficiency
    start_end = lambda keys: keys / (keys + h200.attention_program_keys)  # noqa: E731
    # Batch 128: 256 row blocks fill the 132 SMs, so the keys are not split.
    assert compute_efficiency(h200, latent_scores(128, 4096)) == pytest.approx(
        h200.attention_decode_unsplit_compute * start_end(4096)
    )
    # Batch 32: 64 row blocks, each split 5 ways (four of 3328 keys, one of 3072): the 320 programs take the
    # time of two long and one short program, where whole waves of the average would take three of 3276.8.
    k = h200.attention_program_keys
    assert compute_efficiency(h200, latent_scores(32, 16384)) == pytest.approx(
        h200.attention_decode_compute * 3 * 16384 / 5 / (2 * (3328 + k) + 3072 + k)
    )
    # A causal mask makes it a prefill program (half the keys visible on average).
    assert compute_efficiency(h200, latent_scores(128, 4096, causal=True)) == pytest.approx(
        h200.attention_compute_efficiency * start_end(2048)
    )


@pytest.mark.parametrize(
    ("file", "scheme", "per_head"),
    [
        ("deepseek_v3.attn", "cache-kv", True),
        ("deepseek_v3.attn", "expand", True),
        ("deepseek_v3.attn", "recompute", False),
        ("deepseek_v3.attn", "reuse", False),
        ("mha_baseline.attn", "recompute", False),
    ],
)
def test_the_per_head_two_part_kernel_runs_causal_programs_at_its_own_measured_rate(
    file: str, scheme: str, per_head: bool
):
    """Fit apart on the kernel grid's causal rows (benchmarks/gpu/fit.py --kernels), the latent and MHA kernels
    run at 0.305 and 0.306 of peak and DeepSeek's per-head kernel, whose keys come in two parts (cache-kv's and
    expand's 128 + 64), at 0.335: with one rate for all three, H100's cache-kv prefill steps were 5.1% slow
    (median), 2.1% with the kernel's own rate."""
    path = ROOT / "examples" / file
    module = compile_to(parse_dsl(path.read_text(), str(path)), "absorbed", scheme=scheme)
    (softmax,) = [op for op in module.walk() if isinstance(op, la.SoftmaxOp) and op.causal is not None]
    scores = softmax.input.owner
    first = scores.operands[0].owner if isinstance(scores, la.AddOp) else scores
    assert isinstance(first, la.EinsumOp)
    spec = op_spec(first)
    assert spec.attention is not None and spec.density < 1 and spec.attention.two_part_heads == per_head
    h200 = Machine.of(load_hardware("h200:triton"))
    assert h200.attention_two_part_compute > h200.attention_compute_efficiency
    rate = h200.attention_two_part_compute if per_head else h200.attention_compute_efficiency
    one_kernel = FlashShape.of(spec.attention.keys, spec.attention.two_part_keys, two_part_heads=False)
    one_rate = compute_efficiency(h200, replace(spec, attention=one_kernel))
    assert compute_efficiency(h200, spec) == pytest.approx(one_rate * rate / h200.attention_compute_efficiency)


@pytest.mark.parametrize(
    ("name", "kernels"),
    [
        ("h200_kernels_2026-11-30.csv", 60),
        ("h200_decode_kernels_2026-11-30.csv", 60),
        ("h200_head_many_2026-11-30.csv", 30),
        ("h200_head_few_2026-11-30.csv", 18),
        ("h200_expand_short_2026-11-30.csv", 16),
    ],
)
def test_the_kernel_grid_was_fit_on_checked_kernels(name: str, kernels: int):
    rows = list(csv.DictReader(open(RESULTS / name)))
    kinds = ("latent-split", "latent-default", "prefill-attention", "head-decode")
    attention = [r for r in rows if r["kind"] in kinds]
    assert len(attention) >= kernels and all(r["status"] == "ok" and float(r["rel_error"]) < 1e-2 for r in attention)
    assert {r["grid"] for r in rows} == {"calibration"}


def test_a_kernel_that_reads_each_heads_keys_in_two_parts_streams_at_its_own_measured_rate(
    capsys: pytest.CaptureFixture[str],
):
    """cache-kv's per-head keys come in two parts (128-wide and the 64-wide RoPE part): on H200 that kernel holds
    3 programs per SM where MHA's one-part kernel holds 4, and reads HBM at 0.976 of the datasheet against MHA's
    0.934, each with enough programs in flight (`in_flight_share`; kernel grid,
    benchmarks/results/h200_head16_2026-12-01.csv). expand's RoPE key is shared by all heads: its kernel, with
    16 query rows a program, streams as MHA's (0.953 fit alone) and holds the two-part kernel's programs."""
    h200 = Machine.of(load_hardware("h200:triton"))
    assert h200.attention_two_part_programs_per_unit < h200.attention_programs_per_unit
    hbm = h200.dram.read_bandwidth * h200.frequency
    for file, scheme, rate, resident in [
        ("examples/deepseek_v3.attn", "cache-kv", h200.attention_two_part_memory, 3),
        ("examples/deepseek_v3.attn", "expand", h200.attention_memory_efficiency, 3),
        ("examples/mha_baseline.attn", None, h200.attention_memory_efficiency, 4),
    ]:
        args = [file, "--workload", "decode", "--hw", "h200:triton", "--batch", "16"] + (
            ["--scheme", scheme] if scheme else []
        )
        result = _compile_json(*args, capsys=capsys)["results"][0]
        ops = {op["name"]: op for op in result["ops"]}
        name = "scores" if scheme is None else "scores_nope"
        assert ops[name]["bound"] == "hbm"
        # 16 x 128 programs fill the SMs unsplit; the last of their rounds has fewer in flight than the full rate
        # needs (2048 programs in rounds of 396: 68 left, at 68 / 310 of the rate).
        rate *= in_flight_share(16 * 128, 132 * resident, h200.attention_stream_programs)
        assert ops[name]["seconds"] == pytest.approx(ops[name]["bytes"]["hbm"] / (hbm * rate), rel=1e-6)
    # No preset measured it elsewhere: the one-part rate stands in.
    h100 = Machine.of(load_hardware("h100:triton"))
    assert h100.attention_two_part_memory == h100.attention_memory_efficiency


def decode_kernel_times(kernel: str, names: tuple[str, ...]) -> tuple[dict, dict]:
    """The kernel grid's `kind = head-decode` rows of one kernel (one new token over context + 1 keys, key
    counts not a multiple of 16 as the steps' are), as measured (median of repeats) and as the model's flash
    ops of the same H200 decode step take it, both keyed by (batch, context)."""
    layer, scheme = {"mha": ("mha_baseline", None), "cache-kv": ("deepseek_v3", "cache-kv")}[kernel]
    rows = [r for name in names for r in csv.DictReader(open(RESULTS / name))
            if r["kind"] == "head-decode" and r["model"] == kernel and (int(r["context"]) + 1) % 16]  # fmt: skip
    seconds: dict[tuple[int, int], list[float]] = {}
    for r in rows:
        seconds.setdefault((int(r["batch"]), int(r["context"])), []).append(float(r["seconds"]))
    estimated = {}
    estimates = estimate_points(
        [Point(layer, "decode", batch, context, 1) for batch, context in seconds], "h200:triton"
    )
    for batch, context in seconds:
        results = estimates[Point(layer, "decode", batch, context, 1)]
        (result,) = results.values() if scheme is None else (results[scheme],)
        estimated[batch, context] = sum(op.seconds for op in result.ops if op.kernel == "flash")
    return {p: statistics.median(t) for p, t in seconds.items()}, estimated


def test_the_per_head_two_part_decode_kernel_is_estimated_as_the_kernel_grid_timed_it():
    """The kernel grid timed cache-kv's per-head decode kernel alone (16 query rows a program) over batch 1-144 x
    769-24577 keys (benchmarks/results/h200_head16_2026-12-01.csv): it reads 4.5-4.6 TB/s with many programs and
    less where the last round of programs has too few in flight (batch 2 and 4: 512 programs are a round of 396
    and 116 more). With 3 programs per SM and 310 needed in flight (`in_flight_share`) the model's kernel (its
    flash ops, launch included) follows the grid; one rate had it 27% off."""
    measured, estimated = decode_kernel_times("cache-kv", ("h200_head16_2026-12-01.csv",))
    errors = {p: estimated[p] / measured[p] - 1 for p in measured}
    assert len(errors) == 30
    assert statistics.median(abs(e) for e in errors.values()) < 0.025 and max(abs(e) for e in errors.values()) < 0.12
    assert all(abs(errors[p]) < 0.035 for p in errors if p[0] >= 16)


@pytest.mark.parametrize("name", ["h100:triton", "h200:triton"])
def test_the_attention_mac_energy_is_what_the_board_drew_after_everything_charged_apart(name: str):
    """The fused kernel's pJ per MAC (over a GEMM's) is the board energy of its compute-heavy calibration rows
    less static power, HBM bytes and the L2 bytes the model charges apart for the same kernel: left in, the L2
    energy was counted twice (4.74 on H200 where 4.22 was measured with the L2 of the time)."""
    machine = Machine.of(load_hardware(name))
    rows = list(csv.DictReader(open(RESULTS / f"{name.removesuffix(':triton')}_2026-11-24.csv")))
    heavy = [r for r in rows if r["grid"] == "calibration" and r["kind"] == "attention" and r["phase"] == "prefill"]
    l2, hbm = machine.levels[-2], machine.dram
    ratios = []
    which = {"mla-latent": ("deepseek_v3", "recompute"), "mla-expanded": ("deepseek_v3", "expand"),
             "mha": ("mha_baseline", "mha")}  # fmt: skip
    points = [Point(which[r["model"]][0], "prefill", int(r["batch"]), 0, int(r["new_tokens"])) for r in heavy]
    estimates = estimate_points(points, name)
    for r, point in zip(heavy, points, strict=True):
        ops = estimates[point][which[r["model"]][1]].ops
        l2_bytes = sum(op.bytes.get(l2.name, 0.0) for op in ops if op.kernel == "flash")
        spent = float(r["joules"]) * 1e12 - machine.static_power * float(r["seconds"]) * 1e12
        spent -= hbm.read_energy * float(r["bytes"]) + l2.read_energy * l2_bytes
        ratios.append(spent / (float(r["flops"]) / 2 * machine.mac_energy["bf16"]))
    assert len(heavy) == 6
    assert machine.attention_mac_energy_ratio == pytest.approx(float(np.median(ratios)), abs=0.01)


def test_the_one_part_decode_kernel_streams_at_its_rate_only_with_enough_programs_in_flight():
    """MHA's decode kernel (16 query rows a program) holds 4 programs per SM at once and reads HBM at its full
    rate only with about 310 in flight (`in_flight_share`; fit.py --kernels): timed alone (kernel_grid.py parts
    head-*, benchmarks/results/h200_head16_2026-12-01.csv), 256 programs (batch 2) read 3.6-3.8 TB/s where 384
    (batch 3) read 4.4-4.5. Batch 1 over 6k keys (3 splits of 2k, and their combine) is 20% slower than the model."""
    measured, estimated = decode_kernel_times("mha", ("h200_head16_2026-12-01.csv",))
    errors = {p: estimated[p] / measured[p] - 1 for p in measured}
    assert len(errors) == 30
    assert statistics.median(abs(e) for e in errors.values()) < 0.035 and max(abs(e) for e in errors.values()) < 0.2
    for batch in (2, 3):  # 256 programs and 384 over 6k keys or more each: within 5% either way
        for context in (6144, 12288, 24576):
            assert abs(errors[batch, context]) < 0.05, (batch, context, errors[batch, context])
    h200 = Machine.of(load_hardware("h200:triton"))
    assert in_flight_share(256, 132 * h200.attention_programs_per_unit, h200.attention_stream_programs) < 0.85
    assert in_flight_share(384, 132 * h200.attention_programs_per_unit, h200.attention_stream_programs) == 1


def test_validate_compares_several_runs_and_plots_a_panel_for_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """`mlacc validate` takes several runs at once (two boards, two devices): a table and a plot panel per run,
    each named by its file, and the limits apply to every run."""
    import matplotlib.image

    runs = [str(RESULTS / "h100_2026-11-24.csv"), str(RESULTS / "h200_cublaslt_2026-12-01.csv")]
    plot = tmp_path / "v.png"
    assert cli.main(["validate", *runs, "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "== NVIDIA H100 80GB HBM3 (h100_2026-11-24.csv) vs mlacc preset 'h100:triton'" in out
    assert "== NVIDIA H200 (h200_cublaslt_2026-12-01.csv) vs mlacc preset 'h200:triton'" in out
    assert matplotlib.image.imread(str(plot)).shape[1] == 2 * 600  # two 6-inch panels at 100 dpi
    assert cli.main(["validate", *runs, "--max-error", "0.1"]) == 1
    assert "limit exceeded" in capsys.readouterr().out


def gemm_kernel_rows(library: str) -> list[dict[str, str]]:
    rows = csv.DictReader(open(RESULTS / "h200_gemm_kernels_2026-12-01.csv"))
    return [r for r in rows if r["kind"] == "gemm-kernels" and r["model"] == library]


def test_the_model_streams_deep_k_weights_as_cublaslts_pick_and_cublas_heuristic_does_not():
    """kernel_grid.py part `gemm-kernels`: over K = 32768-65536 onto 7168 columns at M = 32-128 (reuse's output
    product at decode), cuBLASLt's pick (an unsplit kernel) runs within 4.5% of the model at every M; cuBLAS's
    own heuristic gives M = 64 and 128, and no other M, a split-K kernel with 448-column tiles that takes 27-81%
    longer than the model gives: the one GEMM behind the cuBLAS runs' 25% `reuse` point at batch 128 x 1k."""
    machine = Machine.of(load_hardware("h200:triton"))

    def deep(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        return [r for r in rows if int(r["k"]) >= 32768 and int(r["m"]) <= 128 and r["n"] == "7168"]

    lt, own = deep(gemm_kernel_rows("cublaslt")), deep(gemm_kernel_rows("cublas"))
    assert len(lt) == len(own) == 14
    assert max(abs(row_error(machine, r)) for r in lt) < 0.045
    assert all("splitK" not in r["note"] for r in lt)
    slow = {int(r["m"]) for r in own if "448x64" in r["note"]}
    assert slow == {64, 128}
    assert all(-0.45 < row_error(machine, r) < -0.2 for r in own if int(r["m"]) in slow)
    assert all(row_error(machine, r) > -0.15 for r in own if int(r["m"]) not in slow)


def test_a_second_boards_calibration_gives_the_same_energy_constants():
    """The calibration kernels measured on a second H200 (h200_calibration2_2026-12-01.csv) fit, by the same
    fit_energy that benchmarks/gpu/fit.py prints, to the first board's energy constants within 9%: the preset's
    joules are the chip's, not one board's (boards still differ by up to 12% on short decode steps, README)."""
    machine = Machine.of(load_hardware("h200:triton"))

    def fitted(name: str) -> dict[str, float]:
        rows = [r for r in csv.DictReader(open(RESULTS / name)) if r["grid"] == "calibration" and r["status"] == "ok"]
        return fit_energy(rows, machine, "h200:triton")

    first, second = fitted("h200_2026-11-24.csv"), fitted("h200_calibration2_2026-12-01.csv")
    assert first["hbm_pj"] * 1e12 == pytest.approx(78.42, abs=0.01)
    assert first["static_watts"] == pytest.approx(float(machine.static_power), abs=0.1)
    for key in ("static_watts", "l2_pj", "hbm_pj", "mac_pj", "attention_ratio"):
        assert abs(second[key] / first[key] - 1) < 0.09, key


def test_a_step_with_other_heads_is_the_layer_with_that_many_heads():
    """A `heads` column names a tensor-parallel shard: the layer file with that many heads, nothing else changed;
    a file without a heads field is one line."""
    text = (ROOT / "examples" / "deepseek_v3.attn").read_text()
    shard = with_heads(text, 16, Path("deepseek_v3.attn"))
    assert shard.replace("heads       = 16", "heads       = 128") == text
    with pytest.raises(InputError, match=r"^measurement names 16 heads, but x.attn has no heads field$"):
        with_heads("layer x : mha { d_model = 8 }", 16, Path("x.attn"))


def test_validate_judges_each_run_on_the_kernels_it_ran():
    """Steps whose notes name production kernels are judged on the preset's default stack, the others (measure.py's
    Triton kernels) on its `triton` profile."""
    assert preset_for("NVIDIA H100 80GB HBM3", [{"note": "attention flashmla 9241ae3; gemm cublaslt"}]) == "h100"
    assert preset_for("NVIDIA H100 80GB HBM3", [{"note": "triton flash; gemm cublas"}]) == "h100:triton"
    assert preset_for("NVIDIA A100-SXM4-80GB", [{"note": ""}]) == "a100"  # a preset without profiles


@pytest.mark.parametrize("workload", ["decode", "prefill"])
def test_no_part_of_a_whole_step_draws_past_the_boards_power_limit(workload: str, capsys: pytest.CaptureFixture[str]):
    # The H100 SXM's 700 W board limit (datasheet; every production.py idle row names it): the per-library energy
    # scales are fit on decode and short-prefill steps, and a scale read off a class that barely registers there
    # (the small kernels', 3.2) once made a prefill's norms draw 1.9 kW a GPU.
    report = _compile_json(
        "examples/deepseek_v3_step.attn", "--hw", "h100x8", "--tp", "8", "--workload", workload, "-q", capsys=capsys
    )
    (step,) = [r["step"] for r in report["results"] if r.get("step")]
    watts = {part["layer"]: part["energy_pj_per_gpu"] * 1e-12 / part["seconds"] for part in step["parts"]}
    assert {layer: w for layer, w in watts.items() if not 100 < w <= 700} == {}
