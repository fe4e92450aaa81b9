"""Measures this CPU as IREE-compiled code runs on it, for the `host` preset (mlacc/hardware/presets/host.toml):

    python benchmarks/cpu/calibrate.py --out benchmarks/results/host_calibration_2026-12-07.csv
    python benchmarks/cpu/calibrate.py --fit benchmarks/results/host_calibration_2026-12-07.csv

Every kernel is upstream MLIR in the form convert-la-to-linalg emits (a contraction is a `linalg.generic` of
mulf/addf over a `linalg.fill`), compiled by iree-compile for this CPU and timed on one core (mlacc/host_timing.py):
- `dispatch`: chains of 1-64 tiny 8 x 8 x 8 GEMMs (each its own dispatch): the slope is the fixed time a
  dispatch adds, the intercept the fixed time of a call from Python;
- `gemm` rows of grid `compute`: fp32 GEMMs of 128-1024 rows, the MAC rate the compiled code reaches and how it
  falls with a shallow K; of grid `stream`: 1-4 rows over 4-16 MiB of weights, the weight-stream rate. GEMMs
  cycle over copies of their inputs larger than the L3 together (`rotating_timer`), so they read from DRAM;
- `copy`: an elementwise x + 1 over 128 KiB-512 MiB (read and written once): each cache level's and DRAM's rate.
Cores, SIMD width, caches and memory come from /proc/cpuinfo and /sys (mlacc/host_timing.py), never from a table.
`--fit` reads a CSV back and prints the preset's measured constants with the rows they come from; it reads the
clock and the cache sizes from the machine it runs on, so run it where the CSV was measured.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
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


def gemm_text(m: int, n: int, k: int) -> str:
    """C[m, n] = A[m, k] B[k, n] as convert-la-to-linalg lowers a contraction."""
    a, b, c = f"tensor<{m}x{k}xf32>", f"tensor<{k}x{n}xf32>", f"tensor<{m}x{n}xf32>"
    return f"""
func.func @gemm_{m}_{n}_{k}(%a: {a}, %b: {b}) -> {c} {{
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : {c}
  %init = linalg.fill ins(%zero : f32) outs(%empty : {c}) -> {c}
  %r = linalg.generic {{indexing_maps = [affine_map<(i, j, l) -> (i, l)>, affine_map<(i, j, l) -> (l, j)>,
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


def measure(out: str, repeats: int, command: str) -> None:
    rng = np.random.default_rng(0)
    shapes = [(m, n, k) for m, n, k in (*COMPUTE, *STREAM)]
    text = "\n".join([*(chain_text(n) for n in CHAIN), *(gemm_text(*s) for s in shapes), *map(copy_text, COPY_KIB)])
    module = Module(f"module {{\n{text}\n}}")
    result = ResultFile(out, device_name(), command)
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

            def draw(m: int = m, n: int = n, k: int = k) -> list[np.ndarray]:
                return [rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)]

            call = module.rotating_timer(f"gemm_{m}_{n}_{k}", draw)
            (timing,) = time_interleaved({"": call}, repeats).values()
            result.timing(timing, grid=grid, kind="gemm", m=m, n=n, k=k, flops=2 * m * n * k,
                          bytes=4 * (m * k + k * n + m * n))  # fmt: skip
    result.close()


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


def fit(path: str) -> str:
    """The host preset's measured constants, as TOML lines whose comments say which rows and fit gave them."""
    rows = read_rows(path, ("dispatch", "gemm", "copy"))
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

    stream = rows_of("gemm", "stream")
    stream_rates = [4 * int(r["n"]) * int(r["k"]) / (float(r["seconds"]) - call - chain.slope) for r in stream]
    stream_rate = statistics.median(stream_rates)
    lines.append(
        f"memory = {stream_rate / dram:.3f}   # measured: weight-stream rate {stream_rate / 1e9:.2f} GB/s / the DRAM "
        f"rate above, median of {len(stream)} GEMMs of 1-4 rows over 4-16 MiB of fp32 weights from DRAM ({name}, "
        f"grid=stream) less the call and dispatch times: range {min(stream_rates) / 1e9:.2f}-"
        f"{max(stream_rates) / 1e9:.2f} GB/s (the slowest K = 4096)"
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
    header = [f"# {path}: {device_name()}; clock {hz / 1e9:.3f} GHz, {simd_lanes()} fp32 lanes, {FMA_PIPES} FMA pipes"]
    return "\n".join([*header, *bandwidths, *lines]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", metavar="CSV", help="measure, writing rows to CSV, then print the fit")
    parser.add_argument("--fit", metavar="CSV", help="print the fit of a CSV written before")
    parser.add_argument("--repeats", type=int, default=7, help="timed samples per kernel (default 7)")
    args = parser.parse_args(argv)
    if bool(args.out) == bool(args.fit):
        parser.error("give one of --out and --fit")
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")
    if args.out:
        measure(args.out, args.repeats, " ".join(["python", *sys.argv]))
    sys.stdout.write(fit(args.out or args.fit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
