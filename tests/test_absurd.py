"""Absurd but valid sizes: the cost model works from shapes, so terabyte weights or a billion-token context
compile in the time of a small layer (benchmarks/fuzz.py prints how long), or fail in one line where a count
leaves the IR's 64-bit integers."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlacc import cli

ROOT = Path(__file__).resolve().parents[1]

BIG = "layer big : mha { d_model = 7168 heads = 2000000 head_dim = 2000000 }\n"


def _compile(tmp_path: Path, text: str, *argv: str) -> int:
    path = tmp_path / "absurd.attn"
    path.write_text(text)
    return cli.main(["compile", str(path), "-q", *argv])


def test_a_layer_of_two_million_heads_of_two_million_compiles(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # 4e12 values per token per projection: 57 PB of weights. Nothing may scale with an extent.
    text = BIG + "workload d { phase = decode context = 4k }\n"
    assert _compile(tmp_path, text) == 0
    assert "== big (mha, bf16) x d" in capsys.readouterr().out


def test_a_billion_token_context_compiles(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    text = (
        "layer v3 : mla { d_model = 7168 heads = 128 q_rank = 1536 kv_rank = 512 qk_nope_dim = 128 qk_rope_dim = 64"
        " v_dim = 128 }\nworkload d { phase = decode context = 1000000000 }\n"
    )
    assert _compile(tmp_path, text) == 0
    assert "context 1000000000" in capsys.readouterr().out


def test_a_count_beyond_64_bits_is_one_plain_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # The prefill moves 2.3e20 bytes: more than the IR's i64 attributes hold. Before, xDSL's own words:
    # "Integer value 234881024000000000000 is out of range for type i64 which supports values in the range [...]".
    text = BIG + "workload p { phase = prefill new_tokens = 4k }\n"
    assert _compile(tmp_path, text) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: a count of ") and "exceeds the 64-bit integers of mlacc's IR" in line


def test_an_absurd_but_finite_energy_compiles_without_numpy_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder
):
    """1e308 pJ per MAC is finite, so the loader takes it; the attention kernel's MACs (4x a GEMM's) then
    overflow to an infinite energy, which the report prints as such, without numpy's overflow warnings
    (seen in tests/test_fuzz.py)."""
    text = (ROOT / "mlacc/hardware/presets/h200.toml").read_text()
    chip = tmp_path / "chip.toml"
    chip.write_text(text.replace("bf16 = 0.831 ", "bf16 = 1e308 "))
    example = ROOT / "examples/mha_baseline.attn"
    assert cli.main(["compile", str(example), "--hw", str(chip), "--workload", "decode", "-q"]) == 0
    assert "inf" in capsys.readouterr().out
    assert [str(w.message) for w in recwarn if "overflow" in str(w.message) or "invalid" in str(w.message)] == []
