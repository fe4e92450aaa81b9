"""`mlacc validate` on whole-layer rows (benchmarks/gpu/layer_step.py): a `layer` row names a whole step's file and
its feed-forward layer (`ffn`), and is estimated as the file's attention layer under the row's scheme plus one step
of that MLP or MoE layer. The measured figures here are made up: what is checked is which estimate each row gets."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from mlacc import cli
from mlacc.diagnostics import InputError
from mlacc.validate import Point, estimate_layers, format_validation, read_measurements, validate
from tests.conftest import ROOT

FIELDS = (
    "device grid kind model scheme phase batch context new_tokens m n k heads "
    "seconds joules idle_watts flops bytes rel_error status note ffn experts_hit"
).split()
"""layer_step.py's columns: measure.py's FIELDS, then `ffn` and `experts_hit`."""

H100 = "NVIDIA H100 80GB HBM3"
NOTE = "attention flashmla 9241ae3; gemm cublaslt; experts torch._grouped_mm"


def _row(**fields: object) -> dict[str, object]:
    base = dict(device=H100, grid="validation", kind="layer", status="ok", note=NOTE, idle_watts=130.0)
    return {**base, **fields}


ROWS = [
    _row(model="deepseek_v3_step", ffn="moe", scheme="recompute", phase="decode", batch=1, context=4096,
         new_tokens=1, seconds=6e-4, joules=0.3, experts_hit=8),
    _row(model="deepseek_v3_step", ffn="moe", scheme="recompute", phase="decode", batch=32, context=4096,
         new_tokens=1, seconds=5e-3, joules=2.5, experts_hit=159),
    _row(model="deepseek_v3_step", ffn="dense", scheme="expand", phase="prefill", batch=1, context=0,
         new_tokens=4096, seconds=0.03, joules=15.0),
    _row(model="deepseek_v2_lite_step", ffn="moe", scheme="recompute", phase="decode", batch=8, context=4096,
         new_tokens=1, seconds=2e-4, joules=0.08, experts_hit=34),
    _row(kind="step", model="deepseek_v3", scheme="recompute", phase="decode", batch=1, context=4096, new_tokens=1,
         seconds=2.1e-4, joules=0.09),
    _row(model="deepseek_v3_step", ffn="moe", scheme="recompute", phase="decode", batch=64, context=4096,
         new_tokens=1, status="skipped", note="time budget"),
]  # fmt: skip


def _csv(path: Path, rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _compiled(capsys: pytest.CaptureFixture[str], model: str, workload: str, *options: str) -> dict[str, dict]:
    """`mlacc compile --format json` of a whole step's file on h100, by layer: the path users run."""
    path = ROOT / "examples" / f"{model}.attn"
    argv = ["compile", str(path), "--hw", "h100", "--workload", workload, "--format", "json", "-q", *options]
    assert cli.main(argv) == 0
    return {r["layer"]: r for r in json.loads(capsys.readouterr().out)["results"]}


def test_layer_rows_are_read_with_their_ffn(tmp_path: Path):
    (rows,) = read_measurements(str(_csv(tmp_path / "m.csv", ROWS)), "validation").values()
    assert [r["kind"] for r in rows] == ["layer"] * 4 + ["step"]  # the skipped row is left out
    points = [Point.of(r) for r in rows]
    assert points[0] == Point("deepseek_v3_step", "decode", 1, 4096, 1, ffn="moe")
    assert points[4] == Point("deepseek_v3", "decode", 1, 4096, 1)
    assert points[0].label() == "deepseek_v3_step + moe decode b1 ctx 4096 new 1"


def test_a_layer_row_is_its_attention_step_plus_one_ffn_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (v,) = validate(str(_csv(tmp_path / "m.csv", ROWS)))
    assert v.hardware == "h100"  # the notes name FlashMLA: the production stack, as for production.py's steps
    by_label = {(r.point.label(), r.scheme): r for r in v.rows}
    cases = [
        ("deepseek_v3_step", "moe", "recompute", "decode", ["--batch", "1", "--context", "4096"], "deepseek_v3"),
        ("deepseek_v3_step", "moe", "recompute", "decode", ["--batch", "32", "--context", "4096"], "deepseek_v3"),
        ("deepseek_v3_step", "dense", "expand", "prefill", ["--batch", "1", "--new-tokens", "4096"], "deepseek_v3"),
        ("deepseek_v2_lite_step", "moe", "recompute", "decode", ["--batch", "8"], "deepseek_v2_lite"),
    ]
    for (model, ffn, scheme, workload, options, attention), row in zip(cases, ROWS, strict=False):
        layers = _compiled(capsys, model, workload, *options)
        (alt,) = [a for a in layers[attention]["alternatives"] if a["scheme"] == scheme]
        label = Point.of({k: str(v) for k, v in row.items()}).label()
        got = by_label[(label, scheme)]
        assert got.estimated_seconds == pytest.approx(alt["seconds"] + layers[ffn]["seconds"], rel=1e-9)
        assert got.estimated_joules == pytest.approx((alt["energy_pj"] + layers[ffn]["energy_pj"]) * 1e-12, rel=1e-9)
        assert got.measured_seconds == float(str(row["seconds"]))
        assert got.estimated_seconds > alt["seconds"] * 1.2  # the feed-forward layer is no rounding error here
    # The whole step's attention layer is the bundled one: the layer row's attention part is the step row's estimate.
    step = by_label[("deepseek_v3 decode b1 ctx 4096 new 1", "recompute")]
    moe_b1 = _compiled(capsys, "deepseek_v3_step", "decode", "--batch", "1", "--context", "4096")["moe"]
    layer = by_label[("deepseek_v3_step + moe decode b1 ctx 4096 new 1", "recompute")]
    assert layer.estimated_seconds == pytest.approx(step.estimated_seconds + moe_b1["seconds"], rel=1e-9)


def test_layer_rows_are_summarised_per_phase_and_scheme_plus_ffn(tmp_path: Path):
    (v,) = validate(str(_csv(tmp_path / "m.csv", ROWS)))
    groups = {key: len(rows) for key, rows in v.groups().items()}
    assert groups == {
        ("decode", "recompute"): 1,
        ("decode", "recompute + moe"): 3,
        ("prefill", "expand + dense"): 1,
    }
    assert v.rankings() == []  # one scheme per point: nothing to rank
    text = format_validation([v])
    assert "deepseek_v2_lite_step + moe decode b8 ctx 4096 new 1" in text
    assert "  decode   recompute + moe      3 " in text
    assert "5 measured steps" in text


def test_validate_reads_layer_rows_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = _csv(tmp_path / "m.csv", ROWS)
    assert cli.main(["validate", str(path), "--max-error", "100"]) == 0
    out = capsys.readouterr().out
    assert "prefill  expand + dense" in out and "deepseek_v3_step + dense prefill b1 ctx 0 new 4096" in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(ffn=""), "names no feed-forward layer"),
        (dict(ffn="experts"), "feed-forward layer 'experts', but"),
        (dict(ffn="deepseek_v3"), "feed-forward layer 'deepseek_v3', but"),  # the attention layer is none
        (dict(model="deepseek_v3", ffn="moe"), "feed-forward layer 'moe', but"),  # a file of attention alone
    ],
)
def test_a_layer_row_must_name_a_feed_forward_layer_of_its_file(tmp_path: Path, change: dict, message: str):
    path = _csv(tmp_path / "m.csv", [{**ROWS[0], **change}])
    with pytest.raises(InputError, match=message):
        validate(str(path))


def test_a_whole_layer_needs_one_attention_layer(tmp_path: Path):
    (tmp_path / "two.attn").write_text(
        (ROOT / "examples" / "deepseek_v3_step.attn").read_text()
        + "layer twin : mha { d_model = 7168  heads = 128  head_dim = 128 }\n"
    )
    with pytest.raises(InputError, match="needs one attention layer"):
        estimate_layers([Point("two", "decode", 1, 4096, 1, ffn="moe")], "h100", tmp_path)
