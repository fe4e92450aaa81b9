"""Calibration grids of single kernels, to find how a kernel's rate depends on its shape (one CSV).

    python benchmarks/gpu/kernel_grid.py --out benchmarks/results/h200_kernels_2026-11-30.csv \
        --only tune,gemm,latent,prefill,head
    python benchmarks/gpu/kernel_grid.py --out a.csv --only tune,latent-default,head-short
    python benchmarks/gpu/kernel_grid.py --out b.csv --only tune,divisibility,latent-unsplit,head-odd
    (a.csv then b.csv's rows: benchmarks/results/h200_decode_kernels_2026-11-30.csv)
    python benchmarks/gpu/kernel_grid.py --out benchmarks/results/h200_clocks_2026-11-30.csv \
        --only tune,clocks,gemm-split
    python benchmarks/gpu/kernel_grid.py --out benchmarks/results/h200_duty_2026-11-30.csv --only tune,duty
    python benchmarks/gpu/kernel_grid.py --out benchmarks/results/h200_duty_mix_2026-11-30.csv --only tune,duty-mix
    python benchmarks/gpu/kernel_grid.py --out benchmarks/results/h200_expand_short_2026-11-30.csv \
        --only tune,head-expand-short
    python benchmarks/gpu/kernel_grid.py --out benchmarks/results/h200_streams_2026-12-01.csv --only streams
    python benchmarks/gpu/kernel_grid.py --out benchmarks/results/h200_head_blocks_2026-12-01.csv \
        --only tune,head-blocks
    python benchmarks/gpu/kernel_grid.py --out benchmarks/results/h200_head16_2026-12-01.csv \
        --only tune,head-short,head-odd,head-many,head-few,head-expand,head-expand-short,duty-expand
    (the per-head decode rows of runs before h200_head16 ran 64 query rows a program: measure.py `tune`)
    python benchmarks/gpu/kernel_grid.py --out benchmarks/results/h200_gemm_kernels_2026-12-01.csv --only gemm-kernels
    python benchmarks/gpu/kernel_grid.py --out benchmarks/results/h200_gemm_ridge_2026-12-01.csv --only gemm-ridge

Needs torch, triton and NVML on the GPU machine (as measure.py, whose timing and energy it reuses:
CUDA-graph replays, inputs rotated over several copies so each call reads HBM as in a real step).
Every row is grid=calibration; none is a shape of measure.py's validation grid except where a kind
says so, so a fit on these rows is judged by `mlacc validate` on other points. Kinds:
- `latent-split`: the absorbed MLA decode kernel (all 128 heads of a batch element over the shared
  latent, flash_attention.py) over batch x context x flash-decoding splits, so that programs per SM
  (batch x row blocks x splits / SMs) and keys per program (context / splits) vary independently;
  `combine` says whether the split results were combined in the same call (1) or left as partials (0),
  so the combine kernel's share can be taken apart.
- `latent-default`: the same kernel with the splits the steps give it (flash_attention.py `default_splits`,
  rounded to whole key blocks), at key counts one past a multiple of the block, so the last split of each
  batch element is short (down to one key) and programs spill past whole waves; `latent-unsplit` the
  same at batch 72-100, where the kernel runs unsplit; `divisibility` the latent and per-head kernels at
  12288-12304 keys (Triton compiles a key count divisible by 16 apart).
- `prefill-attention`: the causal kernels of prefill (latent as recompute/reuse run it, per-head
  128 + 64 as expand/cache-kv, MHA 128) over prompt length.
- `head-decode`: per-head decode kernels in the layout the steps keep their caches in ([b, t, h, d]):
  MHA (128-wide keys) against cache-kv's (a 128-wide part and a 64-wide RoPE part per key), over long
  contexts (part `head`; `head-odd` one key more) and short ones (part `head-short`: under 2k keys;
  `head-many`: batch 112 and 144, 14-18k programs of 769-1537 keys; `head-few`: batch 1-3 over 6-24k keys,
  256-384 programs); `head-expand` adds expand's kernel (its RoPE key shared by all heads), `head-expand-short`
  that kernel alone at batch 1-8 over 769-6145 keys; `head-blocks` all three at the validation grid's decode
  shapes, each with 16 and with 64 query rows a program.
- `gemm`: cuBLAS GEMMs at M = 1..512 with deep K (up to 65536), including the reuse scheme's composed
  W_UV x W_O (K = 65536, N = 7168) and W_UQ x W_UK (K = 1536, N = 65536); `gemm-split` that W_UV x W_O
  GEMM at M = 64-256 as cuBLAS picks its kernel and split in 2 or 4 along K by the caller; `gemm-kernels`
  that family at M = 32-256 over K = 8192-65536 under cuBLAS's and cuBLASLt's heuristics, with the kernels
  each launches (model = the library, note = kernel names and device times); `gemm-ridge` the same over the
  layer's projection shapes at M = 96-1024, where the weight stream and the tensor cores take about equal time.
- `stream`: HBM by direction, a fill (writes only), a sum (reads only) and a copy of 64 MiB-1 GiB.
- `clock`: the SM clock (NVML) and board power under expand's K = 512 up-projection back to back, between
  copies and after idle, under a deep (K = 7168) GEMM, and under expand's whole step: the power limit
  lowers the clock of compute-bound work, and how far depends on what runs around it. Part `duty`: the
  clock each kind of kernel holds back to back (GEMMs, causal MHA and latent attention, expand's two-part
  decode attention, a copy), and a K = 512 GEMM alternating with copies by its share of the time and the
  length of its runs; `duty-mix` mixes that take the kinds apart (attention with copies, GEMMs with
  attention).
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from flash_attention import attention, default_splits
from measure import (
    BF16,
    DEV,
    FIELDS,
    HD,
    C,
    H,
    N,
    P,
    Runner,
    Step,
    V,
    attention_error,
    blocks_for,
    capture,
    rand,
    replay_seconds,
    rotation,
    time_gemm,
    tune,
)
from profile_step import kernels_of

EXTRA = ["splits", "programs", "block_m", "combine", "sm_mhz"]


class GridRunner(Runner):
    """measure.py's Runner with the kernel-shape columns this grid adds."""

    def __init__(self, out: Path, window: float):
        super().__init__(out, window, quick=False)
        self.file.seek(0)
        self.file.truncate()
        self.writer = csv.DictWriter(self.file, FIELDS + EXTRA)
        self.writer.writeheader()


def sm_count() -> int:
    return torch.cuda.get_device_properties(0).multi_processor_count


def timed_attention(run: GridRunner, sets: list[tuple], causal: bool, scale: float, **kw) -> tuple[float, float]:
    """Seconds and joules of one attention call, rotating over `sets` of inputs (each (q1, q2, k1, k2, v, out))."""

    def fn() -> None:
        for q1, q2, k1, k2, v, out in sets:
            attention(q1, q2, k1, k2, v, causal=causal, scale=scale, out=out, **kw)

    fn()
    torch.cuda.synchronize()
    return run.time_and_energy(fn, calls=len(sets))


def checked(sets: list[tuple], causal: bool, scale: float, **kw) -> float:
    """The float64 check of measure.py on the first input set, run with the same kernel arguments."""
    q1, q2, k1, k2, v, out = sets[0]
    out.fill_(float("nan"))
    attention(q1, q2, k1, k2, v, causal=causal, scale=scale, out=out, **kw)
    step = Step.__new__(Step)
    step.attention_io, step.causal, step.scale = sets[0], causal, scale
    return attention_error(step)


def decode_row(run: GridRunner, kind: str, model: str, b: int, t: int, s: float, j: float, flops: int,
               read: int, error: float, **extra: object) -> None:  # fmt: skip
    """One calibration row of a decode kernel (one new token over t keys, 128 query heads)."""
    run.row(grid="calibration", kind=kind, model=model, phase="decode", batch=b, context=t - 1, new_tokens=1,
            heads=H, seconds=s, joules=j, flops=flops, bytes=read, rel_error=error,
            status="ok" if error < 2e-2 else "attention-check-failed", **extra)  # fmt: skip


def latent_sets(b: int, t: int, count: int) -> list[tuple]:
    """`count` input sets of the absorbed decode kernel: 128 query heads over one latent cache of t tokens,
    the latent both keys and values, its RoPE part beside it (as the steps keep it)."""
    sets = []
    for _ in range(count):
        lat = rand(b, t, C + P)
        sets.append((rand(b, H, 1, C), rand(b, H, 1, P), lat[:, None, :, :C], lat[:, None, :, C:],
                     lat[:, None, :, :C], torch.empty(b, H, 1, C, device=DEV, dtype=BF16)))  # fmt: skip
    return sets


def latent_split(run: GridRunner) -> None:
    scale = (N + P) ** -0.5
    for t in (2048, 6144, 24576):
        for b in (1, 2, 4, 16, 48, 96):
            per_set = b * t * (C + P) * 2
            sets = latent_sets(b, t, rotation(per_set))
            blocks = blocks_for(sets[0][2], sets[0][0], False)
            block_m = blocks.get("block_m", 64)
            row_blocks = math.ceil(H / block_m)
            key_blocks = math.ceil(t / blocks.get("block_n", 64))
            tried = set()
            for wanted in (1, 2, 4, 8, 16, 32, 64, 128):
                # the kernel rounds the splits to whole key blocks each, as attention() does
                splits = math.ceil(key_blocks / math.ceil(key_blocks / wanted))
                programs = row_blocks * b * splits
                if splits in tried or t / splits < 128 or programs > 16 * sm_count():
                    continue
                tried.add(splits)
                error = checked(sets, False, scale, splits=splits, **blocks)
                flops = 2 * b * H * t * (C + P + C)
                for combine in (True, False) if splits > 1 else (True,):
                    s, j = timed_attention(run, sets, False, scale, splits=splits, combine=combine, **blocks)
                    decode_row(run, "latent-split", "mla-latent", b, t, s, j, flops, per_set, error, splits=splits,
                               programs=programs, block_m=block_m, combine=int(combine),
                               note=f"{flops / s / 1e12:.1f} TFLOP/s")  # fmt: skip
                    print(f"latent b{b:<3} t{t:<6} splits {splits:<3} programs {programs:<5} combine {int(combine)}: "
                          f"{s * 1e6:9.1f} us {flops / s / 1e12:6.1f} TFLOP/s err {error:.1e}", flush=True)  # fmt: skip
            del sets
            torch.cuda.empty_cache()


def latent_default(run: GridRunner, batches: tuple[int, ...], contexts: tuple[int, ...]) -> None:
    scale = (N + P) ** -0.5
    for t in contexts:
        for b in batches:
            per_set = b * t * (C + P) * 2
            sets = latent_sets(b, t, rotation(per_set))
            blocks = blocks_for(sets[0][2], sets[0][0], False)
            block_m, block_n = blocks.get("block_m", 64), blocks.get("block_n", 64)
            row_blocks = math.ceil(H / block_m)
            key_blocks = math.ceil(t / block_n)
            per_split = math.ceil(key_blocks / default_splits(row_blocks * b, t, block_n, sm_count()))
            splits = math.ceil(key_blocks / per_split)
            tail = t - (splits - 1) * per_split * block_n
            error = checked(sets, False, scale, **blocks)
            flops = 2 * b * H * t * (C + P + C)
            s, j = timed_attention(run, sets, False, scale, **blocks)
            decode_row(run, "latent-default", "mla-latent", b, t, s, j, flops, per_set, error, splits=splits,
                       programs=row_blocks * b * splits, block_m=block_m, combine=1,
                       note=f"{per_split * block_n} keys a split, last {tail}")  # fmt: skip
            print(f"latent-default b{b:<3} t{t:<6} splits {splits:<3} programs {row_blocks * b * splits:<5} "
                  f"last {tail:<5}: {s * 1e6:9.1f} us err {error:.1e}", flush=True)  # fmt: skip
            del sets
            torch.cuda.empty_cache()


def prefill_attention(run: GridRunner) -> None:
    points = [(1, s) for s in (256, 768, 1536, 3072, 6144, 12288)] + [(2, 768), (2, 3072)]
    for name in ("mla-latent", "mla-expanded", "mha"):
        for b, s in points:
            if name == "mla-latent":
                lat = rand(b, s, C + P)
                args = (rand(b, H, s, C), rand(b, H, s, P), lat[:, None, :, :C], lat[:, None, :, C:],
                        lat[:, None, :, :C])  # fmt: skip
                qk, dv, scale, read = C + P, C, (N + P) ** -0.5, lat.numel() * 2
            elif name == "mla-expanded":
                args = (rand(b, H, s, N), rand(b, H, s, P), rand(b, H, s, N), rand(b, H, s, P), rand(b, H, s, V))
                qk, dv, scale, read = N + P, V, (N + P) ** -0.5, b * H * s * (N + P + V) * 2
            else:
                args = (rand(b, H, s, HD), None, rand(b, H, s, HD), None, rand(b, H, s, HD))
                qk, dv, scale, read = HD, HD, HD**-0.5, b * H * s * 2 * HD * 2
            sets = [(*args, torch.empty(b, H, s, dv, device=DEV, dtype=BF16))]
            blocks = blocks_for(args[2], args[0], True)
            error = checked(sets, True, scale, **blocks)
            sec, j = timed_attention(run, sets, True, scale, **blocks)
            flops = 2 * b * H * (s * s - s * (s - 1) // 2) * (qk + dv)
            block_m = blocks.get("block_m", 64)
            kv_heads = args[2].shape[1]  # 1 for the latent (all heads in one row block), else one per head
            programs = b * kv_heads * math.ceil(H // kv_heads * s / block_m)
            run.row(grid="calibration", kind="prefill-attention", model=name, phase="prefill", batch=b, context=0,
                    new_tokens=s, heads=H, seconds=sec, joules=j, flops=flops, bytes=read, rel_error=error,
                    status="ok" if error < 2e-2 else "attention-check-failed", splits=1, programs=programs,
                    block_m=block_m, combine=1, note=f"{flops / sec / 1e12:.1f} TFLOP/s")  # fmt: skip
            print(f"prefill {name:>12} b{b} s{s:<6}: {sec * 1e6:10.1f} us {flops / sec / 1e12:6.1f} TFLOP/s "
                  f"err {error:.1e}", flush=True)  # fmt: skip
            del args, sets
            torch.cuda.empty_cache()


def head_decode(
    run: GridRunner,
    batches: tuple[int, ...],
    contexts: tuple[int, ...],
    names: tuple[str, ...] = ("mha", "cache-kv"),
    configs: tuple[tuple[int, int, int, int] | None, ...] = (None,),
) -> None:
    """Caches stored [b, t, h, d] as the steps store them, seen as [b, h, t, d] by the kernel; expand's RoPE
    key is one per token, broadcast to every head (stride 0), as its step passes it. Each shape runs with the
    block shapes `tune` chose (None) and with every (block_m, block_n, warps, stages) of `configs`."""
    heads = lambda x: x.permute(0, 2, 1, 3)  # noqa: E731
    for name in names:
        for b in batches:
            for t in contexts:
                widths = (HD, 0, HD) if name == "mha" else (N, P, V)
                per_set = b * t * (H * (widths[0] + widths[2]) + (P if name == "expand" else H * widths[1])) * 2
                sets = []
                for _ in range(rotation(per_set)):
                    k1, v = rand(b, t, H, widths[0]), rand(b, t, H, widths[2])
                    k2 = rand(b, t, H, widths[1]) if widths[1] else None
                    if name == "expand":
                        k2 = rand(b, t, 1, P).expand(b, t, H, P)
                    q2 = rand(b, H, 1, widths[1]) if widths[1] else None
                    sets.append((rand(b, H, 1, widths[0]), q2, heads(k1), None if k2 is None else heads(k2),
                                 heads(v), torch.empty(b, H, 1, widths[2], device=DEV, dtype=BF16)))  # fmt: skip
                scale = (widths[0] + widths[1]) ** -0.5
                flops = 2 * b * H * t * sum(widths)
                tuned = blocks_for(sets[0][2], sets[0][0], False)
                for config in configs:
                    blocks = tuned
                    if config is not None:
                        blocks = dict(zip(("block_m", "block_n", "num_warps", "num_stages"), config, strict=True))
                    shape = f"block {blocks.get('block_m')}x{blocks.get('block_n')} w{blocks.get('num_warps')} " \
                        f"s{blocks.get('num_stages')}"  # fmt: skip
                    error = checked(sets, False, scale, **blocks)
                    s, j = timed_attention(run, sets, False, scale, **blocks)
                    note = f"{per_set / s / 1e12:.2f} TB/s, {shape}"
                    decode_row(run, "head-decode", name, b, t, s, j, flops, per_set, error,
                               block_m=blocks.get("block_m"), note=note)  # fmt: skip
                    print(f"head-decode {name:>8} b{b:<3} t{t:<6} {shape}: {s * 1e6:9.1f} us "
                          f"{per_set / s / 1e12:.2f} TB/s err {error:.1e}", flush=True)  # fmt: skip
                del sets
                torch.cuda.empty_cache()


def latent_gemms(run: GridRunner) -> None:
    """expand's up-projections of the whole latent cache: M = batch x context rows of K = 512, the latent's
    first 512 of its 576 columns (A's rows strided 576, as the step views it) or a contiguous copy."""
    for m in (24576, 98304, 196608, 393216):
        for strided in (True, False):
            latent = rand(m, C + P)
            a = latent[:, :C] if strided else latent[:, :C].contiguous()
            b, c = rand(C, H * N, scale=C**-0.5), torch.empty(m, H * N, device=DEV, dtype=BF16)
            s, j = run.time_and_energy(lambda a=a, b=b, c=c: torch.matmul(a, b, out=c))
            flops, total = 2 * m * C * H * N, 2 * (m * C + C * H * N + m * H * N)
            run.row(grid="calibration", kind="gemm-latent", m=m, n=H * N, k=C, seconds=s, joules=j, flops=flops,
                    bytes=total, note=f"A {'strided 576' if strided else 'contiguous'}")  # fmt: skip
            print(f"gemm-latent m{m:<7} {'strided' if strided else 'contig':>8}: {s * 1e6:9.1f} us "
                  f"{flops / s / 1e12:6.1f} TFLOP/s", flush=True)  # fmt: skip
            del latent, a, b, c
            torch.cuda.empty_cache()


def clock_and_power(run: GridRunner, fn, seconds: float = 0.6) -> tuple[float, float]:
    """Mean SM clock (MHz, NVML samples every 2 ms, the first fifth dropped) and board watts while `fn` runs
    back to back for about `seconds`."""
    fn()
    torch.cuda.synchronize()
    with run.board.sm_clocks() as samples:
        e0, t0, calls = run.board.joules(), time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds:
            fn()
            calls += 1
            if calls % 4 == 0:
                torch.cuda.synchronize()
        torch.cuda.synchronize()
        watts = (run.board.joules() - e0) / (time.perf_counter() - t0)
    return statistics.mean(samples[len(samples) // 5 :]), watts


def record_clock(run: GridRunner, label: str, fn, calls: int, work: float, shape: tuple[int, int, int],
                 besides: float = 0.0, note: str = "") -> float:  # fmt: skip
    """One `clock` row: seconds per call of `fn` replayed `calls` times a graph, its clock and power; the GEMM
    rate of `work` FLOPs over the call's seconds less `besides` (the copy's, where a copy shares the call)."""
    graph = capture(fn, calls)
    seconds = replay_seconds(graph, 0.3) / calls
    mhz, watts = clock_and_power(run, graph.replay)
    del graph
    rate = f", GEMM {work / (seconds - besides) / 1e12:.1f} TFLOP/s" if work else ""
    text = (note + rate).removeprefix(", ")
    run.row(grid="calibration", kind="clock", model=label, m=shape[0], n=shape[1], k=shape[2], seconds=seconds,
            joules=watts * seconds, flops=work, sm_mhz=f"{mhz:.0f}", note=text)  # fmt: skip
    print(f"clock {label:>26}: {seconds * 1e6:9.1f} us, SM {mhz:5.0f} MHz, {watts:4.0f} W, {text}", flush=True)
    return seconds


def clock_kernels() -> dict[str, tuple[Callable[[], object], float, tuple[int, int, int]]]:
    """The kinds of kernel parts `duty` and `duty-mix` time: (call, FLOPs a GEMM does, its m, n, k)."""
    m, k, n = 8192, C, H * N
    a, w = rand(m, k), rand(k, n, scale=k**-0.5)
    out = torch.empty(m, n, device=DEV, dtype=BF16)
    deep_a, deep_b = rand(8192, 7168), rand(7168, 16384, scale=7168**-0.5)
    deep_c = torch.empty(8192, 16384, device=DEV, dtype=BF16)
    src = rand(1 << 27)  # 256 MiB
    dst = torch.empty_like(src)
    b, s = 2, 4096
    args = (rand(b, H, s, HD), None, rand(b, H, s, HD), None, rand(b, H, s, HD))
    o = torch.empty(b, H, s, HD, device=DEV, dtype=BF16)
    blocks = blocks_for(args[2], args[0], True)
    return {
        "gemm k512": (lambda: torch.matmul(a, w, out=out), 2 * m * k * n, (m, n, k)),
        "gemm k7168": (lambda: torch.matmul(deep_a, deep_b, out=deep_c), 2 * 8192 * 7168 * 16384, (8192, 16384, 7168)),
        "mha prefill": (lambda: attention(*args, causal=True, scale=HD**-0.5, out=o, **blocks), 0, (0, 0, 0)),
        "copy": (lambda: dst.copy_(src), 0, (0, 0, 0)),
    }


def alternating(f: Callable[[], object], firsts: int, g: Callable[[], object], seconds: int) -> Callable[[], None]:
    """`firsts` calls of f, then `seconds` calls of g: one run of a mix."""

    def mix() -> None:
        for _ in range(firsts):
            f()
        for _ in range(seconds):
            g()

    return mix


def duty(run: GridRunner) -> None:
    """The clock the power limit leaves each kind of kernel, replayed back to back (a K = 512 and a K = 7168
    GEMM, a causal MHA and latent prefill attention, expand's two-part decode attention, a copy), then a
    K = 512 GEMM alternating with copies: its share of the time 1/4, 1/2, 3/4 and 1, in chunks of about 0.25,
    1, 4 and 16 ms of GEMM. A step's clock, and so its GEMMs' and SM-bound kernels' rates, is set by such a
    mix; these rows are what a model of it is fit on."""
    kinds = clock_kernels()
    gemm, work, shape = kinds["gemm k512"]
    copy = kinds["copy"][0]
    gemm_seconds = record_clock(run, "duty gemm k512", gemm, 16, work, shape)
    copy_seconds = record_clock(run, "duty copy 256 MiB", copy, 16, 0.0, (0, 0, 0))
    deep, deep_work, deep_shape = kinds["gemm k7168"]
    record_clock(run, "duty gemm k7168", deep, 8, deep_work, deep_shape)
    b, s = 2, 4096
    record_clock(run, f"duty mha prefill b{b} x {s}", kinds["mha prefill"][0], 4, 0.0, (0, 0, 0),
                 note="causal attention")  # fmt: skip
    lat = rand(b, s, C + P)
    args = (rand(b, H, s, C), rand(b, H, s, P), lat[:, None, :, :C], lat[:, None, :, C:], lat[:, None, :, :C])
    o = torch.empty(b, H, s, C, device=DEV, dtype=BF16)
    blocks = blocks_for(args[2], args[0], True)
    record_clock(run, f"duty mla-latent prefill b{b} x {s}",
                 lambda: attention(*args, causal=True, scale=(N + P) ** -0.5, out=o, **blocks), 4, 0.0, (0, 0, 0),
                 note="causal attention")  # fmt: skip
    expand_decode_clock(run)
    for share in (0.25, 0.5, 0.75):
        for gemms in (1, 4, 16, 64):
            copies = max(1, round(gemms * gemm_seconds * (1 - share) / share / copy_seconds))
            record_clock(run, f"duty share {share:.2f} x {gemms} gemms", alternating(gemm, gemms, copy, copies), 1,
                         gemms * work, shape, besides=copies * copy_seconds,
                         note=f"{gemms} GEMMs ({gemms * gemm_seconds * 1e3:.2f} ms) then {copies} copies")  # fmt: skip


def expand_decode_clock(run: GridRunner) -> None:
    """The clock expand's two-part decode attention (its RoPE key shared by all heads) holds back to back."""
    b, t = 16, 8193
    heads = lambda x: x.permute(0, 2, 1, 3)  # noqa: E731
    k1, v = rand(b, t, H, N), rand(b, t, H, V)
    k2 = rand(b, t, 1, P).expand(b, t, H, P)
    q1, q2, o = rand(b, H, 1, N), rand(b, H, 1, P), torch.empty(b, H, 1, V, device=DEV, dtype=BF16)
    blocks = blocks_for(heads(k1), q1, False)
    record_clock(run, "duty expand decode b16 x 8k",
                 lambda: attention(q1, q2, heads(k1), heads(k2), heads(v), causal=False, scale=(N + P) ** -0.5, out=o,
                                   **blocks),
                 4, 0.0, (0, 0, 0), note=f"{b * t * H * (N + V) * 2 / 1e9:.2f} GB of keys and values")  # fmt: skip


def clocks(run: GridRunner) -> None:
    """How the board's power limit sets a compute-bound kernel's clock, so its rate depends on its neighbours:
    expand's K = 512 up-projection (M = 16 x 8193, A strided 576) replayed back to back, alternating with a
    2 GiB copy (memory-bound, as an attention kernel), and alone after 100 ms idle; then expand's whole step
    at that shape. `sm_mhz` is the mean SM clock over the replays."""
    m = 16 * 8193
    latent, w = rand(m, C + P), rand(C, H * N, scale=C**-0.5)
    out = torch.empty(m, H * N, device=DEV, dtype=BF16)
    src = rand(1 << 30)
    dst = torch.empty_like(src)
    flops = 2 * m * C * H * N

    def gemm() -> None:
        torch.matmul(latent[:, :C], w, out=out)

    def copy() -> None:
        dst.copy_(src)

    def mix() -> None:
        gemm()
        copy()

    def record(label: str, fn, calls: int, work: float, shape=(m, H * N, C), besides: float = 0.0) -> float:
        return record_clock(run, label, fn, calls, work, shape, besides)

    record("gemm back-to-back", gemm, 4, flops)
    copy_seconds = record("copy", copy, 2, 0.0)
    record("gemm between copies", mix, 4, flops, besides=copy_seconds)
    after_idle = []
    for _ in range(8):
        time.sleep(0.1)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        gemm()
        end.record()
        end.synchronize()
        after_idle.append(start.elapsed_time(end) / 1e3)
    idle_seconds = statistics.median(after_idle)
    run.row(grid="calibration", kind="clock", model="gemm after idle", m=m, n=H * N, k=C, seconds=idle_seconds,
            flops=flops, note=f"GEMM {flops / idle_seconds / 1e12:.1f} TFLOP/s, median of 8")  # fmt: skip
    print(f"clock {'gemm after idle':>22}: {idle_seconds * 1e6:9.1f} us, GEMM {flops / idle_seconds / 1e12:.1f}"
          " TFLOP/s", flush=True)  # fmt: skip
    deep_a, deep_b = rand(16384, 7168), rand(7168, 16384, scale=7168**-0.5)
    deep_c = torch.empty(16384, 16384, device=DEV, dtype=BF16)
    record("deep gemm back-to-back", lambda: torch.matmul(deep_a, deep_b, out=deep_c), 2, 2 * 16384 * 7168 * 16384,
           shape=(16384, 16384, 7168))  # fmt: skip
    step = Step("deepseek_v3", "expand", 16, 8192, 1)
    record("expand step b16 x 8k", step, 1, 0.0)
    del step
    torch.cuda.empty_cache()


def duty_mix(run: GridRunner) -> None:
    """The clock of mixes that take each kind of kernel apart: a causal MHA prefill attention (batch 2 x 4k)
    alternating with copies at 1/4, 1/2 and 3/4 of the time, a K = 512 GEMM alternating with that attention
    at the same shares, and a K = 7168 GEMM alternating with copies at 1/2. With part `duty`'s GEMM and copy
    mixes, these give each kind its own weight in the power the limiter holds. A row's GEMM rate subtracts
    the other kind's time alone, so it is low where that kind slows with the clock (the attention)."""
    kinds = clock_kernels()
    alone = {
        name: record_clock(run, f"mix {name} alone", fn, 8, work, (0, 0, 0)) for name, (fn, work, _) in kinds.items()
    }
    mixes = [("mha prefill", "copy", (0.25, 0.5, 0.75)), ("gemm k512", "mha prefill", (0.25, 0.5, 0.75)),
             ("gemm k7168", "copy", (0.5,))]  # fmt: skip
    for first, second, shares in mixes:
        for share in shares:
            # at least 4 ms of the first kind a run, and enough that one of the second kind keeps the share
            firsts = max(1, round(max(4e-3, alone[second] * share / (1 - share)) / alone[first]))
            seconds = max(1, round(firsts * alone[first] * (1 - share) / share / alone[second]))
            share = firsts * alone[first] / (firsts * alone[first] + seconds * alone[second])  # as run
            mix = alternating(kinds[first][0], firsts, kinds[second][0], seconds)
            record_clock(run, f"mix {first} {share:.2f} with {second}", mix, 1, firsts * kinds[first][1],
                         (0, 0, 0), besides=seconds * alone[second],
                         note=f"{firsts} x {first} ({firsts * alone[first] * 1e3:.2f} ms alone) then {seconds} x "
                         f"{second} ({seconds * alone[second] * 1e3:.2f} ms alone)")  # fmt: skip


def split_gemms(run: GridRunner) -> None:
    """reuse's W_UV x W_O GEMM (K = 65536, N = 7168) at M = 64..256 as cuBLAS picks its kernel (splits 1) and as
    a batched product of 2 or 4 K-slices and their sum (a split-K the caller chooses), to show how far
    cuBLAS's choice at each M is from what the same GEMM can take."""
    k, n = 65536, 7168
    for m in (64, 96, 128, 192, 256):
        for splits in (1, 2, 4):
            sets = rotation(2 * (m * k + k * n))
            a = [rand(m, k) for _ in range(sets)]
            b = [rand(k, n, scale=k**-0.5) for _ in range(sets)]
            c = [torch.empty(splits, m, n, device=DEV, dtype=BF16) for _ in range(sets)]

            def product(a=a, b=b, c=c, m=m, splits=splits) -> None:
                for x, y, z in zip(a, b, c, strict=True):
                    if splits == 1:
                        torch.matmul(x, y, out=z[0])
                    else:
                        torch.bmm(x.view(m, splits, k // splits).transpose(0, 1), y.view(splits, k // splits, n), out=z)
                        z.sum(0)

            s, j = run.time_and_energy(product, calls=sets)
            total = 2 * (m * k + k * n + m * n)
            run.row(grid="calibration", kind="gemm-split", m=m, n=n, k=k, seconds=s, joules=j, flops=2 * m * n * k,
                    bytes=total, splits=splits, note=f"{total / s / 1e12:.2f} TB/s")  # fmt: skip
            print(f"gemm-split m{m:<4} splits {splits}: {s * 1e6:9.1f} us {total / s / 1e12:.2f} TB/s", flush=True)
            del a, b, c
            torch.cuda.empty_cache()


def gemms(run: GridRunner) -> None:
    shapes = [(65536, 7168), (32768, 7168), (8192, 7168), (1536, 65536), (24576, 1536)]
    for k, n in shapes:
        for m in (1, 8, 32, 64, 96, 128, 192, 256, 512):
            total = 2 * (m * k + k * n + m * n)
            s, j = time_gemm(run, m, k, n)
            rate = f"{2 * m * n * k / s / 1e12:.1f} TFLOP/s, {total / s / 1e12:.2f} TB/s"
            run.row(grid="calibration", kind="gemm", m=m, n=n, k=k, seconds=s, joules=j, flops=2 * m * n * k,
                    bytes=total, note=rate)  # fmt: skip
            print(f"gemm m{m:<4} n{n:<6} k{k:<6}: {s * 1e6:9.1f} us {2 * m * n * k / s / 1e12:6.1f} TFLOP/s "
                  f"{total / s / 1e12:.2f} TB/s", flush=True)  # fmt: skip
            torch.cuda.empty_cache()


LIBRARIES = ("cublas", "cublaslt")
"""The GEMM libraries torch can call (torch.backends.cuda.preferred_blas_library): cuBLAS's own heuristics, as
torch.matmul and measure.py use by default, and cuBLASLt's."""


DEEP_K_SHAPES = [
    *(
        (n, k, m)
        for n, k in ((7168, 65536), (7168, 32768), (7168, 16384))
        for m in (32, 48, 64, 80, 96, 112, 128, 160, 192, 256)
    ),
    *((7168, 8192, m) for m in (64, 128, 192, 256)),
    (1536, 7168, 256),
    (1536, 7168, 1024),
    (576, 7168, 1024),
    (7168, 16384, 512),
]
"""(N, K, M) around the M = 64 and 128 slow points of part `gemm` (K = 32768-65536 onto 7168 columns)."""

RIDGE_SHAPES = [
    (n, k, m)
    for n, k in ((1536, 7168), (576, 7168), (24576, 1536), (32768, 512), (7168, 16384), (65536, 1536), (7168, 65536))
    for m in (96, 128, 160, 192, 224, 256, 320, 384, 512, 768, 1024)
]
"""(N, K, M): DeepSeek-V3's projections (q and kv down, q and kv up, output, reuse's two composed products) where
streaming the weights and the tensor cores' work take about equal time (M = 96-1024)."""


def gemm_kernels(run: GridRunner, shapes: list[tuple[int, int, int]]) -> None:
    """cuBLAS GEMMs of `shapes` (N, K, M) under both libraries, with the kernels each launches (profile_step.py
    `kernels_of`: torch.profiler, eager) in `note`: the library's tile, split and kernel count at each shape,
    which its timing alone does not show."""
    for library in LIBRARIES:
        torch.backends.cuda.preferred_blas_library(library)
        for n, k, m in shapes:
            s, j = time_gemm(run, m, k, n)
            a, b = rand(m, k), rand(k, n, scale=k**-0.5)
            launched = kernels_of(lambda a=a, b=b: torch.matmul(a, b))
            kernels = " | ".join(f"{name} {seconds * 1e6:.1f} us" for name, seconds in launched)
            run.row(grid="calibration", kind="gemm-kernels", model=library, m=m, n=n, k=k, seconds=s, joules=j,
                    flops=2 * m * n * k, bytes=2 * (m * k + k * n + m * n), note=kernels)  # fmt: skip
            print(f"{library:<8} m{m:<5} n{n:<5} k{k:<6} {s * 1e6:8.1f} us  {kernels}", flush=True)
            del a, b
            torch.cuda.empty_cache()
    torch.backends.cuda.preferred_blas_library("cublas")


def streams(run: GridRunner) -> None:
    """HBM alone, by direction: a fill (writes only), a sum (reads only) and a copy (both) of 64 MiB to 1 GiB of
    bf16, to check the cost model's write rate (`memory_write`, fit on GEMMs whose outputs outweigh their reads)
    against stores that do nothing else."""
    for mib in (64, 256, 1024):
        elements = mib * 2**20 // 2
        sets = rotation(2 * 2 * elements)
        x = [rand(elements) for _ in range(sets)]
        y = [torch.empty(elements, device=DEV, dtype=BF16) for _ in range(sets)]

        def write(y: list[torch.Tensor] = y) -> None:
            for z in y:
                z.fill_(0.5)

        def read(x: list[torch.Tensor] = x) -> None:
            for z in x:
                torch.sum(z, dtype=torch.float32)

        def copy(x: list[torch.Tensor] = x, y: list[torch.Tensor] = y) -> None:
            for z, w in zip(y, x, strict=True):
                z.copy_(w)

        kernels = {"write": (write, elements * 2), "read": (read, elements * 2), "copy": (copy, elements * 4)}
        for name, (fn, moved) in kernels.items():
            s, j = run.time_and_energy(fn, calls=sets)
            run.row(grid="calibration", kind="stream", model=name, m=elements, seconds=s, joules=j, bytes=moved,
                    note=f"{moved / s / 1e12:.2f} TB/s")  # fmt: skip
            print(f"stream {name:<5} {mib:>5} MiB: {s * 1e6:9.1f} us {moved / s / 1e12:.2f} TB/s", flush=True)
        del x, y
        torch.cuda.empty_cache()


PARTS = {
    "gemm": gemms,
    "latent": latent_split,
    "latent-default": lambda r: latent_default(r, (3, 6, 12, 24, 40, 64), (1537, 3073, 8193, 12289, 20481)),
    "latent-unsplit": lambda r: latent_default(r, (72, 100), (1537, 3073, 6145)),
    "prefill": prefill_attention,
    "head": lambda r: head_decode(r, (4, 16, 48), (3072, 12288)),
    "head-odd": lambda r: head_decode(r, (4, 16, 48), (3073, 12289)),
    "head-short": lambda r: head_decode(r, (16, 64, 96), (769, 1537, 2049)),
    # many programs over few keys each (batch x 128 heads of 769-1537 keys): where each program's start and end
    # weigh most
    "head-many": lambda r: head_decode(r, (112, 144), (769, 1153, 1537)),
    # few programs (batch 1-3 x 128 heads, split along the keys where they are fewer than two per SM)
    "head-few": lambda r: head_decode(r, (1, 2, 3), (6145, 12289, 24577)),
    "head-expand": lambda r: head_decode(r, (4, 16, 48), (3073, 12289), ("expand", "cache-kv", "mha")),
    # expand's shared-key kernel with few programs over few keys each (batch 1-8 x 128 heads, 769-6145 keys)
    "head-expand-short": lambda r: head_decode(r, (1, 2, 4, 8), (769, 1537, 3073, 6145), ("expand",)),
    # the per-head decode kernels at the validation grid's decode shapes under both block shapes `tune` has
    # chosen on an H200 (a 0.1-0.5% tie at its one shape): 16 query rows a program (one is used) or 64
    "head-blocks": lambda r: [
        head_decode(r, batches, contexts, ("mha", "cache-kv", "expand"), ((16, 64, 4, 2), (64, 64, 4, 3)))
        for batches, contexts in (((1, 8, 32), (1025, 4097, 16385)), ((128,), (1025, 4097)))
    ],
    "gemm-latent": latent_gemms,
    "clocks": clocks,
    "duty": duty,
    "duty-mix": duty_mix,
    "duty-expand": expand_decode_clock,
    "gemm-split": split_gemms,
    "gemm-kernels": lambda r: gemm_kernels(r, DEEP_K_SHAPES),
    "gemm-ridge": lambda r: gemm_kernels(r, RIDGE_SHAPES),
    "streams": streams,
    # the same kernels where only the key count's divisibility changes (Triton specialises integer
    # arguments divisible by 16)
    "divisibility": lambda r: (
        latent_default(r, (16,), (12288, 12289, 12296, 12304)),
        head_decode(r, (16,), (12288, 12289, 12296, 12304)),
    ),
}
"""Each part of the grid: `--only` picks some."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--window", type=float, default=0.15, help="seconds of replays per energy reading")
    parser.add_argument("--only", default=",".join(["tune", *PARTS]))
    args = parser.parse_args()
    torch.manual_seed(0)
    run = GridRunner(args.out, args.window)
    parts = args.only.split(",")
    run.measure_idle()
    print(f"{run.device}: idle {run.idle_watts:.1f} W, {sm_count()} SMs", flush=True)
    if "tune" in parts:
        tune(run)
    for part, fn in PARTS.items():
        if part in parts:
            fn(run)
    run.file.close()


if __name__ == "__main__":
    main()
