"""`mlacc plot`: every kind drawn from a real sweep, checked for what it shows (panels, legends, units, the
points and cells against the rows, the roofline's ridge against the preset), and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.patches import Rectangle

from mlacc import cli
from mlacc.hardware import load_hardware, read_hardware
from mlacc.hardware.describe import target_summary
from mlacc.hardware.overrides import hypothetical_target
from mlacc.plot import KINDS, PlotRequest, draw
from mlacc.plot.table import parse_where, read_sweep
from mlacc.sweep.tables import write_rows
from passes import SCHEMES
from tests.conftest import ROOT, SMALL_ATTN, TINY_TOML

SMALL = SMALL_ATTN
TINY = TINY_TOML
HARDWARE = ("h100", "h200")
CONTEXTS = (1024, 4096, 16384)
BATCHES = (1, 8)


@pytest.fixture(scope="module")
def sweep_rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DeepSeek-V3 decode on two presets x 2 batches x 3 contexts, every scheme, with per-op rows."""
    path = tmp_path_factory.mktemp("plot") / "rows.jsonl"
    argv = ["sweep", str(ROOT / "examples/deepseek_v3.attn"), "--hw", ",".join(HARDWARE), "--workload", "decode"]
    argv += ["--batch", ",".join(map(str, BATCHES)), "--context", ",".join(map(str, CONTEXTS)), "--ops", "-q"]
    assert cli.main([*argv, "-o", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def chip_rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small layer on hypothetical H100s: HBM bandwidth x bf16 MAC rate, as `--set` makes them."""
    path = tmp_path_factory.mktemp("plot") / "chips.csv"
    argv = ["sweep", str(SMALL), "--hw", "h100", "--context", "64k", "--ops", "-q", "-o", str(path)]
    argv += ["--set", "hbm.read_bandwidth_bytes_per_cycle=100,1000,4000", "--set", "sm.macs_per_cycle.fp32=64,1024"]
    assert cli.main(argv) == 0
    return path


def rows_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def plot(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["plot", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def values(data: Any) -> tuple[float, ...]:
    """A line's x or y data, or a scatter's offsets, as plain floats."""
    return tuple(float(v) for v in np.asarray(data).ravel())


def lines_labelled(ax: Any, prefix: str) -> list[Any]:
    return [line for line in ax.get_lines() if str(line.get_label()).startswith(prefix)]


def legend_texts(fig: Any) -> list[str]:
    return [t.get_text() for t in fig.legends[0].get_texts()]


# --- reading rows -----------------------------------------------------------------------------------------------


def test_csv_jsonl_and_parquet_read_back_the_same_rows(sweep_rows: Path, tmp_path: Path):
    rows = rows_of(sweep_rows)
    for suffix in (".csv", ".parquet"):
        write_rows(str(tmp_path / f"rows{suffix}"), rows)
        assert read_sweep(str(tmp_path / f"rows{suffix}")).rows == read_sweep(str(sweep_rows)).rows


def test_chip_names_become_set_field_columns(chip_rows: Path):
    table = read_sweep(str(chip_rows))
    assert table.set_fields == ("hbm.read_bandwidth_bytes_per_cycle", "sm.macs_per_cycle.fp32")
    assert table.values("chip") == ["h100"]
    assert table.values("hbm.read_bandwidth_bytes_per_cycle") == [100, 1000, 4000]
    assert table.values("sm.macs_per_cycle.fp32") == [64, 1024]


def test_where_splits_at_commas_outside_a_chip_name():
    assert parse_where("hardware=h100[a=1,b=2],batch=32") == [("hardware", "h100[a=1,b=2]"), ("batch", "32")]


# --- what each kind shows ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "column", "scale", "unit"), [("latency", "seconds", 1, "(s)"), ("energy", "energy_pj", 1e-12, "(J)")]
)
def test_curves_have_a_panel_per_hardware_a_line_per_scheme_and_the_rows_values(
    sweep_rows: Path, kind: str, column: str, scale: float, unit: str
):
    picture = draw(str(sweep_rows), PlotRequest(kind, where="batch=8"))
    fig = picture.figure
    assert [ax.get_title() for ax in fig.axes] == list(HARDWARE)
    assert legend_texts(fig) == list(SCHEMES)
    assert fig.axes[0].get_xlabel() == "context (tokens in the KV cache)"
    assert fig.axes[0].get_ylabel().endswith(unit)
    assert (fig.axes[0].get_xscale(), fig.axes[0].get_yscale()) == ("log", "log")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1k", "4k", "16k"]
    rows = [r for r in rows_of(sweep_rows) if r["batch"] == 8]
    for ax, chip in zip(fig.axes, HARDWARE, strict=True):
        drawn = {values(line.get_ydata()) for line in ax.get_lines()}
        for scheme in SCHEMES:
            line = sorted(
                (r for r in rows if r["hardware"] == chip and r["scheme"] == scheme), key=lambda r: r["context"]
            )
            assert tuple(r[column] * scale for r in line) in drawn


def test_curves_fix_what_varies_off_their_axes_and_say_so(sweep_rows: Path):
    picture = draw(str(sweep_rows), PlotRequest("latency"))
    assert picture.defaulted == [("batch", 1)]
    assert "batch 1" in picture.figure.get_suptitle()
    assert "fixed at the first value: batch 1" in picture.summary("latency", "out.png")


def test_two_layers_are_named_apart_and_a_set_field_can_be_the_axis(chip_rows: Path):
    fig = draw(str(chip_rows), PlotRequest("latency", where="sm.macs_per_cycle.fp32=1024")).figure
    assert fig.get_suptitle().startswith("Latency vs hbm.read_bandwidth_bytes_per_cycle, m, g\n")
    assert legend_texts(fig) == [f"m {scheme}" for scheme in SCHEMES] + ["g"]
    assert fig.axes[0].get_xlabel() == "hbm.read_bandwidth_bytes_per_cycle (--set)"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["100", "1000", "4000"]


def test_capacity_draws_each_chips_memory_and_the_kv_cache_of_every_scheme(sweep_rows: Path):
    fig = draw(str(sweep_rows), PlotRequest("capacity", where="batch=8")).figure
    for ax, chip in zip(fig.axes, HARDWARE, strict=True):
        dram = load_hardware(chip).dram
        capacity = dram.capacity_bytes.data * dram.count.data
        assert [1 for line in ax.get_lines() if values(line.get_ydata()) == (capacity, capacity)]
        assert ax.get_ylabel() in ("", "bytes in memory after the step (B)")
    texts = legend_texts(fig)
    assert texts[: len(SCHEMES)] == list(SCHEMES) and "memory capacity" in texts
    cached = [t.removeprefix("KV cache: ") for t in texts if t.startswith("KV cache: ")]
    assert sorted(s for label in cached for s in label.split(" = ")) == sorted(SCHEMES)


def test_roofline_ridge_is_peak_over_bandwidth_and_every_placeable_op_is_under_the_roof(sweep_rows: Path):
    picture = draw(str(sweep_rows), PlotRequest("roofline", where="batch=8,context=16k"))
    rows = [r for r in rows_of(sweep_rows) if r["batch"] == 8 and r["context"] == 16384 and r["auto_choice"]]
    for ax, chip in zip(picture.figure.axes, HARDWARE, strict=True):
        (ridge,) = lines_labelled(ax, "ridge")
        assert values(ridge.get_xdata())[0] == pytest.approx(
            target_summary(load_hardware(chip))["ridge_flop_per_byte"]["bf16"]
        )
        (row,) = [r for r in rows if r["hardware"] == chip]
        assert ax.get_title().startswith(f"{chip}: {row['scheme']}")
        placed = [op for op in row["ops"] if op["flops"] > 0 and op["seconds"] > 0]
        offsets = [values(c.get_offsets()) for c in ax.collections]
        assert len(offsets) == len(placed)
        peak = max(y for line in lines_labelled(ax, "peak") for y in values(line.get_ydata()))
        assert all(rate <= peak * (1 + 1e-9) for _, rate in offsets)
    assert picture.figure.axes[0].get_xlabel() == "arithmetic intensity (FLOP per hbm byte)"


def test_roofline_of_a_hypothetical_chip_uses_its_overrides(chip_rows: Path):
    request = PlotRequest("roofline", where="hbm.read_bandwidth_bytes_per_cycle=1000,sm.macs_per_cycle.fp32=64")
    fig = draw(str(chip_rows), PlotRequest(request.kind, request.where, dtype="fp32")).figure
    (ridge,) = lines_labelled(fig.axes[0], "ridge")
    overrides = (("hbm.read_bandwidth_bytes_per_cycle", 1000), ("sm.macs_per_cycle.fp32", 64))
    target = hypothetical_target(read_hardware("h100"), overrides)
    assert values(ridge.get_xdata())[0] == pytest.approx(target_summary(target)["ridge_flop_per_byte"]["fp32"])


def test_choice_map_cells_are_the_auto_choice_rows(sweep_rows: Path):
    picture = draw(str(sweep_rows), PlotRequest("choice"))
    picked = [r for r in rows_of(sweep_rows) if r["auto_choice"]]
    for ax, chip in zip(picture.figure.axes, HARDWARE, strict=True):
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("context (tokens in the KV cache)", "batch (sequences)")
        cells = {(round(t.get_position()[0]), round(t.get_position()[1])): t.get_text() for t in ax.texts}
        expected = {
            (CONTEXTS.index(r["context"]), BATCHES.index(r["batch"])): r["scheme"]
            for r in picked
            if r["hardware"] == chip
        }
        assert cells == expected
    assert legend_texts(picture.figure) == [s for s in SCHEMES if any(r["scheme"] == s for r in picked)]


def test_choice_map_axes_default_to_the_set_fields(chip_rows: Path):
    fig = draw(str(chip_rows), PlotRequest("choice", where="layer=m")).figure
    (ax,) = fig.axes
    assert ax.get_xlabel() == "hbm.read_bandwidth_bytes_per_cycle (--set)"
    assert ax.get_ylabel() == "sm.macs_per_cycle.fp32 (--set)"
    assert len(ax.texts) == 3 * 2


def test_breakdown_bars_add_up_to_each_schemes_energy(sweep_rows: Path):
    fig = draw(str(sweep_rows), PlotRequest("breakdown", where="batch=8,context=4k")).figure
    rows = [r for r in rows_of(sweep_rows) if r["batch"] == 8 and r["context"] == 4096]
    for ax, chip in zip(fig.axes, HARDWARE, strict=True):
        totals: dict[float, float] = {}
        for bar in (patch for patch in ax.patches if isinstance(patch, Rectangle)):
            totals[bar.get_x()] = totals.get(bar.get_x(), 0.0) + bar.get_height()
        by_scheme = {r["scheme"]: r["energy_pj"] * 1e-12 for r in rows if r["hardware"] == chip}
        assert sorted(totals.values()) == pytest.approx(sorted(by_scheme.values()))
    assert set(legend_texts(fig)) <= {"mac", "smem", "l2", "hbm", "static"}
    assert fig.axes[0].get_ylabel() == "energy per step (J)"


# --- the command ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_every_kind_writes_png_and_svg(
    capsys: pytest.CaptureFixture[str], sweep_rows: Path, tmp_path: Path, kind: str, suffix: str
):
    out = tmp_path / f"{kind}{suffix}"
    code, stdout, err = plot(capsys, str(sweep_rows), "--kind", kind, "-o", str(out))
    assert (code, err) == (0, "")
    assert stdout.startswith(f"wrote {out}: --kind {kind}, 2 panel(s): h100, h200")
    head = out.read_bytes()[:400]
    assert head.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in head


def test_the_same_rows_give_the_same_svg(capsys: pytest.CaptureFixture[str], sweep_rows: Path, tmp_path: Path):
    first, second = tmp_path / "first.svg", tmp_path / "second.svg"
    for out in (first, second):
        assert plot(capsys, str(sweep_rows), "--kind", "breakdown", "-o", str(out))[0] == 0
    assert first.read_bytes() == second.read_bytes()


def test_rows_of_a_chip_file_need_the_file(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    rows = tmp_path / "tiny.jsonl"
    assert cli.main(["sweep", str(SMALL), "--hw", str(TINY), "--context", "8,64", "-q", "-o", str(rows)]) == 0
    out = str(tmp_path / "cap.png")
    code, _, err = plot(capsys, str(rows), "--kind", "capacity", "-o", out)
    assert (code, err) == (
        1,
        "error: rows name hardware 'tiny', which is no preset: give its TOML file with --hw PATH.toml\n",
    )
    assert plot(capsys, str(rows), "--kind", "capacity", "--hw", str(TINY), "-o", out)[0] == 0


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--kind", "rofline"], 2, "--kind: unknown kind 'rofline' (expected: latency, energy, roofline, choice, "
         "breakdown, capacity); did you mean 'roofline'?"),
        (["--kind", "latency", "--where", "batch=3"], 2, "--where batch=3 matches no row (rows left have batch: 1, 8)"),
        (["--kind", "latency", "--where", "bach=1"], 2, "no column 'bach'; did you mean 'batch'?"),
        (["--kind", "latency", "--where", "batch"], 2, "--where: expected COLUMN=VALUE such as batch=32, got 'batch'"),
        (["--kind", "latency", "--x", "seconds"], 2, "--x seconds: is no input column (axes that vary: batch, context"),
        (["--kind", "latency", "--x", "layer"], 2, "--x layer: is not a number"),
        (["--kind", "latency", "--where", "batch=1", "--x", "batch"], 2, "--x batch: does not vary in the rows chosen"),
        (["--kind", "latency", "--y", "batch"], 2, "--y is for --kind choice (the map's second axis)"),
        (["--kind", "choice", "--where", "batch=1", "--x", "context"], 1, "needs another swept axis"),
    ],
)  # fmt: skip
def test_bad_requests_are_one_line(
    capsys: pytest.CaptureFixture[str], sweep_rows: Path, tmp_path: Path, argv: list[str], code: int, message: str
):
    out = tmp_path / "out.png"
    got, stdout, err = plot(capsys, str(sweep_rows), *argv, "-o", str(out))
    assert (got, stdout) == (code, "")
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_roofline_without_ops_says_to_rerun_the_sweep_with_ops(
    capsys: pytest.CaptureFixture[str], sweep_rows: Path, tmp_path: Path
):
    csv = tmp_path / "no_ops.csv"
    write_rows(str(csv), [{k: v for k, v in r.items() if k != "ops"} for r in rows_of(sweep_rows)])
    code, _, err = plot(capsys, str(csv), "--kind", "roofline", "-o", str(tmp_path / "r.svg"))
    assert (code, err) == (
        1,
        f"error: {csv} has no 'ops' column, which --kind roofline needs: rerun the sweep with --ops\n",
    )


@pytest.mark.parametrize(
    ("name", "text", "code", "message"),
    [
        ("missing.csv", None, 1, "error: cannot read '{path}': No such file or directory"),
        ("other.csv", "a,b\n1,2\n", 1, "error: {path} does not look like `mlacc sweep` rows: it has no 'layer' column"),
        ("header.csv", "layer,scheme,hardware\n", 1, "error: {path} holds no rows"),
        ("broken.jsonl", '{"layer": 1}\n{oops\n', 1, "error: cannot read '{path}': line 2 is not a JSON object"),
        ("rows.txt", "", 2, "error: cannot tell the format of '{path}': mlacc plot reads a sweep's .csv, .jsonl or "
         ".parquet"),
    ],
)  # fmt: skip
def test_unreadable_sweeps_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, text: str | None, code: int, message: str
):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    got, _, err = plot(capsys, str(path), "--kind", "latency", "-o", str(tmp_path / "out.png"))
    assert (got, err) == (code, message.format(path=path) + "\n")


def test_a_picture_format_it_cannot_write_is_a_usage_error(capsys: pytest.CaptureFixture[str], sweep_rows: Path):
    code, _, err = plot(capsys, str(sweep_rows), "--kind", "latency", "-o", "out.pdf")
    assert (code, err) == (2, "error: -o: cannot tell the picture format of 'out.pdf': name it .png or .svg\n")
