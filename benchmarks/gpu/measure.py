"""Measures, on a real NVIDIA GPU, what mlacc estimates: attention steps and the kernels they are made of,
in seconds and in joules the board draws. One run writes one CSV that `mlacc validate` reads.

    python benchmarks/gpu/measure.py --out benchmarks/results/h100_2026-11-24.csv
    python benchmarks/gpu/measure.py --tuned-gemms --only tune,validation \
        --out benchmarks/results/h200_tuned_2026-11-30.csv
    python benchmarks/gpu/measure.py --only tune,holdout --out benchmarks/results/h200_holdout_2026-12-01.csv
    python benchmarks/gpu/measure.py --blas cublaslt --only tune,validation \
        --out benchmarks/results/h200_cublaslt_2026-12-01.csv
    python benchmarks/gpu/measure.py --blas cublaslt --only tune,large-batch \
        --out benchmarks/results/h200_large_batch_2026-12-01.csv
    python benchmarks/gpu/measure.py --only tune,kernels,attention \
        --out benchmarks/results/h200_calibration2_2026-12-01.csv

Needs torch, triton and NVML (the nvidia-ml-py package) on the GPU machine; no mlacc install.

Two grids, on different shapes, so a model fitted on one is judged on the other:
- calibration: the board's idle power, a large copy, GEMMs and per-head batched GEMMs over M = 1..64k
  at the layer's projection shapes, one-kernel RMSNorm/RoPE/stores, back-to-back tiny ops in a graph, the
  fused attention kernel alone, and whole steps at batch 2/16/64 x context 2k/8k/24k;
- validation: whole DeepSeek-V3 MLA steps under each execution scheme (and its MHA twin) for decode
  (batch 1-128 x context 1k-32k) and prefill (batch 1-4 x prompt 512-8k); part `holdout` the same on a
  third grid of shapes in neither (batch 4-96 x context 3k-12k, prompts 1.5k and 6k); part `large-batch`
  decode at batch 192 and 256 x 1k-4k.
A step is the layer's `la` ops one kernel each, as mlacc lowers them (cuBLAS GEMMs, Triton RMSNorm and
RoPE, a copy per KV-cache store), with scores, softmax and the weighted sum fused in one Triton
flash-attention kernel (flash_attention.py) that splits long contexts and reads every cache block
once for all heads of its group. Every attention call is checked against a float64 reference.

With --blas cublaslt torch's GEMMs call cuBLASLt's heuristic instead of cuBLAS's (see `BLAS`).
With --tuned-gemms each GEMM of a step runs as the fastest of cuBLAS's own kernel and the product split in
2 or 4 along K, timed once per shape (`matmul`), and a step row's note names the GEMMs that ran split.

Timing: the step is captured in a CUDA graph (launch gaps as a serving engine sees them) and replayed,
first back to back for `--settle` seconds, then the median of event-timed replays is `seconds`. Without the
settling (every run before the third hold-out run of 2026-12-01), a step timed right after a power-heavy one
can read slow: MHA decode at 12 x 12k read 2.74 ms after expand's 96 x 6k and 2.40 ms before it, its kernels
the same 2.38 ms (benchmarks/results/h200_profile_order_2026-12-01.csv). Kernels small enough to sit in the 50 MB L2 are
replayed over rotating copies of their inputs, so each call reads from HBM as in a real step.
Energy: NVML's total-energy counter around a window of back-to-back replays gives `joules` per call,
the whole board's draw (idle included); `idle_watts` of the same run is in every row.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import math
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from flash_attention import attention, check, reference
from fused_ops import rmsnorm, rope
from probes import sweep

BF16 = torch.bfloat16
DEV = "cuda"
D, H, QR, C, N, P, V = 7168, 128, 1536, 512, 128, 64, 128  # DeepSeek-V3 attention (examples/deepseek_v3.attn)
HD = 128  # its MHA twin's head dim (examples/mha_baseline.attn)
MLA_SCHEMES = ("recompute", "reuse", "expand", "cache-kv")
FIELDS = (
    "device grid kind model scheme phase batch context new_tokens m n k heads "
    "seconds joules idle_watts flops bytes rel_error status note"
).split()
ROTATE_BYTES = 256 << 20  # several times the L2, so rotated inputs come from HBM


class Board:
    """The board's cumulative energy counter (NVML), in joules."""

    def __init__(self) -> None:
        import pynvml

        pynvml.nvmlInit()
        self.nvml = pynvml
        self.handle = pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())

    def joules(self) -> float:
        return self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) / 1e3

    def identity(self) -> str:
        """Which board this is and the power limit it enforces: energy per step differs between boards of one
        model by up to 10% on memory-bound steps, so every run names its board (the idle rows' `note`)."""
        uuid = self.nvml.nvmlDeviceGetUUID(self.handle)
        limit = self.nvml.nvmlDeviceGetEnforcedPowerLimit(self.handle) / 1e3
        top = self.nvml.nvmlDeviceGetMaxClockInfo(self.handle, self.nvml.NVML_CLOCK_SM)
        return f"board {uuid if isinstance(uuid, str) else uuid.decode()}, power limit {limit:.0f} W, max SM {top} MHz"

    @contextmanager
    def sm_clocks(self) -> Iterator[list[int]]:
        """The SM clock (MHz) NVML reports, sampled every 2 ms by a thread while the block runs."""
        samples: list[int] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append(self.nvml.nvmlDeviceGetClockInfo(self.handle, self.nvml.NVML_CLOCK_SM))
                time.sleep(0.002)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            yield samples
        finally:
            stop.set()
            sampler.join()


def capture(fn: Callable[[], object], copies: int = 1) -> torch.cuda.CUDAGraph:
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(copies):
            fn()
    return graph


def settle_graph(graph: torch.cuda.CUDAGraph, seconds: float) -> None:
    """Replay `graph` back to back for `seconds`, so the board's clocks are the graph's own, not those of whatever
    ran before."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(4):
            graph.replay()
        torch.cuda.synchronize()


def replay_seconds(graph: torch.cuda.CUDAGraph, budget: float = 0.15, settle: float = 0.0) -> float:
    """Median seconds of one replay, event-timed, over about `budget` seconds of replays, after `settle` seconds
    of replays back to back (`settle_graph`)."""
    graph.replay()
    torch.cuda.synchronize()
    settle_graph(graph, settle)
    t0 = time.perf_counter()
    graph.replay()
    torch.cuda.synchronize()
    first = time.perf_counter() - t0
    times = []
    for _ in range(max(5, min(200, int(budget / max(first, 1e-6))))):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


class Runner:
    def __init__(self, out: Path, window: float, quick: bool, settle: float = 0.0, fields: tuple[str, ...] = FIELDS):
        """fields: the CSV's columns (FIELDS, and columns of its own after them: layer_step.py's)."""
        self.board = Board()
        self.window = window
        self.settle = settle
        self.quick = quick
        self.device = torch.cuda.get_device_name()
        self.date = datetime.date.today().isoformat()
        self.idle_watts = math.nan
        self.file = out.open("w", newline="")
        self.writer = csv.DictWriter(self.file, fields)
        self.writer.writeheader()

    def row(self, **fields: object) -> None:
        base = {"device": self.device, "idle_watts": f"{self.idle_watts:.2f}", "status": "ok"}
        row = {**base, **{k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in fields.items()}}
        self.writer.writerow(row)
        self.file.flush()

    def measure_idle(self) -> None:
        torch.cuda.synchronize()
        time.sleep(1.0)
        e0, t0 = self.board.joules(), time.perf_counter()
        time.sleep(3.0)
        self.idle_watts = (self.board.joules() - e0) / (time.perf_counter() - t0)
        self.row(grid="calibration", kind="idle", seconds=3.0, joules=self.idle_watts * 3.0, note=self.board.identity())

    def time_and_energy(self, fn: Callable[[], object], calls: int = 1) -> tuple[float, float]:
        """Seconds and joules of one call of `fn` (which makes `calls` calls of the thing measured)."""
        graph = capture(fn)
        seconds = replay_seconds(graph, settle=self.settle)
        copies = max(1, math.ceil(2e-3 / seconds))  # a graph of >= 2 ms, so replay gaps do not count
        del graph
        big = capture(fn, copies)
        replays = max(1, math.ceil(self.window / (seconds * copies)))
        big.replay()
        torch.cuda.synchronize()
        e0 = self.board.joules()
        for _ in range(replays):
            big.replay()
        torch.cuda.synchronize()
        joules = (self.board.joules() - e0) / (replays * copies)
        del big
        return seconds / calls, joules / calls


def rand(*shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, device=DEV, dtype=BF16) * scale


def rotation(bytes_per_set: int) -> int:
    return max(1, min(64, math.ceil(ROTATE_BYTES / max(bytes_per_set, 1))))


# ---- calibration kernels --------------------------------------------------------------------------------


def time_gemm(run: Runner, m: int, k: int, n: int) -> tuple[float, float]:
    """Seconds and joules of one bf16 (m x k) @ (k x n) cuBLAS GEMM, over rotating copies of its operands."""
    sets = rotation(2 * (m * k + k * n + m * n))
    a = [rand(m, k) for _ in range(sets)]
    b = [rand(k, n, scale=k**-0.5) for _ in range(sets)]
    c = [torch.empty(m, n, device=DEV, dtype=BF16) for _ in range(sets)]

    def gemms() -> None:
        for x, y, z in zip(a, b, c, strict=True):
            torch.matmul(x, y, out=z)

    return run.time_and_energy(gemms, calls=sets)


def calibrate_kernels(run: Runner) -> None:
    n = 1 << (28 if run.quick else 30)
    src, dst = rand(n // 2), rand(n // 2)
    s, j = run.time_and_energy(lambda src=src, dst=dst: dst.copy_(src))
    run.row(grid="calibration", kind="copy", seconds=s, joules=j, bytes=2 * src.numel() * 2, note="read + write")
    del src, dst

    buffer, partial = rand(12 << 20), torch.empty(4 * torch.cuda.get_device_properties(0).multi_processor_count,
                                                  device=DEV, dtype=torch.float32)  # fmt: skip
    s, j = run.time_and_energy(lambda b=buffer: sweep(b, 50, partial))  # 24 MiB read 50 times: L2 hits after pass 1
    run.row(grid="calibration", kind="l2read", seconds=s, joules=j, bytes=50 * buffer.numel() * 2, note="50 passes")
    del buffer

    tiny = rand(128)

    def tiny_ops() -> None:
        for _ in range(30):
            tiny.mul_(1.0)

    s, j = run.time_and_energy(tiny_ops, calls=30)
    run.row(grid="calibration", kind="tiny", seconds=s, joules=j, bytes=512, note="one 256 B in-place op in a graph")

    ms = (1, 16, 256, 4096) if run.quick else (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536)
    shapes = [(7168, 1536), (1536, 16384), (7168, 576), (16384, 7168), (512, 16384), (7168, 16384), (1536, 65536)]
    for k, n_ in shapes if not run.quick else shapes[:3]:
        for m in ms:
            total = 2 * (m * k + k * n_ + m * n_)
            if total > 8 << 30:
                continue
            s, j = time_gemm(run, m, k, n_)
            run.row(grid="calibration", kind="gemm", m=m, n=n_, k=k, seconds=s, joules=j, flops=2 * m * n_ * k,
                    bytes=total)  # fmt: skip
    for k, n_ in ((N, C), (C, V)):  # W_UK folded into the query, W_UV after latent attention: per head
        for m in ms:
            total = 2 * H * (m * k + k * n_ + m * n_)
            if total > 8 << 30:
                continue
            sets = rotation(total)
            a = [rand(m, H, k).transpose(0, 1) for _ in range(sets)]  # head-strided, as the step has it
            b = [rand(H, k, n_, scale=k**-0.5) for _ in range(sets)]
            c = [torch.empty(H, m, n_, device=DEV, dtype=BF16) for _ in range(sets)]

            def bmms(a=a, b=b, c=c) -> None:
                for x, y, z in zip(a, b, c, strict=True):
                    torch.bmm(x, y, out=z)

            s, j = run.time_and_energy(bmms, calls=sets)
            run.row(grid="calibration", kind="bmm", m=m, n=n_, k=k, heads=H, seconds=s, joules=j,
                    flops=2 * H * m * n_ * k, bytes=total)  # fmt: skip
            del a, b, c
    for rows in (1, 64, 4096, 65536) if not run.quick else (1, 4096):
        for cols in (512, 1536):
            sets = rotation(4 * rows * cols)
            xs = [rand(rows, cols) for _ in range(sets)]
            g = rand(cols)
            s, j = run.time_and_energy(lambda xs=xs, g=g: [rmsnorm(x, g) for x in xs], calls=sets)
            run.row(grid="calibration", kind="rmsnorm", m=rows, n=cols, seconds=s, joules=j, bytes=4 * rows * cols,
                    flops=4 * rows * cols)  # fmt: skip
            sets = rotation(4 * rows * cols)
            xs = [rand(rows * cols // 64, 64) for _ in range(sets)]
            seq = max(1, rows // 128)
            s, j = run.time_and_energy(lambda xs=xs, seq=seq: [rope(x, 128, seq, 0) for x in xs], calls=sets)
            run.row(grid="calibration", kind="rope", m=rows * cols // 64, n=64, seconds=s, joules=j,
                    bytes=4 * rows * cols, flops=3 * rows * cols)  # fmt: skip
            del xs


# ---- attention steps ------------------------------------------------------------------------------------

TUNED_GEMMS = False
"""Whether the steps' GEMMs run as a tuned engine runs them (`matmul`); set by --tuned-gemms."""
BLAS = "cublas"
"""The library torch's GEMMs call; set by --blas. cuBLAS's own heuristic picks a split-K kernel with 448-wide
tiles at M = 64 and 128 over K >= 32768 that streams at 2.2-3.3 TB/s where cuBLASLt's pick streams at 4.0-4.2
(benchmarks/results/h200_gemm_kernels_2026-12-01.csv, kernel_grid.py part gemm-kernels)."""
K_SPLITS = (1, 2, 4)
_SPLIT: dict[tuple[int, int, int], int] = {}
"""Per (m, k, n): the parts along K that ran fastest when the shape was first met."""
_CALLED: set[tuple[int, int, int]] = set()
"""The shapes `matmul` ran since `splits_used` last read them."""


def matmul(a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """a @ w: cuBLAS's own kernel, or, with TUNED_GEMMS, the fastest of that and the product split in 2 or 4
    along K (the parts after the first accumulated onto it by cuBLAS), timed once per shape as an autotuning
    engine picks among a GEMM's implementations. cuBLAS's heuristic runs reuse's K = 65536 product at
    M = 128 in about 400 us where the caller's split in 2 takes 254 (kernel_grid.py part gemm-split)."""
    (m, k), n = a.shape, w.shape[1]
    if not TUNED_GEMMS:
        return a @ w
    if (m, k, n) not in _SPLIT:
        _SPLIT[(m, k, n)] = fastest_split(a, w)
    _CALLED.add((m, k, n))
    return split_matmul(a, w, _SPLIT[(m, k, n)])


def split_matmul(a: torch.Tensor, w: torch.Tensor, parts: int) -> torch.Tensor:
    depth = a.shape[1] // parts
    out = a[:, :depth] @ w[:depth]
    for i in range(1, parts):
        out.addmm_(a[:, i * depth : (i + 1) * depth], w[i * depth : (i + 1) * depth])
    return out


def fastest_split(a: torch.Tensor, w: torch.Tensor) -> int:
    """The parts along K (of K_SPLITS, whole slices of 64) whose product ran fastest: median of 10 event-timed
    calls after 3, and a split only where it beats cuBLAS's own pick by more than 3% and agrees with it on the
    first 256 rows (bf16 sums in another order: relative error under 1e-2)."""
    k = a.shape[1]
    seconds = {}
    rows = a[:256]
    whole = (rows @ w).float()
    for parts in (p for p in K_SPLITS if k % (64 * p) == 0):
        if (split_matmul(rows, w, parts).float() - whole).norm() > 1e-2 * whole.norm():
            continue
        for _ in range(3):
            split_matmul(a, w, parts)
        times = []
        for _ in range(10):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            split_matmul(a, w, parts)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        seconds[parts] = statistics.median(times)
    best = min(seconds, key=lambda p: seconds[p])
    return best if seconds[best] < 0.97 * seconds[1] else 1


def splits_used() -> str:
    """The GEMMs run since the last call that ran split along K, for a step row's note (and forget them)."""
    split = sorted(shape for shape in _CALLED if _SPLIT[shape] > 1)
    _CALLED.clear()
    return ", ".join(f"GEMM {m}x{k}x{n} split in {_SPLIT[(m, k, n)]} along K" for m, k, n in split)


class Step:
    """One attention step of a layer under a scheme, the `la` ops one kernel each; `attention_io` keeps the
    last attention call's inputs and output for the correctness check."""

    def __init__(self, model: str, scheme: str, batch: int, context: int, new_tokens: int):
        self.model, self.scheme, self.b, self.ctx, self.s = model, scheme, batch, context, new_tokens
        self.t = context + new_tokens
        self.causal = new_tokens > 1
        self.attention_io: tuple = ()
        b, s, t = batch, new_tokens, self.t
        self.x = rand(b * s, D)
        if model == "mha_baseline":
            self.w_q, self.w_k, self.w_v = (rand(D, H * HD, scale=D**-0.5) for _ in range(3))
            self.w_o = rand(H * HD, D, scale=(H * HD) ** -0.5)
            self.k_cache, self.v_cache = rand(b, t, H, HD), rand(b, t, H, HD)
            self.scale = HD**-0.5
            return
        self.scale = (N + P) ** -0.5
        self.w_dq, self.q_norm = rand(D, QR, scale=D**-0.5), rand(QR)
        self.w_uq, self.w_qr = rand(QR, H * N, scale=QR**-0.5), rand(QR, H * P, scale=QR**-0.5)
        self.w_dkv, self.kv_norm, self.w_kr = rand(D, C, scale=D**-0.5), rand(C), rand(D, P, scale=D**-0.5)
        if scheme == "cache-kv":
            self.k_cache, self.r_cache, self.v_cache = rand(b, t, H, N), rand(b, t, H, P), rand(b, t, H, V)
        else:
            self.latent = rand(b, t, C + P)  # latent and RoPE key side by side, as FlashMLA lays them out
        if scheme == "recompute":
            self.w_uk_h, self.w_uv_h = rand(H, N, C, scale=N**-0.5), rand(H, C, V, scale=C**-0.5)
        elif scheme == "reuse":
            self.w_uqk = rand(QR, H * C, scale=QR**-0.5)
            self.w_uvo = rand(H * C, D, scale=(H * C) ** -0.5)
        else:
            self.w_uk, self.w_uv = rand(C, H * N, scale=C**-0.5), rand(C, H * V, scale=C**-0.5)
        if scheme != "reuse":
            self.w_o = rand(H * V, D, scale=(H * V) ** -0.5)

    def resident_bytes(self) -> int:
        return sum(v.numel() * 2 for v in vars(self).values() if isinstance(v, torch.Tensor))

    def attend(self, q1, q2, k1, k2, v, out) -> torch.Tensor:
        attention(q1, q2, k1, k2, v, causal=self.causal, scale=self.scale, out=out, **blocks_for(k1, q1, self.causal))
        self.attention_io = (q1, q2, k1, k2, v, out)
        return out

    def __call__(self) -> torch.Tensor:
        return self.mha() if self.model == "mha_baseline" else self.mla()

    def mha(self) -> torch.Tensor:
        b, s, ctx = self.b, self.s, self.ctx
        q = rope(matmul(self.x, self.w_q).view(b * s * H, HD), H, s, ctx).view(b, s, H, HD)
        k = rope(matmul(self.x, self.w_k).view(b * s * H, HD), H, s, ctx).view(b, s, H, HD)
        v = matmul(self.x, self.w_v).view(b, s, H, HD)
        self.k_cache[:, ctx:].copy_(k)
        self.v_cache[:, ctx:].copy_(v)
        out = torch.empty(b, s, H, HD, device=DEV, dtype=BF16)
        t = lambda x: x.permute(0, 2, 1, 3)  # noqa: E731  (b, s, h, d) storage seen as (b, h, s, d)
        self.attend(t(q), None, t(self.k_cache), None, t(self.v_cache), t(out))
        return matmul(out.view(b * s, H * HD), self.w_o)

    def mla(self) -> torch.Tensor:
        b, s, ctx, t = self.b, self.s, self.ctx, self.t
        heads = lambda x: x.permute(0, 2, 1, 3)  # noqa: E731
        c_q = rmsnorm(matmul(self.x, self.w_dq), self.q_norm)
        q_pe = rope(matmul(c_q, self.w_qr).view(b * s * H, P), H, s, ctx).view(b, s, H, P)
        c_kv = rmsnorm(matmul(self.x, self.w_dkv), self.kv_norm)
        k_pe = rope(matmul(self.x, self.w_kr), 1, s, ctx)
        if self.scheme == "cache-kv":
            q_nope = matmul(c_q, self.w_uq).view(b, s, H, N)
            self.k_cache[:, ctx:].copy_(matmul(c_kv, self.w_uk).view(b, s, H, N))
            self.v_cache[:, ctx:].copy_(matmul(c_kv, self.w_uv).view(b, s, H, V))
            self.r_cache[:, ctx:].copy_(k_pe.view(b, s, 1, P).expand(b, s, H, P))
            out = torch.empty(b, s, H, V, device=DEV, dtype=BF16)
            k1, k2, v = heads(self.k_cache), heads(self.r_cache), heads(self.v_cache)
            self.attend(heads(q_nope), heads(q_pe), k1, k2, v, heads(out))
            return matmul(out.view(b * s, H * V), self.w_o)
        self.latent[:, ctx:, :C].copy_(c_kv.view(b, s, C))
        self.latent[:, ctx:, C:].copy_(k_pe.view(b, s, P))
        latent, rope_key = self.latent[:, :, :C], self.latent[:, :, C:]
        if self.scheme == "expand":
            q_nope = matmul(c_q, self.w_uq).view(b, s, H, N)
            flat = self.latent.view(b * t, C + P)[:, :C]
            k_nope = matmul(flat, self.w_uk).view(b, t, H, N)
            value = matmul(flat, self.w_uv).view(b, t, H, V)
            out = torch.empty(b, s, H, V, device=DEV, dtype=BF16)
            k2 = rope_key.unsqueeze(1).expand(b, H, t, P)
            self.attend(heads(q_nope), heads(q_pe), heads(k_nope), k2, heads(value), heads(out))
            return matmul(out.view(b * s, H * V), self.w_o)
        if self.scheme == "reuse":
            q_lat = matmul(c_q, self.w_uqk).view(b, s, H, C)
        else:
            q_nope = matmul(c_q, self.w_uq).view(b * s, H, N).transpose(0, 1)
            q_lat = torch.bmm(q_nope, self.w_uk_h).view(H, b, s, C).permute(1, 2, 0, 3)
        o_lat = torch.empty(b, s, H, C, device=DEV, dtype=BF16)
        self.attend(heads(q_lat), heads(q_pe), latent.unsqueeze(1), rope_key.unsqueeze(1), latent.unsqueeze(1),
                    heads(o_lat))  # fmt: skip
        if self.scheme == "reuse":
            return matmul(o_lat.view(b * s, H * C), self.w_uvo)
        attn_out = torch.empty(b * s, H, V, device=DEV, dtype=BF16)
        torch.bmm(o_lat.view(b * s, H, C).transpose(0, 1), self.w_uv_h, out=attn_out.transpose(0, 1))
        return matmul(attn_out.view(b * s, H * V), self.w_o)


def attention_error(step: Step) -> float:
    """||out - ref|| / ||ref|| of the step's attention on a slice: the first and last sequence, up to 16
    query heads, the last 64 query tokens (all keys they see), in float64."""
    q1, q2, k1, k2, v, out = step.attention_io
    hq, hkv = q1.shape[1], k1.shape[1]
    heads = slice(0, min(hq, 16))
    kv_heads = slice(0, max(1, (min(hq, 16) * hkv) // hq))
    queries = slice(max(0, q1.shape[2] - 64), q1.shape[2])
    worst = 0.0
    for bi in sorted({0, q1.shape[0] - 1}):
        pick = lambda x, hs, bi=bi: None if x is None else x[bi : bi + 1, hs]  # noqa: E731
        ref = reference(
            pick(q1, heads)[:, :, queries], None if q2 is None else pick(q2, heads)[:, :, queries],
            pick(k1, kv_heads), pick(k2, kv_heads), pick(v, kv_heads), step.causal, step.scale,
        )  # fmt: skip
        worst = max(worst, check(out[bi : bi + 1, heads, queries], ref))
    return worst


def measure_step(run: Runner, grid: str, model: str, scheme: str, phase: str, batch: int, context: int) -> None:
    new = 1 if phase == "decode" else context
    ctx = context if phase == "decode" else 0
    fields = dict(grid=grid, kind="step", model=model, scheme=scheme, phase=phase, batch=batch, context=ctx,
                  new_tokens=new)  # fmt: skip
    free, _ = torch.cuda.mem_get_info()
    per_token = {"mha_baseline": 2 * H * HD, "cache-kv": H * (N + P + V), "expand": C + P + H * (N + V)}
    tokens = batch * (ctx + new)
    need = 2 * tokens * per_token.get(model if model == "mha_baseline" else scheme, C + P) + (2 << 30)
    if need > 0.85 * free:
        run.row(**fields, status="skipped", note=f"needs ~{need / 1e9:.0f} GB, {free / 1e9:.0f} GB free")
        return
    try:
        step = Step(model, scheme, batch, ctx, new)
        splits_used()
        step()
        torch.cuda.synchronize()
        note = "; ".join(x for x in (splits_used(), "cublaslt" if BLAS == "cublaslt" else "") if x)
        error = attention_error(step)
        seconds, joules = run.time_and_energy(step)
        status = "ok" if error < 2e-2 else "attention-check-failed"
        run.row(**fields, seconds=seconds, joules=joules, rel_error=error, bytes=step.resident_bytes(),
                status=status, note=note)  # fmt: skip
        print(f"{grid:>11} {model:>12} {scheme:>9} {phase:>7} b{batch:<4} ctx {ctx:>6} new {new:>5}: "
              f"{seconds * 1e6:10.1f} us {joules:8.4f} J err {error:.1e}", flush=True)  # fmt: skip
        del step
    except torch.cuda.OutOfMemoryError:
        run.row(**fields, status="skipped", note="out of memory")
    torch.cuda.empty_cache()


def attention_alone(run: Runner) -> None:
    """The fused kernel by itself on calibration shapes: achieved bandwidth (decode), FLOP rate (prefill)."""
    cases = []
    for b in (2, 16, 64) if not run.quick else (2,):
        for t in (2048, 8192, 24576) if not run.quick else (2048,):
            cases.append(("mla-latent", b, 1, t))
            cases.append(("mha", b, 1, t))
    for b, s in ((1, 1024), (2, 4096)) if not run.quick else ((1, 1024),):
        cases += [("mla-latent", b, s, s), ("mha", b, s, s), ("mla-expanded", b, s, s)]
    for name, b, s, t in cases:
        if 2 * b * t * H * 2 * HD > 0.4 * torch.cuda.mem_get_info()[0]:
            continue  # per-head caches this large are measured in the steps that fit
        if name == "mla-latent":
            q1, q2, lat = rand(b, H, s, C), rand(b, H, s, P), rand(b, t, C + P)
            k1, k2, v = lat[:, None, :, :C], lat[:, None, :, C:], lat[:, None, :, :C]
            read = lat.numel() * 2
            qk, dv, scale = C + P, C, (N + P) ** -0.5
        elif name == "mha":
            q1, q2, k1, k2, v = rand(b, H, s, HD), None, rand(b, H, t, HD), None, rand(b, H, t, HD)
            read = 2 * k1.numel() * 2
            qk, dv, scale = HD, HD, HD**-0.5
        else:
            q1, q2, k1, k2, v = rand(b, H, s, N), rand(b, H, s, P), rand(b, H, t, N), rand(b, H, t, P), rand(b, H, t, V)
            read = (k1.numel() + k2.numel() + v.numel()) * 2
            qk, dv, scale = N + P, V, (N + P) ** -0.5
        causal = s > 1
        out = torch.empty(b, H, s, dv, device=DEV, dtype=BF16)
        args = (q1, q2, k1, k2, v)
        blocks = blocks_for(k1, q1, causal)
        fn = lambda args=args, c=causal, sc=scale, o=out, bl=blocks: attention(  # noqa: E731
            *args, causal=c, scale=sc, out=o, **bl
        )
        fn()
        step = Step.__new__(Step)
        step.attention_io, step.causal, step.scale = (q1, q2, k1, k2, v, out), causal, scale
        error = attention_error(step)
        seconds, joules = run.time_and_energy(fn)
        pairs = b * H * (s * t - (s * (s - 1)) // 2 if causal else s * t)
        flops = 2 * pairs * (qk + dv)
        run.row(grid="calibration", kind="attention", model=name, phase="prefill" if causal else "decode", batch=b,
                context=t - s, new_tokens=s, heads=H, seconds=seconds, joules=joules, flops=flops,
                bytes=read, rel_error=error, status="ok" if error < 2e-2 else "attention-check-failed",
                note=f"{read / seconds / 1e12:.2f} TB/s, {flops / seconds / 1e12:.1f} TFLOP/s")  # fmt: skip
        print(f"attention {name:>12} b{b} s{s} t{t}: {seconds * 1e6:9.1f} us, {read / seconds / 1e12:.2f} TB/s, "
              f"{flops / seconds / 1e12:.1f} TFLOP/s, err {error:.1e}", flush=True)  # fmt: skip
        del q1, q2, k1, k2, v, out, args, fn
        torch.cuda.empty_cache()


TUNE_MARGIN = 0.02
"""How much faster a block shape must run than the one chosen before it to replace it: the spread of a
kernel's time between runs (mlacc.validate.RANK_TIE), so a tie does not pick a shape by chance."""


def tune(run: Runner) -> None:
    """Block shapes of the fused kernel on calibration shapes: rows kind=tune, to choose its defaults.

    A program's block of query rows is never taller than the rows there are (rounded up to 16, the smallest
    tensor-core tile): the per-head decode kernel has one query row a head, and 64-row blocks tied with
    16-row ones at the tuning shape (0.1-0.5%, so ten of eleven H200 runs picked 64 by chance) but ran the
    validation grid's per-head decode kernels up to 28% slower (benchmarks/results/h200_head_blocks_2026-12-01.csv,
    kernel_grid.py part head-blocks)."""
    lat = rand(16, 8192, C + P)
    mla = (rand(16, H, 1, C), rand(16, H, 1, P), lat[:, None, :, :C], lat[:, None, :, C:], lat[:, None, :, :C])
    mha = (rand(16, H, 1, HD), None, rand(16, H, 8192, HD), None, rand(16, H, 8192, HD))
    pre = (rand(1, H, 4096, N), rand(1, H, 4096, P), rand(1, H, 4096, N), rand(1, H, 4096, P), rand(1, H, 4096, V))
    lat1 = rand(1, 4096, C + P)
    pre_lat = (rand(1, H, 4096, C), rand(1, H, 4096, P), lat1[:, None, :, :C], lat1[:, None, :, C:],
               lat1[:, None, :, :C])  # fmt: skip
    cases = [("mla-decode", mla, False), ("mha-decode", mha, False), ("expand-prefill", pre, True),
             ("latent-prefill", pre_lat, True)]  # fmt: skip
    configs = [(16, 64, 4, 2), (32, 64, 4, 2), (32, 32, 4, 3), (64, 32, 8, 2), (64, 64, 8, 2), (64, 64, 8, 1),
               (64, 64, 4, 3), (64, 32, 4, 2), (128, 64, 8, 2), (128, 32, 8, 3), (128, 32, 8, 1)]  # fmt: skip
    for name, args, causal in cases:
        best = math.inf
        rows = args[0].shape[1] // args[2].shape[1] * args[0].shape[2]
        for bm, bn, warps, stages in configs:
            if bm > max(16, rows):
                continue
            try:
                fn = lambda args=args, c=causal, bm=bm, bn=bn, w=warps, st=stages: attention(  # noqa: E731
                    *args, causal=c, scale=0.1, block_m=bm, block_n=bn, num_warps=w, num_stages=st
                )
                fn()
                torch.cuda.synchronize()
                seconds = replay_seconds(capture(fn))
            except Exception as e:  # out of resources (shared memory, registers) for this shape
                print(f"tune {name} {bm}x{bn} w{warps} s{stages}: {type(e).__name__}", flush=True)
                continue
            run.row(grid="calibration", kind="tune", model=name, m=bm, n=bn, k=warps, heads=stages, seconds=seconds)
            if seconds < best * (1 - TUNE_MARGIN):
                best, BLOCKS[name] = seconds, {"block_m": bm, "block_n": bn, "num_warps": warps, "num_stages": stages}
            print(f"tune {name:>14} block {bm}x{bn} warps {warps} stages {stages}: {seconds * 1e6:9.1f} us", flush=True)


BLOCKS: dict[str, dict[str, int]] = {}
"""The fastest block shapes `tune` found per case: latent or per-head keys, decode or prefill."""


def blocks_for(k1: torch.Tensor, q1: torch.Tensor, causal: bool) -> dict[str, int]:
    case = ("latent" if k1.shape[1] == 1 and q1.shape[1] > 1 else "heads") + ("-prefill" if causal else "-decode")
    return BLOCKS.get({"latent-decode": "mla-decode", "heads-decode": "mha-decode", "heads-prefill": "expand-prefill",
                       "latent-prefill": "latent-prefill"}[case], {})  # fmt: skip


def steps(run: Runner, grid: str, decode: list[tuple[int, int]], prefill: list[tuple[int, int]]) -> None:
    for phase, points in (("decode", decode), ("prefill", prefill)):
        for batch, context in points:
            measure_step(run, grid, "mha_baseline", "mha", phase, batch, context)
            for scheme in MLA_SCHEMES:
                measure_step(run, grid, "deepseek_v3", scheme, phase, batch, context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--window", type=float, default=0.5, help="seconds of replays per energy reading")
    parser.add_argument("--quick", action="store_true", help="a few points of each kind, to smoke-test")
    parser.add_argument(
        "--settle",
        type=float,
        default=0.5,
        help="seconds of back-to-back replays before each timing (runs before 2026-12-01's third hold-out run: 0)",
    )
    parser.add_argument("--only", default="tune,kernels,attention,validation,calibration-steps")
    parser.add_argument(
        "--tuned-gemms",
        action="store_true",
        help="run the steps' GEMMs split along K where that is faster than cuBLAS's pick (matmul)",
    )
    parser.add_argument(
        "--blas",
        choices=("cublas", "cublaslt"),
        default="cublas",
        help="the library torch's GEMMs call (torch.backends.cuda.preferred_blas_library); every step row's note "
        "says it where it is cublaslt",
    )
    args = parser.parse_args()
    global TUNED_GEMMS, BLAS
    TUNED_GEMMS, BLAS = args.tuned_gemms, args.blas
    torch.backends.cuda.preferred_blas_library(args.blas)
    torch.manual_seed(0)
    run = Runner(args.out, args.window, args.quick, args.settle)
    parts = args.only.split(",")
    run.measure_idle()
    print(f"{run.device}: idle {run.idle_watts:.1f} W", flush=True)
    if "tune" in parts:
        tune(run)
    if "kernels" in parts:
        calibrate_kernels(run)
    if "validation" in parts:
        if run.quick:
            steps(run, "validation", [(1, 1024), (8, 4096)], [(1, 512)])
        else:
            decode = [(b, c) for b in (1, 8, 32, 128) for c in (1024, 4096, 16384, 32768)]
            prefill = [(b, c) for b in (1, 4) for c in (512, 2048, 8192)]
            steps(run, "validation", decode, prefill)
    if "holdout" in parts:
        # A third grid of shapes, in neither of the others (batch 4-96 x context 3k-12k, prompts 1.5k and 6k),
        # measured after every constant was fit: its rows are `validation` rows of their own CSV.
        decode = [(b, c) for b in (4, 24, 48, 96) for c in (3072, 6144)] + [(12, 12288)]
        steps(run, "validation", decode, [(3, 1536), (2, 6144)])
    if "large-batch" in parts:
        # Serving batches past the validation grid's 128 (192 and 256 x 1k-4k), where the projections' GEMMs sit
        # near the ridge (README): also `validation` rows of their own CSV, measured after every constant was fit.
        steps(run, "validation", [(192, 1024), (256, 1024), (192, 4096), (256, 2048)], [])
    if "attention" in parts:
        attention_alone(run)
    if "calibration-steps" in parts and not run.quick:
        decode = [(b, c) for b in (2, 16, 64) for c in (2048, 8192, 24576)]
        steps(run, "calibration", decode, [(2, 1024), (2, 4096)])
    run.measure_idle()
    run.file.close()


if __name__ == "__main__":
    main()
