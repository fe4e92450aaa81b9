"""What a user reads: remarks once, -q, --verbose, one-line usage errors, and a start that imports little."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlacc import cli, opt
from mlacc.hardware import DEFAULT_HARDWARE
from tests.conftest import ROOT, SMALL_ATTN

MHA = ROOT / "examples" / "mha_baseline.attn"
SMALL = SMALL_ATTN


def test_a_remark_is_printed_once_per_function(capsys: pytest.CaptureFixture[str]):
    # The report runs absorb five times per function (auto and every scheme); the remark was printed each time.
    assert cli.main(["compile", str(MHA)]) == 0
    remarks = [line for line in capsys.readouterr().err.splitlines() if "remark:" in line]
    assert remarks == [
        f"{MHA}:3:7: remark: absorb: @mha_baseline.{w} is a mha layer; MLA schemes do not apply, unchanged"
        for w in ("decode", "prefill")
    ]
    # A second command in the same process prints its remarks again: each command is its own session.
    assert cli.main(["compile", str(MHA), "--scheme", "recompute"]) == 0
    assert capsys.readouterr().err.count("remark:") == 2


def test_quiet_silences_remarks(capsys: pytest.CaptureFixture[str]):
    assert cli.main(["compile", str(MHA), "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert opt.main([str(SMALL), "-p", "lower-attn,absorb{scheme=reuse}", "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert opt.main([str(SMALL), "-p", "lower-attn,absorb{scheme=reuse}"]) == 0
    assert capsys.readouterr().err.count("remark:") == 1


def test_verbose_prints_pass_timings_on_stderr(capsys: pytest.CaptureFixture[str]):
    assert cli.main(["compile", str(MHA), "--verbose", "-q"]) == 0
    out, err = capsys.readouterr()
    assert "pass timing" not in out
    lines = err.splitlines()
    assert lines[0].startswith("pass timing (wall): ")
    # An MHA file has one schedule whatever the MLA scheme: the pipeline runs once (mlacc.pipeline.estimate).
    assert [line.split()[:2] for line in lines[1:6]] == [
        ["lower-attn", "1"],
        ["absorb", "1"],
        ["tile", "1"],
        ["place", "1"],
        ["schedule", "1"],
    ]
    assert opt.main([str(SMALL), "-p", "lower-attn,cse", "--verbose"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().err.splitlines()[1:]] == ["lower-attn", "cse", "other"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "absorb{scheme=bogus}",
            "error: pass 'absorb' option 'scheme' got 'bogus' (expected one of: recompute, reuse, expand, cache-kv, "
            "auto)",
        ),
        ("absorb{schem=reuse}", "error: pass 'absorb' has no option 'schem' (options: scheme); did you mean 'scheme'?"),
        ("lower-attn{scheme=reuse}", "error: pass 'lower-attn' has no option 'scheme' (options: none)"),
        ("lower-attn,absorb{scheme=1}", "error: pass 'absorb' option 'scheme' got '1' (expected one of: recompute,"),
        (
            "absorbb",
            "error: unknown pass 'absorbb' (passes: absorb, canonicalize, convert-la-to-linalg, cse, dce, lower-attn,",
        ),
    ],
)
def test_a_bad_pass_option_is_one_usage_line(capsys: pytest.CaptureFixture[str], spec: str, message: str):
    assert opt.main([str(SMALL), "-p", spec]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_unknown_hardware_is_usage_with_the_closest_preset(capsys: pytest.CaptureFixture[str]):
    for argv in (["compile", str(SMALL), "--hw", "h10"], ["hw", "show", "h10"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: unknown hardware 'h10' (presets: a100,") and err.endswith(
            "did you mean 'h100'?\n"
        )
    assert opt.main([str(SMALL), "--hw", "tpu-like"]) == 2
    assert capsys.readouterr().err.endswith("did you mean 'tpu_like'?\n")


def test_output_into_a_missing_folder_names_the_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # Before: "error: [Errno 2] No such file or directory: '.../.x.json.f3mtg26w.tmp'".
    out = tmp_path / "absent" / "x.json"
    assert cli.main(["compile", str(SMALL), "--counts", "-o", str(out)]) == 1
    assert capsys.readouterr().err == f"error: cannot write '{out}': folder '{out.parent}' does not exist\n"
    assert opt.main([str(SMALL), "-o", str(out)]) == 1
    assert capsys.readouterr().err == f"error: cannot write '{out}': folder '{out.parent}' does not exist\n"
    assert cli.main(["compile", str(SMALL), "--counts", "-o", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"error: cannot write '{tmp_path}': it is a folder\n"


def test_the_default_hardware_is_named_once():
    from mlacc import estimates

    assert estimates.DEFAULT_HARDWARE == DEFAULT_HARDWARE


_IMPORTED = """
import sys
from contextlib import redirect_stdout, redirect_stderr
from io import StringIO
from mlacc import cli
with redirect_stdout(StringIO()), redirect_stderr(StringIO()):
    try:
        cli.main(sys.argv[1:])
    except SystemExit:
        pass
print(" ".join(m for m in ("xdsl.dialects.builtin", "numpy", "networkx", "lark") if m in sys.modules))
"""


@pytest.mark.parametrize(
    ("argv", "imported"),
    [
        (["--help"], ""),
        (["hw", "list"], ""),
        (["compile", "--help"], ""),
        (["compile", str(SMALL_ATTN.parent / "unclosed.attn")], "lark"),
    ],
)
def test_light_commands_import_no_ir(argv: list[str], imported: str):
    # What keeps `mlacc --help`, `hw list` and a syntax error fast (benchmarks/cli_start.py times them).
    run = subprocess.run([sys.executable, "-c", _IMPORTED, *argv], capture_output=True, text=True, cwd=ROOT, check=True)
    assert run.stdout.strip() == imported


@pytest.mark.parametrize(
    "text",
    [
        "layer x : mlx { d_model = 64 }\nworkload w { phase = decode context = 8 }\n",
        "layer x : mha { d_model = 64 heads = 4 head_dim = 15 }\nworkload w { phase = decode context = 8 }\n",
        "layer x : mha { d_model = 64 heads = 4 head_dim = 16 }\nworkload w { phase = decode context = 0 }\n",
    ],
    ids=["unknown kind", "odd head_dim", "decode without context"],
)
def test_a_semantic_error_imports_no_ir(tmp_path: Path, text: str):
    # The DSL's semantic errors are one-line errors too, reported at a syntax error's speed (cli_start.py).
    path = tmp_path / "bad.attn"
    path.write_text(text)
    run = subprocess.run(
        [sys.executable, "-c", _IMPORTED, "compile", str(path)], capture_output=True, text=True, cwd=ROOT
    )
    assert run.stdout.strip() == "lark"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (  # a workload's fault comes before any layer's
            "layer x : mlx { d_model = 64 }\nworkload w { phase = decode batch = 0 context = 8 }\n",
            "2:37: error: batch must be positive, got 0",
        ),
        (  # layers in file order: the first layer's shape before the second layer's kind
            "layer a : mha { d_model = 64 heads = 4 head_dim = 15 }\nlayer b : mhx { d_model = 64 }\n"
            "workload w { phase = decode context = 8 }\n",
            "1:51: error: head_dim must be even (RoPE rotates pairs), got 15",
        ),
    ],
)
def test_the_first_fault_in_reading_order_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text, message
):
    path = tmp_path / "bad.attn"
    path.write_text(text)
    assert cli.main(["compile", str(path)]) == 1
    assert capsys.readouterr().err == f"{path}:{message}\n"


def test_the_frontend_and_the_dialect_share_the_kinds():
    from dialects.attn import DTYPES, LAYER_OPS
    from dialects.attn_rules import DTYPE_NAMES, KIND_DIMS

    assert {kind: op.DIMS for kind, op in LAYER_OPS.items()} == KIND_DIMS and list(LAYER_OPS) == list(KIND_DIMS)
    assert tuple(DTYPES) == DTYPE_NAMES
