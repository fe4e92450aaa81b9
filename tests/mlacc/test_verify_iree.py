"""`mlacc verify --backend iree` and `--emit mlir`: every scheme, lowered to upstream MLIR, compiles with IREE for
this CPU and computes what the numpy interpreter computes; IREE's errors are one line.

Each verify costs one iree-compile of the whole file (a few seconds on two cores), so the bundled examples run
their decode workload shrunk 64x; the prefill's causal mask runs in the odd-shapes test, and hypothesis draws two
random small MLA layers per run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacc import cli
from mlacc.frontend import parse_dsl
from mlacc.verify import layer_cases, scheme_passes, verify_cases
from tests.conftest import EXAMPLES, ROOT, SMALL_ATTN, examples, small_mla_files

iree_compiler = pytest.importorskip("iree.compiler", reason="the [iree] extra is not installed")
pytest.importorskip("iree.runtime", reason="the [iree] extra is not installed")

ODD = """\
// Nothing a power of two, no query compression, a chunk of prefill over a cached context (causal mask offset).
layer odd : mla { d_model = 45 heads = 3 q_rank = 0 kv_rank = 7 qk_nope_dim = 5 qk_rope_dim = 6 v_dim = 3 dtype = fp32 }
workload chunk { phase = prefill batch = 2 context = 4 new_tokens = 3 }
"""


def _verify(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["verify", *argv, "--backend", "iree"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_runs_on_iree(example: Path, capsys: pytest.CaptureFixture[str]):
    code, out, _ = _verify([str(example), "--shrink", "64", "--workload", "decode"], capsys)
    assert code == 0, out
    labels = [line.split(" on IREE")[0].strip() for line in out.splitlines() if " on IREE vs numpy " in line]
    mla = "mla" in example.read_text()
    assert labels[: 5 if mla else 1] == (
        ["unabsorbed IR", "recompute", "reuse", "expand", "cache-kv"] if mla else ["unabsorbed IR"]
    )
    assert "FAILED" not in out and out.splitlines()[-1].endswith("all within 0.0001")


def test_odd_shapes_run_on_iree(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "odd.attn"
    path.write_text(ODD)
    code, out, _ = _verify([str(path)], capsys)
    assert code == 0, out
    assert out.count(" ok\n") == 5 and "batch 2 context 4 new_tokens 3" in out


@settings(max_examples=examples(2))
@given(small_mla_files(d_model=(5, 40), q_rank=20, kv_rank=16, width=9, new_tokens=5), st.integers(0, 2**32 - 1))
def test_random_small_mla_layers_run_on_iree(text: str, seed: int):
    (result,) = verify_cases(layer_cases(parse_dsl(text, "r.attn"), 1), scheme_passes(), seed, 2**30, backend="iree")
    assert len(result.differences) == 5 and result.ok, (text, result.differences)


@pytest.mark.parametrize("layout", ["reduction-last", "dsl"])
def test_weights_in_either_layout_compute_the_same_on_iree(layout: str):
    # Every scheme of the small MLA layer, its weights and products in the layout the pass chose (transposed from
    # the interpreter's arrays by their mlacc.layout), agrees with the interpreter; only the default transposes.
    import numpy as np

    from mlacc.iree_backend import Compiled, Lowering, run_variant
    from mlacc.verify import UNABSORBED, interpret, prepare_case, random_inputs

    (case, _) = layer_cases(parse_dsl(SMALL_ATTN.read_text(), "small.attn"), 1)
    prepared = prepare_case(case, scheme_passes())
    lowering = Lowering(layout)
    lowered = lowering.add(prepared.variants)
    compiled = Compiled(lowering.module)
    weights, past, new = random_inputs(prepared, np.random.default_rng(0))
    reference = interpret(prepared, UNABSORBED, weights, past, new)
    for label, functions in lowered.items():
        output = run_variant(compiled, functions, weights, past, new)
        assert np.max(np.abs(output - reference)) <= 1e-4 * np.max(np.abs(reference)), label
    text = str(lowering.module)
    if layout == "dsl":
        assert "mlacc.layout" not in text and '%W_DQ: tensor<64x32xf32> {mlacc.weight = "W_DQ"}' in text
    else:  # W_DQ [d_model 64, q_rank 32] sums d_model: it comes in as [32, 64]
        assert '%W_DQ: tensor<32x64xf32> {mlacc.weight = "W_DQ", mlacc.layout = array<i64: 1, 0>}' in text


@pytest.mark.parametrize("gated", [1, 0], ids=["swiglu", "gelu"])
def test_an_mlp_layer_runs_on_iree(gated: int):
    # The interpreter has no MLP ops, so the reference is numpy's: silu(x W_gate) * (x W_up) W_down, or
    # gelu(x W_up) W_down in the tanh form, on weights as the DSL declares them (the call lays them out).
    import numpy as np

    from mlacc.iree_backend import Compiled, Lowering
    from mlacc.pipeline import compile_to
    from passes.convert_la_to_linalg import WEIGHT_KEY

    text = f"layer f : mlp {{ d_model = 24 width = 40 gated = {gated} dtype = fp32 }}\n"
    text += "workload p { phase = prefill batch = 2 new_tokens = 3 }\n"
    module = compile_to(parse_dsl(text, "f.attn"), "la")
    lowering = Lowering()
    step = lowering.add({"mlp": (module, None)})["mlp"].step
    assert step.precompose is None
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 24))
    weights = {name: rng.standard_normal(shape) / np.sqrt(shape[0]) for name, shape in
               (("W_up", (24, 40)), ("W_gate", (24, 40)), ("W_down", (40, 24)))}  # fmt: skip
    (output,) = Compiled(lowering.module).call(step.function, x, {WEIGHT_KEY: weights})
    up = x @ weights["W_up"]
    if gated:
        gate = x @ weights["W_gate"]
        hidden = gate / (1 + np.exp(-gate)) * up
    else:
        hidden = 0.5 * up * (1 + np.tanh(np.sqrt(2 / np.pi) * (up + 0.044715 * up**3)))
    expected = hidden @ weights["W_down"]
    assert np.max(np.abs(output - expected)) <= 1e-5 * np.max(np.abs(expected))


def test_a_wrong_lowering_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    # RoPE with another base than the interpreter's moves the output far past float32 rounding.
    monkeypatch.setattr("passes.linalg_patterns.ROPE_BASE", 500.0)
    path = tmp_path / "gqa.attn"
    path.write_text(
        "layer g : gqa { d_model = 16 heads = 4 kv_heads = 2 head_dim = 8 dtype = fp32 }\n"
        "workload d { phase = decode batch = 1 context = 9 }\n"
    )
    code, out, _ = _verify([str(path)], capsys)
    assert code == 1
    assert "unabsorbed IR on IREE vs numpy" in out and "FAILED (> 0.0001)" in out
    assert out.splitlines()[-1] == "verify: FAILED for g x d"


@pytest.mark.parametrize(
    ("attribute", "value", "said"),
    [
        ("mlacc.iree_backend.FLAGS", ("--iree-llvmcpu-target-cpu=no-such-cpu",), "Unknown CPU"),
        ("mlacc.iree_backend._text", lambda module: "func.func @f() { no.such_op }", "no.such_op"),
    ],
    ids=["bad flag", "bad IR"],
)
def test_an_iree_compile_error_is_one_line(
    attribute: str, value: object, said: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setattr(attribute, value)
    code, out, err = _verify([str(SMALL_ATTN)], capsys)
    assert (code, out) == (1, "")
    (line,) = err.splitlines()
    assert line.startswith("error: iree-compile: ") and said in line and "<stdin>" not in line


def test_a_missing_iree_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setitem(sys.modules, "iree.compiler", None)
    code, out, err = _verify([str(SMALL_ATTN)], capsys)
    assert (code, out) == (1, "")
    assert err == "error: --backend iree needs IREE's compiler and runtime: pip install 'mlacc[iree]'\n"


@pytest.mark.parametrize("scheme", ["recompute", "reuse", "expand", "cache-kv"])
def test_emitted_mlir_is_iree_input_unchanged(scheme: str, capsys: pytest.CaptureFixture[str]):
    # Full size, bf16, as a user would emit it: iree-compile --compile-to=input takes it as it is.
    example = str(ROOT / "examples" / "deepseek_v3.attn")
    assert cli.main(["compile", example, "--scheme", scheme, "--workload", "decode", "--emit", "mlir"]) == 0
    text = capsys.readouterr().out
    assert "la." not in text.replace("mlacc.", "")
    compiled = iree_compiler.compile_str(text, target_backends=["llvm-cpu"], extra_args=["--compile-to=input"])
    assert b"util.func public @deepseek_v3.decode" in compiled


def test_an_fp8_cache_is_iree_input_unchanged(capsys: pytest.CaptureFixture[str]):
    argv = ["compile", str(SMALL_ATTN), "--scheme", "reuse", "--kv-dtype", "fp8", "--emit", "mlir", "-q"]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "%latent_cached: tensor<2x6x16xf8E4M3FN>" in text
    iree_compiler.compile_str(text, target_backends=["llvm-cpu"], extra_args=["--compile-to=input"])


def test_emit_mlir_takes_no_sharding(capsys: pytest.CaptureFixture[str]):
    assert cli.main(["compile", str(SMALL_ATTN), "--emit", "mlir", "--tp", "2"]) == 2
    assert (
        capsys.readouterr().err
        == "error: --emit mlir lowers one device's unsharded layer: it takes no --tp, --dp or --ep\n"
    )


_IMPORTS_IREE = """
import sys
from contextlib import redirect_stdout
from io import StringIO
from mlacc import cli
with redirect_stdout(StringIO()):
    try:
        cli.main(sys.argv[1:])
    except SystemExit:
        pass
print("iree" in sys.modules)
"""


@pytest.mark.parametrize("argv", [["--help"], ["verify", "--help"], ["verify", str(SMALL_ATTN), "--workload", "d"]])
def test_iree_is_imported_only_for_its_backend(argv: list[str]):
    run = subprocess.run(
        [sys.executable, "-c", _IMPORTS_IREE, *argv], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert run.stdout.strip() == "False"
