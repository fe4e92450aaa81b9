"""Per-hardware estimates: the JSON contract, roofline floors, energy sums, and what the model predicts."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest

from dialects.hw import attach_target
from mlacc import cli
from mlacc.estimates import LayerResult
from mlacc.frontend import parse_dsl
from mlacc.hardware import load_hardware, preset_names
from mlacc.pipeline import estimate
from tests.conftest import EXAMPLES

RESULT_FIELDS = {
    "layer", "workload", "phase", "batch", "context", "scheme", "hardware", "cycles", "seconds", "energy_pj",
    "energy_breakdown_pj", "flops", "dram_bytes", "kv_cache_bytes", "weight_bytes", "bound", "ops",
}  # fmt: skip
OP_FIELDS = {"name", "kind", "flops", "bytes", "cycles", "seconds", "energy_pj", "bound", "kernel"}


def _json(args: list[str]) -> dict:
    import contextlib

    out = StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(args) == 0
    return json.loads(out.getvalue())


FP32_LAYERS = Path(__file__).resolve().parents[2] / "benchmarks" / "cpu" / "layers"
"""The bundled examples in fp32, for a preset that computes nothing else (host: it refuses a bf16 layer)."""


@pytest.mark.parametrize("hardware", preset_names())
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_json_contract_roofline_floor_and_energy_sum(example: Path, hardware: str):
    target = load_hardware(hardware)
    dtype = "bf16" if target.peak_macs_per_cycle("bf16") > 0 else "fp32"
    if dtype == "fp32":
        example = FP32_LAYERS / example.name
        if not example.is_file():
            pytest.skip(f"{hardware} computes fp32 only and {example.name} has no fp32 copy")
    report = _json(["compile", str(example), "--hw", hardware, "--format", "json"])
    assert report["hardware"] == hardware and report["mlacc_version"]
    dram = target.dram
    dram_bandwidth = max(dram.read_bandwidth, dram.write_bandwidth) * dram.count.data * target.frequency
    for result in report["results"]:
        assert RESULT_FIELDS <= set(result)
        assert result["seconds"] == pytest.approx(result["cycles"] / target.frequency)
        assert sum(result["energy_breakdown_pj"].values()) == pytest.approx(result["energy_pj"])
        assert sum(op["energy_pj"] for op in result["ops"]) == pytest.approx(result["energy_pj"])
        assert sum(op["flops"] for op in result["ops"]) == result["flops"]
        peak = target.peak_flops_per_second(dtype)

        def floor(ops: list[dict], peak: float = peak) -> float:
            dram_bytes = sum(op["bytes"].get(dram.level_name.data, 0) for op in ops)
            return max(sum(op["flops"] for op in ops) / peak, dram_bytes / dram_bandwidth)

        whole = [op for op in result["ops"] if op.get("library") == "flashmla"]
        if whole:  # a kernel modelled as a whole, its time shared by its ops' MACs: the floor is the kernel's
            assert sum(op["seconds"] for op in whole) >= floor(whole) * (1 - 1e-9)
        for op in result["ops"]:
            assert OP_FIELDS <= set(op)
            # Softmax and score sums inside a measured fused-attention kernel take no compute time of their own
            # (the kernel's measured contraction rate pays for them): the whole step's floor covers them.
            fused = op["kind"] in ("add", "softmax") and op["kernel"] == "flash"
            if (fused and target.is_calibrated) or op in whole:
                continue
            assert op["seconds"] >= floor([op]) * (1 - 1e-9), (op["name"], op["seconds"], floor([op]))
        assert sum(op["seconds"] for op in result["ops"]) >= floor(result["ops"]) * (1 - 1e-9)
        assert result["seconds"] >= sum(op["seconds"] for op in result["ops"]) * (1 - 1e-9)


def _results(text: str, hardware: str) -> list[LayerResult]:
    module = parse_dsl(text, "what-if.attn")
    attach_target(module, load_hardware(hardware))
    return estimate(module, None)


V3 = (
    "layer v3 : mla { d_model = 7168 heads = 128 q_rank = 1536 kv_rank = 512 "
    "qk_nope_dim = 128 qk_rope_dim = 64 v_dim = 128 }\n"
)
MHA = "layer mha : mha { d_model = 7168 heads = 128 head_dim = 128 }\n"


def test_h100_decode_at_32k_orders_the_schemes():
    mla, mha = _results(V3 + MHA + "workload d { phase = decode context = 32k }\n", "h100")
    seconds = {alt.scheme: alt.seconds for alt in mla.alternatives}
    assert seconds["recompute"] < seconds["reuse"] < mha.seconds < seconds["expand"]
    assert mla.scheme == "recompute"


def test_auto_picks_unabsorbed_attention_for_a_long_prefill_on_h100():
    (prefill,) = _results(V3 + "workload p { phase = prefill new_tokens = 4k }\n", "h100")
    assert prefill.scheme in ("expand", "cache-kv")
    assert prefill.seconds == min(alt.seconds for alt in prefill.alternatives)


def test_edge_npu_crossover_to_compute_bound_as_context_grows():
    """The contexts (powers of two) at which each scheme turns compute-bound on the edge NPU."""
    first_compute_bound: dict[str, int] = {}
    for context in [2**i for i in range(10, 19)]:
        (result,) = _results(V3 + f"workload d {{ phase = decode context = {context} }}\n", "edge_npu")
        for alt in result.alternatives:
            if alt.bound == "compute":
                first_compute_bound.setdefault(alt.scheme, context)
    # cache-kv reads 80 kB of cache per token for ~1 FLOP/B: it stays bound by DRAM at any context.
    assert first_compute_bound == {"expand": 1024, "recompute": 32768, "reuse": 131072}


def test_what_if_overrides_rebuild_every_workload():
    v3 = str(next(p for p in EXAMPLES if p.name == "deepseek_v3.attn"))
    report = _json(["compile", v3, "--workload", "decode", "--context", "32k", "--batch", "4", "--format", "json"])
    (result,) = report["results"]
    assert (result["context"], result["batch"], result["new_tokens"]) == (32768, 4, 1)
    report = _json(["compile", v3, "--workload", "decode", "--phase", "prefill", "--format", "json"])
    (result,) = report["results"]
    assert (result["phase"], result["context"], result["new_tokens"]) == ("prefill", 0, 4096)


def test_compare_puts_schemes_and_baselines_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "both.attn"
    path.write_text(V3 + MHA + "workload d { phase = decode context = 32k }\n")
    assert cli.main(["compare", str(path), "--hw", "h100,edge_npu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "== d: decode, batch 1, context 32768, new tokens 1"
    assert "h100 latency" in lines[1] and "edge_npu latency" in lines[1]
    labels = [line.split()[0] + " " + line.split()[1] for line in lines[2:7]]
    assert labels == ["v3 recompute*", "v3 reuse", "v3 expand", "v3 cache-kv", "mha (mha)"]
    report = _json(["compare", str(path), "--hw", "h100,h20", "--format", "json"])
    assert report["hardware"] == ["h100", "h20"] and len(report["results"]) == 4


def test_compare_needs_known_hardware(capsys: pytest.CaptureFixture[str]):
    assert cli.main(["compare", str(EXAMPLES[0]), "--hw", "h100,h9000"]) == 2
    assert "error: unknown hardware 'h9000'" in capsys.readouterr().err
