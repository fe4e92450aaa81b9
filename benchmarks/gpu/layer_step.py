"""Measures, on a real NVIDIA Hopper GPU, ONE WHOLE LAYER of a model as a serving engine runs it: its MLA attention
step (production.py's, through FlashMLA or cuDNN SDPA) and then its feed-forward layer (a mixture of experts, or
the dense MLP of the first layers), time and board energy, so that `mlacc validate` can set the estimate of one
whole layer (the attention layer's step plus one step of that feed-forward layer) against it (issue #28, point 6):

    python3 benchmarks/gpu/layer_step.py --out $OUT/h100_layer_2026-12-07.csv \
        --profile-out $OUT/h100_layer_profile_2026-12-07.csv --flashmla-src /tmp/fmla \
        --flashmla-objects $PWD/.flashmla/obj/*.o --budget 480
    python3 benchmarks/gpu/layer_step.py --device cpu --out /tmp/layer_dry.csv     # logic only, tiny shapes

(/tmp/fmla: .flashmla/src.tgz unpacked, as for production.py; layer_notes.md says what each file holds.)
Needs torch, triton and NVML on the GPU machine, as production.py, whose steps, runner, timing and FlashMLA build
this script imports.

Models (the `model` column: a bundled DSL file, examples/MODEL.attn; `ffn`: the name of the feed-forward layer in
that file that follows the attention, `moe` or `dense`):
- `deepseek_v3_step`: DeepSeek-V3 (tests/fixtures/hf/deepseek_v3.json): MLA with d_model 7168, 128 heads, q_rank
  1536, kv_rank 512; MoE of 256 routed experts of width 2048, 8 per token, one shared expert, sigmoid scores with
  group-limited top-k (8 groups, the best 4 by their top two scores), weights normalised and scaled 2.5; dense MLP
  of width 18432 (its first 3 layers).
- `deepseek_v2_lite_step`: DeepSeek-V2-Lite (tests/fixtures/hf/deepseek_v2_lite.json): MLA with d_model 2048, 16
  heads, no query compression (q_rank 0), kv_rank 512; MoE of 64 routed experts of width 1408, 6 per token, 2
  shared, softmax scores with greedy top-k (not normalised); dense MLP of width 10944 (its first layer).

A layer row (kind=layer, grid=validation) is one CUDA graph holding, back to back on one stream:
- the attention step of production.py (`ProductionStep`, measure.py's `la` ops one kernel each, GEMMs through
  cuBLASLt, Triton RMSNorm/RoPE): decode under `recompute` (FlashMLA, as vLLM's MLA decode), prefill under `expand`
  (its keys and values expanded from the latent, cuDNN SDPA, as vLLM's MLA prefill); --decode-scheme and
  --prefill-scheme choose others;
- the feed-forward layer on a hidden state of its own (random, as after the post-attention RMSNorm; the two
  RMSNorms and residual adds of a layer are not run: mlacc does not model them). The MoE as a serving engine
  runs it: the router GEMM (cuBLASLt), scores (softmax or sigmoid, fp32) and torch.topk (group-limited for
  DeepSeek-V3), the rows sorted by expert (torch.sort) with each expert's end found by torch.searchsorted, the
  tokens gathered (index_select), the experts' gate and up projections as ONE grouped GEMM over [gate | up]
  (torch._grouped_mm, bf16, the offsets on the device: CUTLASS's grouped GEMM on sm90, no host sync), SiLU and
  the product (torch), the down projection as a second grouped GEMM, the rows put back in token order
  (index_copy_) and summed with their routing weights (one bmm), the shared experts as one dense MLP of their
  summed width ([gate | up] GEMM, SiLU, product, down GEMM) and the sum of the two. The dense MLP: [gate | up]
  GEMM, SiLU, product, down GEMM. Gate and up are one GEMM because engines store them as one weight (vLLM's
  w13, MergedColumnParallelLinear); mlacc's lowering counts them as two GEMMs of the same bytes and FLOPs.
Where torch._grouped_mm is missing or refuses (no sm90, not bf16), each expert that receives rows runs one
torch.mm, which needs the rows per expert on the host: that layer is timed by CUDA events without a graph, and its
note says so.
--experts vllm-triton runs both expert GEMMs through vLLM's Triton fused_moe_kernel instead (vllm_moe.py; carry
.vllm_moe): under the config vLLM picks for the point's tokens (vllm_moe.config), with ONE alignment of the rows to
its blocks (vllm_moe.plan) shared by the two GEMMs, built inside the layer's call from the routing's device-side ends
as vLLM aligns every step (in a few torch ops where vLLM runs one moe_align_block_size kernel). The rows are given
as the static tokens x k, so the alignment never reads the ends on the host and the layer stays one CUDA graph. The
note names the kernel, its versions and the config. The dry run runs it on Triton's interpreter in float16 (its bf16
tl.dot is wrong; vllm_moe.py), under TRITON_INTERPRET=1 set before the script starts.

Routing: random weights and inputs route near-uniformly, as mlacc assumes (E (1 - (1 - k/E)^T) experts receive
tokens, passes/lower_attn.py `moe_routing`). Each row records the experts that received rows (`experts_hit`; the
note gives the uniform expectation and the most rows one expert computed). DeepSeek-V3's score-correction bias is
zero. Inputs are fixed per point, so every replay routes alike.

Checks: the attention against measure.py's float64 reference (as production.py's steps), the feed-forward layer's
first and last token against a float64 reference over the experts the router chose (relative error in
`rel_error`: the larger of the two). Where one layer's weights and caches are under measure.ROTATE_BYTES, the graph
runs several copies of the whole layer, each with its own weights, so every replay reads them from HBM as a stack
of layers does (the note says how many; `seconds` and `joules` are per layer).

Timing and energy: production.py's `timed` (CUDA-graph replay after --settle seconds, NVML's energy counter over
--window seconds of replays). --budget: no new point starts after so many seconds; those left are rows with
status=skipped, note "time budget". Points run in priority order: DeepSeek-V3 and V2-Lite MoE decode at the first
context and their prefills, then the other contexts, then the dense layers. --profile points are also broken into
kernels inside their graph replay (profile_step.py's `graph_kernels_of`), to --profile-out.

--device cpu: a dry run of the same code on tiny shapes (d_model 256, a few heads and experts; C, N, P, V stay
DeepSeek's) in CPU torch: no graph, no NVML, FlashMLA's call and the Triton RMSNorm/RoPE replaced by torch
equivalents, SDPA through any backend that runs. Its rows are grid=dry-run (mlacc validate reads none of them):
they check the logic, not the numbers.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "flashmla"))
import measure
import production
from measure import BF16, FIELDS, attention_error, matmul, rotation
from production import ProductionRunner, ProductionStep, libraries, over, timed

LAYER_FIELDS = (*FIELDS, "ffn", "experts_hit")
"""measure.py's columns, then the feed-forward layer's name in the model's DSL file and the experts that received
rows (a MoE layer's; empty for a dense one)."""

OK_ERROR = production.OK_ERROR


@dataclass(frozen=True)
class Model:
    """One model's layer, as its config.json gives it (tests/fixtures/hf/)."""

    name: str
    """The DSL file examples/NAME.attn that mlacc validate estimates the rows by."""
    attention: str
    """Its attention layer's name there (the `model` production.py's Step is given)."""
    d_model: int
    heads: int
    q_rank: int
    experts: int
    per_token: int
    expert_width: int
    shared: int
    mlp_width: int
    scoring: str
    """softmax (greedy top-k) or sigmoid (group-limited top-k, DeepSeek-V3's noaux_tc)."""
    groups: int = 1
    topk_groups: int = 1
    normalize: bool = False
    scaling: float = 1.0


MODELS = {
    "deepseek_v3_step": Model("deepseek_v3_step", "deepseek_v3", d_model=7168, heads=128, q_rank=1536, experts=256,
                              per_token=8, expert_width=2048, shared=1, mlp_width=18432, scoring="sigmoid", groups=8,
                              topk_groups=4, normalize=True, scaling=2.5),
    "deepseek_v2_lite_step": Model("deepseek_v2_lite_step", "deepseek_v2_lite", d_model=2048, heads=16, q_rank=0,
                                   experts=64, per_token=6, expert_width=1408, shared=2, mlp_width=10944,
                                   scoring="softmax"),
}  # fmt: skip

TINY = {
    "deepseek_v3_step": dict(d_model=256, heads=4, q_rank=64, experts=16, per_token=4, expert_width=64,
                             mlp_width=128, groups=4, topk_groups=2),
    "deepseek_v2_lite_step": dict(d_model=256, heads=2, experts=8, per_token=2, expert_width=64, mlp_width=128),
}  # fmt: skip
"""--device cpu's shapes: each model shrunk, its routing kept (groups, scores, shared experts, q_rank 0 or not)."""


def weight(*shape: int, scale: float) -> torch.Tensor:
    """Random bf16 weights drawn in place (DeepSeek-V3's experts are 22.5 GB: no second copy while scaling)."""
    return torch.empty(*shape, device=production.DEV, dtype=BF16).normal_(0.0, scale)


# ---- grouped expert GEMMs -------------------------------------------------------------------------------

GroupedGemm = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def grouped_mm(rows: torch.Tensor, w: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """rows (R, K) sorted by expert, w (E, K, N), ends (E,) int32 on the device: expert e computes rows
    [ends[e-1], ends[e]). One torch._grouped_mm (CUTLASS's grouped GEMM on sm90, no host sync)."""
    return torch._grouped_mm(rows, w, offs=ends)  # pyright: ignore[reportPrivateImportUsage]


def looped_mm(rows: torch.Tensor, w: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """The same as one torch.mm per expert that receives rows: reads the ends on the host (a sync, so no graph)."""
    out = torch.empty(rows.shape[0], w.shape[2], device=rows.device, dtype=rows.dtype)
    start = 0
    for e, end in enumerate(ends.tolist()):
        if end > start:
            torch.mm(rows[start:end], w[e], out=out[start:end])
        start = end
    return out


def pick_grouped_gemm() -> tuple[GroupedGemm, str, bool]:
    """torch._grouped_mm where it runs and agrees with torch.mm per expert (with the kernels it launched, on a
    GPU), else the loop; and whether a CUDA graph can hold it."""
    why = "torch._grouped_mm missing"
    if hasattr(torch, "_grouped_mm"):
        rows, w = measure.rand(96, 256), weight(4, 512, 256, scale=256**-0.5).transpose(-2, -1)
        ends = torch.tensor([16, 16, 80, 96], device=production.DEV, dtype=torch.int32)
        try:
            out = grouped_mm(rows, w, ends)
            ref = looped_mm(rows, w, ends)
            error = ((out.float() - ref.float()).norm() / ref.float().norm()).item()
            if error < 1e-2 and production.DEV != "cuda":
                return grouped_mm, "torch._grouped_mm", True
            if error < 1e-2:
                from profile_step import kernels_of

                names = [name for name, _ in kernels_of(lambda: grouped_mm(rows, w, ends))]
                short = " + ".join(name.split("<")[0][:60] for name in names)
                if any("cutlass" in name.lower() for name in names):  # the sm90 grouped GEMM, offsets on the device
                    return grouped_mm, f"torch._grouped_mm (CUTLASS grouped GEMM: {short})", True
                # torch's own fallback (not sm90, not bf16): one GEMM per group after copying the offsets to the host
                return grouped_mm, f"torch._grouped_mm's fallback, one GEMM per expert ({short}; host sync)", False
            why = f"torch._grouped_mm off by {error:.1e} against torch.mm"
        except RuntimeError as e:
            why = f"torch._grouped_mm refused: {str(e).splitlines()[0][:120]}"
    return looped_mm, f"torch.mm per expert hit ({why}; host sync: timed by events without a graph)", False


GEMM: GroupedGemm = grouped_mm
GEMM_NOTE = ""
GRAPHABLE = True

EXPERTS = ("torch-grouped-mm", "vllm-triton")
"""--experts: the experts' grouped GEMMs through torch._grouped_mm (GEMM above) or vLLM's Triton fused_moe_kernel."""
VLLM: Any = None
"""vllm_moe, where --experts vllm-triton (None otherwise)."""
VLLM_DEVICE = "cpu"
"""The device name vllm_moe.config looks its tuned files up by."""


@cache
def vllm_config(m: Model, tokens: int) -> dict[str, int]:
    """The config vLLM picks for this model's MoE over `tokens` tokens (both GEMMs run under it)."""
    return VLLM.config(tokens, m.experts, m.expert_width, m.d_model, m.per_token, VLLM_DEVICE)


def vllm_gemm(m: Model, tokens: int, ends: torch.Tensor, rows: int) -> GroupedGemm:
    """Both of a MoE call's GEMMs through vLLM's kernel, under one plan made here from the device-side `ends`, as
    vLLM aligns every step. `rows` (tokens x k, static) is given so that align reads nothing on the host (no sync:
    a CUDA graph holds it). The dry run casts to float16 (Triton's interpreter's bf16 tl.dot is wrong)."""
    plan = VLLM.plan(ends, vllm_config(m, tokens), rows=rows)
    if production.DEV == "cpu":
        return lambda a, w, _: VLLM.grouped_gemm(a.half(), w.half(), plan).to(a.dtype)
    return lambda a, w, _: VLLM.grouped_gemm(a, w, plan)


# ---- feed-forward layers ----------------------------------------------------------------------------------


class Mlp:
    """A gated (SwiGLU) MLP, [gate | up] as one weight: GEMM, SiLU, product, down GEMM (all cuBLASLt)."""

    def __init__(self, d: int, width: int):
        self.width = width
        self.w13 = weight(d, 2 * width, scale=d**-0.5)
        self.w2 = weight(width, d, scale=width**-0.5)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h = matmul(x, self.w13)
        return matmul(F.silu(h[:, : self.width]) * h[:, self.width :], self.w2)

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """float64 output of one token x (d,)."""
        h = x.double() @ self.w13.double()
        return (F.silu(h[: self.width]) * h[self.width :]) @ self.w2.double()

    def weight_bytes(self) -> int:
        return (self.w13.numel() + self.w2.numel()) * 2


class Moe:
    """A mixture of experts as a serving engine runs it (the module's docstring); weights as engines store them,
    (experts, out, in), given to the grouped GEMM transposed."""

    def __init__(self, m: Model):
        self.m = m
        e, d, f = m.experts, m.d_model, m.expert_width
        self.w_router = weight(d, e, scale=d**-0.5)
        self.bias = torch.zeros(e, device=production.DEV)  # DeepSeek-V3's e_score_correction_bias
        self.w13 = weight(e, 2 * f, d, scale=d**-0.5)  # [gate | up] of each expert
        self.w2 = weight(e, d, f, scale=f**-0.5)
        self.expert_ids = torch.arange(e, device=production.DEV)
        self.shared = Mlp(d, m.shared * f) if m.shared else None

    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(weights fp32, experts int64), each (tokens, per_token): the router GEMM, then `select`."""
        return self.select(matmul(x, self.w_router))

    def select(self, logits: torch.Tensor, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """The scores of the router's bf16 logits, in `dtype` (fp32 as engines; float64 for a reference), and their
        top-k: (weights, experts int64), each (tokens, per_token)."""
        m, t = self.m, logits.shape[0]
        logits = logits.to(dtype)
        if m.scoring == "softmax":
            scores = logits.softmax(-1)
            weights, experts = scores.topk(m.per_token, dim=-1)
        else:  # sigmoid, group-limited (vLLM's grouped_topk)
            scores = logits.sigmoid()
            choice = scores + self.bias
            per_group = m.experts // m.groups
            group_scores = choice.view(t, m.groups, per_group).topk(2, dim=-1).values.sum(-1)
            keep = group_scores.topk(m.topk_groups, dim=-1).indices
            mask = torch.zeros_like(group_scores).scatter_(1, keep, 1.0)
            mask = mask.unsqueeze(-1).expand(t, m.groups, per_group).reshape(t, m.experts)
            experts = choice.masked_fill(mask == 0, float("-inf")).topk(m.per_token, dim=-1).indices
            weights = scores.gather(1, experts)
        if m.normalize:
            weights = weights / weights.sum(-1, keepdim=True)
        if m.scaling != 1.0:
            weights = weights * m.scaling
        return weights, experts

    def dispatch(self, x: torch.Tensor, experts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The rows (token, slot) grouped by expert: (rows (tokens x k, d) of x, order: where each came from,
        token * k + slot; ends (experts,) int32: expert e's rows end at ends[e])."""
        by_expert, order = experts.view(-1).sort(stable=True)
        ends = torch.searchsorted(by_expert, self.expert_ids, right=True, out_int32=True)
        rows = x.index_select(0, order.div(self.m.per_token, rounding_mode="floor"))
        return rows, order, ends

    def combine(self, y: torch.Tensor, order: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The experts' rows y (in `dispatch`'s order) back in token order, summed with their routing weights."""
        (t, k), d = weights.shape, y.shape[1]
        back = torch.empty_like(y).index_copy_(0, order, y)  # row (token, slot) back at token * k + slot
        return torch.bmm(weights.to(y.dtype).unsqueeze(1), back.view(t, k, d)).view(t, d)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        f = self.m.expert_width
        weights, experts = self.route(x)
        rows, order, ends = self.dispatch(x, experts)
        gemm = GEMM if VLLM is None else vllm_gemm(self.m, x.shape[0], ends, rows.shape[0])
        h = gemm(rows, self.w13.transpose(-2, -1), ends)
        y = gemm(F.silu(h[:, :f]) * h[:, f:], self.w2.transpose(-2, -1), ends)
        out = self.combine(y, order, weights)
        return out + self.shared(x) if self.shared is not None else out

    def routing(self, x: torch.Tensor) -> tuple[int, int]:
        """(experts that receive rows, the most rows one of them computes) of these tokens."""
        counts = torch.bincount(self.route(x)[1].view(-1), minlength=self.m.experts)
        return int((counts > 0).sum()), int(counts.max())

    def reference(self, x: torch.Tensor, weights: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
        """float64 output of one token x (d,) routed to `experts` with `weights`."""
        f = self.m.expert_width
        out = self.shared.reference(x) if self.shared is not None else torch.zeros(x.shape[0], dtype=torch.float64)
        out = out.to(x.device)
        for w, e in zip(weights.tolist(), experts.tolist(), strict=True):
            h = self.w13[e].double() @ x.double()
            out = out + w * (self.w2[e].double() @ (F.silu(h[:f]) * h[f:]))
        return out

    def weight_bytes(self) -> int:
        shared = self.shared.weight_bytes() if self.shared is not None else 0
        return (self.w_router.numel() + self.w13.numel() + self.w2.numel()) * 2 + shared


def expected_experts(tokens: int, experts: int, per_token: int) -> float:
    """Experts that receive rows when `tokens` tokens each pick `per_token` of `experts` uniformly (mlacc's
    `moe_routing` before rounding)."""
    return experts * (1 - (1 - per_token / experts) ** tokens)


def ffn_error(ffn: Mlp | Moe, x: torch.Tensor, out: torch.Tensor) -> float:
    """||out - ref|| / ||ref|| of the first and last token against the float64 reference."""
    worst = 0.0
    routed = ffn.route(x) if isinstance(ffn, Moe) else None
    for i in sorted({0, x.shape[0] - 1}):
        if isinstance(ffn, Moe):
            assert routed is not None
            ref = ffn.reference(x[i], routed[0][i], routed[1][i])
        else:
            ref = ffn.reference(x[i])
        worst = max(worst, ((out[i].double() - ref).norm() / ref.norm()).item())
    return worst


# ---- one whole layer --------------------------------------------------------------------------------------


class Layer:
    """The attention step and then the feed-forward layer, one copy of the layer (its own weights and caches)."""

    def __init__(self, m: Model, ffn: Mlp | Moe, scheme: str, batch: int, context: int, new_tokens: int, fmla):
        self.attention = ProductionStep(m.attention, scheme, batch, context, new_tokens, m.heads, fmla,
                                        d_model=m.d_model, q_rank=m.q_rank)  # fmt: skip
        self.ffn = ffn
        self.hidden = measure.rand(batch * new_tokens, m.d_model)
        self.out: torch.Tensor | None = None

    def __call__(self) -> torch.Tensor:
        self.attention()
        self.out = self.ffn(self.hidden)
        return self.out

    def error(self) -> float:
        assert self.out is not None
        return max(attention_error(self.attention), ffn_error(self.ffn, self.hidden, self.out))


FFN_WEIGHTS: dict[tuple[str, str, int], Mlp | Moe] = {}
"""Feed-forward weights made so far, by (model, ffn, copy): made once, shared by every point of that model."""


def ffn_weights(m: Model, ffn: str, copy: int) -> Mlp | Moe:
    key = (m.name, ffn, copy)
    if key not in FFN_WEIGHTS:
        FFN_WEIGHTS[key] = Moe(m) if ffn == "moe" else Mlp(m.d_model, m.mlp_width)
    return FFN_WEIGHTS[key]


def layer_read_bytes(m: Model, ffn: str, tokens: int, attention_bytes: int) -> int:
    """What one layer reads per call, about: the attention step's weights and caches, and the feed-forward
    weights of the experts that receive rows (uniform routing) or the whole MLP."""
    if ffn == "dense":
        return attention_bytes + 3 * m.d_model * m.mlp_width * 2
    experts = expected_experts(tokens, m.experts, m.per_token) + m.shared
    return attention_bytes + int(experts * 3 * m.d_model * m.expert_width * 2)


def measure_layer(run: ProductionRunner, m: Model, ffn: str, scheme: str, phase: str, batch: int, context: int,
                  fmla, grid: str, profile: Any) -> None:  # fmt: skip
    """One row: the layer timed (`time_layer`), or why not. Its tensors are freed before the next point."""
    new = 1 if phase == "decode" else context
    ctx = context if phase == "decode" else 0
    fields = dict(grid=grid, kind="layer", model=m.name, scheme=scheme, phase=phase, batch=batch, context=ctx,
                  new_tokens=new, ffn=ffn)  # fmt: skip
    label = f"{m.name} + {ffn} {scheme} {phase} b{batch} ctx {ctx} new {new}"
    if over():
        run.row(**fields, status="skipped", note="time budget")
        return
    production.recorded(run, fields, label, lambda: time_layer(run, m, fields, label, fmla, profile))


def time_layer(run: ProductionRunner, m: Model, fields: dict, label: str, fmla, profile: Any) -> None:
    batch, ctx, new, ffn = fields["batch"], fields["context"], fields["new_tokens"], fields["ffn"]
    first = Layer(m, ffn_weights(m, ffn, 0), fields["scheme"], batch, ctx, new, fmla)
    copies = rotation(layer_read_bytes(m, ffn, batch * new, first.attention.resident_bytes()))
    if production.DEV == "cpu":
        copies = min(copies, 2)  # the dry run's tiny layers: two copies show the rotation works
    layers = [first] + [Layer(m, ffn_weights(m, ffn, i), fields["scheme"], batch, ctx, new, fmla)
                        for i in range(1, copies)]  # fmt: skip
    for layer in layers:
        layer()
    sync()
    error = max(layer.error() for layer in layers)

    def fn() -> list[torch.Tensor]:
        return [layer() for layer in layers]

    if production.DEV == "cpu":
        seconds, joules, how = dry_seconds(fn, copies), math.nan, "cpu dry run: perf_counter, no graph, no energy"
    elif GRAPHABLE or not isinstance(first.ffn, Moe):
        seconds, joules, how = timed(run, fn, calls=copies)
    else:
        seconds, joules = production.event_seconds(run, fn, copies)
        how = "events, no graph (the experts' GEMMs read the rows per expert on the host)"
    hit = ""
    notes = [first.attention.note, "gemm cublaslt" if production.DEV == "cuda" else ""]
    if isinstance(first.ffn, Moe):
        routing = [layer.ffn.routing(layer.hidden) for layer in layers if isinstance(layer.ffn, Moe)]
        hit = routing[0][0]
        notes += [
            f"experts hit {', '.join(str(h) for h, _ in routing)} of {m.experts} (uniform routing expects "
            f"{expected_experts(batch * new, m.experts, m.per_token):.1f}), most rows of one expert "
            f"{max(r for _, r in routing)} (mean {batch * new * m.per_token / routing[0][0]:.1f})",
            f"routing {m.scoring} top-{m.per_token}"
            + (f" in {m.topk_groups} of {m.groups} groups" if m.groups > 1 else "")
            + f", {m.shared} shared",
        ]
        if VLLM is not None:
            config = vllm_config(m, batch * new)
            notes.append(
                "experts config " + " ".join(f"{k.removesuffix('_SIZE')}={v}" for k, v in config.items())
                + ", one alignment per call (torch ops, inside the timing)"
                + (", float16" if production.DEV == "cpu" else "")
            )  # fmt: skip
    notes += [
        "[gate|up] one GEMM",
        "ffn input random (norms and residual adds not run)",
        f"{copies} layer copies" if copies > 1 else "",
        "" if how == "graph replay" else how,
        run.libraries,
    ]
    status = "ok" if error < OK_ERROR else "check-failed"
    resident = first.attention.resident_bytes() + first.ffn.weight_bytes()
    run.row(**fields, seconds=seconds, joules=joules, rel_error=error, bytes=resident, status=status,
            experts_hit=hit, note="; ".join(n for n in notes if n))  # fmt: skip
    print(f"{label:<58}: {seconds * 1e6:10.1f} us {joules:8.4f} J err {error:.1e} hit {hit} x{copies} "
          f"[{first.attention.backend or 'flashmla'}]", flush=True)  # fmt: skip
    if profile is not None and production.DEV == "cuda":
        profile_layer(profile, run, fields, fn)


DECODE = ",".join(f"{b}x{c}" for c in (4096, 16384) for b in (1, 2, 4, 8, 16, 32, 64, 128))
"""The MoE layers' decode points: batch 1-128 at contexts 4k, then 16k."""

PROFILE = ("deepseek_v3_step:moe:decode:1:4096", "deepseek_v3_step:moe:decode:32:4096",
           "deepseek_v3_step:moe:decode:128:4096", "deepseek_v3_step:moe:prefill:1:4096",
           "deepseek_v2_lite_step:moe:decode:1:4096", "deepseek_v2_lite_step:moe:decode:128:4096",
           "deepseek_v2_lite_step:moe:prefill:1:4096")  # fmt: skip
"""The points --profile-out breaks into kernels by default: where the model's MoE estimate is to be explained."""

PROFILE_FIELDS = ("device", "model", "ffn", "scheme", "phase", "batch", "context", "new_tokens", "launch", "kernel",
                  "seconds", "sm_mhz", "step_seconds")  # fmt: skip


def profile_layer(out: Any, run: ProductionRunner, fields: dict, fn: Callable[[], object]) -> None:
    """The layer's kernels inside its graph replay (profile_step.py's columns, with the ffn), one row each."""
    from profile_step import graph_kernels_of

    try:
        kernels, mhz, whole = graph_kernels_of(fn, run.board)  # type: ignore[arg-type]
    except Exception as e:
        print(f"  profile: FAILED {str(e)[:200]}", flush=True)
        return
    for i, (name, seconds) in enumerate(kernels):
        out.writerow([run.device, fields["model"], fields["ffn"], fields["scheme"], fields["phase"], fields["batch"],
                      fields["context"], fields["new_tokens"], i, name, f"{seconds:.6g}", f"{mhz:.0f}",
                      f"{whole:.6g}"])  # fmt: skip
    print(f"  profile: {len(kernels)} kernels, {sum(s for _, s in kernels) * 1e6:.1f} us of device time, "
          f"{whole * 1e6:.1f} us replayed, {mhz:.0f} MHz", flush=True)  # fmt: skip


def sync() -> None:
    if production.DEV == "cuda":
        torch.cuda.synchronize()


# ---- the CPU dry run --------------------------------------------------------------------------------------


def dry_seconds(fn: Callable[[], object], calls: int) -> float:
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) / calls


def torch_rmsnorm(x: torch.Tensor, gamma: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """fused_ops.rmsnorm in torch."""
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps) * gamma.float()).to(x.dtype)


def torch_rope(x: torch.Tensor, heads: int, seq: int, offset: int) -> torch.Tensor:
    """fused_ops.rope in torch: rows (batch, token, head), halves rotated, base 10000."""
    rows, dim = x.shape
    half = dim // 2
    position = (torch.arange(rows) // heads) % seq + offset
    angle = position[:, None].float() * 10000.0 ** (-torch.arange(half).float() / half)
    cos, sin = angle.cos(), angle.sin()
    x1, x2 = x[:, :half].float(), x[:, half:].float()
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), -1).to(x.dtype)


class TorchLatentDecode:
    """FlashMLA's dense_decode_fwd in plain torch, for the CPU dry run only: each sequence's keys gathered from its
    pages, softmax(q k^T scale) v with v the first dv values of each key."""

    @staticmethod
    def dense_decode_fwd(q, cache, dv, seqlens, table, scale, causal, meta, splits):
        b, s, h, dqk = q.shape
        keys = cache[table.long()].reshape(b, -1, dqk)
        out = torch.empty(b, s, h, dv, dtype=q.dtype)
        for i in range(b):
            k = keys[i, : int(seqlens[i])].float()
            scores = torch.einsum("shd,td->sht", q[i].float(), k) * scale
            if causal:
                t = k.shape[0]
                seen = torch.arange(t)[None, :] <= (t - s + torch.arange(s))[:, None]
                scores = scores.masked_fill(~seen[:, None, :], float("-inf"))
            out[i] = torch.einsum("sht,td->shd", scores.softmax(-1), k[:, :dv]).to(q.dtype)
        return out, None, torch.zeros(1, 1), None


class DryRunner(ProductionRunner):
    """A Runner without a board: rows only (grid dry-run, no joules)."""

    def __init__(self, out: Path, fields: tuple[str, ...]):  # no super().__init__: it opens NVML
        self.board = None  # type: ignore[assignment]
        self.window = self.settle = 0.0
        self.quick = True
        self.device = "cpu (dry run)"
        self.date = datetime.date.today().isoformat()
        self.idle_watts = math.nan
        self.file = out.open("w", newline="")
        self.writer = csv.DictWriter(self.file, fields)
        self.writer.writeheader()

    def measure_idle(self) -> None:
        self.row(grid="dry-run", kind="idle", note=f"no board; {self.libraries}")


def use_cpu() -> None:
    """What the dry run replaces to run production.py's step on CPU torch (and nothing else)."""
    from torch.nn.attention import SDPBackend

    measure.DEV = production.DEV = "cpu"
    production.rmsnorm, production.rope = torch_rmsnorm, torch_rope
    production.BACKENDS = {**production.BACKENDS, "math": SDPBackend.MATH}
    torch.cuda.synchronize = lambda device=None: None  # FlashMLA's set-up synchronizes

    def first_backend(q, k, v, causal, scale):
        for name in production.BACKENDS:
            try:
                production.sdpa(name, q, k, v, causal, scale)
                return name, f"attention sdpa {name} (cpu dry run)"
            except RuntimeError:
                continue
        raise NotImplementedError("no SDPA backend runs this attention on CPU")

    production.pick_backend = first_backend


# ---- the grid ---------------------------------------------------------------------------------------------


def points(text: str) -> list[tuple[int, int]]:
    return production.points(text)


def plan(args: argparse.Namespace) -> list[tuple[str, str, str, int, int]]:
    """(model, ffn, phase, batch, context) in priority order: each model's MoE decode at the first context and its
    prefill, then the MoE decode at the other contexts, then the dense layers."""
    decode, prefill = points(args.decode), points(args.prefill)
    contexts = list(dict.fromkeys(c for _, c in decode))
    models = args.models.split(",")
    out: list[tuple[str, str, str, int, int]] = []
    for tier in range(len(contexts)):
        for model in models:
            out += [(model, "moe", "decode", b, c) for b, c in decode if c == contexts[tier]]
            if tier == 0:
                out += [(model, "moe", "prefill", b, p) for b, p in prefill]
    for model in models:
        out += [(model, "dense", "decode", b, c) for b, c in points(args.dense_decode)]
        out += [(model, "dense", "prefill", b, p) for b, p in points(args.dense_prefill)]
    return out


def main() -> None:
    global GEMM, GEMM_NOTE, GRAPHABLE, VLLM, VLLM_DEVICE
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu: the dry run (tiny shapes)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--decode", default=DECODE, help="the MoE layers' decode points, BxC,... (first context first)")
    parser.add_argument("--prefill", default="1x1024,1x4096", help="the MoE layers' prefill points, BxP,...")
    parser.add_argument("--dense-decode", default="1x4096,64x4096", help="the dense layers' decode points")
    parser.add_argument("--dense-prefill", default="1x4096", help="the dense layers' prefill points")
    parser.add_argument("--decode-scheme", default="recompute", help="the attention's scheme in decode")
    parser.add_argument("--prefill-scheme", default="expand", help="the attention's scheme in prefill")
    parser.add_argument(
        "--profile",
        nargs="*",
        default=list(PROFILE),
        help="points (model:ffn:phase:batch:context) also broken into kernels, to --profile-out",
    )
    parser.add_argument("--profile-out", type=Path, help="CSV of the --profile points' kernels (none without it)")
    parser.add_argument("--flashmla-src", type=Path, default=Path("/tmp/fmla"), help="holds csrc/ (flashmla_build.py)")
    parser.add_argument("--flashmla-so", type=Path, help="a prebuilt extension to try first")
    parser.add_argument("--flashmla-objects", type=Path, nargs="*", default=[], help="the .cu files compiled ahead")
    parser.add_argument("--flashmla-build", type=Path, default=Path("/tmp/flashmla_build"))
    parser.add_argument("--window", type=float, default=0.5, help="seconds of replays per energy reading")
    parser.add_argument("--settle", type=float, default=0.5, help="seconds of replays before timing a layer")
    parser.add_argument("--budget", type=float, default=math.inf, help="seconds after which nothing new starts")
    parser.add_argument("--experts", choices=EXPERTS, default=EXPERTS[0], help="the experts' grouped GEMMs' kernel")
    args = parser.parse_args()  # fmt: skip
    if args.experts == "vllm-triton":
        if args.device == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":  # set in here, triton ignores it
            sys.exit("layer_step.py --experts vllm-triton --device cpu: run under TRITON_INTERPRET=1")
        import vllm_moe  # pyright: ignore[reportMissingImports]

        ok, why = vllm_moe.available()
        if not ok:
            sys.exit(f"layer_step.py --experts vllm-triton: {why}")
        VLLM = vllm_moe
    start = time.monotonic()
    production.DEADLINE = start + args.budget
    warnings.filterwarnings("ignore")  # SDPA's warnings for every backend that refuses a shape
    torch.manual_seed(0)
    models = dict(MODELS)
    grid = "validation"
    if args.device == "cpu":
        use_cpu()
        models = {name: replace(m, **TINY[name]) for name, m in MODELS.items()}
        grid = "dry-run"
        if args.decode == parser.get_default("decode"):
            args.decode, args.prefill, args.dense_decode, args.dense_prefill = "1x64,4x64,2x130", "1x48", "2x64", "1x32"
        fmla, how = TorchLatentDecode(), "cpu dry run: torch in FlashMLA's place"
        run: ProductionRunner = DryRunner(args.out, LAYER_FIELDS)
    else:
        torch.backends.cuda.preferred_blas_library("cublaslt")
        measure.BLAS = "cublaslt"
        fmla, how = production.load_flashmla(args.flashmla_src, args.flashmla_build, args.flashmla_so,
                                             args.flashmla_objects)  # fmt: skip
        print(f"flashmla: {how} ({time.monotonic() - start:.0f} s)", flush=True)
        run = ProductionRunner(args.out, args.window, quick=False, settle=args.settle, fields=LAYER_FIELDS)
    if VLLM is None:
        GEMM, GEMM_NOTE, GRAPHABLE = pick_grouped_gemm()
    else:
        VLLM_DEVICE = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
        GEMM_NOTE = f"{VLLM.kernel_name()} ({VLLM.version()})"
    if args.device == "cpu":
        run.libraries = f"cpu dry run: torch {torch.__version__}, torch in FlashMLA's and Triton's place"
    else:
        run.libraries = libraries(how if fmla is not None else "not built: " + how[:200])
    run.libraries += f"; experts {GEMM_NOTE}"
    print(f"experts: {GEMM_NOTE}", flush=True)
    run.measure_idle()
    print(f"{run.device}: idle {run.idle_watts:.1f} W; {run.libraries}", flush=True)
    profile_file = args.profile_out.open("w", newline="") if args.profile_out else None
    profile = csv.writer(profile_file) if profile_file else None
    if profile is not None:
        profile.writerow(PROFILE_FIELDS)
    wanted = {tuple(p.split(":")) for p in args.profile}
    for model, ffn, phase, batch, context in plan(args):
        scheme = args.decode_scheme if phase == "decode" else args.prefill_scheme
        mine = (model, ffn, phase, str(batch), str(context)) in wanted
        measure_layer(run, models[model], ffn, scheme, phase, batch, context, fmla, grid, profile if mine else None)
    FFN_WEIGHTS.clear()
    run.measure_idle()
    run.file.close()
    if profile_file is not None:
        profile_file.close()
    summary(args.out)
    print(f"total {time.monotonic() - start:.0f} s", flush=True)


def summary(path: Path) -> None:
    counts: dict[str, int] = {}
    with path.open() as f:
        for r in csv.DictReader(f):
            counts[f"{r['kind']}/{r['status']}"] = counts.get(f"{r['kind']}/{r['status']}", 0) + 1
    print(path.name, counts, flush=True)


if __name__ == "__main__":
    main()
