"""`mlacc verify` and the interpreter: schemes agree with the unabsorbed IR, and a wrong rewrite is caught."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.passes import ModulePass

import mlacc.verify
from dialects import la
from mlacc import cli
from mlacc.frontend import parse_dsl
from mlacc.interp import InterpreterInputError, rope, run_function, softmax
from mlacc.verify import LayerCase, layer_cases, scheme_passes, verify_cases
from passes.absorb import AbsorbPass
from tests.conftest import EXAMPLES, ROOT, SMALL_ATTN, examples, lowered, small_mla_files

SMALL = str(SMALL_ATTN)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_verifies_shrunk(example: Path, capsys: pytest.CaptureFixture[str]):
    assert cli.main(["verify", str(example), "--shrink", "8"]) == 0
    out = capsys.readouterr().out
    assert "shrunk 8x" in out and "FAILED" not in out
    text = example.read_text()
    # MLP and MoE layers have no scheme to check: verify skips them.
    kinds = [k for k in re.findall(r"^layer \w+ : (\w+)", text, re.MULTILINE) if k not in ("mlp", "moe")]
    workloads = len(re.findall(r"^workload ", text, re.MULTILINE))
    comparisons = sum(5 if kind == "mla" else 1 for kind in kinds) * workloads  # MLA: 4 schemes + the reference
    assert out.count(" ok\n") == comparisons
    cases = len(kinds) * workloads
    assert out.splitlines()[-1].startswith(f"verify: {comparisons} comparisons over {cases} layer x workload")


def test_a_full_size_layer_verifies_without_shrinking(capsys: pytest.CaptureFixture[str]):
    example = str(ROOT / "examples" / "deepseek_v2_lite.attn")
    assert cli.main(["verify", example, "--workload", "decode"]) == 0
    out = capsys.readouterr().out
    assert "full size: d_model 2048 heads 16 q_rank 0 kv_rank 512" in out and "context 4096" in out


def test_full_size_deepseek_v3_is_refused_with_a_pointer_to_shrink(capsys: pytest.CaptureFixture[str]):
    example = str(ROOT / "examples" / "deepseek_v3.attn")
    assert cli.main(["verify", example]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith(f"{example}:3:7: error: verifying deepseek_v3 x decode (full size:")
    assert "GiB of float64 tensors" in line and "--shrink N" in line


def test_bad_shrink_is_a_usage_error(capsys: pytest.CaptureFixture[str]):
    assert cli.main(["verify", SMALL, "--shrink", "0"]) == 2
    assert capsys.readouterr().err == "error: --shrink must be a positive integer, got 0\n"


def test_shrink_divides_every_dimension_and_token_count():
    (decode, _) = layer_cases(parse_dsl((ROOT / "examples" / "deepseek_v3.attn").read_text(), "v3.attn"), 8)
    assert decode.dims == {
        "d_model": 896,
        "heads": 16,
        "q_rank": 192,
        "kv_rank": 64,
        "qk_nope_dim": 16,
        "qk_rope_dim": 8,
        "v_dim": 16,
    }
    assert (decode.workload.context.data, decode.workload.new_tokens.data) == (512, 1)
    gqa = layer_cases(parse_dsl((ROOT / "examples" / "llama3_70b_gqa.attn").read_text(), "l.attn"), 16)[0]
    assert gqa.dims["heads"] // gqa.dims["kv_heads"] == 8  # the group size survives shrinking


@dataclass(frozen=True)
class TransposedUpProjection(ModulePass):
    """A deliberately wrong `recompute`: the absorbed query reads W_UK transposed (kv_rank x nope swapped)."""

    name = "broken-absorb"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        AbsorbPass(scheme="recompute").apply(ctx, op)
        for einsum in op.walk():
            if isinstance(einsum, la.EinsumOp) and einsum.spec.data == "bshn,chn->bshc":
                einsum.properties["spec"] = StringAttr("bshn,nhc->bshc")
                return
        raise AssertionError("no absorbed query einsum to break")


SQUARE = """
layer sq : mla { d_model = 32 heads = 2 q_rank = 16 kv_rank = 8 qk_nope_dim = 8 qk_rope_dim = 4 v_dim = 8 dtype = fp32 }
workload d { phase = decode context = 5 batch = 2 }
"""


def test_a_transposed_w_uk_fails_verification(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    cases = layer_cases(parse_dsl(SQUARE, "sq.attn"), 1)
    (correct,) = verify_cases(cases, scheme_passes(), seed=0, max_bytes=2**30)
    assert correct.ok
    (broken,) = verify_cases(cases, {"recompute": TransposedUpProjection()}, seed=0, max_bytes=2**30)
    assert not broken.ok and broken.differences["recompute vs unabsorbed IR"] > 1e-3
    # The command line says so and exits 1.
    path = tmp_path / "sq.attn"
    path.write_text(SQUARE)
    # The command imports mlacc.verify when it runs, so the patch goes there.
    monkeypatch.setattr(mlacc.verify, "scheme_passes", lambda: {"recompute": TransposedUpProjection()})
    assert cli.main(["verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert "recompute vs unabsorbed IR" in out and "FAILED (> 1e-09)" in out
    assert out.splitlines()[-1] == "verify: FAILED for sq x d"


@settings(max_examples=examples(30))
@given(small_mla_files(), st.integers(0, 2**32 - 1))
def test_every_scheme_preserves_random_small_mla_layers(text: str, seed: int):
    (result,) = verify_cases(layer_cases(parse_dsl(text, "r.attn"), 1), scheme_passes(), seed, 2**30)
    assert result.ok, (text, result.differences)


def test_rope_rotation_depends_only_on_relative_position():
    rng = np.random.default_rng(1)
    q, k = rng.standard_normal((1, 1, 8)), rng.standard_normal((1, 1, 8))
    dot = [float(np.sum(rope(q, 1, m) * rope(k, 1, m - 3))) for m in (3, 10, 100)]
    assert np.allclose(dot, dot[0], rtol=1e-12)
    assert np.allclose(np.linalg.norm(rope(q, 1, 7)), np.linalg.norm(q))


def test_causal_softmax_lets_query_i_see_keys_up_to_t_minus_s_plus_i():
    probs = softmax(np.zeros((2, 5)), 1.0, causal=True)
    assert np.array_equal(probs > 0, np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=bool))
    assert np.allclose(probs.sum(axis=-1), 1.0)


def test_interpreter_names_a_missing_weight():
    module = lowered(open(SMALL).read(), SMALL)
    first = next(op for op in module.ops)
    with pytest.raises(InterpreterInputError, match="no value given for weight 'W_DQ'"):
        run_function(module, first, np.zeros((2, 1, 64)), {}, {})  # type: ignore[arg-type]


def test_layer_case_describes_its_shape():
    (case, _) = layer_cases(parse_dsl(open(SMALL).read(), SMALL), 1)
    assert isinstance(case, LayerCase) and case.describe().startswith("full size: d_model 64 heads 2 q_rank 32")
