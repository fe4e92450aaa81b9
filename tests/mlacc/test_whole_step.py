"""MLP and MoE layers, and a model's whole step: its parts' figures summed, tokens/s and tokens/s per GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlacc import cli
from mlacc.estimates import LayerResult
from mlacc.whole_step import NO_HEAD_SCOPE, STEP_SCOPE
from passes.lower_attn import moe_routing
from tests.conftest import ROOT

STEP = ROOT / "examples" / "deepseek_v3_step.attn"
FFN = ROOT / "tests" / "filecheck" / "transforms" / "shard" / "Inputs" / "ffn.attn"


def _json(capsys: pytest.CaptureFixture[str], path: Path, *options: str) -> dict:
    assert cli.main(["compile", str(path), "--format", "json", "-q", *options]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("tokens", "active", "rows"),
    [
        (1, 8, 1),  # decode batch 1: each of the token's 8 experts, one row
        (64, 222, 3),  # 256 (1 - (31/32)^64) = 222.4 experts receive the 512 rows
        (4096, 256, 128),  # a 4k prefill: every expert, 32,768 rows over 256
    ],
)
def test_uniform_routing_of_deepseek_v3(tokens: int, active: int, rows: int):
    assert moe_routing(tokens, 256, 8) == (active, rows)


def test_a_moe_layer_reads_its_active_experts_and_keeps_all_resident(capsys: pytest.CaptureFixture[str]):
    up, moe = _json(capsys, FFN)["results"]
    assert (up["layer"], moe["layer"]) == ("up", "e")
    # Gated MLP, fp32: gate, up and down, 16 x 32 each.
    assert up["weight_bytes"] == 3 * 16 * 32 * 4
    assert up["kv_cache_bytes"] == 0 and "step" not in up
    # Router 16 x 8, the shared expert's 3 matrices of 16 x 8, all 8 experts' 3 matrices of 16 x 8, resident; the
    # step (2 tokens, 2 experts each) reads 4 experts' only.
    assert moe["weight_bytes"] == (16 * 8 + 3 * 16 * 8 + 8 * 3 * 16 * 8) * 4
    expert_gemms = [op for op in moe["ops"] if op["name"] in ("up_experts", "gate_experts", "down_experts")]
    assert [op["flops"] for op in expert_gemms] == [2 * 4 * 1 * 16 * 8] * 3


def test_the_whole_step_sums_its_parts(capsys: pytest.CaptureFixture[str]):
    report = _json(capsys, STEP, "--hw", "h100x8", "--tp", "8", "--workload", "decode")
    attention, dense, moe = report["results"]
    assert [r["layer"] for r in (attention, dense, moe)] == ["deepseek_v3", "dense", "moe"]
    assert "step" not in dense and "step" not in moe
    step = attention["step"]
    parts = {p["layer"]: p for p in step["parts"]}
    for result in (attention, dense, moe):
        part = parts[result["layer"]]
        assert part["layers"] == result["layers"]
        assert part["seconds"] == pytest.approx(result["seconds"] * result["layers"])
        assert part["energy_pj_per_gpu"] == pytest.approx(result["energy_pj"] * result["layers"])
    assert (attention["layers"], dense["layers"], moe["layers"]) == (61, 3, 58)
    assert step["seconds"] == pytest.approx(sum(p["seconds"] for p in step["parts"]))
    assert step["gpus"] == 8 and step["tokens"] == 64  # decode: batch 64 x one new token
    assert step["energy_pj"] == pytest.approx(8 * step["energy_pj_per_gpu"])
    assert step["tokens_per_second"] == pytest.approx(64 / step["seconds"])
    assert step["tokens_per_second_per_gpu"] == pytest.approx(step["tokens_per_second"] / 8)


def test_a_moe_layer_under_dp_is_expert_parallel(capsys: pytest.CaptureFixture[str]):
    report = _json(capsys, STEP, "--hw", "h100x8", "--dp", "8", "--workload", "decode")
    moe = report["results"][2]
    assert (moe["layer"], moe["dp"]) == ("moe", 8)
    exchanges = [op for op in moe["ops"] if op["kind"] == "all_to_all"]
    assert [op["name"] for op in exchanges] == ["routed_exchanged", "down_experts_returned"]
    # 64 tokens x 8 experts reach 222 experts of 3 rows; each GPU computes ceil(222 / 8) = 28 of them, and sends
    # 7/8 of their rows (28 x 3 x 7168 bf16) to the other GPUs.
    rows = 28 * 3 * 7168 * 2
    assert all(op["bytes"]["interconnect"] == pytest.approx(rows * 7 / 8) for op in exchanges)
    # One GPU holds 256 / 8 experts (3 matrices of 7168 x 2048), the shared expert and the router, in bf16.
    assert moe["weight_bytes"] == (32 * 3 * 7168 * 2048 + 3 * 7168 * 2048 + 7168 * 256) * 2


def test_attention_alone_has_no_step(capsys: pytest.CaptureFixture[str]):
    report = _json(capsys, ROOT / "examples" / "deepseek_v3_node.attn", "--hw", "h200x8", "--tp", "8")
    assert all("step" not in r for r in report["results"])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("layers = 61", "layers = 60"), "8:12: error: layers (60) must be what the MLP/MoE layers add up to "
         "(dense 3 + moe 58 = 61): each attention layer is followed by one of them"),
        (("width = 18432", "width = 18432   d_model = 4096"), None),
        (("d_model = 7168   width", "d_model = 4096   width"), "5:13: error: d_model (7168) differs from the model's "
         "(4096, layer 'dense'): a file with MLP/MoE layers is one model"),
    ],
)  # fmt: skip
def test_a_model_that_does_not_stack_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: tuple[str, str], message: str | None
):
    path = tmp_path / "step.attn"
    path.write_text(STEP.read_text().replace(*edit, 1))
    assert cli.main(["compile", str(path), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    if message is not None:
        assert err == f"{path}:{message}"


def test_import_step_of_a_model_whose_layers_are_all_dense(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    config = json.loads((ROOT / "tests" / "fixtures" / "hf" / "deepseek_v2_lite.json").read_text())
    config |= {"num_hidden_layers": 1, "first_k_dense_replace": 1}  # one layer, dense: no MoE layer to write
    path = tmp_path / "one_layer.json"
    path.write_text(json.dumps(config))
    written = tmp_path / "one_layer.attn"
    assert cli.main(["import", str(path), "--step", "-o", str(written)]) == 0
    text = written.read_text()
    assert "layer deepseek_v2_lite_mlp : mlp {" in text and ": moe {" not in text
    parts = _json(capsys, written, "--workload", "decode")["results"][0]["step"]["parts"]
    assert [(p["kind"], p["layers"]) for p in parts] == [
        ("mla", 1),
        ("mlp", 1),
        ("rmsnorm", 1),
        ("embedding", 1),
        ("lm_head", 1),
    ]


@pytest.mark.parametrize(
    ("layer", "old", "new", "message"),
    [
        ("deepseek_v3_moe", "expert_width      = 2048", "expert_width      = 1024",
         "expert_width (1024) differs from what layer 'deepseek_v3' says of its model (expert_width = 2048)"),
        ("deepseek_v3_mlp", "width   = 18432", "width   = 9216",
         "width (9216) differs from what layer 'deepseek_v3' says of its model (mlp = 18432)"),
    ],
)  # fmt: skip
def test_the_layers_of_a_described_model_agree_with_its_description(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], layer: str, old: str, new: str, message: str
):
    written = tmp_path / "v3.attn"
    assert (
        cli.main(["import", str(ROOT / "tests" / "fixtures" / "hf" / "deepseek_v3.json"), "--step", "-o", str(written)])
        == 0
    )
    head, block = written.read_text().split(f"layer {layer} ", 1)
    written.write_text(head + f"layer {layer} " + block.replace(old, new, 1))
    assert cli.main(["compile", str(written), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith(f": error: {message}") and "\n" not in err


def _step_ends(path: Path, hardware: str, workload: str, tp: int = 1, dp: int = 1) -> dict[str, LayerResult]:
    """The parts around the layers of the whole step `path`'s attention layer heads, by kind (their `LayerResult`s,
    as `mlacc.pipeline.estimate` attaches them)."""
    from dialects.hw import attach_target
    from mlacc.frontend import parse_source
    from mlacc.hardware import load_hardware
    from mlacc.pipeline import estimate

    module = parse_source(path.read_text(), str(path))
    attach_target(module, load_hardware(hardware))
    results = [r for r in estimate(module, "recompute", tp, dp) if r.workload == workload and r.step_ends]
    (head,) = results
    return {end.kind: end for end in head.step_ends}


def test_the_step_times_the_norms_the_embedding_lookup_and_the_lm_head(tmp_path: Path):
    """DeepSeek-V3 imported with its step (vocabulary 129,280) at decode batch 64 on 8 H200s, tp 8: the parts
    around the layers run through the passes as layers do, each op as a serving engine shards it (vLLM)."""
    written = tmp_path / "v3.attn"
    config = str(ROOT / "tests" / "fixtures" / "hf" / "deepseek_v3.json")
    assert cli.main(["import", config, "--step", "-o", str(written)]) == 0
    written.write_text(written.read_text().replace("batch   = 1", "batch   = 64", 1))
    ends = _step_ends(written, "h200x8", "decode", tp=8)
    norms, embedding, head = ends["rmsnorm"], ends["embedding"], ends["lm_head"]
    d, vocab, tokens = 7168, 129280, 64
    # Two norms in each of the 61 layers, over every token, whole on every tp rank (4 FLOPs an element).
    assert norms.layers == 61
    assert [(op.kind, op.flops) for op in norms.ops] == [("rmsnorm", 4 * tokens * d)] * 2
    # The lookup's rows, found on the GPU that holds their part of the vocabulary, all-reduced over tp (a ring:
    # 2 x 7/8 of 64 x 7168 bf16 sent), then the first layer's input norm.
    reduce, first = embedding.ops
    assert (reduce.kind, first.kind) == ("all_reduce", "rmsnorm")
    assert reduce.bytes["interconnect"] == pytest.approx(2 * 7 / 8 * tokens * d * 2)
    # The LM head: each GPU's 1/8 of the vocabulary (7168 x 16,160 bf16, read whole), one logit row per sequence,
    # all-gathered (7/8 of the 64 x 129,280 bf16 logits arrive from the other GPUs).
    gemm, gather = head.ops
    assert gemm.flops == 2 * tokens * d * vocab // 8
    assert head.weight_bytes == d * vocab // 8 * 2
    assert gather.kind == "all_gather" and gather.bytes["interconnect"] == pytest.approx(7 / 8 * tokens * vocab * 2)


def test_prefill_samples_the_last_token_of_each_sequence(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """A 4k-token prompt's step computes the norms over all 4096 tokens, but logits for its last token only, as
    serving engines do: its LM head costs what a decode step's does at the same batch."""
    written = tmp_path / "v2.attn"
    config = str(ROOT / "tests" / "fixtures" / "hf" / "deepseek_v2_lite.json")
    assert cli.main(["import", config, "--step", "-o", str(written)]) == 0
    decode, prefill = (_step_ends(written, "h100", w) for w in ("decode", "prefill"))
    assert prefill["lm_head"].ops[0].flops == decode["lm_head"].ops[0].flops == 2 * 2048 * 102400
    assert prefill["rmsnorm"].ops[0].flops == 4096 * decode["rmsnorm"].ops[0].flops
    report = _json(capsys, written, "--workload", "prefill")
    step = report["results"][0]["step"]
    assert step["scope"] == STEP_SCOPE and step["tokens"] == 4096
    assert [p["kind"] for p in step["parts"]][-3:] == ["rmsnorm", "embedding", "lm_head"]
    assert step["seconds"] == pytest.approx(sum(p["seconds"] for p in step["parts"]))


def test_without_a_vocabulary_the_lm_head_is_not_timed_and_the_step_says_so(capsys: pytest.CaptureFixture[str]):
    step = _json(capsys, STEP, "--workload", "decode")["results"][0]["step"]
    assert step["scope"] == NO_HEAD_SCOPE
    assert [(p["layer"], p["kind"], p["layers"]) for p in step["parts"]][3:] == [
        ("norms", "rmsnorm", 61),
        ("embedding", "embedding", 1),
    ]
