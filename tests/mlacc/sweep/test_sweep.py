"""`mlacc sweep`: axes and ranges, rows equal to `mlacc compile`'s, parallel runs, hypothetical chips, outputs."""

from __future__ import annotations

import csv
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlacc import cli
from mlacc.diagnostics import UsageError
from mlacc.sweep.axes import parse_axis
from mlacc.sweep.evaluate import evaluate
from mlacc.sweep.run import run_sweep
from mlacc.sweep.space import Chip, DesignPoint, SweepInput
from passes import SCHEMES
from tests.conftest import ROOT, SMALL_ATTN, TINY_TOML

SMALL = SMALL_ATTN
TINY = TINY_TOML
SCALARS = ("batch", "context", "new_tokens", "cycles", "seconds", "energy_pj", "flops", "dram_bytes")


def sweep(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["sweep", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- axes -------------------------------------------------------------------------------------------------------


@given(st.integers(1, 10_000), st.integers(2, 5), st.integers(0, 20))
def test_geometric_range_is_sorted_unique_and_within_bounds(start: int, factor: int, span: int):
    stop = start * factor**span + span  # an end the range need not land on
    values = parse_axis(f"{start}..{stop}:x{factor}", "--context", integer=True)
    assert values == sorted(set(values))
    assert values[0] == start and values[-1] <= stop and values[-1] * factor > stop
    assert all(b == a * factor for a, b in itertools.pairwise(values))


@given(st.floats(0, 1e6), st.floats(0.001, 1e5), st.integers(0, 200))
def test_linear_float_range_is_sorted_unique_and_within_bounds(start: float, step: float, count: int):
    stop = start + step * count
    values = parse_axis(f"{start!r}..{stop!r}:+{step!r}", "--set x")
    assert values == sorted(set(values))
    assert start <= values[0] and values[-1] <= stop
    assert len(values) >= count  # the end may be lost to rounding, never more than one value


@given(st.lists(st.integers(1, 2**40), min_size=1, max_size=20))
def test_lists_are_sorted_and_unique(numbers: list[int]):
    assert parse_axis(",".join(map(str, numbers)), "--batch", integer=True) == sorted(set(numbers))


def test_suffixes_and_rounded_ranges():
    assert parse_axis("1k..8k:x2", "--context", integer=True) == [1024, 2048, 4096, 8192]
    assert parse_axis("0..1k:+256, 4K", "--context", integer=True) == [0, 256, 512, 768, 1024, 4096]
    assert parse_axis("1..10:x1.5", "--batch", integer=True) == [1, 2, 3, 5, 8]
    assert parse_axis("1e9, 1.5e9", "--set frequency_hz") == [1e9, 1.5e9]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("8..1:x2", "--batch: range '8..1:x2' ends below its start"),
        ("0..8:x2", "--batch: geometric range '0..8:x2' must start above 0"),
        ("1..8:x1", "--batch: geometric range '1..8:x1' needs a factor above 1, got x1"),
        ("1..8:+0", "--batch: linear range '1..8:+0' needs a step above 0, got +0"),
        ("1..8", "--batch: expected a range such as 1k..128k:x2 or 0..4k:+512, got '1..8'"),
        ("1,,2", "--batch: empty item in '1,,2'"),
        ("two", "--batch: expected a number such as 4096, 4k or 1.5e9, got 'two'"),
        ("1.5", "--batch: expected a whole number, got '1.5'"),
        ("0", "--batch: 0 is below the smallest allowed value, 1"),
    ],
)
def test_bad_axes_are_one_line_usage_errors(text: str, message: str, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(UsageError, match="^" + message.replace("+", r"\+").replace(".", r"\.") + "$"):
        parse_axis(text, "--batch", integer=True, minimum=1)
    assert sweep(capsys, str(SMALL), "--batch", text) == (2, "", f"error: {message}\n")


# --- rows equal compile's ---------------------------------------------------------------------------------------


def compile_json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    assert cli.main(["compile", str(SMALL), "--format", "json", "-q", *argv]) == 0
    return json.loads(capsys.readouterr().out)["results"]


def _close(value: Any) -> Any:
    """A compile figure as a sweep row must give it: floats to 1e-9 relative (the op-table path sums a step's
    tasks in program order, `schedule` in the order it runs them), everything else exactly."""
    return pytest.approx(value, rel=1e-9) if isinstance(value, float) else value


def test_rows_equal_compile_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "s.jsonl"
    code, _, _ = sweep(capsys, str(SMALL), "--hw", str(TINY), "--batch", "1,3", "--context", "5", "-q", "-o", str(out))
    assert code == 0
    rows = {(r["layer"], r["batch"], r["scheme"]): r for r in read_jsonl(out)}
    assert len(rows) == 2 * (len(SCHEMES) + 1)
    seen: set[tuple[str, int, str]] = set()
    for batch in ("1", "3"):
        what_if = ("--hw", str(TINY), "--batch", batch, "--context", "5")
        chosen = {r["layer"]: r["scheme"] for r in compile_json(capsys, *what_if)}
        for scheme in SCHEMES:
            for result in compile_json(capsys, *what_if, "--scheme", scheme):
                point = (result["layer"], int(batch), result["scheme"])
                seen.add(point)
                row = rows[point]
                assert row["auto_choice"] == (result["scheme"] == chosen[result["layer"]])
                for key, value in result.items():
                    if key == "energy_breakdown_pj":
                        assert {k: row[f"energy_{k}_pj"] for k in value} == pytest.approx(value, rel=1e-9)
                    elif key != "ops":
                        assert row[key] == _close(value), (key, row, result)
    assert seen == set(rows)


def test_scheme_auto_gives_the_chosen_scheme(capsys: pytest.CaptureFixture[str]):
    code, out, _ = sweep(capsys, str(SMALL), "--hw", str(TINY), "--scheme", "auto", "-q")
    assert code == 0
    rows = list(csv.DictReader(out.splitlines()))
    chosen = compile_json(capsys, "--hw", str(TINY))
    assert [(r["layer"], r["scheme"], r["cycles"]) for r in rows] == [
        (c["layer"], c["scheme"], repr(c["cycles"])) for c in chosen
    ]
    assert all(r["auto_choice"] == "true" for r in rows)


def test_jobs_give_the_same_rows_in_the_same_order():
    sweep_input = SweepInput(str(SMALL), SMALL.read_text(), SCHEMES, ops=True)
    points = [
        DesignPoint(Chip(str(TINY), (("dram.read_bandwidth_bytes_per_cycle", bw),)), "d", phase, batch)
        for bw in (8, 32)
        for phase in ("decode", "prefill")
        for batch in (1, 2, 4)
    ]
    assert run_sweep(sweep_input, points, jobs=2, quiet=True) == run_sweep(sweep_input, points, jobs=1)


# --- hypothetical chips -----------------------------------------------------------------------------------------


def test_set_builds_the_chip_an_edited_file_describes(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    edited = tmp_path / "fast.toml"
    edited.write_text(
        TINY.read_text().replace("read_bandwidth_bytes_per_cycle = 8 ", "read_bandwidth_bytes_per_cycle = 16")
    )
    out = tmp_path / "s.jsonl"
    field = "dram.read_bandwidth_bytes_per_cycle"
    code, _, _ = sweep(
        capsys, str(SMALL), "--hw", str(TINY), "--scheme", "recompute", "--set", f"{field}=8,16", "--ops", "-q",
        "-o", str(out),
    )  # fmt: skip
    assert code == 0
    rows = {(r["hardware"], r["layer"]): r for r in read_jsonl(out)}
    base, fast = rows[(f"tiny[{field}=8]", "m")], rows[(f"tiny[{field}=16]", "m")]
    (expected,) = [r for r in compile_json(capsys, "--hw", str(edited), "--scheme", "recompute") if r["layer"] == "m"]
    assert {k: v for k, v in fast.items() if k not in ("hardware", "auto_choice", "tp", "dp")} == {
        **{k: v for k, v in expected.items() if k not in ("hardware", "energy_breakdown_pj")},
        **{f"energy_{k}_pj": v for k, v in expected["energy_breakdown_pj"].items()},
    }
    # c_q streams its weights from DRAM: twice the read bandwidth, half the time.
    c_q = [next(op for op in row["ops"] if op["name"] == "c_q") for row in (base, fast)]
    assert c_q[0]["bound"] == c_q[1]["bound"] == "dram"
    assert c_q[1]["cycles"] == c_q[0]["cycles"] / 2


def test_unknown_field_names_the_closest(capsys: pytest.CaptureFixture[str]):
    code, _, err = sweep(capsys, str(SMALL), "--set", "hbm.read_bandwidth=1000")
    assert (code, err) == (
        2,
        "error: --set: 'h100' has no field 'hbm.read_bandwidth'; the closest is 'hbm.read_bandwidth_bytes_per_cycle'\n",
    )


def test_bad_values_get_the_loaders_error(capsys: pytest.CaptureFixture[str]):
    code, _, err = sweep(capsys, str(SMALL), "--hw", str(TINY), "--set", "dram.read_bandwidth_bytes_per_cycle=-8,8")
    assert (code, err) == (
        1,
        "error: --set dram.read_bandwidth_bytes_per_cycle=-8: 'read_bandwidth_bytes_per_cycle' in [[memory]] 'dram' "
        "must be positive, got -8\n",
    )


def test_unknown_hardware_is_one_line(capsys: pytest.CaptureFixture[str]):
    code, _, err = sweep(capsys, str(SMALL), "--hw", "h100,h9000")
    assert code == 2 and err.startswith("error: unknown hardware 'h9000'") and err.count("\n") == 1


def test_unknown_workload_and_scheme(capsys: pytest.CaptureFixture[str]):
    assert sweep(capsys, str(SMALL), "--workload", "p")[::2] == (2, f"error: no workload 'p' in {SMALL} (it has: d)\n")
    code, _, err = sweep(capsys, str(SMALL), "--scheme", "reuse,recompue")
    assert code == 2 and err.startswith("error: --scheme: unknown value 'recompue'") and err.count("\n") == 1


# --- outputs ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    sweep_input = SweepInput(str(SMALL), SMALL.read_text(), SCHEMES)
    return evaluate(sweep_input, [DesignPoint(Chip(str(TINY)), "d", batch=b) for b in (1, 2)])


def _typed(value: str, like: Any) -> Any:
    if isinstance(like, bool):
        return {"true": True, "false": False}[value]
    return type(like)(value)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_outputs_round_trip(
    suffix: str, rows: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / f"s{suffix}"
    assert sweep(capsys, str(SMALL), "--hw", str(TINY), "--batch", "1,2", "-q", "-o", str(out))[0] == 0
    if suffix == ".csv":
        back = [{k: _typed(v, rows[0][k]) for k, v in r.items()} for r in csv.DictReader(out.open())]
    elif suffix == ".jsonl":
        back = read_jsonl(out)
    else:
        pq = pytest.importorskip("pyarrow.parquet")
        back = pq.read_table(out).to_pylist()
    assert back == rows


def test_csv_on_stdout_without_o(rows: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]):
    code, out, _ = sweep(capsys, str(SMALL), "--hw", str(TINY), "--batch", "1,2", "-q")
    assert code == 0 and out.splitlines()[0] == ",".join(rows[0])


def test_parquet_without_pyarrow_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    out = tmp_path / "s.parquet"
    code, _, err = sweep(capsys, str(SMALL), "--hw", str(TINY), "-q", "-o", str(out))
    assert (code, err) == (
        1,
        "error: writing Parquet needs pyarrow: pip install 'mlacc[sweep]' (or write .csv or .jsonl)\n",
    )
    assert list(tmp_path.iterdir()) == []


def test_unknown_output_format(capsys: pytest.CaptureFixture[str]):
    assert sweep(capsys, str(SMALL), "-o", "s.xlsx")[::2] == (
        2,
        "error: -o: cannot tell the format of 's.xlsx': name it .csv, .jsonl or .parquet\n",
    )


def test_a_config_json_sweeps_as_the_dsl_it_imports_to(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """`mlacc sweep CONFIG.json` reads the config as `mlacc compile` does: its rows equal those of the DSL
    that `mlacc import` writes for it."""
    config = ROOT / "tests/fixtures/hf/deepseek_v2_lite.json"
    imported = tmp_path / "lite.attn"
    assert cli.main(["import", str(config), "-o", str(imported)]) == 0
    rows = []
    for source in (config, imported):
        out = tmp_path / f"{source.stem}.jsonl"
        argv = (str(source), "--hw", "h100", "--batch", "1,4", "--context", "2k", "--workload", "decode")
        assert sweep(capsys, *argv, "-q", "-o", str(out))[0] == 0
        rows.append(read_jsonl(out))
    assert len(rows[0]) == 2 * len(SCHEMES) and rows[0] == rows[1]


def test_tp_and_dp_are_axes_whose_rows_equal_compile_sharded(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """`--tp 1,2 --dp 1,2` sweeps four layouts; each row equals `mlacc compile --tp N --dp M` for its scheme,
    and every row says its layout, one GPU included."""
    out = tmp_path / "s.jsonl"
    argv = (str(SMALL), "--hw", "h200x8", "--batch", "2", "--context", "64", "--tp", "1,2", "--dp", "1,2")
    assert sweep(capsys, *argv, "-q", "-o", str(out))[0] == 0
    rows = {(r["layer"], r["scheme"], r["tp"], r["dp"]): r for r in read_jsonl(out)}
    assert {(tp, dp) for _, _, tp, dp in rows} == {(1, 1), (1, 2), (2, 1), (2, 2)}
    for tp, dp in ((1, 2), (2, 2)):
        what_if = ("--hw", "h200x8", "--batch", "2", "--context", "64", "--tp", str(tp), "--dp", str(dp))
        for result in compile_json(capsys, *what_if, "--scheme", "recompute"):
            row = rows[(result["layer"], result["scheme"] if result["layer"] == "m" else "-", tp, dp)]
            for key, value in result.items():
                if key not in ("ops", "energy_breakdown_pj", "kernels"):  # a row's columns are the scalar fields
                    assert row[key] == _close(value), (key, tp, dp)


def test_a_layout_a_layer_cannot_take_is_a_row_that_says_why_not_an_aborted_sweep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """A sweep over layouts aborted at the first one `shard` refused, and wrote nothing. Now each layer a point's
    layout cannot run (tp not dividing its heads, dp not dividing the batch, more GPUs than the node has) is one
    row with its coordinates and the reason in `skipped`; every other row is estimated, and stderr counts them."""
    out = tmp_path / "s.jsonl"
    argv = (str(SMALL), "--hw", "h200x8", "--batch", "2", "--tp", "1,4", "--dp", "1,16", "--scheme", "auto", "-q")
    code, _, err = sweep(capsys, *argv, "-o", str(out))
    assert code == 0
    rows = {(r["layer"], r["tp"], r["dp"]): r for r in read_jsonl(out)}
    assert len(rows) == 8
    assert all(rows[(layer, 1, 1)]["seconds"] > 0 and rows[(layer, 1, 1)]["skipped"] is None for layer in "mg")
    # MLA's 2 heads do not split 4 ways; GQA's 4 heads do, each of its 2 KV heads copied on 2 GPUs.
    assert rows[("m", 4, 1)]["skipped"] == "layer 'm' has 2 heads, which tp 4 does not divide: tp must divide the heads"
    assert rows[("m", 4, 1)]["seconds"] is None and rows[("m", 4, 1)]["hardware"] == "h200x8"
    assert rows[("g", 4, 1)]["seconds"] > 0 and rows[("g", 4, 1)]["kv_head_replicas"] == 2
    for layer, tp in itertools.product("mg", (1, 4)):
        assert rows[(layer, tp, 16)]["skipped"].startswith(f"tp {tp} x dp 16 needs {16 * tp} GPUs, but 'h200x8'")
    assert err == (
        "sweep: 5 of 8 rows skipped (column 'skipped'), e.g.: tp 1 x dp 16 needs 16 GPUs, but 'h200x8' is a node "
        "of 8: choose tp x dp <= 8\n"
    )


def test_a_sweep_of_a_thousand_refused_layouts_costs_no_lowering(capsys: pytest.CaptureFixture[str]):
    """The refusal is read from the layer's sizes before any IR is lowered (the first attempt ran the pipeline for
    each refused point: 17 s for these 1,000)."""
    import time

    start = time.perf_counter()
    code, out, err = sweep(capsys, str(SMALL), "--hw", "h200x8", "--batch", "2", "--dp", "3..3000:+3", "-q")
    assert code == 0 and out.count("\n") == 1 + 2 * 1000
    assert err.startswith("sweep: 2000 of 2000 rows skipped")
    assert time.perf_counter() - start < 5


# --- whole models and expert parallelism ------------------------------------------------------------------------

SHARD_INPUTS = ROOT / "tests" / "filecheck" / "transforms" / "shard" / "Inputs"
MODEL = SHARD_INPUTS / "step.attn"  # a GQA layer and an MLP, 2 layers, a vocabulary of 40: one model
FFN = SHARD_INPUTS / "ffn.attn"  # an MLP and a MoE layer of 8 experts


def _compile(capsys: pytest.CaptureFixture[str], path: Path, *argv: str) -> list[dict[str, Any]]:
    assert cli.main(["compile", str(path), "--format", "json", "-q", *argv]) == 0
    return json.loads(capsys.readouterr().out)["results"]


def _equals_compile(row: dict[str, Any], result: dict[str, Any]) -> None:
    for key, value in result.items():
        if key == "energy_breakdown_pj":
            assert {k: row[f"energy_{k}_pj"] for k in value} == pytest.approx(value, rel=1e-9)
        elif not isinstance(value, dict | list):
            assert row[key] == _close(value), (key, row, result)


def test_a_whole_model_sweeps_each_layer_with_its_kind_and_the_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Sweeps refused MLP/MoE layers. A file with them is one model: each layer is a row with its `kind`, every row
    equals `mlacc compile`'s result for its point, and the attention layer's row carries the whole step (norms,
    embedding lookup and LM head included) as `step_*` columns, equal to compile's `step`."""
    out = tmp_path / "s.jsonl"
    argv = (str(MODEL), "--hw", "h100x8", "--tp", "1,2", "--batch", "2,4", "-q", "-o", str(out))
    assert sweep(capsys, *argv)[0] == 0
    rows = {(r["layer"], r["workload"], r["batch"], r["tp"]): r for r in read_jsonl(out)}
    assert len(rows) == 2 * 2 * 2 * 2  # layers x workloads x batches x layouts
    for tp, batch in itertools.product((1, 2), (2, 4)):
        for result in _compile(capsys, MODEL, "--hw", "h100x8", "--tp", str(tp), "--batch", str(batch)):
            row = rows[(result["layer"], result["workload"], batch, tp)]
            assert row["kind"] == {"a": "gqa", "up": "mlp"}[result["layer"]]
            _equals_compile(row, result)
            if result["layer"] == "up":
                assert "step" not in result and row["step_seconds"] is None
                continue
            step = result["step"]
            for key in ("scope", "seconds", "energy_pj", "tokens", "gpus", "tokens_per_second"):
                assert row[f"step_{key}"] == _close(step[key]), key
            assert {p["layer"]: row[f"step_{p['layer']}_seconds"] for p in step["parts"]} == pytest.approx(
                {p["layer"]: p["seconds"] for p in step["parts"]}, rel=1e-9
            )
            assert [p["kind"] for p in step["parts"]] == ["gqa", "mlp", "rmsnorm", "embedding", "lm_head"]


def test_ep_is_an_axis_whose_rows_equal_compile_and_whose_impossible_points_say_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "s.jsonl"
    argv = (str(FFN), "--hw", "h100x8", "--tp", "2", "--ep", "1,2,4", "-q", "-o", str(out))
    code, _, err = sweep(capsys, *argv)
    assert code == 0
    rows = {(r["layer"], r["ep"]): r for r in read_jsonl(out)}
    for ep in (1, 2):
        for result in _compile(capsys, FFN, "--hw", "h100x8", "--tp", "2", "--ep", str(ep)):
            assert result["ep"] == ep
            _equals_compile(rows[(result["layer"], ep)], result)
    reason = (
        "ep 4 does not fit tp 2 x dp 1: the experts spread over the 2 GPUs that run the model, every dp group alike, "
        "so ep must be dp times a divisor of tp (here 1, 2)"
    )
    assert rows[("e", 4)]["skipped"] == rows[("up", 4)]["skipped"] == reason
    assert err == f"sweep: 2 of 6 rows skipped (column 'skipped'), e.g.: {reason}\n"


def test_a_moe_layer_a_layout_cannot_spread_is_a_row_that_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "s.jsonl"
    argv = (str(FFN), "--hw", "h100x8", "--dp", "1,3", "--batch", "6", "--scheme", "auto", "-q", "-o", str(out))
    assert sweep(capsys, *argv)[0] == 0
    rows = {(r["layer"], r["dp"]): r for r in read_jsonl(out)}
    assert rows[("up", 3)]["seconds"] > 0 and rows[("e", 1)]["seconds"] > 0
    assert rows[("e", 3)]["skipped"] == (
        "layer 'e' has 8 experts, which dp 3 does not divide: under dp a MoE layer's experts are spread over the dp "
        "GPUs (expert parallelism), so dp must divide them"
    )


def test_an_attention_only_sweep_keeps_its_columns_and_ep_needs_experts(capsys: pytest.CaptureFixture[str]):
    code, out, _ = sweep(capsys, str(SMALL), "--hw", "h200x8", "--tp", "1,2", "--scheme", "auto", "-q")
    header = out.splitlines()[0].split(",")
    assert code == 0 and not {"kind", "ep"} & set(header) and not any(c.startswith("step_") for c in header)
    assert sweep(capsys, str(SMALL), "--hw", "h200x8", "--tp", "2", "--ep", "2", "-q")[::2] == (
        1,
        f"error: --ep spreads a MoE layer's experts over GPUs, but no layer of {SMALL} has experts\n",
    )
