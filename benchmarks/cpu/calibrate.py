"""Measures this CPU as IREE-compiled code runs on it, for the `host` preset (mlacc/hardware/presets/host.toml):

    python benchmarks/cpu/calibrate.py --out benchmarks/results/host_calibration_2026-12-07.csv
    python benchmarks/cpu/calibrate.py --fit benchmarks/results/host_calibration_2026-12-07.csv

Every kernel is upstream MLIR in the form convert-la-to-linalg emits (a contraction is a `linalg.generic` of
mulf/addf over a `linalg.fill`), compiled by iree-compile for this CPU and timed on one core (mlacc/host_timing.py):
- `dispatch`: chains of 1-64 tiny 8 x 8 x 8 GEMMs (each its own dispatch): the slope is the fixed time a
  dispatch adds, the intercept the fixed time of a call from Python;
- `gemm` rows of grid `compute`: fp32 GEMMs of 128-1024 rows, the MAC rate the compiled code reaches and how it
  falls with a shallow K; of grid `stream`: 1-4 rows over 4-16 MiB of weights, the weight-stream rate. The weight
  is laid out [N, K], as convert-la-to-linalg lays weights out (its default `layout=reduction-last`); grid
  `stream-dsl` times the stream shapes again over [K, N], the DSL's layout (`layout=dsl`), to show what
  the layout is worth (no constant is fit on it). GEMMs cycle over copies of their inputs larger than the L3
  together (`rotating_timer`), so they read from DRAM;
- `copy`: an elementwise x + 1 over 128 KiB-512 MiB (read and written once): each cache level's and DRAM's rate;
- `attention` rows: one decode step's attention (scores, softmax, weighted sum) over a cache of 2k-8k entries and
  the step's new entry, written in `la` and lowered by convert-la-to-linalg as a step's is (over each part where it
  lies), for each kind of kernel the model tells apart: `heads` (one key and one value a head, MHA/GQA), `heads-
  two-part` (cache-kv: keys in two parts a head) and `latent` (every head over one shared latent cache and RoPE
  key: recompute, reuse), at head counts and widths no validation layer has. IREE runs them as separate
  dispatches, not as one fused kernel: their rates are the preset's attention constants.
The whole grid is timed `--passes` times over (3), a pass after another, and the fit takes each kernel's median
over them: the machine's load moves a kernel's time by tens of percent from one minute to the next.
Cores, SIMD width, caches and memory come from /proc/cpuinfo and /sys (mlacc/host_timing.py), never from a table.
`--fit` reads a CSV back and prints the preset's measured constants with the rows they come from; it reads the
clock and the cache sizes from the machine it runs on, so run it where the CSV was measured.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlacc.host_timing import Module, ResultFile, caches, cpuinfo, device_name, read_rows, time_interleaved

FMA_PIPES = 2
"""Vector FMA pipes per core: AMD Zen 3 issues two 256-bit FMAs a cycle (FP pipes 0 and 1; Software Optimization
Guide for AMD EPYC 7003 Processors, pub. 56665, the floating-point unit); this machine reports 'AMD EPYC', family 25
model 1 (Zen 3, Milan)."""

CHAIN = (1, 8, 16, 32, 64)
COMPUTE = ((128, 1024, 1024), (256, 512, 2048), (512, 512, 512), (512, 1024, 256), (768, 768, 768),
           (1024, 1024, 128), (1024, 256, 1024), (1024, 1024, 1024))  # fmt: skip
STREAM = tuple(
    (m, n, k) for m in (1, 2, 4) for n, k in ((512, 2048), (1024, 1024), (2048, 1024), (4096, 512), (1024, 4096))
)
RESOLVED = 3
"""A copy resolves its level's rate only if it takes at least this many times a call's and a dispatch's fixed time."""
COPY_KIB = (128, 256, 4096, 8192, 131072, 524288)
"""Per tensor (in and out alike): both fit the 512 KiB L2, both the 32 MiB L3 (less than half of it), neither."""


def simd_lanes() -> int:
    """fp32 lanes of the widest vector unit /proc/cpuinfo's flags name (AVX-512: 16, AVX/AVX2: 8)."""
    flags = set(cpuinfo()["flags"].split())
    return 16 if "avx512f" in flags else 8 if "avx" in flags else 4


def clock_hz() -> float:
    """The clock /proc/cpuinfo reports ('cpu MHz': under KVM the TSC's, the only one the guest sees)."""
    return float(cpuinfo()["cpu MHz"]) * 1e6


def gemm_text(m: int, n: int, k: int, weight_nk: bool = True) -> str:
    """C[m, n] = A[m, k] B[k, n] as convert-la-to-linalg lowers a contraction: the weight B held as [N, K] (its
    default layout), or as [K, N] (`layout=dsl`, the function named `gemm_kn_...`)."""
    a, b, c = (
        f"tensor<{m}x{k}xf32>",
        f"tensor<{n}x{k}xf32>" if weight_nk else f"tensor<{k}x{n}xf32>",
        f"tensor<{m}x{n}xf32>",
    )
    name, read = (f"gemm_{m}_{n}_{k}", "(j, l)") if weight_nk else (f"gemm_kn_{m}_{n}_{k}", "(l, j)")
    return f"""
func.func @{name}(%a: {a}, %b: {b}) -> {c} {{
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : {c}
  %init = linalg.fill ins(%zero : f32) outs(%empty : {c}) -> {c}
  %r = linalg.generic {{indexing_maps = [affine_map<(i, j, l) -> (i, l)>, affine_map<(i, j, l) -> {read}>,
      affine_map<(i, j, l) -> (i, j)>], iterator_types = ["parallel", "parallel", "reduction"]}}
      ins(%a, %b : {a}, {b}) outs(%init : {c}) {{
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }} -> {c}
  return %r : {c}
}}"""


def chain_text(length: int) -> str:
    """`length` dependent 8 x 8 x 8 GEMMs: each a dispatch of its own (IREE fuses no contraction into another)."""
    t = "tensor<8x8xf32>"
    lines = [f"func.func @chain_{length}(%x0: {t}, %w: {t}) -> {t} {{", "  %zero = arith.constant 0.0 : f32"]
    for i in range(length):
        lines += [
            f"  %e{i} = tensor.empty() : {t}",
            f"  %f{i} = linalg.fill ins(%zero : f32) outs(%e{i} : {t}) -> {t}",
            f"  %x{i + 1} = linalg.matmul ins(%x{i}, %w : {t}, {t}) outs(%f{i} : {t}) -> {t}",
        ]
    return "\n".join([*lines, f"  return %x{length} : {t}", "}"])


def copy_text(kib: int) -> str:
    """y = x + 1 over `kib` KiB of fp32: one read and one write of each element."""
    t = f"tensor<{kib * 256}xf32>"
    return f"""
func.func @copy_{kib}(%x: {t}) -> {t} {{
  %one = arith.constant 1.0 : f32
  %empty = tensor.empty() : {t}
  %r = linalg.generic {{indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
      iterator_types = ["parallel"]}} ins(%x : {t}) outs(%empty : {t}) {{
  ^bb0(%v: f32, %out: f32):
    %s = arith.addf %v, %one : f32
    linalg.yield %s : f32
  }} -> {t}
  return %r : {t}
}}"""


@dataclass(frozen=True)
class AttentionShape:
    """A decode step's attention over `context` cached entries and the new one, for `batch` requests."""

    kind: str
    batch: int
    heads: int
    context: int
    widths: tuple[int, ...]
    """heads: (head dim,); heads-two-part: (key dim, RoPE dim, value dim); latent: (latent rank, RoPE dim)."""

    @property
    def name(self) -> str:
        return f"attention_{self.kind.replace('-', '_')}_{self.batch}_{self.heads}_{self.context}"

    @property
    def cache_bytes(self) -> int:
        """fp32 bytes of the caches a step reads (the cached entries and the new one)."""
        per_token = sum(self.widths) if self.kind == "latent" else self.heads * sum(self.widths)
        return 4 * self.batch * (self.context + 1) * per_token * (2 if self.kind == "heads" else 1)

    @property
    def macs(self) -> int:
        """MACs of the scores and the weighted sum."""
        keys = self.batch * self.heads * (self.context + 1)
        if self.kind == "heads":
            return keys * 2 * self.widths[0]
        if self.kind == "heads-two-part":
            return keys * sum(self.widths)
        return keys * (2 * self.widths[0] + self.widths[1])


ATTENTION = tuple(
    AttentionShape(kind, batch, heads, context, widths)
    for kind, heads, widths in (("heads", 8, (64,)), ("heads-two-part", 8, (64, 32, 64)), ("latent", 16, (256, 32)))
    for batch, context in ((2, 2048), (2, 8192), (8, 2048))
)
"""Heads and widths unlike the validated layers' (32 heads of 32, a 128 + 16 latent), contexts beside theirs."""


def attention_text(shape: AttentionShape) -> str:
    """The attention of a decode step in `la`: the queries and the new entries are arguments, each cache an
    `la.kv_load` joined with its new entry, as a lowered step reads it."""
    b, h, t, widths = shape.batch, shape.heads, shape.context, shape.widths

    def ty(*dims: int) -> str:
        return f"tensor<{'x'.join(map(str, dims))}xf32>"

    scores = ty(b, h, 1, t + 1)
    lines: list[str] = []
    args: list[str] = []

    def cache(name: str, *dims: int) -> str:
        """`name`'s cached entries joined with its new one; `dims` after batch and tokens."""
        args.append(f"%{name}_new: {ty(b, 1, *dims)}")
        lines.append(f'    %{name}_cached = la.kv_load "{name}" : {ty(b, t, *dims)}')
        lines.append(f"    %{name} = la.concat %{name}_cached, %{name}_new dim = 1 : {ty(b, t, *dims)}, "
                     f"{ty(b, 1, *dims)} -> {ty(b, t + 1, *dims)}")  # fmt: skip
        return f"%{name}"

    def einsum(result: str, spec: str, lhs: tuple[str, str], rhs: tuple[str, str], out: str) -> None:
        lines.append(f'    %{result} = la.einsum "{spec}" {lhs[0]}, {rhs[0]} : {lhs[1]}, {rhs[1]} -> {out}')

    if shape.kind == "latent":
        c, p = widths
        queries = [f"%q: {ty(b, 1, h, c)}", f"%q_pe: {ty(b, 1, h, p)}"]
        latent, rope = cache("latent", c), cache("rope_key", p)
        einsum("s_nope", "bshc,btc->bhst", ("%q", ty(b, 1, h, c)), (latent, ty(b, t + 1, c)), scores)
        einsum("s_pe", "bshp,btp->bhst", ("%q_pe", ty(b, 1, h, p)), (rope, ty(b, t + 1, p)), scores)
        values, value_type, out, spec = latent, ty(b, t + 1, c), ty(b, h, 1, c), "bhst,btc->bhsc"
    elif shape.kind == "heads-two-part":
        n, p, v = widths
        queries = [f"%q: {ty(b, 1, h, n)}", f"%q_pe: {ty(b, 1, h, p)}"]
        keys, rope, values = cache("k_nope", h, n), cache("rope_key", h, p), cache("value", h, v)
        einsum("s_nope", "bshn,bthn->bhst", ("%q", ty(b, 1, h, n)), (keys, ty(b, t + 1, h, n)), scores)
        einsum("s_pe", "bshp,bthp->bhst", ("%q_pe", ty(b, 1, h, p)), (rope, ty(b, t + 1, h, p)), scores)
        value_type, out, spec = ty(b, t + 1, h, v), ty(b, 1, h, v), "bhst,bthv->bshv"
    else:
        (d,) = widths
        queries = [f"%q: {ty(b, 1, h, d)}"]
        keys, values = cache("key", h, d), cache("value", h, d)
        einsum("s", "bshd,bthd->bhst", ("%q", ty(b, 1, h, d)), (keys, ty(b, t + 1, h, d)), scores)
        value_type, out, spec = ty(b, t + 1, h, d), ty(b, 1, h, d), "bhst,bthd->bshd"
    if shape.kind != "heads":
        lines.append(f"    %s = la.add %s_nope, %s_pe : {scores}")
    lines.append(f"    %probs = la.softmax %s scale = 1.250000e-01 : {scores}")
    einsum("o", spec, ("%probs", scores), (values, value_type), out)
    body = "\n".join([*lines, f"    func.return %o : {out}"])
    return f"  func.func @{shape.name}({', '.join(queries + args)}) -> {out} {{\n{body}\n  }}"


def lowered_attention() -> tuple[str, dict[str, list[tuple[int, ...]]]]:
    """Every ATTENTION kernel lowered by convert-la-to-linalg: the text of their functions, and each one's
    argument shapes (queries, new entries, then the caches)."""
    from xdsl.dialects import func
    from xdsl.dialects.builtin import TensorType
    from xdsl.parser import Parser

    from mlacc.pipeline import make_context
    from passes.convert_la_to_linalg import ConvertLaToLinalgPass

    ctx = make_context()
    text = "\n".join(map(attention_text, ATTENTION))
    module = Parser(ctx, f"builtin.module {{\n{text}\n}}").parse_module()
    ConvertLaToLinalgPass().apply(ctx, module)
    functions = [f for f in module.ops if isinstance(f, func.FuncOp)]
    shapes = {
        f.sym_name.data: [tuple(t.get_shape()) for t in f.function_type.inputs.data if isinstance(t, TensorType)]
        for f in functions
    }
    return "\n".join(str(f) for f in functions), shapes


def measure(out: str, repeats: int, passes: int, command: str) -> None:
    rng = np.random.default_rng(0)
    shapes = [(m, n, k) for m, n, k in (*COMPUTE, *STREAM)]
    gemms = [*(gemm_text(*s) for s in shapes), *(gemm_text(*s, weight_nk=False) for s in STREAM)]
    attention, attention_shapes = lowered_attention()
    text = "\n".join([*(chain_text(n) for n in CHAIN), *gemms, *map(copy_text, COPY_KIB), attention])
    module = Module(f"module {{\n{text}\n}}")
    result = ResultFile(out, device_name(), command)
    for _ in range(passes):
        measure_pass(module, result, attention_shapes, repeats, rng)
    result.close()


def measure_pass(
    module: Module,
    result: ResultFile,
    attention_shapes: dict[str, list[tuple[int, ...]]],
    repeats: int,
    rng: np.random.Generator,
) -> None:
    """One pass over every kernel, a row each."""
    tiny = [rng.standard_normal((8, 8), dtype=np.float32) * 0.1 for _ in range(2)]
    # three times the repeats: a chain's few microseconds are the noisiest rows
    chains = time_interleaved({str(n): module.timer(f"chain_{n}", tiny) for n in CHAIN}, 3 * repeats)
    for n, timing in chains.items():
        result.timing(timing, grid="dispatch", kind="dispatch", m=8, n=8, k=8, heads=n, flops=2 * 512 * int(n),
                      note=f"{n} dependent 8x8x8 GEMMs (the heads column)")  # fmt: skip
    # copies before the GEMMs: once the rotated GEMM inputs are freed, the caching allocator no longer keeps a
    # 512 MiB output for the next call (a run in the other order read 2.6 GB/s of page faults for 18 GB/s)
    for kib in COPY_KIB:
        x = rng.standard_normal(kib * 256, dtype=np.float32)
        (timing,) = time_interleaved({"": module.timer(f"copy_{kib}", [x])}, repeats).values()
        result.timing(timing, grid="memory", kind="copy", bytes=2 * kib * 1024, note=f"{kib} KiB in, {kib} KiB out")
    for grid, grid_shapes in (("compute", COMPUTE), ("stream", STREAM)):
        for m, n, k in grid_shapes:
            # the stream grid times each shape in both layouts round-robin, so the machine's load reaches both alike
            layouts = {"": True, "-dsl": False} if grid == "stream" else {"": True}
            calls = {}
            for suffix, nk in layouts.items():

                def draw(m: int = m, n: int = n, k: int = k, nk: bool = nk) -> list[np.ndarray]:
                    weight = (n, k) if nk else (k, n)
                    return [
                        rng.standard_normal((m, k), dtype=np.float32),
                        rng.standard_normal(weight, dtype=np.float32),
                    ]

                calls[suffix] = module.rotating_timer(f"gemm{'' if nk else '_kn'}_{m}_{n}_{k}", draw)
            for suffix, timing in time_interleaved(calls, repeats).items():
                layout = "weight [N, K]" if layouts[suffix] else "weight [K, N] (layout=dsl)"
                result.timing(timing, grid=grid + suffix, kind="gemm", m=m, n=n, k=k, flops=2 * m * n * k,
                              bytes=4 * (m * k + k * n + m * n), note=layout)  # fmt: skip
    for shape in ATTENTION:

        def inputs(shapes: list[tuple[int, ...]] = attention_shapes[shape.name]) -> list[np.ndarray]:
            return [rng.standard_normal(dims, dtype=np.float32) for dims in shapes]

        (timing,) = time_interleaved({"": module.rotating_timer(shape.name, inputs)}, repeats).values()
        result.timing(timing, grid="attention", kind="attention", model=shape.kind, batch=shape.batch,
                      context=shape.context, new_tokens=1, heads=shape.heads, bytes=shape.cache_bytes,
                      flops=2 * shape.macs, note=f"widths {'+'.join(map(str, shape.widths))}")  # fmt: skip


@dataclass(frozen=True)
class Line:
    """seconds = intercept + slope x value, by least squares."""

    intercept: float
    slope: float
    worst: float
    """The largest |fit / measured - 1| over the rows."""

    @staticmethod
    def fit(x: list[float], seconds: list[float]) -> Line:
        slope, intercept = np.polyfit(x, seconds, 1)
        worst = max(abs((intercept + slope * v) / s - 1) for v, s in zip(x, seconds, strict=True))
        return Line(float(intercept), float(slope), worst)


KEY = ("grid", "kind", "model", "batch", "context", "m", "n", "k", "heads", "bytes")
"""The columns that name a kernel: rows alike in them are passes over one kernel."""


def median_over_passes(rows: list[dict[str, str]]) -> tuple[list[dict[str, str]], int, float]:
    """One row per kernel, its seconds the median over the passes that timed it; the number of passes, and the
    median over kernels of how far the passes put each apart ((slowest - fastest) / median)."""
    runs: dict[tuple[str, ...], list[dict[str, str]]] = {}
    for row in rows:
        runs.setdefault(tuple(row[k] for k in KEY), []).append(row)
    merged, apart = [], []
    for same in runs.values():
        seconds = [float(r["seconds"]) for r in same]
        median = statistics.median(seconds)
        merged.append({**same[0], "seconds": str(median)})
        apart.append((max(seconds) - min(seconds)) / median)
    passes = max((len(same) for same in runs.values()), default=0)
    return merged, passes, statistics.median(apart) if apart else 0.0


def fit(path: str) -> str:
    """The host preset's measured constants, as TOML lines whose comments say which rows and fit gave them."""
    rows, passes, apart = median_over_passes(read_rows(path, ("dispatch", "gemm", "copy", "attention")))
    if not rows:
        raise SystemExit(f"error: {path} has no dispatch, gemm or copy rows")
    name = Path(path).name
    hz = clock_hz()
    lines: list[str] = []

    def rows_of(kind: str, grid: str | None = None) -> list[dict[str, str]]:
        return [r for r in rows if r["kind"] == kind and grid in (None, r["grid"])]

    dispatch = rows_of("dispatch")
    chain = Line.fit([float(r["heads"]) for r in dispatch], [float(r["seconds"]) for r in dispatch])
    call = chain.intercept
    lines.append(
        f"op_latency_cycles = {chain.slope * hz:.0f}   # measured: {chain.slope * 1e6:.2f} us a dispatch, the slope of "
        f"{len(dispatch)} chains of 1-64 dependent 8x8x8 GEMMs ({name}, kind=dispatch; fit within "
        f"{chain.worst:.1%}); the intercept, {call * 1e6:.1f} us, is a call from Python, once a step"
    )
    lines.append(
        f"contraction_latency_cycles = {chain.slope * hz:.0f}   # measured: the same slope (those dispatches are "
        "contractions; IREE fuses elementwise ops into their neighbours' dispatches)"
    )

    copies = rows_of("copy")
    levels = [c for c in caches() if c.kind != "Instruction"]
    bandwidths: list[str] = []
    dram = math.nan
    for cache in [*levels, None]:
        limit = cache.bytes if cache else math.inf
        inner = max((c.bytes for c in levels if cache is None or c.level < cache.level), default=0)
        mine = [r for r in copies if inner < float(r["bytes"]) <= limit]
        if not mine:
            continue
        fixed = call + chain.slope
        level = f"l{cache.level}" if cache else "dram"
        sizes = "/".join(f"{int(r['bytes']) >> 11}" for r in mine)
        if any(float(r["seconds"]) < RESOLVED * fixed for r in mine):
            bandwidths.append(f"{level}: not resolved: copies of {sizes} KiB take under {RESOLVED} x the "
                              f"{fixed * 1e6:.1f} us a call and its dispatch take")  # fmt: skip
            continue
        rate = statistics.median(float(r["bytes"]) / (float(r["seconds"]) - fixed) for r in mine)
        # a cache reads and writes through separate ports (the model takes the larger): a copy's time is its reads'
        # at rate / 2; off chip reads and writes share the bus, so the copy's time is all its bytes at the rate
        per_port = rate / 2 if cache else rate
        bandwidths.append(
            f"{level}: read_bandwidth_bytes_per_cycle = {per_port / hz:.2f}   # measured: {per_port / 1e9:.2f} GB/s, "
            f"median of copies of {sizes} KiB in and out ({name}, kind=copy), less the call and dispatch times above"
        )
        dram = per_port

    def stream_rates(grid: str) -> list[tuple[float, dict[str, str]]]:
        return [
            (4 * int(r["n"]) * int(r["k"]) / (float(r["seconds"]) - call - chain.slope), r)
            for r in rows_of("gemm", grid)
        ]

    def shape(row: dict[str, str]) -> str:
        return f"{row['m']} x {row['n']} x {row['k']}"

    stream = stream_rates("stream")
    stream_rate = statistics.median(rate for rate, _ in stream)
    slowest, fastest = min(stream, key=lambda x: x[0]), max(stream, key=lambda x: x[0])
    lines.append(
        f"memory = {stream_rate / dram:.3f}   # measured: weight-stream rate {stream_rate / 1e9:.2f} GB/s / the DRAM "
        f"rate above, median of {len(stream)} GEMMs of 1-4 rows over 4-16 MiB of fp32 weights laid out [N, K] from "
        f"DRAM ({name}, grid=stream) less the call and dispatch times: range {slowest[0] / 1e9:.2f} GB/s "
        f"(M x N x K {shape(slowest[1])}) to {fastest[0] / 1e9:.2f} ({shape(fastest[1])})"
    )
    dsl = stream_rates("stream-dsl")
    if dsl:
        dsl_rates = [rate for rate, _ in dsl]
        dsl_rate = statistics.median(dsl_rates)
        lines.append(
            f"# not fit: the same GEMMs over [K, N] (layout=dsl, grid=stream-dsl) stream at "
            f"{dsl_rate / 1e9:.2f} GB/s (median; {min(dsl_rates) / 1e9:.2f}-{max(dsl_rates) / 1e9:.2f}): [N, K]'s "
            f"median is {stream_rate / dsl_rate:.2f}x theirs"
        )

    compute = rows_of("gemm", "compute")
    peak = hz * FMA_PIPES * simd_lanes()
    fractions = [
        int(r["m"]) * int(r["n"]) * int(r["k"]) / (float(r["seconds"]) - call - chain.slope) / peak for r in compute
    ]
    slices = [math.ceil(int(r["k"]) / 64) for r in compute]
    inverse = Line.fit([1 / s for s in slices], [1 / f for f in fractions])
    efficiency, epilogue = 1 / inverse.intercept, inverse.slope / inverse.intercept
    if epilogue < 0:  # no measurable cost of a shallow K: one rate for every K
        efficiency, epilogue = statistics.median(fractions), 0.0
    lines.append(
        f"compute = {efficiency:.3f}   # measured: MAC rate / peak ({peak / 1e9:.1f} GMAC/s: {FMA_PIPES} FMA pipes x "
        f"{simd_lanes()} lanes x {hz / 1e9:.3f} GHz) of {len(compute)} fp32 GEMMs of 128-1024 rows ({name}, "
        f"grid=compute), {'fit with the line below; median' if epilogue > 0 else 'their median'} "
        f"{statistics.median(fractions):.3f}, "
        f"range {min(fractions):.3f}-{max(fractions):.3f}"
    )
    if epilogue > 0:
        lines.append(
            f"epilogue_slices = {epilogue:.2f}   # measured: the same fit, 1 / rate = (1 + epilogue / slices) / "
            "compute over K slices of 64"
        )
    else:
        lines.append("epilogue_slices: left at its default 0 (the line in 1 / K slices came out with a negative slope)")
    attention = rows_of("attention")
    fixed = call + chain.slope

    def per_kind(kind: str, rate: Callable[[dict[str, str]], float]) -> tuple[float, str]:
        values = [rate(r) for r in attention if r["model"] == kind]
        return statistics.median(values), f"range {min(values):.3f}-{max(values):.3f} over {len(values)} rows"

    for kind, key in (("heads", "attention_memory"), ("heads-two-part", "attention_two_part_memory")):
        if any(r["model"] == kind for r in attention):
            value, spread = per_kind(kind, lambda r: float(r["bytes"]) / (float(r["seconds"]) - fixed) / dram)
            lines.append(
                f"{key} = {value:.3f}   # measured: cache bytes / time / the DRAM rate of {kind} decode attention "
                f"(scores, softmax, weighted sum as convert-la-to-linalg lowers them; {name}, kind=attention), "
                f"median, {spread}"
            )
    if any(r["model"] == "latent" for r in attention):
        value, spread = per_kind("latent", lambda r: float(r["flops"]) / 2 / (float(r["seconds"]) - fixed) / peak)
        for key in ("attention_decode_compute", "attention_decode_unsplit_compute"):
            lines.append(
                f"{key} = {value:.3f}   # measured: MAC rate / peak of latent decode attention (every head over one "
                f"latent cache; {name}, kind=attention), median, {spread}"
            )
    header = [
        f"# {path}: {device_name()}; clock {hz / 1e9:.3f} GHz, {simd_lanes()} fp32 lanes, {FMA_PIPES} FMA pipes",
        f"# each kernel's median over {passes} passes (the passes put a kernel {apart:.1%} apart at the median)",
    ]
    return "\n".join([*header, *bandwidths, *lines]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", metavar="CSV", help="measure, writing rows to CSV, then print the fit")
    parser.add_argument("--fit", metavar="CSV", help="print the fit of a CSV written before")
    parser.add_argument("--repeats", type=int, default=7, help="timed samples per kernel (default 7)")
    parser.add_argument("--passes", type=int, default=3,
                        help="time every kernel this many times over, a pass after another; the fit takes each "
                        "kernel's median over them (default 3)")  # fmt: skip
    args = parser.parse_args(argv)
    if bool(args.out) == bool(args.fit):
        parser.error("give one of --out and --fit")
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")
    if args.out:
        measure(args.out, args.repeats, max(1, args.passes), " ".join(["python", *sys.argv]))
    sys.stdout.write(fit(args.out or args.fit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
