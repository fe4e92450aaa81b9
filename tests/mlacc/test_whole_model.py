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


# Published totals (model cards; DeepSeek-V3 without its 14B MTP module): every weight of the config counts.
PUBLISHED_PARAMS = {
    "deepseek_v3": 671e9,
    "kimi_k2": 1.03e12,
    "deepseek_v2_lite": 15.7e9,
    "qwen2_5_72b": 72.7e9,
    "llama3_70b": 70.6e9,
}
HF = ROOT / "tests" / "fixtures" / "hf"


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_whole_model_parameters_match_the_published_totals(name: str, capsys: pytest.CaptureFixture[str]):
    config = HF / f"{name}.json"
    argv = ["compile", str(config), "--workload", "decode", "--scheme", "recompute", "--format", "json", "-q"]
    assert cli.main(argv) == 0
    model = json.loads(capsys.readouterr().out)["results"][0]["model"]
    assert model["params"] == pytest.approx(PUBLISHED_PARAMS[name], rel=0.015)
    assert model["params"] == sum(model["params_by_part"].values())
    assert model["weight_bytes"] == 2 * model["params"]  # bf16, as torch_dtype says
    assert model["params_by_part"]["mtp"] == 0  # counted only when asked


def test_mtp_modules_count_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """DeepSeek-V3 with its MTP module: 685B on its model card, which also counts the module's copy of the
    embeddings and head (1.9B) that mlacc shares with the model."""
    assert cli.main(["import", str(HF / "deepseek_v3.json"), "-o", str(tmp_path / "v3.attn")]) == 0
    text = (tmp_path / "v3.attn").read_text()
    assert "  // mtp_layers     = 1" in text
    with_mtp = _report(tmp_path, capsys, text.replace("  // mtp_layers     = 1", "  mtp_layers = 1"),
                       "--workload", "decode", "--scheme", "recompute")["results"][0]["model"]  # fmt: skip
    assert with_mtp["params"] == pytest.approx(685e9 - 2 * 129280 * 7168, rel=0.015)
    assert with_mtp["params_by_part"]["mtp"] > 11e9


LLAMA = """
layer llama3_70b : gqa {
  d_model = 8192  heads = 64  kv_heads = 8  head_dim = 128  layers = 80
  vocab = 128256  mlp = 28672
}
workload decode { phase = decode  context = 4k }
"""


def test_llama3_70b_tp8_max_batch_matches_the_derivation_by_hand(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """docs/models.md derives Llama-3-70B's max batch on h100x8 at tp 8 and a 4k context by hand: 323."""
    result = _report(tmp_path, capsys, LLAMA, "--hw", "h100x8", "--tp", "8")["results"][0]
    model = result["model"]
    d, kv, head, mlp, vocab, layers, tp = 8192, 8, 128, 28672, 128256, 80, 8
    attention = (d * 64 * head + 2 * d * kv * head + 64 * head * d) // tp  # W_Q, W_K, W_V, W_O over 8 GPUs
    per_gpu = 2 * (layers * (attention + 3 * d * mlp // tp + 2 * d) + d + 2 * vocab // tp * d)
    assert model["weight_bytes_per_gpu"] == per_gpu == 17_640_734_720
    kv_per_token = 2 * (kv // tp) * head * 2 * layers  # a key and a value of one KV head, bf16, 80 layers
    assert model["kv_bytes_per_token"] == kv_per_token == 40_960
    usable = 0.9 * 80e9  # vLLM's gpu_memory_utilization default, of an H100's 80 GB
    by_hand = (usable - per_gpu) / (kv_per_token * (4096 + 1))
    assert int(by_hand) == 323
    assert model["max_batch"] == pytest.approx(by_hand, rel=0.05)
    assert model["memory_utilization"] == 0.9 and model["usable_bytes"] == usable
    # The whole node: every GPU holds its tp share of every sequence, so the node serves max_batch sequences.
    assert result["max_batch_node"] == model["max_batch"]


def test_memory_utilization_is_the_reserve(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    full = _report(tmp_path, capsys, LLAMA, "--hw", "h100x8", "--tp", "8", "--memory-utilization", "1")
    model = full["results"][0]["model"]
    assert model["max_batch"] == (80_000_000_000 - model["weight_bytes_per_gpu"]) // (40_960 * 4097) == 371
    path = tmp_path / "model.attn"
    for bad in ("0", "1.5", "x"):
        with pytest.raises(SystemExit) as exit:
            cli.main(["compile", str(path), "--memory-utilization", bad])
        assert exit.value.code == 2
        assert "expected a share of memory above 0 and at most 1" in capsys.readouterr().err


def test_an_fp8_kv_cache_halves_kv_bytes_and_reads_fewer_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """`kv_dtype = fp8` (or `--kv-dtype fp8`): the caches hold 1-byte entries beside bf16 weights, so the KV bytes
    halve, and the attention kernels read half the cache bytes, so decode is faster."""
    options = ("--hw", "h100x8", "--tp", "8", "--context", "32k", "--batch", "8")
    bf16 = _report(tmp_path, capsys, LLAMA, *options)["results"][0]
    fp8 = _report(tmp_path, capsys, LLAMA.replace("mlp = 28672", "mlp = 28672 kv_dtype = fp8"), *options)["results"][0]
    flag = _report(tmp_path, capsys, LLAMA, *options, "--kv-dtype", "fp8")["results"][0]
    assert flag == fp8
    assert 2 * fp8["kv_cache_bytes"] == bf16["kv_cache_bytes"]
    assert 2 * fp8["model"]["kv_bytes_per_token"] == bf16["model"]["kv_bytes_per_token"] == 2 * 128 * 2 * 80
    assert fp8["weight_bytes"] == bf16["weight_bytes"]
    ops = {op["name"]: op for op in bf16["ops"]}
    fp8_ops = {op["name"]: op for op in fp8["ops"]}
    for name in ("scores", "attn_out"):  # the kernels that read the cached keys and values
        assert fp8_ops[name]["bytes"]["hbm"] < 0.6 * ops[name]["bytes"]["hbm"]
    assert fp8["seconds"] < bf16["seconds"]
    assert fp8["model"]["max_batch"] > 1.9 * bf16["model"]["max_batch"] > 0
    # The layer's own dtype as the cache's: no separate cache dtype, the bf16 figures.
    assert _report(tmp_path, capsys, LLAMA, *options, "--kv-dtype", "bf16")["results"][0] == bf16


def test_a_sweep_row_counts_every_weight_as_compile_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    config = HF / "llama3_70b.json"
    out = tmp_path / "rows.jsonl"
    axes = ("--hw", "h100x8", "--tp", "8", "--batch", "4", "--context", "4k", "--workload", "decode", "-q")
    assert cli.main(["sweep", str(config), *axes, "-o", str(out)]) == 0
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    compiled = _report(tmp_path, capsys, LLAMA, *axes[:-1])
    assert row["max_batch"] == compiled["results"][0]["max_batch"] == 323


def test_compare_says_what_its_whole_model_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "llama.attn"
    path.write_text(LLAMA)
    assert cli.main(["compare", str(path), "--hw", "h100x8", "--tp", "8", "-q"]) == 0
    text = capsys.readouterr().out
    assert "capacity: every weight of the model where the layer describes it" in text
    (row,) = [line for line in text.splitlines() if "llama3_70b (gqa) x80" in line]
    assert row.split()[-1] == "323"
