"""`mlacc compare` of several files (DSL or config.json) against a baseline layer: a speedup column, text and JSON."""

from __future__ import annotations

import json

import pytest

from mlacc import cli
from tests.conftest import ROOT

V3 = str(ROOT / "examples" / "deepseek_v3.attn")
MHA = str(ROOT / "examples" / "mha_baseline.attn")
LLAMA = str(ROOT / "tests" / "fixtures" / "hf" / "llama3_70b.json")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_an_mla_file_against_its_mha_twin_in_json(capsys: pytest.CaptureFixture[str]):
    """`compare` took one file, so an MLA model could not be set against its MHA twin without editing files. Each
    result and each alternative scheme gains `speedup`: the baseline's step time (its auto scheme's) over its own,
    on the same hardware and workload."""
    code, out, err = run(capsys, "compare", V3, MHA, "--baseline", "mha_baseline", "--format", "json", "-q")
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["baseline"] == "mha_baseline" and report["hardware"] == ["h100"]
    results = {(r["layer"], r["workload"]): r for r in report["results"]}
    assert results.keys() == {(layer, w) for layer in ("deepseek_v3", "mha_baseline") for w in ("decode", "prefill")}
    for workload in ("decode", "prefill"):
        base = results[("mha_baseline", workload)]
        assert base["speedup"] == 1.0
        mla = results[("deepseek_v3", workload)]
        assert mla["speedup"] == pytest.approx(base["seconds"] / mla["seconds"], rel=1e-12)
        for alternative in mla["alternatives"]:
            assert alternative["speedup"] == pytest.approx(base["seconds"] / alternative["seconds"], rel=1e-12)


def test_the_speedup_column_in_text_and_a_config_beside_dsl(capsys: pytest.CaptureFixture[str]):
    """A config.json is read as its DSL; the baseline's row is 1.00x on every hardware."""
    argv = ("compare", LLAMA, MHA, "--baseline", "mha_baseline", "--workload", "decode", "--hw", "h100,h200", "-q")
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[1].count("vs mha_baseline") == 2
    base = next(line for line in lines if line.startswith("  mha_baseline (mha)"))
    assert base.count("1.00x") == 2
    report = json.loads(run(capsys, *argv, "--format", "json")[1])
    llama = [r for r in report["results"] if r["layer"] == "llama3_70b"]
    assert [f"{r['speedup']:.2f}x" for r in llama] == [
        word for word in next(line for line in lines if line.startswith("  llama3_70b (gqa)")).split() if "x" in word
    ]


def test_without_a_baseline_nothing_is_added(capsys: pytest.CaptureFixture[str]):
    code, out, _ = run(capsys, "compare", V3, MHA, "--workload", "decode", "--format", "json", "-q")
    report = json.loads(out)
    assert code == 0 and "baseline" not in report and not any("speedup" in r for r in report["results"])
    assert "vs " not in run(capsys, "compare", V3, MHA, "--workload", "decode", "-q")[1]


def test_a_baseline_the_files_lack_and_a_layer_in_two_files_are_one_line(capsys: pytest.CaptureFixture[str]):
    code, out, err = run(capsys, "compare", V3, MHA, "--baseline", "mha_basline")
    assert (code, out) == (2, "")
    assert err == f"error: --baseline: no layer 'mha_basline' in {V3}, {MHA} (layers: deepseek_v3, mha_baseline)" + (
        "; did you mean 'mha_baseline'?\n"
    )
    code, out, err = run(capsys, "compare", MHA, MHA, "-q")
    assert (code, out) == (1, "")
    assert err == f"error: layer 'mha_baseline' is in both {MHA} and {MHA}: rename one to compare them\n"
