"""shard{tp, dp} and the collectives' cost: per-GPU KV bytes, unsharded equality, ring times by hand and vs NCCL."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from costmodel import Machine, collective_cycles, ring_factor
from mlacc import cli
from mlacc.hardware import load_hardware
from mlacc.hardware.loader import HardwareError
from tests.conftest import ROOT, SMALL_ATTN

MLA = """layer v3 : mla { d_model = 7168 heads = 128 q_rank = 1536 kv_rank = 512 qk_nope_dim = 128 qk_rope_dim = 64
  v_dim = 128 layers = 61 dtype = bf16 }"""
MHA = "layer twin : mha { d_model = 7168 heads = 128 head_dim = 128 layers = 61 dtype = bf16 }"
DECODE = "workload decode { phase = decode batch = 8 context = 32k }"


def _json(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, *options: str) -> list[dict]:
    path = tmp_path / "model.attn"
    path.write_text(text)
    capsys.readouterr()
    assert cli.main(["compile", str(path), "--format", "json", "-q", *options]) == 0
    return json.loads(capsys.readouterr().out)["results"]


@pytest.mark.parametrize("layer, falls", [(MLA, False), (MHA, True)])
def test_mla_kv_per_gpu_does_not_fall_with_tp_but_mha_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], layer: str, falls: bool
):
    per_tp = {}
    for tp in (1, 2, 8):
        (r,) = _json(tmp_path, capsys, f"{layer}\n{DECODE}", "--hw", "h200x8", "--scheme", "recompute", "--tp", str(tp))
        per_tp[tp] = r["model"]["kv_cache_bytes_per_sequence"]
        assert r.get("tp", 1) == tp
    tokens = 32768 + 1
    if falls:  # 2 x 128 heads x 128 x 2 bytes x 61 layers per token, split over tp
        assert per_tp == {tp: 2 * 128 * 128 * 2 * 61 * tokens // tp for tp in (1, 2, 8)}
    else:  # (512 + 64) x 2 bytes x 61 layers per token on every rank: the latent is shared by all heads
        assert per_tp == dict.fromkeys((1, 2, 8), (512 + 64) * 2 * 61 * tokens)


def test_dp_splits_the_batch_and_max_batch_is_per_gpu(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (one,) = _json(tmp_path, capsys, f"{MLA}\n{DECODE}", "--hw", "h200", "--scheme", "recompute")
    (dp,) = _json(tmp_path, capsys, f"{MLA}\n{DECODE}", "--hw", "h200x8", "--scheme", "recompute", "--dp", "8")
    assert dp["kv_cache_bytes"] * 8 == one["kv_cache_bytes"]  # one sequence of the 8 per GPU
    assert dp["max_batch"] == one["max_batch"] == 51  # the same GPU memory holds the same sequences
    assert dp["max_batch_node"] == 8 * 51
    kinds = [op["kind"] for op in dp["ops"]]
    assert kinds[-1] == "all_gather" and "all_reduce" not in kinds


def test_tp1_dp1_is_the_unsharded_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    text = SMALL_ATTN.read_text()
    plain = _json(tmp_path, capsys, text, "--hw", "h200x8")
    assert _json(tmp_path, capsys, text, "--hw", "h200x8", "--tp", "1", "--dp", "1") == plain
    assert all("tp" not in r for r in plain)


def test_all_reduce_cost_by_hand(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # 8 ranks, 1 MB: each rank sends 2 x 7/8 x 1 MB = 1.75 MB; at 200 B/cycle that is 8750 cycles + 58560 latency.
    machine = Machine.of(load_hardware("h200x8"))
    assert ring_factor("all_reduce", 8) == 1.75 and ring_factor("all_gather", 8) == 0.875
    assert ring_factor("all_to_all", 8) == 0.875  # what leaves each GPU: its rows for the other 7
    assert collective_cycles(machine, "all_reduce", 1e6, 8) == pytest.approx(58560 + 8750)
    assert collective_cycles(machine, "all_gather", 1e6, 8) == pytest.approx(58560 + 4375)
    assert collective_cycles(machine, "all_reduce", 1e6, 1) == 0.0
    # In a compiled layer: DeepSeek-V3 at batch 8, tp 8: the output is 8 x 1 x 7168 x 2 B = 114,688 B per GPU.
    (r,) = _json(tmp_path, capsys, f"{MLA}\n{DECODE}", "--hw", "h200x8", "--scheme", "recompute", "--tp", "8")
    (reduce,) = [op for op in r["ops"] if op["kind"] == "all_reduce"]
    assert reduce["bytes"] == {"interconnect": 114688 * 1.75}
    assert reduce["seconds"] == pytest.approx((58560 + 114688 * 1.75 / 200) / 1.83e9)
    # The link's energy per byte sent, and the board's static power with its busy floor while the collective runs.
    power = machine.static_power + machine.busy_power
    assert reduce["energy_pj"] == pytest.approx(114688 * 1.75 * 10.4 + power * reduce["seconds"] * 1e12)


def test_h200x8_all_reduce_matches_nccl_on_two_gpus():
    """The model's all-reduce on a 2-GPU mesh against NCCL on 2 x H200 (benchmarks/results/...csv): the fit of
    h200x8.toml is within 16% at every size (the largest, 15.2%, at 8 MiB, where NCCL changes protocol)."""
    machine = Machine.of(load_hardware("h200x8"))
    rows = csv.DictReader((ROOT / "benchmarks/results/h200x2_collectives_2026-11-30.csv").open())
    errors = {}
    for row in rows:
        if row["op"] == "all_reduce":
            size = int(row["bytes"])
            model = collective_cycles(machine, "all_reduce", size, 2) / machine.frequency
            errors[size] = model / float(row["seconds"]) - 1
    assert len(errors) == 9
    for size, error in errors.items():
        assert abs(error) <= (0.25 if size >= 8 << 20 else 0.30), (size, error)
    assert max(abs(e) for e in errors.values()) < 0.16


def test_interconnect_errors_are_located(tmp_path: Path):
    text = (ROOT / "mlacc/hardware/presets/h200x8.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("link_bandwidth_bytes_per_cycle = 200.0", "link_bandwidth_bytes_per_cycle = -1"))
    with pytest.raises(HardwareError, match="'link_bandwidth_bytes_per_cycle' in \\[interconnect\\] must be positive"):
        load_hardware(str(bad))
    line = next(i for i, s in enumerate(bad.read_text().splitlines(), 1) if s.startswith("link_bandwidth"))
    try:
        load_hardware(str(bad))
    except HardwareError as e:
        assert e.place == f"{bad}:{line}:1"
    bad.write_text(text.replace("devices = 8 ", "devices = 2.5 "))
    with pytest.raises(HardwareError, match="'devices' in \\[interconnect\\] must be an integer"):
        load_hardware(str(bad))
    bad.write_text(text.replace("energy_pj_per_byte = 10.4", "energy_pj_per_bytes = 10.4"))
    with pytest.raises(HardwareError, match="unknown field 'energy_pj_per_bytes' in \\[interconnect\\]"):
        load_hardware(str(bad))


def test_layout_auto_keeps_the_fastest_layout_that_fits_and_it_is_that_layouts_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """At batch 64 and 32k context MLA's latent cache, replicated on every tp rank, fills a tp 8 GPU (64 x 2.3 GB):
    auto keeps the fastest layout that fits, which splits the batch; its figures are `--tp N --dp M`'s."""
    text = f"{MLA}\nworkload decode {{ phase = decode batch = 64 context = 32k }}\n"
    (result,) = _json(tmp_path, capsys, text, "--hw", "h200x8", "--layout", "auto")
    layouts = {(lay["tp"], lay["dp"]): lay for lay in result["layouts"]}
    assert set(layouts) == {(1, 8), (2, 4), (4, 2), (8, 1)}
    assert not layouts[(8, 1)]["model_fits"]
    fitting = {k: lay for k, lay in layouts.items() if lay["model_fits"]}
    best = min(fitting, key=lambda k: fitting[k]["cycles"])
    assert best[1] > 1 and (result["tp"], result["dp"]) == best
    (alone,) = _json(tmp_path, capsys, text, "--hw", "h200x8", "--tp", str(best[0]), "--dp", str(best[1]))
    assert {k: v for k, v in result.items() if k != "layouts"} == alone


def test_layout_auto_needs_a_node_and_no_tp_or_dp(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "m.attn"
    path.write_text(f"{MLA}\n{DECODE}\n")
    assert cli.main(["compile", str(path), "--hw", "h200", "--layout", "auto"]) == 2
    assert "needs a node of several GPUs" in capsys.readouterr().err
    assert cli.main(["compile", str(path), "--hw", "h200x8", "--layout", "auto", "--tp", "2"]) == 2
    assert capsys.readouterr().err == "error: --layout auto chooses tp and dp itself: give it no --tp or --dp\n"


@pytest.mark.parametrize(
    ("heads", "kv_heads", "batch", "tp", "dp", "expected"),
    [
        (64, 8, 4, 8, 2, {"b": 2, "g": 8}),  # tp = the KV heads: one each
        (64, 8, 4, 16, 1, {"g": 8, "r": 2}),  # past them: one KV head each, copied on 2 GPUs
        (64, None, 4, 16, 1, {"h": 16}),  # MHA, MQA, MLA: one head letter
        (64, 8, 4, 6, 1, "layer 'L' has 64 heads, which tp 6 does not divide: tp must divide the heads"),
        (
            96,
            8,
            4,
            12,
            1,
            "layer 'L' has 8 KV heads: tp 12 is more than them but not a multiple of them, so they cannot be copied "
            "evenly to every GPU",
        ),
        (
            96,
            12,
            4,
            8,
            1,
            "layer 'L' has 12 KV heads, which tp 8 does not divide: tp must divide the KV heads, or be a multiple of "
            "them",
        ),
        (64, 8, 3, 1, 2, "batch 3 of layer 'L' does not split over dp 2: dp must divide the batch"),
    ],
)
def test_layout_factors_or_the_reason_in_the_users_words(
    heads: int, kv_heads: int | None, batch: int, tp: int, dp: int, expected: dict[str, int] | str
):
    """The rules `shard` and the sweep's refusals share, on a layer's sizes alone: no mesh or IR words."""
    from passes.shard import LayoutError, layout_factors

    if isinstance(expected, dict):
        assert layout_factors("L", heads, kv_heads, batch, tp, dp) == expected
        return
    with pytest.raises(LayoutError) as refusal:
        layout_factors("L", heads, kv_heads, batch, tp, dp)
    assert str(refusal.value) == expected


def test_tp_past_the_kv_heads_copies_them_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """tp 16 over 8 KV heads once failed in mesh terms ('sharding splits over mesh axis more than once'). On a
    16-GPU node each GPU now holds one KV head: KV bytes per GPU are tp 8's, the K/V weights are copied, the rest of
    the weights halves, and the collective spans all 16 GPUs."""
    llama = str(ROOT / "examples" / "llama3_70b_gqa.attn")
    results = {}
    for tp in (8, 16):
        argv = ["compile", llama, "--hw", "h100x8", "--set", "interconnect.devices=16", "--tp", str(tp)]
        assert cli.main([*argv, "--workload", "decode", "--format", "json", "-q"]) == 0
        results[tp] = json.loads(capsys.readouterr().out)["results"][0]
    tp8, tp16 = results[8], results[16]
    assert "kv_head_replicas" not in tp8 and tp16["kv_head_replicas"] == 2
    assert tp16["kv_cache_bytes"] == tp8["kv_cache_bytes"]
    d, e = 8192, 128
    kv_weights = 2 * d * e * 2  # W_K and W_V of one KV head, bf16
    assert tp16["weight_bytes"] - kv_weights == (tp8["weight_bytes"] - kv_weights) // 2
    (reduce,) = [op for op in tp16["ops"] if op["kind"] == "all_reduce"]
    assert reduce["bytes"]["interconnect"] == pytest.approx(d * 2 * 2 * 15 / 16)  # a ring over 16 GPUs


MOE = (
    "layer e : moe {{ d_model = 16  experts = {experts}  experts_per_token = 2  expert_width = {width}  "
    "shared_experts = 0  dtype = fp32 }}\nworkload d {{ phase = decode  batch = 8  context = 4 }}\n"
)
STEP = ROOT / "examples" / "deepseek_v3_step.attn"


@pytest.mark.parametrize(
    ("text", "options", "code", "message"),
    [
        (None, ["--tp", "8", "--ep", "3"], 1, "error: ep 3 does not fit tp 8 x dp 1: the experts spread over the 8 "
         "GPUs that run the model, every dp group alike, so ep must be dp times a divisor of tp (here 1, 2, 4, 8)"),
        (None, ["--tp", "8", "--ep", "16"], 1, "error: ep 16 does not fit tp 8 x dp 1: the experts spread over the 8 "
         "GPUs that run the model, every dp group alike, so ep must be dp times a divisor of tp (here 1, 2, 4, 8)"),
        (None, ["--tp", "2", "--dp", "4", "--ep", "2"], 1, "error: ep 2 does not fit tp 2 x dp 4: the experts spread "
         "over the 8 GPUs that run the model, every dp group alike, so ep must be dp times a divisor of tp (here 4, "
         "8)"),
        (MOE.format(experts=6, width=8), ["--tp", "4", "--ep", "4"], 1, "model.attn:1:7: error: layer 'e' has 6 "
         "experts, which ep 4 does not divide: ep must divide the experts"),
        (MOE.format(experts=8, width=6), ["--tp", "8", "--ep", "2"], 1, "model.attn:1:7: error: layer 'e' has experts "
         "6 wide, which the 4 GPUs splitting each expert (tp 8 x dp 1 / ep 2) do not divide"),
        (f"{MLA}\n{DECODE}", ["--tp", "8", "--ep", "8"], 1, "error: ep 8 spreads a MoE layer's experts over GPUs, but "
         "no layer here has experts"),
        (None, ["--ep", "8"], 2, "error: --ep spreads a MoE layer's experts over the GPUs of --tp and --dp: give them "
         "too"),
    ],
)  # fmt: skip
def test_an_expert_layout_that_cannot_be_built_is_one_line_in_the_users_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | None, options: list[str], code: int, message: str
):
    path = STEP
    if text is not None:
        path = tmp_path / "model.attn"
        path.write_text(text)
    workload = ["--workload", "decode"] if text is None else []
    assert cli.main(["compile", str(path), "--hw", "h100x8", "-q", *workload, *options]) == code
    err = capsys.readouterr().err
    assert err.replace(f"{tmp_path}/", "") == message + "\n"


def _model(capsys: pytest.CaptureFixture[str], *options: str) -> dict:
    config = str(ROOT / "tests" / "fixtures" / "hf" / "deepseek_v3.json")
    assert cli.main(["compile", config, "--workload", "decode", "--batch", "8", "--scheme", "recompute", "--format",
                     "json", "-q", *options]) == 0  # fmt: skip
    return json.loads(capsys.readouterr().out)["results"][0]


def test_expert_parallelism_shares_the_experts_out_in_capacity(capsys: pytest.CaptureFixture[str]):
    """DeepSeek-V3's config read directly (attention with its model's fields): under dp its MoE layers are expert
    parallel (ep = dp), so one GPU holds 1/8 of the 58 MoE layers' routed experts, not all of them; tp 8 x ep 8 (8
    whole experts of 256 each) holds as much as tp 8 alone (every expert's width / 8), and so does tp 2 x dp 4
    whatever its ep."""
    routed = 58 * 256 * 3 * 7168 * 2048  # parameters: 58 MoE layers, 256 experts of gate, up, down
    one = _model(capsys, "--hw", "h200")["model"]
    dp8 = _model(capsys, "--hw", "h200x8", "--dp", "8")
    assert dp8["ep"] == 8
    # Under dp every GPU holds what one GPU held, but 7/8 of the routed experts (bf16).
    assert one["weight_bytes_per_gpu"] - dp8["model"]["weight_bytes_per_gpu"] == routed * 7 // 8 * 2
    per_gpu = {
        layout: _model(capsys, "--hw", "h200x8", *layout.split())["model"]["weight_bytes_per_gpu"]
        for layout in ("--tp 8", "--tp 8 --ep 8", "--tp 2 --dp 4", "--tp 2 --dp 4 --ep 8")
    }
    assert per_gpu["--tp 8"] == per_gpu["--tp 8 --ep 8"]
    assert per_gpu["--tp 2 --dp 4"] == per_gpu["--tp 2 --dp 4 --ep 8"]


def test_expert_parallelism_over_tp_trades_the_all_to_all_for_a_reduce(capsys: pytest.CaptureFixture[str]):
    """DeepSeek-V3's MoE layer at decode batch 64 (222 experts of 3 rows receive tokens) on 8 GPUs: under ep 8 over
    tp each GPU holds 32 whole experts and computes ceil(222 / 8) = 28 of them, with no all-to-all (every GPU holds
    every token) and one all-reduce of the output over the 8 GPUs; under dp 8 (ep = dp) the rows cross by
    all-to-all and nothing is reduced."""
    results = {}
    for layout in ("--tp 8 --ep 8", "--dp 8"):
        argv = ["compile", str(STEP), "--hw", "h100x8", "--workload", "decode", "--format", "json", "-q"]
        assert cli.main([*argv, *layout.split()]) == 0
        results[layout] = json.loads(capsys.readouterr().out)["results"][2]
    tp_ep, dp = results["--tp 8 --ep 8"], results["--dp 8"]
    assert (tp_ep["layer"], tp_ep["ep"], dp["ep"]) == ("moe", 8, 8)
    assert [op["kind"] for op in tp_ep["ops"] if op["kind"].startswith("all_")] == ["all_reduce"]
    assert [op["kind"] for op in dp["ops"] if op["kind"].startswith("all_")] == ["all_to_all", "all_to_all"]
    # 32 whole experts' 3 matrices of 7168 x 2048, the shared expert's width / 8 and the router, in bf16
    assert tp_ep["weight_bytes"] == (32 * 3 * 7168 * 2048 + 3 * 7168 * 2048 // 8 + 7168 * 256) * 2
    expert_gemms = [op for op in tp_ep["ops"] if op["name"] == "up_experts"]
    assert expert_gemms[0]["flops"] == 2 * 28 * 3 * 7168 * 2048


@pytest.mark.parametrize("layout", ["--dp 2", "--tp 2 --dp 2", "--tp 4 --dp 2 --ep 4", "--tp 2 --dp 4 --ep 8"])
def test_a_moe_layer_without_shared_experts_splits_its_output_over_dp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str
):
    """Mixtral and Qwen-MoE have no shared expert, so no `la.add` gives the combine's output its letters: under dp
    that output (the layer's) is still each GPU's batch / dp tokens, not the verifier's error it once was."""
    (result,) = _json(tmp_path, capsys, MOE.format(experts=8, width=8), "--hw", "h100x8", *layout.split())
    tp, dp = result["tp"], result["dp"]
    reduces = [op for op in result["ops"] if op["kind"] == "all_reduce"]
    assert [op["name"] for op in reduces] == (["experts_out"] if tp > 1 else [])
    for reduce in reduces:  # the experts' partial sum over the layer's tp GPUs: batch / dp x d_model, fp32
        assert reduce["bytes"]["interconnect"] == pytest.approx(ring_factor("all_reduce", tp) * 8 // dp * 16 * 4)
