"""`layers = N`: a layer's figures and the whole model's (attention only), its KV cache and the largest batch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlacc import cli
from mlacc.hardware import load_hardware
from tests.conftest import ROOT

V3 = (ROOT / "examples" / "deepseek_v3.attn").read_text().replace("  dtype ", "  layers      = 61\n  dtype ", 1)


def _report(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, *options: str) -> dict:
    path = tmp_path / "model.attn"
    path.write_text(text)
    assert cli.main(["compile", str(path), "--format", "json", "-q", *options]) == 0
    return json.loads(capsys.readouterr().out)


def test_deepseek_v3_whole_model_kv_cache_and_max_batch(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    report = _report(tmp_path, capsys, V3, "--hw", "h200", "--workload", "decode", "--context", "32k")
    result = report["results"][0]
    assert result["layers"] == 61
    model = result["model"]
    assert model["scope"].startswith("attention only")
    # By hand: the latent (512) and the shared RoPE key (64), bf16, in each of 61 layers.
    assert model["kv_bytes_per_token"] == (512 + 64) * 2 * 61 == 70_272
    assert model["kv_cache_bytes_per_sequence"] == 70_272 * (32 * 1024 + 1)  # the cache after the step
    # Weights per layer by hand: W_DQ 7168x1536, W_UQ|W_QR 1536x128x192, W_DKV|W_KR 7168x576, W_UK|W_UV 512x128x256,
    # W_O 128x128x7168, and the two latent RMSNorms (1536 + 512), at 2 bytes.
    weights = (7168 * 1536 + 1536 * 128 * 192 + 7168 * 576 + 512 * 128 * 256 + 128 * 128 * 7168 + 1536 + 512) * 2
    assert result["scheme"] == "recompute" and result["weight_bytes"] == weights == 374_214_656
    assert model["weight_bytes"] == 61 * weights
    # H200: 141 GB; what the 61 layers' weights leave, over one sequence's cache in all layers: 51.3 -> 51
    # (the activations of one layer, a few MB a sequence, do not change the floor).
    capacity = 141_000_000_000
    assert load_hardware("h200").dram.capacity_bytes.data == capacity
    assert (capacity - 61 * weights) // (70_272 * 32_769) == 51
    assert result["max_batch"] == model["max_batch"] == 51 and model["fits"]
    # Per scheme: reuse's composed weights leave less room; cache-kv's per-head cache does not fit one sequence.
    by_scheme = {alt["scheme"]: alt for alt in result["alternatives"]}
    assert by_scheme["reuse"]["max_batch"] < 51
    assert by_scheme["cache-kv"]["max_batch"] == 0 and not by_scheme["cache-kv"]["model"]["fits"]
    # per head a key of nope + rope (192) and a value (128)
    assert by_scheme["cache-kv"]["model"]["kv_bytes_per_token"] == 128 * (192 + 128) * 2 * 61
    # The model's step is the layer's, 61 times (attention layers run one after another).
    assert model["seconds"] == pytest.approx(61 * result["seconds"])
    assert model["energy_pj"] == pytest.approx(61 * result["energy_pj"])


def test_without_layers_a_report_is_one_layers(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    plain = (ROOT / "examples" / "deepseek_v3.attn").read_text()
    result = _report(tmp_path, capsys, plain, "--workload", "decode")["results"][0]
    assert "layers" not in result and "model" not in result
    one = _report(tmp_path, capsys, V3.replace("= 61", "= 1"), "--workload", "decode")["results"][0]
    assert one["model"]["kv_cache_bytes"] == result["kv_cache_bytes"]
    assert one["max_batch"] == result["max_batch"] > 1000


def test_text_report_and_compare_show_the_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "v3.attn"
    path.write_text(V3)
    assert cli.main(["compile", str(path), "--workload", "decode", "--context", "32k", "--hw", "h200", "-q"]) == 0
    text = capsys.readouterr().out
    assert "whole model, 61 layers (attention only: MLP/MoE, embeddings and norms not modelled), per step:" in text
    assert "70.3 kB" in text  # KV per token of the whole model
    assert cli.main(["compare", str(path), "--workload", "decode", "--context", "32k", "--hw", "h100,h200", "-q"]) == 0
    text = capsys.readouterr().out
    assert "whole model (attention only" in text and "deepseek_v3 recompute* x61" in text


def test_layers_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "bad.attn"
    path.write_text(V3.replace("= 61", "= 0"))
    assert cli.main(["compile", str(path)]) == 1
    assert capsys.readouterr().err == f"{path}:11:17: error: layers must be positive, got 0\n"
