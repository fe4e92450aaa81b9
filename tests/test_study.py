"""examples/study/study.py on a tiny grid: the analyses the report words are what the rows say, and the
report and its figures are written.

The study's findings are computed, never typed in, so these checks pin the computations rather than the
numbers: the ridge is the chip's peak over its DRAM bandwidth, the winner at a point is the row auto picks and
the fastest that fits, the bandwidth decade spans ten times the bandwidth and its latencies fall as it rises.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT


def _load_study() -> ModuleType:
    path = ROOT / "examples" / "study" / "study.py"
    spec = importlib.util.spec_from_file_location("mlacc_study", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


study = _load_study()

TINY = study.Grid(
    presets=("h100", "h20"),
    batches=(1, 64),
    contexts=(1024, 32768),
    prefill_batches=(1, 4),
    prompts=(512, 2048),
    bandwidth_chips=("h100",),
    bandwidth_steps=2,
    bandwidth_workloads=((1, 4096), (64, 32768)),
)


@pytest.fixture(scope="module")
def runs():
    return study.run(TINY)


def test_every_point_has_every_scheme_and_the_mha_twin(runs):
    series = {*study.SCHEMES, study.MHA}
    by_point = study.points(runs.decode)
    assert len(by_point) == len(TINY.presets) * len(TINY.batches) * len(TINY.contexts)
    assert all(set(s) == series for s in by_point.values())
    assert len(study.points(runs.prefill)) == len(TINY.presets) * len(TINY.prefill_batches) * len(TINY.prompts)


def test_ridge_is_peak_over_dram_bandwidth_from_the_preset(runs):
    from costmodel import Machine
    from mlacc.hardware import read_hardware

    for preset in TINY.presets:
        machine = Machine.of(read_hardware(preset).target())
        peak = machine.units * machine.peak_macs("bf16") * 2 * machine.frequency
        dram = machine.dram.read_bandwidth * machine.dram.count * machine.frequency
        roof = runs.roofs[preset]
        assert roof.ridge_flop_per_byte == pytest.approx(peak / dram)
        assert roof.ridge_flop_per_byte == pytest.approx(roof.peak_flops_per_second / roof.dram_bytes_per_second)
    assert runs.roofs["h100"].ridge_flop_per_byte == pytest.approx(295, abs=1)  # README's table


def test_winner_is_auto_choice_and_the_fastest_scheme_that_fits(runs):
    for rows in (runs.decode, runs.prefill):
        picked = study.winners(rows)
        for key, series in study.points(rows).items():
            chosen = [r["scheme"] for name, r in series.items() if name != study.MHA and r["auto_choice"]]
            assert chosen == [picked[key]]
            mla = [r for name, r in series.items() if name != study.MHA]
            fitting = [r for r in mla if r["fits"]] or mla
            assert series[picked[key]]["seconds"] == min(r["seconds"] for r in fitting)


def test_first_batch_past_ridge_is_the_smallest_that_reaches_it(runs):
    first = study.first_batch_past_ridge(runs.decode, runs.roofs, "recompute")
    by_point = study.points(runs.decode)
    for (hardware, context), batch in first.items():
        ridge = runs.roofs[hardware].ridge_flop_per_byte
        reached = [b for b in TINY.batches if study.intensity(by_point[(hardware, b, context)]["recompute"]) >= ridge]
        assert batch == (min(reached) if reached else None)
    # MLA's latent attention is compute-heavy: on the compute-poor H20 it passes the ridge at 64 x 32k
    assert first[("h20", 32768)] is not None


def test_bandwidth_decade_latencies_fall_as_bandwidth_rises(runs):
    lines = study.steadiness(runs.bandwidth, runs.roofs)
    assert len(lines) == len(TINY.bandwidth_chips) * len(TINY.bandwidth_workloads)
    for line in lines:
        assert len(line.bandwidths) == TINY.bandwidth_steps + 1
        assert line.bandwidths[-1] / line.bandwidths[0] == pytest.approx(10)
        assert all(slower > faster for slower, faster in itertools.pairwise(line.mha))
        assert all(slower >= faster for slower, faster in itertools.pairwise(line.mla))
        # a step that streams its bytes slows about tenfold at a tenth of the bandwidth; never more
        assert 5 < study.Steadiness.spread(line.mha) <= 10.01
        assert 1 <= study.Steadiness.spread(line.mla) <= 10.01


def test_report_and_figures_are_written(tmp_path: Path):
    study.write_study(tmp_path, TINY)
    text = (tmp_path / "REPORT.md").read_text()
    for file in study.FIGURES.values():
        assert (tmp_path / "figures" / file).stat().st_size > 10_000
        assert f"figures/{file}" in text
    assert "nan" not in text.lower().split() and "python examples/study/study.py" in text
    assert "calibrated (measured on the chip)" in text and "literature (datasheet rates)" in text
