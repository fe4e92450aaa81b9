"""Measures, on a real NVIDIA Hopper GPU, the parts of a mixture-of-experts layer that mlacc's whole-layer estimate
missed (issue #28, point 6; layer_notes.md, "Measured"), each alone: the experts' grouped GEMMs and the routing
around them, on a calibration grid of token counts that layer_step.py's validation grid does not hold, so that a
grouped-GEMM library class and a routing cost can be fit here and judged on whole layers there:

    python3 benchmarks/gpu/expert_gemm.py --out $OUT/h100_expert_gemm_$(date +%F).csv --budget 150
    TRITON_INTERPRET=1 python benchmarks/gpu/expert_gemm.py --device cpu --out /tmp/expert_dry.csv   # tiny shapes

Needs torch, triton and NVML on the GPU machine, as layer_step.py, whose models (MODELS), MoE (`Moe`: its select,
dispatch and combine are the code timed here), grouped GEMM (`pick_grouped_gemm`) and dry run this script imports;
for the vllm-triton rows, the packed kernel .vllm_moe carried (vllm_moe.py; layer_notes.md says how it is built).

A row (kind=expert_gemm, grid=calibration) is one part of one model's MoE layer over `tokens` tokens, timed alone
as its own CUDA graph (`part`, `impl`):
- `router`: the router GEMM, tokens x d_model by d_model x experts (torch-eager: cuBLASLt);
- `routing`: from the router's bf16 logits to the rows sorted by expert and each expert's end: fp32 scores, top-k
  (DeepSeek-V3's group-limited), weights normalised and scaled, torch.sort, torch.searchsorted, index_select
  (Moe.select, Moe.dispatch), as torch-eager (layer_step's unfused kernels) and torch-compiled (the same functions
  through torch.compile: inductor's fused Triton kernels, as vLLM's compiled graph runs them);
- `gate_up`: the grouped GEMM of the tokens x k routed rows by each expert's [gate | up] (d_model x 2 width), and
  `down`: the grouped GEMM of tokens x k rows of width by each expert's down projection (width x d_model), each as
  torch-grouped-mm (layer_step's torch._grouped_mm: CUTLASS's grouped GEMM on sm90) and vllm-triton (vLLM's
  fused_moe Triton kernel through vllm_moe.py, under the config vLLM picks for the tokens, the rows aligned to its
  blocks outside the timed region; skipped rows, with the reason, where the module or its packed kernel is missing);
- `combine`: the experts' rows back in token order, summed with their routing weights (Moe.combine), torch-eager
  and torch-compiled.
Columns: `experts_hit` and `max_rows` (the experts that received rows, the most rows one of them computed),
`m_rows`, `n`, `k` (the GEMM's shape; the rows and their width for routing and combine), `bytes` (what a roofline
counts: the weights of the experts hit, or the router's, read once, the activations read and written once), `flops`
(empty for routing), `seconds` and `joules` per call (NVML, the whole board, `idle_watts` of the run's first idle
reading), `sm_mhz` (the mean SM clock NVML reports while the part was timed), `rel_error` (against float64 on the
first, a middle and the last row or token) and `note`: the rates, the kernels one call launches (profiled, counted
by name), how it was timed, the grouped GEMM's kernel and the library versions.

Grid: DeepSeek-V3 (256 experts of width 2048, 8 per token, d_model 7168) and DeepSeek-V2-Lite (64 of width 1408, 6
per token, d_model 2048) at tokens 3, 6, 12, ..., 384 (decode-like) and 512, 2048, 8192 (prefill-like; V2-Lite also
16384). The tokens are random, as are the router's weights: routing is near-uniform, as mlacc assumes, and is the
same for every part and implementation of a point. A model's experts are drawn once (DeepSeek-V3's are 22.5 GB) and
freed before the next model's. Where a part reads less than measure.ROTATE_BYTES, the graph runs it over several
copies of its inputs (the router's or experts' weights, the routing's and combine's activations), each read from
HBM as in a stack of layers; `seconds` and `joules` are per call. Order: each model's eager parts at every token
count, then its compiled ones. --budget: no part starts after so many seconds; those left are rows with
status=skipped, note "time budget". --compile dynamic (default) compiles each function once per model, dynamic in
the token count as vLLM compiles; static compiles it again for every token count (about 10 s each).

The CSV is written as OUT.partial, row by row, and renamed to OUT when the run ends.

--device cpu: a dry run of the same code on tiny shapes (layer_step.TINY: d_model 256, 8-16 experts) and three
token counts in CPU torch: no graph, no NVML, no profile; vLLM's kernel on Triton's interpreter in float16 (only
under TRITON_INTERPRET=1, else its rows are skipped). Its rows are grid=dry-run, a check of the logic only.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import layer_step
import measure
import production
from layer_step import MODELS, TINY, DryRunner, Model, Moe, dry_seconds, ffn_weights, sync, weight
from measure import matmul, rand, rotation
from production import OK_ERROR, ProductionRunner, over, recorded, timed

FIELDS = tuple(
    "device kind grid model impl part tokens experts per_token experts_hit max_rows d_model width m_rows n k bytes "
    "flops seconds joules idle_watts sm_mhz status rel_error note".split()
)

TOKENS = (3, 6, 12, 24, 48, 96, 192, 384, 512, 2048, 8192)
"""The calibration grid: none of these is a token count of layer_step's validation grid (decode batches 1-128 of
one token each, prefills of 1024 and 4096)."""
MORE_TOKENS = {"deepseek_v2_lite_step": (16384,)}
"""Where a larger point is cheap: V2-Lite's 16k-token gate_up is about 1.1 TFLOP."""
DRY_TOKENS = (3, 12, 40)

EAGER, COMPILED = "torch-eager", "torch-compiled"
GEMM_IMPLS = ("torch-grouped-mm", "vllm-triton")

SECONDS_PER_PART, SECONDS_PER_COMPILE = 0.5, 10.0
"""For the printed estimate: a part's captures, settle, timed replays, energy window, check and profile on an
H100, and one torch.compile of the routing or the combine."""


# ---- what is timed ----------------------------------------------------------------------------------------


def moe_weights(m: Model, copy: int) -> Moe:
    """layer_step's MoE weights of `m`, made once: copy 0 routes every point, the others rotate the experts'."""
    moe = ffn_weights(m, "moe", copy)
    assert isinstance(moe, Moe)
    return moe


class Point:
    """One model's MoE layer over `tokens` random tokens, routed once by layer_step's eager code: the inputs every
    part reads (the GEMMs' rows are these, so every part of the point has the same experts_hit)."""

    def __init__(self, moe: Moe, tokens: int):
        m = moe.m
        self.moe, self.tokens = moe, tokens
        self.x = rand(tokens, m.d_model)
        self.logits = matmul(self.x, moe.w_router)
        self.weights, experts = moe.select(self.logits)
        self.rows, self.order, self.ends = moe.dispatch(self.x, experts)
        self.act = rand(tokens * m.per_token, m.expert_width)  # the down GEMM's rows (SiLU(gate) x up)
        self.y = rand(tokens * m.per_token, m.d_model)  # combine's: the down GEMM's output
        counts = torch.bincount(experts.view(-1), minlength=m.experts)
        self.hit, self.max_rows = int((counts > 0).sum()), int(counts.max())


GemmCall = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""A grouped GEMM bound to one point's routing: rows (R, K) sorted by expert, w (E, K, N) -> (R, N)."""


@dataclass(frozen=True)
class GemmImpl:
    """One grouped-GEMM implementation: `bind(point)` prepares what it needs of that point's routing outside the
    timed region and gives its call and a note on it; None where it cannot run, `note` saying why."""

    bind: Callable[[Point], tuple[GemmCall, str]] | None
    note: str
    graphable: bool = True


def gemm_impls(names: list[str]) -> dict[str, GemmImpl]:
    impls = {}
    if "torch-grouped-mm" in names:
        gemm, note, graphable = layer_step.pick_grouped_gemm()

        def bind_torch(point: Point) -> tuple[GemmCall, str]:
            return (lambda rows, w: gemm(rows, w, point.ends)), ""

        impls["torch-grouped-mm"] = GemmImpl(bind_torch, note, graphable)
    if "vllm-triton" in names:
        impls["vllm-triton"] = vllm_impl()
    return impls


def vllm_impl() -> GemmImpl:
    """vllm_moe.py's launch of vLLM's fused_moe Triton kernel, under the config vLLM would pick for the point's
    tokens, its alignment of the rows to that config's blocks (vLLM's moe_align_block_size) made outside the timed
    region. Imported only when asked for: it needs the packed kernel (.vllm_moe, carried). The dry run runs it on
    Triton's CPU interpreter (TRITON_INTERPRET=1, read as triton is imported) in float16, as the interpreter's bf16
    tl.dot is wrong."""
    if production.DEV == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        return GemmImpl(None, "the dry run runs vllm_moe's Triton kernel only under TRITON_INTERPRET=1")
    try:
        import vllm_moe  # pyright: ignore[reportMissingImports]
    except Exception as e:
        return GemmImpl(None, f"vllm_moe.py not importable: {str(e).splitlines()[0][:150]}")
    ok, why = vllm_moe.available()
    if not ok:
        return GemmImpl(None, f"vllm_moe: {why}")
    device = torch.cuda.get_device_name() if production.DEV == "cuda" else "cpu"

    def bind_vllm(point: Point) -> tuple[GemmCall, str]:
        m, rows = point.moe.m, point.tokens * point.moe.m.per_token
        config = vllm_moe.config(point.tokens, m.experts, m.expert_width, m.d_model, m.per_token, device)
        plan = vllm_moe.plan(point.ends, config, rows=rows)
        note = "config " + " ".join(f"{k.removesuffix('_SIZE')}={v}" for k, v in config.items())
        if production.DEV == "cpu":
            return (lambda a, w: vllm_moe.grouped_gemm(a.half(), w.half(), plan).to(a.dtype)), note + ", float16"
        return (lambda a, w: vllm_moe.grouped_gemm(a, w, plan)), note

    return GemmImpl(bind_vllm, f"vLLM fused_moe (vllm_moe.py): {why}")


@dataclass
class Part:
    """One thing timed: `call(i)` runs it on the i-th of `copies` sets of inputs, `error(i, out)` checks that
    set's output against float64."""

    point: Point
    m_rows: int
    n: int
    k: int | str
    bytes: int
    flops: int | str
    call: Callable[[int], object]
    error: Callable[[int, object], float]
    copies: int
    graphable: bool = True
    note: str = ""


def copies_for(bytes_per_call: int) -> int:
    """measure.rotation's input sets; two in the dry run, whose tiny parts would take 64."""
    return min(rotation(bytes_per_call), 2) if production.DEV == "cpu" else rotation(bytes_per_call)


def sample(n: int) -> list[int]:
    """The rows (or tokens) a check reads: the first, a middle one and the last."""
    return sorted({0, n // 2, n - 1})


def relative(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out.double() - ref).norm() / ref.norm()).item()


def slot_rows(order: torch.Tensor) -> torch.Tensor:
    """Where dispatch put each (token, slot): the inverse of its `order`, indexed by token * k + slot."""
    rows = torch.empty_like(order)
    rows[order] = torch.arange(order.numel(), device=order.device)
    return rows


def router_part(point: Point) -> Part:
    moe, m, t = point.moe, point.moe.m, point.tokens
    bytes_ = 2 * (m.d_model * m.experts + t * m.d_model + t * m.experts)
    copies = copies_for(bytes_)
    ws = [moe.w_router] + [weight(m.d_model, m.experts, scale=m.d_model**-0.5) for _ in range(copies - 1)]

    def error(i: int, out) -> float:
        return max(relative(out[r], point.x[r].double() @ ws[i].double()) for r in sample(t))

    return Part(point, t, m.experts, m.d_model, bytes_, 2 * t * m.d_model * m.experts,
                lambda i: matmul(point.x, ws[i]), error, copies)  # fmt: skip


def routing(moe: Moe, logits: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """layer_step's routing from the router's logits: (weights, rows, order, ends)."""
    weights, experts = moe.select(logits)
    return (weights, *moe.dispatch(x, experts))


def routing_error(moe: Moe, logits: torch.Tensor, x: torch.Tensor, out) -> float:
    """The first, a middle and the last token against a float64 routing of the same logits: their weights (sorted,
    so that of two equal scores either may be taken), each weight paired with its own expert (weight / that
    expert's score alike over the token's slots, which also checks the ends), and the rows dispatch filled for
    them equal to the token."""
    weights, rows, order, ends = out
    m, (t, k) = moe.m, weights.shape
    if int(ends[-1]) != t * k:
        return 1.0
    ref, _ = moe.select(logits, torch.float64)
    scores = logits.double().softmax(-1) if m.scoring == "softmax" else logits.double().sigmoid()
    where = slot_rows(order)
    worst = 0.0
    for i in sample(t):
        at = where[i * k : (i + 1) * k]
        experts = torch.searchsorted(ends, at.to(ends.dtype), right=True)
        ratio = weights[i].double() / scores[i, experts]
        worst = max(worst, relative(weights[i].sort().values, ref[i].sort().values),
                    ((ratio.max() - ratio.min()) / ratio.mean()).item(),
                    relative(rows[at], x[i].double().expand(k, -1)))  # fmt: skip
    return worst


def routing_part(point: Point, fn: Callable[..., tuple[torch.Tensor, ...]]) -> Part:
    m, t = point.moe.m, point.tokens
    r = t * m.per_token
    bytes_ = 2 * t * m.experts + 2 * t * m.d_model + 2 * r * m.d_model + 12 * r + 4 * m.experts
    copies = copies_for(bytes_)
    inputs = [(point.logits, point.x)] + [(point.logits.clone(), point.x.clone()) for _ in range(copies - 1)]
    return Part(point, r, m.d_model, "", bytes_, "", lambda i: fn(*inputs[i]),
                lambda i, out: routing_error(point.moe, *inputs[i], out), copies)  # fmt: skip


def combine_error(y: torch.Tensor, order: torch.Tensor, weights: torch.Tensor, out) -> float:
    """The first, a middle and the last token against the float64 sum of their k rows of y by their weights."""
    t, k = weights.shape
    where = slot_rows(order)
    return max(relative(out[i], weights[i].double() @ y[where[i * k : (i + 1) * k]].double()) for i in sample(t))


def combine_part(point: Point, fn: Callable[..., torch.Tensor]) -> Part:
    m, t = point.moe.m, point.tokens
    r = t * m.per_token
    bytes_ = 2 * r * m.d_model + 12 * r + 2 * t * m.d_model
    copies = copies_for(bytes_)
    inputs = [(point.y, point.order, point.weights)]
    inputs += [(point.y.clone(), point.order.clone(), point.weights.clone()) for _ in range(copies - 1)]
    return Part(point, r, m.d_model, "", bytes_, 2 * r * m.d_model, lambda i: fn(*inputs[i]),
                lambda i, out: combine_error(*inputs[i], out), copies)  # fmt: skip


def gemm_error(a: torch.Tensor, w: torch.Tensor, ends: torch.Tensor, out) -> float:
    """The first, a middle and the last row against float64 by the weights of the expert whose rows hold it."""
    worst = 0.0
    for r in sample(a.shape[0]):
        expert = int((ends <= r).sum())
        worst = max(worst, relative(out[r], a[r].double() @ w[expert].double()))
    return worst


def gemm_part(point: Point, part: str, impl: GemmImpl) -> Part:
    """gate_up or down, the experts' weights as engines store them (experts, out, in), given transposed."""
    m, t = point.moe.m, point.tokens
    r = t * m.per_token
    k, n = (m.d_model, 2 * m.expert_width) if part == "gate_up" else (m.expert_width, m.d_model)
    a = point.rows if part == "gate_up" else point.act
    bytes_ = 2 * (point.hit * k * n + r * k + r * n)
    copies = copies_for(bytes_)
    moes = [point.moe] + [moe_weights(m, i) for i in range(1, copies)]
    ws = [(moe.w13 if part == "gate_up" else moe.w2).transpose(-2, -1) for moe in moes]
    assert impl.bind is not None
    gemm, note = impl.bind(point)
    return Part(point, r, n, k, bytes_, 2 * r * k * n, lambda i: gemm(a, ws[i]),
                lambda i, out: gemm_error(a, ws[i], point.ends, out), copies, impl.graphable,
                "; ".join(x for x in (note, impl.note) if x))  # fmt: skip


def compiled(fn: Callable, dynamic: bool) -> Callable:
    """fn through torch.compile (inductor, no CUDA graphs of its own): dynamic in its inputs' first dimension (the
    tokens) or static. A compile that fails once is not tried again: it would fail alike at every point."""
    graph = torch.compile(fn, dynamic=None if dynamic else False)
    failure: list[str] = []

    def call(*args: torch.Tensor):
        if failure:
            raise RuntimeError(f"torch.compile failed at an earlier point: {failure[0]}")
        if dynamic:
            for a in args:
                torch._dynamo.maybe_mark_dynamic(a, 0)
        try:
            return graph(*args)
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception as e:
            capturing = production.DEV == "cuda" and torch.cuda.is_current_stream_capturing()
            if not capturing:  # (a graph that cannot hold it is timed by events instead)
                failure.append(str(e).splitlines()[0][:150])
            raise

    return call


# ---- timing -----------------------------------------------------------------------------------------------


def launched(fn: Callable[[], object]) -> str:
    """The kernels (and device copies) one call launches, by name: what an implementation costs in launches."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    names = [e.name for e in prof.events() or [] if e.device_type.name == "CUDA" and e.device_time > 0]
    short = Counter(n.removeprefix("void ").split("<")[0].split("(")[0].split("::")[-1][:60] for n in names)
    return f"{len(names)} kernels: " + ", ".join(f"{n} x{c}" if c > 1 else n for n, c in short.items())


def time_part(run: ProductionRunner, fields: dict, label: str, part: Part) -> None:
    """Checks the part, times it (graph replay and energy, or events where it cannot be graphed) and writes its row."""
    t0 = time.monotonic()
    outputs = [part.call(i) for i in range(part.copies)]  # compiles, autotunes
    sync()
    first = time.monotonic() - t0
    error = max(part.error(i, outputs[i]) for i in sorted({0, part.copies - 1}))
    del outputs

    def calls() -> list[object]:
        return [part.call(i) for i in range(part.copies)]

    joules: float | str = ""
    mhz: float | str = ""
    kernels = ""
    if production.DEV == "cpu":
        seconds, how = dry_seconds(calls, part.copies), "cpu dry run: perf_counter, no graph, no energy"
    else:
        with run.board.sm_clocks() as clocks:
            if part.graphable:
                seconds, joules, how = timed(run, calls, part.copies)
            else:
                seconds, joules = production.event_seconds(run, calls, part.copies)
                how = "events, no graph (the GEMM reads the rows per expert on the host)"
        mhz = statistics.mean(clocks) if clocks else math.nan
        kernels = launched(lambda: part.call(0))
    rates = f"{part.bytes / seconds / 1e12:.3g} TB/s" + (
        f", {part.flops / seconds / 1e12:.3g} TFLOP/s" if isinstance(part.flops, int) else ""
    )
    compile_note = f"first call {first:.1f} s" if fields["impl"] == COMPILED else ""
    notes = [rates, kernels, part.note, compile_note, f"{part.copies} input sets" if part.copies > 1 else "",
             "" if how == "graph replay" else how, run.libraries]  # fmt: skip
    run.row(**fields, experts_hit=part.point.hit, max_rows=part.point.max_rows, m_rows=part.m_rows, n=part.n,
            k=part.k, bytes=part.bytes, flops=part.flops, seconds=seconds, joules=joules, sm_mhz=mhz,
            rel_error=error, status="ok" if error < OK_ERROR else "check-failed",
            note="; ".join(n for n in notes if n))  # fmt: skip
    print(f"{label:<52}: {seconds * 1e6:10.1f} us err {error:.1e} x{part.copies} {rates}; {kernels[:60]} "
          f"{compile_note}", flush=True)  # fmt: skip


def measure_part(run: ProductionRunner, fields: dict, build: Callable[[], Part]) -> None:
    """One row: the part built and timed, or why not (time budget, out of memory, a failure)."""
    label = f"{fields['model']} T{fields['tokens']} {fields['part']} [{fields['impl']}]"
    if over():
        run.row(**fields, status="skipped", note="time budget")
        return
    recorded(run, fields, label, lambda: time_part(run, fields, label, build()))


def measure_model(run: ProductionRunner, m: Model, grid: str, tokens: list[int], gemms: dict[str, GemmImpl],
                  compile_mode: str | None) -> None:  # fmt: skip
    """Every part of one model at every token count: the eager ones, then the compiled ones (compile_mode
    dynamic or static; None: none), all on the experts moe_weights drew once."""
    base = dict(grid=grid, kind="expert_gemm", model=m.name, experts=m.experts, per_token=m.per_token,
                d_model=m.d_model, width=m.expert_width)  # fmt: skip
    points: dict[int, Point] = {}

    def point(t: int) -> Point:
        if t not in points:
            points[t] = Point(moe_weights(m, 0), t)
        return points[t]

    for t in tokens:
        measure_part(run, dict(base, tokens=t, part="router", impl=EAGER), lambda t=t: router_part(point(t)))
        moe_routing = lambda t=t: routing_part(point(t), partial(routing, point(t).moe))  # noqa: E731
        measure_part(run, dict(base, tokens=t, part="routing", impl=EAGER), moe_routing)
        for part in ("gate_up", "down"):
            for name, impl in gemms.items():
                fields = dict(base, tokens=t, part=part, impl=name)
                if impl.bind is None:
                    run.row(**fields, status="skipped", note=impl.note)
                    continue
                measure_part(run, fields, lambda t=t, part=part, impl=impl: gemm_part(point(t), part, impl))
        moe_combine = lambda t=t: combine_part(point(t), point(t).moe.combine)  # noqa: E731
        measure_part(run, dict(base, tokens=t, part="combine", impl=EAGER), moe_combine)
    if compile_mode is not None:
        dynamic = compile_mode == "dynamic"
        fns: dict[str, Callable] = {}
        for t in tokens:
            if not (dynamic and fns):
                torch._dynamo.reset()  # static: one graph per token count, past dynamo's limit of recompiles
                moe = moe_weights(m, 0)
                fns = {"routing": compiled(partial(routing, moe), dynamic), "combine": compiled(moe.combine, dynamic)}
            measure_part(run, dict(base, tokens=t, part="routing", impl=COMPILED),
                         lambda t=t, fn=fns["routing"]: routing_part(point(t), fn))  # fmt: skip
            measure_part(run, dict(base, tokens=t, part="combine", impl=COMPILED),
                         lambda t=t, fn=fns["combine"]: combine_part(point(t), fn))  # fmt: skip
        torch._dynamo.reset()  # its caches hold the model's experts


def libraries() -> str:
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = "absent"
    return (f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
            f"triton {triton_version}")  # fmt: skip


def estimate(models: list[Model], tokens: dict[str, list[int]], gemms: int, compile_mode: str | None) -> float:
    """Seconds the run should take on an H100, beside its two idle readings of 4 s."""
    parts = sum(len(tokens[m.name]) * (3 + 2 * gemms) for m in models)
    compiles = 0
    if compile_mode is not None:
        parts += sum(2 * len(tokens[m.name]) for m in models)
        compiles = 2 * sum(len(tokens[m.name]) if compile_mode == "static" else 1 for m in models)
    return parts * SECONDS_PER_PART + compiles * SECONDS_PER_COMPILE + 8.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu: the dry run (tiny shapes)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--tokens", help="token counts T,... instead of the calibration grid (every model)")
    parser.add_argument("--impls", default=",".join((*GEMM_IMPLS, COMPILED)),
                        help=f"of {', '.join((*GEMM_IMPLS, COMPILED))}: the grouped GEMMs timed, and whether the "
                             "routing and combine are also timed through torch.compile")  # fmt: skip
    parser.add_argument("--compile", choices=("dynamic", "static"), default="dynamic",
                        help="torch.compile once per model (dynamic in the tokens) or per token count")  # fmt: skip
    parser.add_argument("--window", type=float, default=0.1, help="seconds of replays per energy reading")
    parser.add_argument("--settle", type=float, default=0.1, help="seconds of replays before timing a part")
    parser.add_argument("--budget", type=float, default=math.inf, help="seconds after which nothing new starts")
    args = parser.parse_args()
    start = time.monotonic()
    production.DEADLINE = start + args.budget
    impls = args.impls.split(",")
    unknown = set(impls) - {*GEMM_IMPLS, COMPILED}
    if unknown:
        parser.error(f"unknown --impls {', '.join(sorted(unknown))}")
    torch.manual_seed(0)
    models = [MODELS[name] for name in args.models.split(",")]
    partial_out = args.out.with_name(args.out.name + ".partial")
    if args.device == "cpu":
        layer_step.use_cpu()
        models = [replace(m, **TINY[m.name]) for m in models]
        grid = "dry-run"
        run: ProductionRunner = DryRunner(partial_out, FIELDS)
        run.libraries = libraries()
    else:
        torch.backends.cuda.preferred_blas_library("cublaslt")
        measure.BLAS = "cublaslt"
        grid = "calibration"
        run = ProductionRunner(partial_out, args.window, quick=False, settle=args.settle, fields=FIELDS)
        run.libraries = f"{libraries()}, GEMMs cublaslt"
    tokens: dict[str, list[int]]
    if args.tokens:
        tokens = {m.name: [int(t) for t in args.tokens.split(",")] for m in models}
    elif args.device == "cpu":
        tokens = {m.name: list(DRY_TOKENS) for m in models}
    else:
        tokens = {m.name: [*TOKENS, *MORE_TOKENS.get(m.name, ())] for m in models}
    gemms = gemm_impls(impls)
    for name, impl in gemms.items():
        print(f"{name}: {impl.note}", flush=True)
    compile_mode = args.compile if COMPILED in impls else None
    runnable = sum(impl.bind is not None for impl in gemms.values())
    print(f"expected about {estimate(models, tokens, runnable, compile_mode):.0f} s on an H100 "
          f"(budget {args.budget:.0f} s)", flush=True)  # fmt: skip
    run.measure_idle()
    print(f"{run.device}: idle {run.idle_watts:.1f} W; {run.libraries}", flush=True)
    for m in models:
        measure_model(run, m, grid, tokens[m.name], gemms, compile_mode)
        layer_step.FFN_WEIGHTS.clear()  # the model's experts, before the next model's are drawn
        gc.collect()
        if production.DEV == "cuda":
            torch.cuda.empty_cache()
    run.measure_idle()
    run.file.close()
    partial_out.replace(args.out)
    layer_step.summary(args.out)
    print(f"total {time.monotonic() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
