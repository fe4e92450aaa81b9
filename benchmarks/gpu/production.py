"""Measures, on a real NVIDIA Hopper GPU, the attention kernels serving engines run (issue #26, point 2), in the
columns and conventions of measure.py (FIELDS), so that a cost model of them can be fitted on one grid and judged
by `mlacc validate` on another:

    python benchmarks/gpu/production.py --out benchmarks/results/h100_production_2026-12-07.csv \
        --tp-out superseded.csv --flashmla-src /tmp/fmla --flashmla-objects .flashmla/obj/*.o --budget 420
    python benchmarks/gpu/production.py --out benchmarks/results/h100_production2_2026-12-07.csv \
        --tp-out benchmarks/results/h100_production_tp_2026-12-07.csv --only tp-steps,sdpa-val,flashmla-rest \
        --flashmla-src /tmp/fmla --flashmla-objects $PWD/.flashmla/obj/*.o --budget 330

(/tmp/fmla: .flashmla/src.tgz unpacked; flashmla/flashmla_build.py says how it was made. Both on one H100 board;
production_notes.md says what each file holds, what was not run, and the rates. No H200 run yet.)
Needs torch, triton and NVML on the GPU machine, as measure.py.

Kernels (kind=attention; model = the kernel; `note` = achieved TB/s and TFLOP/s, the library and how it was timed):
- `flashmla`: FlashMLA's dense Hopper decode (deepseek-ai/FlashMLA 9241ae3, flashmla/flashmla_build.py): the
  absorbed MLA decode, bf16, d_qk 576 (512 latent + 64 RoPE), d_v 512, one KV head, paged cache of 64-token pages (each
  sequence's pages side by side), batch 1-256 x context 1k-32k x query tokens 1-2 (2: MTP-style speculative
  decode, causal) x heads 128, 64, 16 (TP shards of 128). The scheduling metadata is computed once per shape
  outside the timed region, as a server computes it once per step for all layers; the split-KV kernel and the
  combine kernel are timed (FlashMLA's own call). `bytes` is the latent cache read (as measure.py's mla-latent
  rows), `flops` 2 x query-key pairs x (576 + 512). grid=calibration on contexts {1k, 4k, 16k} x batch
  {1, 4, 16, 64, 256}; every other shape is a grid=validation row, for judging a fit.
- `sdpa-prefill-mha` (128 heads x d 128) and `sdpa-prefill-expanded` (MLA's expanded form, q/k 192, v 128):
  torch SDPA causal prefill, batch 1-4 x prompt 512-16k; `sdpa-decode-mha` and `sdpa-decode-expanded`: one query
  token over a per-head cache of context + 1 keys (non-causal), batch 1-128 x context 1k-16k x heads 128 and 16.
  Every backend of CUDNN_ATTENTION, FLASH_ATTENTION and EFFICIENT_ATTENTION is tried alone
  (torch.nn.attention.sdpa_kernel); one row per backend that runs, the fastest timed with energy and its note
  saying "fastest", the others timed only (joules empty). Prefill prompts {1k, 4k, 16k} and decode contexts
  {2k, 8k} are grid=calibration, prompts {512, 2k, 8k} and contexts {1k, 4k, 16k} (the step grid's) validation.
Inputs are random (never zeros), rotated over copies when a set is under measure.ROTATE_BYTES, every call
checked against measure.py's float64 reference (first and last sequence, up to 16 heads) and timed by CUDA-graph
replay (Runner.time_and_energy); where a graph cannot be captured, by events (the note says so).

Steps (kind=step, grid=validation or --step-grid's; measure.py's scheme names): the layer's `la` ops one kernel
each as in measure.py (GEMMs through cuBLASLt, Triton RMSNorm/RoPE, a copy per cache store), the attention through the
production kernels: recompute and reuse decode through FlashMLA (their query [q_lat | q_pe] concatenated into one
576-wide tensor, as vLLM's FlashMLA path does; the latent cache paged); expand, cache-kv and the MHA twin through
SDPA (fastest backend per step, picked by event timing before capture; the note names it): expand's keys
[k_nope | RoPE key] are concatenated into one 192-wide tensor as a server's prefill does, cache-kv keeps one
192-wide key cache, both concatenate the query. recompute/reuse prefill run SDPA over the absorbed latent form
(d_qk 576, d_v 512: only backends that accept it). --tp-out: the same steps with 64 and 16 heads (a TP shard of
DeepSeek-V3 and of its MHA twin; `heads` says which) at batch 32 and 128 x context 4k and 16k, in a CSV of their
own: `mlacc validate` estimates each as the layer with that many heads (its `heads` column).

Parts (--only), run in this order: flashmla-cal, sdpa-cal, steps, flashmla-val (FlashMLA validation shapes at batch
2-128 x context 2k-32k), tp-steps, sdpa-val, flashmla-rest (the other FlashMLA validation shapes). --budget: no new
measurement starts after so many seconds; what is left is written as rows with status=skipped, note "time budget".
Two parts run only when named: sdpa-latent (`sdpa-prefill-latent` rows: the absorbed latent form's causal prefill,
one latent seen by all 128 heads, as recompute/reuse prefill run it; prompts 1k/4k calibration, 512/2k validation,
batch 1-2) and profile (--profile steps broken into kernels inside their CUDA-graph replay, to --profile-out in
profile_step.py's columns).
"""

from __future__ import annotations

import argparse
import csv
import gc
import math
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "flashmla"))
import measure
from flash_attention import check, reference
from flashmla_build import CUTLASS_COMMIT, FLASHMLA_COMMIT
from flashmla_build import flashmla as load_flashmla
from fused_ops import rmsnorm, rope
from measure import (
    BF16,
    DEV,
    HD,
    MLA_SCHEMES,
    QR,
    C,
    D,
    N,
    P,
    Runner,
    Step,
    V,
    attention_error,
    capture,
    matmul,
    rand,
    replay_seconds,
    rotation,
)

H = 128  # DeepSeek-V3's heads; --tp-out steps also run 64 and 16
PAGE = 64  # FlashMLA's page (block) size
SCALE = (N + P) ** -0.5  # DeepSeek-V3's softmax scale (its q/k head width 192)
BACKENDS = {
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
}
OK_ERROR = 2e-2  # measure.py's bound on ||out - ref|| / ||ref|| for bf16 attention
DEADLINE = math.inf
"""time.monotonic() after which no new measurement starts (--budget): leftovers are written as skipped rows."""


def over() -> bool:
    return time.monotonic() > DEADLINE


class ProductionRunner(Runner):
    """measure.py's Runner whose idle rows' note also names the libraries."""

    libraries = ""

    def measure_idle(self) -> None:
        torch.cuda.synchronize()
        time.sleep(1.0)
        e0, t0 = self.board.joules(), time.perf_counter()
        time.sleep(3.0)
        self.idle_watts = (self.board.joules() - e0) / (time.perf_counter() - t0)
        self.idle_row()

    def idle_row(self) -> None:
        self.row(grid="calibration", kind="idle", seconds=3.0, joules=self.idle_watts * 3.0,
                 note=f"{self.board.identity()}; {self.libraries}")  # fmt: skip


def libraries(flashmla_how: str) -> str:
    return (
        f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
        f"flashmla {FLASHMLA_COMMIT} + cutlass {CUTLASS_COMMIT[:8]} ({flashmla_how}), GEMMs cublaslt, "
        "RMSNorm/RoPE triton (fused_ops.py)"
    )


def median_event_seconds(fn: Callable[[], object], calls: int) -> float:
    """Median seconds of `calls` event-timed calls of `fn`, after the device has finished what came before."""
    torch.cuda.synchronize()
    times = []
    for _ in range(calls):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def event_seconds(run: Runner, fn: Callable[[], object], calls: int) -> tuple[float, float]:
    """Seconds (median of event-timed calls) and joules (NVML over a window) of one call, without a graph."""
    for _ in range(3):
        fn()
    seconds = median_event_seconds(fn, 20)
    repeats = max(1, math.ceil(run.window / seconds))
    e0 = run.board.joules()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return seconds / calls, (run.board.joules() - e0) / (repeats * calls)


def timed(run: Runner, fn: Callable[[], object], calls: int = 1) -> tuple[float, float, str]:
    """Seconds, joules and how they were timed: graph replay (Runner.time_and_energy), else events."""
    try:
        seconds, joules = run.time_and_energy(fn, calls)
        return seconds, joules, "graph replay"
    except torch.cuda.OutOfMemoryError:
        raise
    except RuntimeError as e:
        print(f"graph capture failed ({str(e).splitlines()[0][:120]}): timing with events", flush=True)
        torch.cuda.synchronize()
        seconds, joules = event_seconds(run, fn, calls)
        return seconds, joules, "events (graph capture failed)"


def quick_seconds(fn: Callable[[], object], calls: int = 1) -> float:
    """Seconds of one call by graph replay, no energy, a short budget: to rank SDPA backends."""
    try:
        graph = capture(fn)
        seconds = replay_seconds(graph, budget=0.05)
        del graph
    except RuntimeError:
        torch.cuda.synchronize()
        fn()
        seconds = median_event_seconds(fn, 10)
    return seconds / calls


# ---- FlashMLA -------------------------------------------------------------------------------------------


class Latent:
    """A paged latent cache ([latent | RoPE key], 576 wide) of `b` sequences of up to `t` keys, one KV head:
    FlashMLA's (pages, 64, 1, 576) layout, each sequence's pages side by side, block_table listing them."""

    def __init__(self, b: int, t: int):
        self.b, self.pages = b, math.ceil(t / PAGE)
        self.buf = rand(b * self.pages, PAGE, 1, C + P)
        self.table = torch.arange(b * self.pages, device=DEV, dtype=torch.int32).view(b, self.pages)

    def seq(self) -> torch.Tensor:
        """(b, pages x 64, 576): sequence i's keys at [i, :t]."""
        return self.buf.view(self.b, self.pages * PAGE, C + P)


class FlashMLA:
    """FlashMLA's dense decode over one shape: the scheduling metadata computed once (FlashMLA's first call,
    untimed), then reused by every call, as flash_mla_with_kvcache does."""

    def __init__(self, module, q: torch.Tensor, cache: Latent, keys: int, causal: bool, scale: float = SCALE):
        self.module, self.causal, self.scale = module, causal, scale
        self.seqlens = torch.full((q.shape[0],), keys, device=DEV, dtype=torch.int32)
        _, _, self.meta, self.splits = module.dense_decode_fwd(q, cache.buf, C, self.seqlens, cache.table, scale,
                                                               causal, None, None)  # fmt: skip
        torch.cuda.synchronize()

    def __call__(self, q: torch.Tensor, cache: Latent) -> torch.Tensor:
        """(b, s, h, 512) from q (b, s, h, 576)."""
        return self.module.dense_decode_fwd(q, cache.buf, C, self.seqlens, cache.table, self.scale, self.causal,
                                            self.meta, self.splits)[0]  # fmt: skip


def latent_error(q: torch.Tensor, cache: Latent, out: torch.Tensor, keys: int, causal: bool) -> float:
    """||out - ref|| / ||ref|| against the float64 reference: first and last sequence, up to 16 heads."""
    worst = 0.0
    heads = slice(0, min(16, q.shape[2]))
    seq = cache.seq()
    for bi in sorted({0, q.shape[0] - 1}):
        qq = q[bi : bi + 1, :, heads].transpose(1, 2)
        kv = seq[bi : bi + 1, None, :keys]
        ref = reference(qq[..., :C], qq[..., C:], kv[..., :C], kv[..., C:], kv[..., :C], causal, SCALE)
        worst = max(worst, check(out[bi : bi + 1, :, heads].transpose(1, 2), ref))
    return worst


FMLA_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256)
FMLA_CONTEXT = (1024, 2048, 4096, 8192, 16384, 32768)
FMLA_CAL_BATCH, FMLA_CAL_CONTEXT = (1, 4, 16, 64, 256), (1024, 4096, 16384)


FMLA_VAL_FIRST = {(b, c) for b in (2, 8, 32, 128) for c in (2048, 4096, 8192, 32768)}
"""The validation shapes measured first (part flashmla-val); part flashmla-rest has the others."""


def flashmla_grid(run: Runner, module, part: str) -> None:
    for ctx in FMLA_CONTEXT:
        for b in FMLA_BATCH:
            cal = ctx in FMLA_CAL_CONTEXT and b in FMLA_CAL_BATCH
            if part != ("flashmla-cal" if cal else "flashmla-val" if (b, ctx) in FMLA_VAL_FIRST else "flashmla-rest"):
                continue
            grid = "calibration" if cal else "validation"
            fields = dict(grid=grid, kind="attention", model="flashmla", phase="decode", batch=b, context=ctx)
            per_set = b * math.ceil((ctx + 2) / PAGE) * PAGE * (C + P) * 2
            if module is None or over() or per_set > 0.5 * torch.cuda.mem_get_info()[0]:
                why = "flashmla not built" if module is None else "time budget" if over() else "memory"
                for heads in (128, 64, 16):
                    for s in (1, 2):
                        run.row(**fields, new_tokens=s, heads=heads, status="skipped", note=why)
                continue
            sets = rotation(per_set)
            caches = [Latent(b, ctx + 2) for _ in range(sets)]
            for heads in (128, 64, 16):
                for s in (1, 2):
                    try:
                        flashmla_shape(run, module, fields, caches, heads, s)
                    except Exception as e:  # out of memory, or the kernel refused the shape
                        run.row(**fields, new_tokens=s, heads=heads, status="failed", note=str(e).splitlines()[0][:200])
                        print(f"flashmla b{b} ctx {ctx} s{s} h{heads}: FAILED {str(e)[:300]}", flush=True)
            del caches
            torch.cuda.empty_cache()


def flashmla_shape(run: Runner, module, fields: dict, caches: list[Latent], heads: int, s: int) -> None:
    b, ctx, sets = fields["batch"], fields["context"], len(caches)
    keys, causal = ctx + s, s > 1
    qs = [rand(b, s, heads, C + P) for _ in range(sets)]
    call = FlashMLA(module, qs[0], caches[0], keys, causal)
    error = latent_error(qs[0], caches[0], call(qs[0], caches[0]), keys, causal)
    fn = lambda: [call(q, c) for q, c in zip(qs, caches, strict=True)]  # noqa: E731
    seconds, joules, how = timed(run, fn, calls=sets)
    pairs = b * heads * (s * keys - s * (s - 1) // 2)
    flops, read = 2 * pairs * (C + P + C), b * keys * (C + P) * 2
    run.row(**fields, new_tokens=s, heads=heads, seconds=seconds, joules=joules, flops=flops, bytes=read,
            rel_error=error, status="ok" if error < OK_ERROR else "attention-check-failed",
            note=f"{read / seconds / 1e12:.2f} TB/s, {flops / seconds / 1e12:.1f} TFLOP/s; flashmla {FLASHMLA_COMMIT} "
            f"bf16, page 64, {call.meta.shape[0]} sm parts, sched meta outside the timed call; {how}; "
            f"{sets} input sets")  # fmt: skip
    print(f"flashmla {fields['grid'][:3]} b{b:<4} ctx {ctx:>6} s{s} h{heads:<4}: {seconds * 1e6:9.1f} us "
          f"{read / seconds / 1e12:5.2f} TB/s {flops / seconds / 1e12:6.1f} TFLOP/s err {error:.1e}",
          flush=True)  # fmt: skip


# ---- torch SDPA -----------------------------------------------------------------------------------------


def sdpa(backend: str, q, k, v, causal: bool, scale: float) -> torch.Tensor:
    with sdpa_kernel(BACKENDS[backend]):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)


def cudnn_name() -> str:
    return f"cudnn {torch.backends.cudnn.version()}"


def sdpa_shape(run: Runner, grid: str, model: str, b: int, s: int, t: int, heads: int, dqk: int, dv: int,
               shared: bool = False) -> None:  # fmt: skip
    """Every SDPA backend alone on one shape: q (b, s, h, dqk), k (b, t, h, dqk), v (b, t, h, dv) storage seen
    as (b, h, ., d), causal when s > 1 (prefill: s = t). shared: MLA's absorbed latent form as the recompute and
    reuse prefill steps run it: one (b, t, dqk) latent seen by every head (stride 0), v its first dv values."""
    causal = s > 1
    phase = "prefill" if causal else "decode"
    fields = dict(grid=grid, kind="attention", model=model, phase=phase, batch=b, context=t - s, new_tokens=s,
                  heads=heads)  # fmt: skip
    kv_heads = 1 if shared else heads
    per_set = 2 * b * (heads * s * (dqk + dv) + kv_heads * t * (dqk + (0 if shared else dv)))
    if over() or per_set > 0.4 * torch.cuda.mem_get_info()[0]:
        run.row(**fields, status="skipped", note="time budget" if over() else "memory")
        return
    sets = rotation(per_set)
    t_ = lambda x: x.transpose(1, 2)  # noqa: E731

    def inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q = t_(rand(b, s, heads, dqk))
        if not shared:
            return q, t_(rand(b, t, heads, dqk)), t_(rand(b, t, heads, dv))
        latent = rand(b, 1, t, dqk)
        return q, latent.expand(b, heads, t, dqk), latent[..., :dv].expand(b, heads, t, dv)

    ios = [inputs() for _ in range(sets)]
    pairs = b * heads * (s * t - s * (s - 1) // 2 if causal else s * t)
    flops = 2 * pairs * (dqk + dv)
    moved = per_set if causal else 2 * b * heads * t * (dqk + dv)  # prefill: q, k, v, out once; decode: the caches
    ran: dict[str, tuple[float, float]] = {}
    refused: list[str] = []
    for name in BACKENDS:
        q, k, v = ios[0]
        try:
            out = sdpa(name, q, k, v, causal, SCALE)
            torch.cuda.synchronize()
        except RuntimeError as e:
            refused.append(f"{name} refused")
            print(f"  sdpa {name}: {str(e).splitlines()[0][:100]}", flush=True)
            continue
        step = Step.__new__(Step)
        step.attention_io, step.causal, step.scale = (q, None, k, None, v, out), causal, SCALE
        error = attention_error(step)
        del out
        fn = lambda name=name, ios=ios: [sdpa(name, q, k, v, causal, SCALE) for q, k, v in ios]  # noqa: E731
        ran[name] = (quick_seconds(fn, calls=sets), error)
    if not ran:
        run.row(**fields, status="skipped", note="no SDPA backend runs this shape: " + ", ".join(refused))
        return
    best = min(ran, key=lambda n: ran[n][0])
    ranking = ", ".join(f"{n} {ran[n][0] * 1e6:.1f} us" for n in ran) + "".join(f", {r}" for r in refused)
    for name, (seconds, error) in ran.items():
        joules: float | str = ""
        how = "graph replay, no energy"
        if name == best:
            fn = lambda name=name, ios=ios: [sdpa(name, q, k, v, causal, SCALE) for q, k, v in ios]  # noqa: E731
            seconds, joules, how = timed(run, fn, calls=sets)
        lib = cudnn_name() if name == "cudnn" else name
        run.row(**fields, seconds=seconds, joules=joules, flops=flops, bytes=moved, rel_error=error,
                status="ok" if error < OK_ERROR else "attention-check-failed",
                note=f"{moved / seconds / 1e12:.2f} TB/s, {flops / seconds / 1e12:.1f} TFLOP/s; sdpa {name} "
                f"({lib}){' fastest' if name == best else ''} of {ranking}; {how}; {sets} input sets")  # fmt: skip
    print(f"{model:>21} {grid[:3]} b{b:<4} s{s:<6} t{t:<6} h{heads:<4}: best {best} {ran[best][0] * 1e6:9.1f} us "
          f"{flops / ran[best][0] / 1e12:6.1f} TFLOP/s {moved / ran[best][0] / 1e12:5.2f} TB/s ({ranking})",
          flush=True)  # fmt: skip
    del ios
    torch.cuda.empty_cache()


def guarded(run: Runner, grid: str, model: str, b: int, s: int, t: int, heads: int, dqk: int, dv: int,
            shared: bool = False) -> None:  # fmt: skip
    """sdpa_shape, a failure written as a row rather than ending the run."""
    try:
        sdpa_shape(run, grid, model, b, s, t, heads, dqk, dv, shared)
    except Exception as e:
        phase = "prefill" if s > 1 else "decode"
        run.row(grid=grid, kind="attention", model=model, phase=phase, batch=b, context=t - s, new_tokens=s,
                heads=heads, status="failed", note=str(e).splitlines()[0][:200])  # fmt: skip
        print(f"{model} b{b} s{s} t{t} h{heads}: FAILED {str(e)[:300]}", flush=True)
    torch.cuda.empty_cache()


PREFILL_CAL, PREFILL_VAL = (1024, 4096, 16384), (512, 2048, 8192)
DECODE_CAL, DECODE_VAL = (2048, 8192), (1024, 4096, 16384)


LATENT_CAL, LATENT_VAL = (1024, 4096), (512, 2048)


def latent_grid(run: Runner) -> None:
    """The absorbed latent form's causal prefill (d_qk 576, d_v 512, one latent for all 128 heads), which only
    EFFICIENT runs: recompute and reuse prefill's attention, timed alone (`sdpa-prefill-latent`)."""
    for prompt in sorted(LATENT_CAL + LATENT_VAL):
        grid = "calibration" if prompt in LATENT_CAL else "validation"
        for b in (1, 2):
            guarded(run, grid, "sdpa-prefill-latent", b, prompt, prompt, H, C + P, C, shared=True)


def sdpa_grid(run: Runner, grids: tuple[str, ...]) -> None:
    for model, dqk, dv in (("mha", HD, HD), ("expanded", N + P, V)):
        for prompt in sorted(PREFILL_CAL + PREFILL_VAL):
            grid = "calibration" if prompt in PREFILL_CAL else "validation"
            if grid in grids:
                for b in (1, 2, 4):
                    guarded(run, grid, f"sdpa-prefill-{model}", b, prompt, prompt, H, dqk, dv)
    for model, dqk, dv in (("mha", HD, HD), ("expanded", N + P, V)):
        for ctx in sorted(DECODE_CAL + DECODE_VAL):
            grid = "calibration" if ctx in DECODE_CAL else "validation"
            if grid in grids:
                for b in (1, 8, 32, 128):
                    for heads in (128, 16):
                        guarded(run, grid, f"sdpa-decode-{model}", b, 1, ctx + 1, heads, dqk, dv)


# ---- whole steps ----------------------------------------------------------------------------------------


def pick_backend(q, k, v, causal: bool, scale: float) -> tuple[str, str]:
    """The fastest SDPA backend on these inputs (median of 5 event-timed calls after 2) and a note of the race."""
    seconds: dict[str, float] = {}
    refused = []
    for name in BACKENDS:
        try:
            for _ in range(2):
                sdpa(name, q, k, v, causal, scale)
            torch.cuda.synchronize()
        except RuntimeError:
            refused.append(name)
            continue
        times = []
        for _ in range(5):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            sdpa(name, q, k, v, causal, scale)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        seconds[name] = statistics.median(times)
    if not seconds:
        raise NotImplementedError("no SDPA backend runs this attention (" + ", ".join(refused) + " refused)")
    best = min(seconds, key=lambda n: seconds[n])
    lib = cudnn_name() if best == "cudnn" else best
    race = ", ".join(f"{n} {s * 1e6:.0f} us" for n, s in seconds.items()) + "".join(f", {r} refused" for r in refused)
    return best, f"attention sdpa {best} ({lib}; {race})"


class ProductionStep(Step):
    """measure.py's Step (the same weights, caches and `la` ops) with the attention through production kernels:
    FlashMLA for recompute/reuse decode, SDPA for the rest (see the module's docstring)."""

    def __init__(self, model: str, scheme: str, batch: int, context: int, new_tokens: int, heads: int, fmla,
                 d_model: int = D, q_rank: int = QR):  # fmt: skip
        """d_model and q_rank: another MLA layer's (layer_step.py's DeepSeek-V2-Lite: 2048 and 0, its queries
        projected from x itself, with no W_DQ and no q_norm); C, N, P and V stay DeepSeek-V3's."""
        # Step reads measure's H, D and QR when it makes its weights and caches; q_rank 0: W_UQ and W_QR from d_model
        measure.H, measure.D, measure.QR = heads, d_model, q_rank or d_model
        try:
            super().__init__(model, scheme, batch, context, new_tokens)
        finally:
            measure.H, measure.D, measure.QR = H, D, QR
        self.h, self.fmla, self.backend, self.note, self.q_rank = heads, fmla, "", "", q_rank
        if model != "mha_baseline" and not q_rank:
            del self.w_dq, self.q_norm
        b, t = batch, self.t
        self.latent_decode = model != "mha_baseline" and scheme in ("recompute", "reuse") and not self.causal
        if model != "mha_baseline" and scheme == "cache-kv":  # one 192-wide key cache, as a server keeps it
            del self.k_cache, self.r_cache
            self.kr = rand(b, t, heads, N + P)
            self.k_cache, self.r_cache = self.kr[..., :N], self.kr[..., N:]
        if self.latent_decode:
            if fmla is None:
                raise NotImplementedError("flashmla not built")
            del self.latent
            self.cache = Latent(b, t)
            self.latent = self.cache.seq()[:, :t]
            self.flashmla = FlashMLA(fmla, rand(b, new_tokens, heads, C + P), self.cache, t, False)
            self.note = f"attention flashmla {FLASHMLA_COMMIT} (sched meta once per step, untimed); q [q_lat|q_pe] cat"

    def resident_bytes(self) -> int:
        views = {"k_cache", "r_cache"} if hasattr(self, "kr") else set()
        return sum(v.numel() * 2 for k, v in vars(self).items() if isinstance(v, torch.Tensor) and k not in views)

    def sdpa(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """(b, h, s, dv) from (b, h, ., d) views."""
        if not self.backend:
            self.backend, note = pick_backend(q, k, v, self.causal, self.scale)
            self.note = "; ".join(x for x in (note, self.note) if x)
        out = sdpa(self.backend, q, k, v, self.causal, self.scale)
        self.attention_io = (q, None, k, None, v, out)
        return out

    def mha(self) -> torch.Tensor:
        b, s, ctx, h = self.b, self.s, self.ctx, self.h
        q = rope(matmul(self.x, self.w_q).view(b * s * h, HD), h, s, ctx).view(b, s, h, HD)
        k = rope(matmul(self.x, self.w_k).view(b * s * h, HD), h, s, ctx).view(b, s, h, HD)
        v = matmul(self.x, self.w_v).view(b, s, h, HD)
        self.k_cache[:, ctx:].copy_(k)
        self.v_cache[:, ctx:].copy_(v)
        out = self.sdpa(q.transpose(1, 2), self.k_cache.transpose(1, 2), self.v_cache.transpose(1, 2))
        return matmul(out.transpose(1, 2).reshape(b * s, h * HD), self.w_o)

    def mla(self) -> torch.Tensor:
        b, s, ctx, t, h = self.b, self.s, self.ctx, self.t, self.h
        c_q = rmsnorm(matmul(self.x, self.w_dq), self.q_norm) if self.q_rank else self.x
        q_pe = rope(matmul(c_q, self.w_qr).view(b * s * h, P), h, s, ctx).view(b, s, h, P)
        c_kv = rmsnorm(matmul(self.x, self.w_dkv), self.kv_norm)
        k_pe = rope(matmul(self.x, self.w_kr), 1, s, ctx)
        if self.scheme == "cache-kv":
            q_nope = matmul(c_q, self.w_uq).view(b, s, h, N)
            self.k_cache[:, ctx:].copy_(matmul(c_kv, self.w_uk).view(b, s, h, N))
            self.v_cache[:, ctx:].copy_(matmul(c_kv, self.w_uv).view(b, s, h, V))
            self.r_cache[:, ctx:].copy_(k_pe.view(b, s, 1, P).expand(b, s, h, P))
            q = torch.cat((q_nope, q_pe), -1)
            out = self.sdpa(q.transpose(1, 2), self.kr.transpose(1, 2), self.v_cache.transpose(1, 2))
            return matmul(out.transpose(1, 2).reshape(b * s, h * V), self.w_o)
        self.latent[:, ctx:, :C].copy_(c_kv.view(b, s, C))
        self.latent[:, ctx:, C:].copy_(k_pe.view(b, s, P))
        if self.scheme == "expand":
            q = torch.cat((matmul(c_q, self.w_uq).view(b, s, h, N), q_pe), -1)
            flat = self.latent.view(b * t, C + P)[:, :C]
            k_nope = matmul(flat, self.w_uk).view(b, t, h, N)
            value = matmul(flat, self.w_uv).view(b, t, h, V)
            key = torch.cat((k_nope, self.latent[:, :, None, C:].expand(b, t, h, P)), -1)
            out = self.sdpa(q.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2))
            return matmul(out.transpose(1, 2).reshape(b * s, h * V), self.w_o)
        if self.scheme == "reuse":
            q_lat = matmul(c_q, self.w_uqk).view(b, s, h, C)
        else:
            q_nope = matmul(c_q, self.w_uq).view(b * s, h, N).transpose(0, 1)
            q_lat = torch.bmm(q_nope, self.w_uk_h).view(h, b, s, C).permute(1, 2, 0, 3)
        q = torch.cat((q_lat, q_pe), -1)  # (b, s, h, 576)
        if self.latent_decode:
            o_lat = self.flashmla(q, self.cache)  # (b, s, h, 512)
            lat = self.latent[:, None]
            self.attention_io = (q[..., :C].transpose(1, 2), q[..., C:].transpose(1, 2), lat[..., :C], lat[..., C:],
                                 lat[..., :C], o_lat.transpose(1, 2))  # fmt: skip
        else:  # prefill: SDPA over the absorbed latent form, every head reading the one latent
            lat = self.latent[:, None]
            k, v = lat.expand(b, h, t, C + P), lat[..., :C].expand(b, h, t, C)
            o_lat = self.sdpa(q.transpose(1, 2), k, v).transpose(1, 2)
        if self.scheme == "reuse":
            return matmul(o_lat.reshape(b * s, h * C), self.w_uvo)
        attn_out = torch.empty(b * s, h, V, device=DEV, dtype=BF16)
        torch.bmm(o_lat.reshape(b * s, h, C).transpose(0, 1), self.w_uv_h, out=attn_out.transpose(0, 1))
        return matmul(attn_out.view(b * s, h * V), self.w_o)


def production_step(run: Runner, model: str, scheme: str, phase: str, batch: int, context: int, heads: int,
                    fmla) -> None:  # fmt: skip
    new = 1 if phase == "decode" else context
    ctx = context if phase == "decode" else 0
    fields = dict(grid=STEP_GRID, kind="step", model=model, scheme=scheme, phase=phase, batch=batch, context=ctx,
                  new_tokens=new, heads=heads)  # fmt: skip
    if over():
        run.row(**fields, status="skipped", note="time budget")
        return
    free, _ = torch.cuda.mem_get_info()
    per_token = {"mha_baseline": 2 * heads * HD, "cache-kv": heads * (N + P + V),
                 "expand": C + P + heads * (2 * N + P + V)}  # fmt: skip
    tokens = batch * (ctx + new)
    need = 2 * tokens * per_token.get(model if model == "mha_baseline" else scheme, C + P) + (2 << 30)
    if phase == "prefill" and model != "mha_baseline" and scheme in ("recompute", "reuse"):
        need += 2 * tokens * heads * (2 * (C + P) + C)  # q, its concatenation, the output
    if need > 0.85 * free:
        run.row(**fields, status="skipped", note=f"needs ~{need / 1e9:.0f} GB, {free / 1e9:.0f} GB free")
        return

    def measure() -> None:
        step = ProductionStep(model, scheme, batch, ctx, new, heads, fmla)
        step()
        torch.cuda.synchronize()
        error = attention_error(step)
        seconds, joules, how = timed(run, step)
        status = "ok" if error < OK_ERROR else "attention-check-failed"
        note = "; ".join(x for x in (step.note, "gemm cublaslt", "" if how == "graph replay" else how) if x)
        run.row(**fields, seconds=seconds, joules=joules, rel_error=error, bytes=step.resident_bytes(), status=status,
                note=note)  # fmt: skip
        print(f"step h{heads:<3} {model:>12} {scheme:>9} {phase:>7} b{batch:<4} ctx {ctx:>6} new {new:>5}: "
              f"{seconds * 1e6:10.1f} us {joules:8.4f} J err {error:.1e} [{step.backend or 'flashmla'}]",
              flush=True)  # fmt: skip

    recorded(run, fields, f"step h{heads} {model} {scheme} {phase} b{batch} ctx {ctx}", measure)


def recorded(run: Runner, fields: dict, label: str, measure: Callable[[], None]) -> None:
    """Runs `measure`, which writes its row; where it cannot, a skipped (out of memory, not supported) or failed
    row says why. Then frees what it left, for the next point."""
    try:
        measure()
    except torch.cuda.OutOfMemoryError:
        run.row(**fields, status="skipped", note="out of memory")
        print(f"{label}: out of memory", flush=True)
    except NotImplementedError as e:
        run.row(**fields, status="skipped", note=str(e))
        print(f"{label}: skipped, {e}", flush=True)
    except Exception as e:
        run.row(**fields, status="failed", note=str(e).splitlines()[0][:200])
        print(f"{label}: FAILED {str(e)[:300]}", flush=True)
        traceback.print_exc()
    gc.collect()  # what ran out of memory stays referenced from a cycle through its traceback
    if DEV == "cuda":
        torch.cuda.empty_cache()


SCHEMES = ("mha", *MLA_SCHEMES)
"""The schemes `steps` runs (--schemes): mha is the MHA twin's."""

STEP_GRID = "validation"
"""The grid the step rows belong to (--step-grid): calibration for steps an energy fit may read, at shapes the
validation grid does not hold."""


def steps(run: Runner, decode, prefill, heads: int, fmla) -> None:
    for phase, points in (("decode", decode), ("prefill", prefill)):
        for batch, context in points:
            for scheme in SCHEMES:
                model = "mha_baseline" if scheme == "mha" else "deepseek_v3"
                production_step(run, model, scheme, phase, batch, context, heads, fmla)


PROFILE = ("expand:decode:32:4096", "expand:decode:8:16384", "expand:decode:128:1024", "cache-kv:decode:32:4096",
           "cache-kv:decode:8:16384", "mha:decode:32:4096", "recompute:decode:128:4096", "recompute:prefill:1:2048",
           "reuse:prefill:1:2048")  # fmt: skip
"""The steps `--only profile` breaks into kernels: the decode schemes the model misjudges most (expand, cache-kv)
beside the MHA twin and recompute, and the latent-form prefill."""


def profile_steps(path: Path, specs: list[str], heads: int, fmla, board) -> None:
    """Each step (scheme:phase:batch:context) captured as `production_step` times it and profiled over back-to-back
    replays (profile_step.graph_kernels_of): one row per kernel launch, its median seconds inside the step, in
    profile_step.py's columns, so a kernel's time in its step can be set beside its time alone."""
    from profile_step import graph_kernels_of

    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["device", "model", "scheme", "phase", "batch", "context", "new_tokens", "launch", "kernel",
                      "seconds", "sm_mhz", "step_seconds"])  # fmt: skip
        for spec in specs:
            if over():
                print(f"profile {spec}: time budget", flush=True)
                continue
            scheme, phase, batch, context = spec.split(":")
            model = "mha_baseline" if scheme == "mha" else "deepseek_v3"
            new = 1 if phase == "decode" else int(context)
            ctx = int(context) if phase == "decode" else 0
            try:
                step = ProductionStep(model, scheme, int(batch), ctx, new, heads, fmla)
                step()
                kernels, mhz, whole = graph_kernels_of(step, board)
            except Exception as e:
                print(f"profile {spec}: FAILED {str(e)[:200]}", flush=True)
                continue
            print(f"== {spec} [{step.backend or 'flashmla'}]: {whole * 1e6:.1f} us replayed, {mhz:.0f} MHz",
                  flush=True)  # fmt: skip
            for i, (name, seconds) in enumerate(kernels):
                out.writerow([torch.cuda.get_device_name(0), model, scheme, phase, batch, ctx, new, i, name,
                              f"{seconds:.6g}", f"{mhz:.0f}", f"{whole:.6g}"])  # fmt: skip
                print(f"  {i:2d} {seconds * 1e6:9.1f} us  {name[:90]}", flush=True)
            del step
            gc.collect()
            torch.cuda.empty_cache()


def summary(path: Path) -> None:
    """A short table of the headline rows, printed last."""
    import csv

    with path.open() as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "ok"]
    want = [("flashmla", "decode", b, c, "1", "128") for b, c in (("128", "4096"), ("1", "32768"), ("8", "16384"))]
    for r in rows:
        key = (r["model"], r["phase"], r["batch"], r["context"], r["new_tokens"], r["heads"])
        prefill_8k = r["model"].startswith("sdpa-prefill") and r["new_tokens"] == "8192"
        if r["kind"] == "attention" and (key in want or prefill_8k):
            print(f"{r['model']:>22} b{r['batch']:<4} ctx {r['context']:>6} new {r['new_tokens']:>5} h{r['heads']}: "
                  f"{float(r['seconds']) * 1e6:9.1f} us  {r['note'][:110]}")  # fmt: skip
    counts: dict[str, int] = {}
    with path.open() as f:
        for r in csv.DictReader(f):
            counts[f"{r['kind']}/{r['status']}"] = counts.get(f"{r['kind']}/{r['status']}", 0) + 1
    print(path.name, counts, flush=True)


def points(text: str) -> list[tuple[int, int]]:
    """'32x16384,128x4096' -> [(32, 16384), (128, 4096)]."""
    return [(int(b), int(c)) for b, c in (p.split("x") for p in text.split(",") if p)]


def run_part(part: str, run: ProductionRunner, tp: ProductionRunner | None, fmla, args: argparse.Namespace) -> None:
    decode = [(b, c) for b in (1, 8, 32, 128) for c in (1024, 4096, 16384, 32768)]
    prefill = [(b, c) for b in (1, 4) for c in (512, 2048, 8192)]
    if args.decode is not None:
        decode = points(args.decode)
    if args.prefill is not None:
        prefill = points(args.prefill)
    if part in ("flashmla-cal", "flashmla-val", "flashmla-rest"):
        flashmla_grid(run, fmla, part)
    elif part in ("sdpa-cal", "sdpa-val"):
        sdpa_grid(run, ("calibration",) if part == "sdpa-cal" else ("validation",))
    elif part == "steps":
        run.window, run.settle = args.window, args.settle
        try:
            steps(run, decode, prefill, H, fmla)
        finally:
            run.window, run.settle = args.kernel_window, 0.0
    elif part == "sdpa-latent":
        latent_grid(run)
    elif part == "profile":
        profile_steps(args.profile_out, args.profile, H, fmla, run.board)
    elif part == "tp-steps" and tp is not None:
        tp_points = [(b, c) for b in (32, 128) for c in (4096, 16384)]
        for heads in (64, 16):
            steps(tp, tp_points, [], heads, fmla)


def main() -> None:
    global DEADLINE, SCHEMES, STEP_GRID
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tp-out", type=Path, help="CSV of the 64- and 16-head steps (none without it)")
    parser.add_argument("--only", default="flashmla-cal,sdpa-cal,steps,flashmla-val,tp-steps,sdpa-val,flashmla-rest")
    parser.add_argument("--flashmla-src", type=Path, default=Path("/tmp/fmla"), help="holds csrc/ (flashmla_build.py)")
    parser.add_argument("--flashmla-so", type=Path, help="a prebuilt extension to try first")
    parser.add_argument("--flashmla-objects", type=Path, nargs="*", default=[], help="the .cu files compiled ahead")
    parser.add_argument("--flashmla-build", type=Path, default=Path("/tmp/flashmla_build"))
    parser.add_argument("--copy-so", type=Path, help="copy the extension's .so here")
    parser.add_argument("--window", type=float, default=0.5, help="seconds of replays per energy reading (steps)")
    parser.add_argument("--kernel-window", type=float, default=0.1, help="the same for single kernels")
    parser.add_argument("--settle", type=float, default=0.5, help="seconds of replays before timing a step")
    parser.add_argument("--decode", help="the steps' decode points instead of the validation grid's: BxC,...")
    parser.add_argument("--prefill", help="the steps' prefill points instead of the validation grid's: BxP,...")
    parser.add_argument("--schemes", default=",".join(SCHEMES), help="the steps' schemes (mha: the MHA twin)")
    parser.add_argument("--step-grid", choices=("validation", "calibration"), default=STEP_GRID,
                        help="the grid the step rows are labelled with (calibration: with --decode/--prefill shapes "
                             "off the validation grid)")  # fmt: skip
    parser.add_argument("--profile", nargs="*", default=list(PROFILE), help="steps of --only profile")
    parser.add_argument("--profile-out", type=Path, default=Path("profile.csv"), help="CSV of --only profile")
    parser.add_argument("--budget", type=float, default=math.inf, help="seconds after which nothing new starts")
    args = parser.parse_args()
    start = time.monotonic()
    DEADLINE = start + args.budget
    SCHEMES = tuple(args.schemes.split(","))
    STEP_GRID = args.step_grid
    warnings.filterwarnings("ignore")  # SDPA's warnings for every backend that refuses a shape
    torch.backends.cuda.preferred_blas_library("cublaslt")
    measure.BLAS = "cublaslt"
    torch.manual_seed(0)
    fmla, how = load_flashmla(args.flashmla_src, args.flashmla_build, args.flashmla_so, args.flashmla_objects)
    print(f"flashmla: {how} ({time.monotonic() - start:.0f} s)", flush=True)
    if fmla is not None and args.copy_so:
        import shutil

        shutil.copy(fmla.__file__, args.copy_so / "flashmla_dense.so")
    parts = args.only.split(",")
    run = ProductionRunner(args.out, args.kernel_window, quick=False, settle=0.0)
    run.libraries = libraries(how if fmla is not None else "not built: " + how[:200])
    tp = None
    if args.tp_out and "tp-steps" in parts:
        tp = ProductionRunner(args.tp_out, args.window, quick=False, settle=args.settle)
        tp.libraries = run.libraries
    run.measure_idle()
    if tp is not None:
        tp.idle_watts = run.idle_watts
        tp.idle_row()
    print(f"{run.device}: idle {run.idle_watts:.1f} W; {run.libraries}", flush=True)
    for part in parts:
        t0 = time.monotonic()
        try:
            run_part(part, run, tp, fmla, args)
        except Exception:  # a part that breaks leaves the others to run
            traceback.print_exc()
        print(f"part {part}: {time.monotonic() - t0:.0f} s", flush=True)
    run.measure_idle()
    run.file.close()
    summary(args.out)
    if tp is not None:
        tp.idle_watts = run.idle_watts
        tp.idle_row()
        tp.file.close()
        summary(args.tp_out)
    print(f"total {time.monotonic() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
