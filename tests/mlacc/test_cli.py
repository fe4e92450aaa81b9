"""The `mlacc` and `mlacc-opt` command lines: outputs, exit codes, and one-line errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlacc import cli, opt
from tests.conftest import EXAMPLES, ROOT

GOOD = "layer m : mha { d_model = 64 heads = 4 head_dim = 16 }\nworkload w { phase = decode context = 8 }\n"


def _write(tmp_path: Path, text: str, name: str = "in.attn") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_compiles_to_a_report_and_to_la(example: Path, capsys: pytest.CaptureFixture[str]):
    text = example.read_text()
    kinds = re.findall(r"^layer \w+ : (\w+)", text, re.MULTILINE)
    workloads = len(re.findall(r"^workload ", text, re.MULTILINE))
    assert cli.main(["compile", str(example), "--counts"]) == 0
    report = capsys.readouterr().out
    assert report.count("== ") == len(kinds) * workloads and "FLOP/B" in report
    rows = [line.split()[0] for line in report.splitlines() if line.startswith("  ") and "FLOP/B" not in line]
    schemes = ["recompute", "reuse", "expand", "cache-kv"]
    assert rows == [row for kind in kinds for _ in range(workloads) for row in (schemes if kind == "mla" else ["-"])]
    assert cli.main(["compile", str(example)]) == 0
    report = capsys.readouterr().out
    assert report.startswith("hardware: h100: NVIDIA H100") and "(the default; choose with --hw NAME|PATH)" in report
    assert report.count("== ") == len(kinds) * workloads
    assert cli.main(["compile", str(example), "--emit", "la"]) == 0
    assert "la.einsum" in capsys.readouterr().out


def test_workload_selection(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = _write(tmp_path, GOOD + "workload p { phase = prefill new_tokens = 4 }\n")
    assert cli.main(["compile", path, "--emit", "attn", "--workload", "p"]) == 0
    out = capsys.readouterr().out
    assert "@m.p" in out and "@m.w" not in out
    assert cli.main(["compile", path, "--workload", "nope"]) == 2
    assert capsys.readouterr().err == f"error: no workload 'nope' in {path} (it has: w, p)\n"


def test_bad_input_is_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = _write(tmp_path, GOOD.replace("heads = 4", "heads = 0"))
    assert cli.main(["compile", path]) == 1
    assert capsys.readouterr().err == f"{path}:1:38: error: heads must be positive, got 0\n"


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert cli.main(["compile", str(tmp_path / "absent.attn")]) == 1
    assert capsys.readouterr().err == f"error: cannot read '{tmp_path / 'absent.attn'}': No such file or directory\n"


def test_output_is_written_whole_or_not_at_all(tmp_path: Path):
    out = tmp_path / "out.mlir"
    assert cli.main(["compile", _write(tmp_path, GOOD), "--emit", "la", "-o", str(out)]) == 0
    assert out.read_text().startswith("builtin.module {") and out.read_text().endswith("}\n")
    bad = _write(tmp_path, GOOD.replace("head_dim = 16", "head_dim = 15"), "bad.attn")
    assert cli.main(["compile", bad, "-o", str(tmp_path / "never.mlir")]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.attn", "in.attn", "out.mlir"]


def test_opt_reads_dsl_and_writes_output_whole(tmp_path: Path):
    out = tmp_path / "la.mlir"
    assert opt.main([_write(tmp_path, GOOD), "-p", "lower-attn", "-o", str(out)]) == 0
    assert "la.softmax" in out.read_text()
    assert opt.main([_write(tmp_path, "layer", "bad.attn"), "-o", str(tmp_path / "never.mlir")]) == 1
    assert not (tmp_path / "never.mlir").exists()


def test_opt_locates_invalid_ops_of_dsl_origin(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # An invalid la op in MLIR text that carries a source location is reported there.
    text = (
        '%w = "la.weight"() <{weight = "W"}> : () -> tensor<4x8xf32> loc("model.attn":3:5)\n'
        '%y = "la.einsum"(%w, %w) <{spec = "ab,ab->b"}> : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4xf32>'
        ' loc("model.attn":7:9)\n'
    )
    assert opt.main([_write(tmp_path, text, "x.mlir")]) == 1
    assert (
        capsys.readouterr().err
        == "model.attn:7:9: error: 'la.einsum' op einsum 'ab,ab->b' yields shape [8], result has [4]\n"
    )


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["-p", "lower-attn{"], 2, "error: bad pipeline"),
        (["-p", "no-such-pass"], 2, "error: unknown pass 'no-such-pass' (passes: absorb, canonicalize,"),
    ],
)
def test_opt_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str):
    assert opt.main([_write(tmp_path, GOOD), *argv]) == code
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_console_scripts_never_print_a_traceback(tmp_path: Path):
    bad = _write(tmp_path, "layer m : mha { d_model = 64 heads = 4 head_dim = 16 }\nworkload w { phase = decode }")
    for tool in ("mlacc", "mlacc-opt"):
        args = [tool, "compile", bad] if tool == "mlacc" else [tool, bad]
        script = Path(sys.executable).parent / tool
        if not script.exists():
            pytest.skip("console scripts are not installed")
        run = subprocess.run([str(script), *args[1:]], capture_output=True, text=True, cwd=ROOT)
        assert run.returncode == 1
        assert run.stderr == f"{bad}:2:10: error: 'w' is missing field 'context'\n"
        assert run.stdout == ""
