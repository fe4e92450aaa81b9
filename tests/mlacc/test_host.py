"""The host CPU as a target: the `host` preset loads with its constants in range, the CPU benchmarks' CSV reads
back as `mlacc validate` reads it, the shrunk layers they time are the examples' own, and a module times on IREE."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
from xdsl.dialects.builtin import f32

from mlacc.frontend import parse_source
from mlacc.hardware import load_hardware, preset_path
from mlacc.host_timing import ResultFile, Timing, layer_text
from mlacc.validate import Point, read_measurements, validate
from mlacc.verify import layer_cases
from tests.conftest import ROOT

LAYERS = ROOT / "benchmarks" / "cpu" / "layers"


def test_the_host_preset_loads_with_its_constants_in_range():
    assert load_hardware("host").target_name.data == "host"  # the loader's checks pass
    data = tomllib.loads(preset_path("host").read_text())
    assert not data.get("calibrated")  # its energies are literature values
    assert 1e9 <= data["frequency_hz"] <= 6e9
    (core,) = data["compute"]
    assert core["count"] == 1 and core["macs_per_cycle"] == {"fp32": 16}  # one core, 2 FMA pipes x 8 lanes
    levels = {m["name"]: m for m in data["memory"]}
    assert list(levels) == ["l1", "l2", "l3", "dram"]
    capacities = [m["capacity_bytes"] for m in levels.values()]
    assert capacities == sorted(capacities)
    for name in ("l2", "l3", "dram"):  # measured: between 1 and 200 GB/s
        assert 1 <= levels[name]["read_bandwidth_bytes_per_cycle"] * data["frequency_hz"] / 1e9 <= 200, name
    efficiency = data["efficiency"]
    for key in ("compute", "memory"):
        assert 0 < efficiency[key] <= 1, key
    assert 0 < efficiency["op_latency_cycles"] < 1e5  # under 40 us a dispatch


def test_the_host_preset_names_the_measurement_it_was_fit_on():
    text = preset_path("host").read_text()
    assert "benchmarks/results/host_calibration_2026-12-07.csv" in text.replace("\n# ", "")
    assert (ROOT / "benchmarks" / "results" / "host_calibration_2026-12-07.csv").is_file()


def test_a_bf16_layer_is_refused_on_the_host_in_one_line(capsys: pytest.CaptureFixture[str]):
    from mlacc import cli

    assert cli.main(["compile", str(ROOT / "examples" / "deepseek_v3.attn"), "--hw", "host", "-q"]) == 1
    assert capsys.readouterr().err == "error: hardware 'host' has no bf16 MAC rate\n"


def test_a_result_file_reads_back_as_validate_reads_it(tmp_path: Path):
    path = tmp_path / "steps.csv"
    result = ResultFile(str(path), "a CPU", "python benchmarks/cpu/validate.py")
    for scheme, seconds, spread in (("recompute", 1e-3, 0.05), ("reuse", 1.03e-3, 0.04)):
        result.timing(Timing(seconds, spread, 7, 1.5), grid="validation", kind="step", model="deepseek_v2_lite",
                      scheme=scheme, phase="decode", batch=4, context=512, new_tokens=1)  # fmt: skip
    result.close()
    (rows,) = read_measurements(str(path), "validation").values()
    assert [Point.of(r) for r in rows] == [Point("deepseek_v2_lite", "decode", 4, 512, 1)] * 2
    assert [(r["scheme"], float(r["seconds"]), float(r["spread"]), r["repeats"]) for r in rows] == [
        ("recompute", 1e-3, 0.05, "7"),
        ("reuse", 1.03e-3, 0.04, "7"),
    ]
    (validation,) = validate(str(path), "host", layers=LAYERS)
    assert [r.spread for r in validation.rows] == [0.05, 0.04]
    # 3% apart, within the repeats' 5% spread: a tie whichever way the estimate orders the pair
    for estimated in (["recompute", "reuse"], ["reuse", "recompute"]):
        assert validation.agrees(validation.rows[0].point, estimated, 0.02)


@pytest.mark.parametrize("layer", sorted(LAYERS.glob("*.attn")), ids=lambda p: p.stem)
def test_the_timed_layers_are_the_examples_shrunk(layer: Path):
    shrink = int(layer.read_text().split(" shrunk ")[1].split("x")[0])
    example = ROOT / "examples" / layer.name
    (case, *_) = layer_cases(parse_source(example.read_text(), str(example)), 1)
    assert layer.read_text() == layer_text(replace(case.shrunk(shrink), element_type=f32), layer.stem)


def test_a_module_compiles_and_times_on_iree():
    pytest.importorskip("iree.runtime")
    import numpy as np

    from mlacc.host_timing import Module, time_interleaved

    t = "tensor<64xf32>"
    module = Module(f"func.func @double(%x: {t}) -> {t} {{\n  %y = arith.addf %x, %x : {t}\n  return %y : {t}\n}}")
    x = np.ones(64, dtype=np.float32)
    (timing,) = time_interleaved({"double": module.timer("double", [x])}, 3).values()
    assert timing.repeats == 3 and timing.seconds > 0 and timing.spread >= 0


def test_validate_judges_the_committed_host_run_on_its_shrunk_layers(capsys: pytest.CaptureFixture[str]):
    from mlacc import cli

    run = str(ROOT / "benchmarks" / "results" / "host_validation_2026-12-07.csv")
    assert cli.main(["validate", run, "--hw", "host", "--layers", str(LAYERS)]) == 0
    out = capsys.readouterr().out
    assert "vs mlacc preset 'host': 80 measured steps" in out and "or their spread as ties" in out
    assert cli.main(["validate", run, "--hw", "host"]) == 1  # the examples are bf16 and full size
    err = capsys.readouterr().err
    assert err.startswith("error: hardware ") and err.endswith(" has no bf16 MAC rate\n") and err.count("\n") == 1


def test_a_swapped_pair_beyond_the_spread_is_a_miss():
    from mlacc.validate import Comparison, Validation

    point = Point("deepseek_v3", "decode", 1, 512, 1)
    rows = [Comparison(point, "recompute", 1.0, 1.0, 0, 0, spread=0.01), Comparison(point, "reuse", 1.1, 0.5, 0, 0)]
    validation = Validation("a CPU", "host", rows=rows)
    assert validation.agrees(point, ["recompute", "reuse"], 0.02)
    assert not validation.agrees(point, ["reuse", "recompute"], 0.02)  # 10% apart, each measured within 1%
    rows[0].spread = 0.15  # one of the pair measured 15% apart over its repeats: the order is within its noise
    assert validation.agrees(point, ["reuse", "recompute"], 0.02)
