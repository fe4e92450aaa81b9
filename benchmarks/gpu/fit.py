"""Fits a GPU preset's measured constants from the calibration rows of a benchmarks/gpu/measure.py CSV.

    python benchmarks/gpu/fit.py benchmarks/results/h100_2026-11-24.csv --peak-tflops 989.4 --hbm-tbs 3.35

Prints the [efficiency] and energy lines for the preset, each with the rows it came from. Only
calibration rows are read (never the validation grid), so `mlacc validate` judges the fit on shapes
it did not see. Runs anywhere (numpy only).
"""

from __future__ import annotations

import argparse
import csv
import statistics

import numpy as np

CLOCK = 1.83e9  # the presets' derived boost clock (h100.toml)
UNIT_TILE = (128, 256)  # an SM's output tile in the cost model (passes/cost/gemm.py unit_tile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv")
    parser.add_argument("--peak-tflops", type=float, required=True, help="datasheet dense bf16")
    parser.add_argument("--hbm-tbs", type=float, required=True, help="datasheet HBM bandwidth")
    args = parser.parse_args()
    rows = [r for r in csv.DictReader(open(args.csv)) if r["grid"] == "calibration" and r["status"] == "ok"]
    peak, hbm = args.peak_tflops * 1e12, args.hbm_tbs * 1e12

    def kind(k: str) -> list[dict[str, str]]:
        return [r for r in rows if r["kind"] == k]

    def f(r: dict[str, str], key: str) -> float:
        return float(r[key]) if r[key] else 0.0

    gemms = kind("gemm")
    gemv = [r for r in gemms if f(r, "m") <= 16 and f(r, "n") * f(r, "k") >= 16384 * 7168]
    memory = statistics.median(f(r, "bytes") / f(r, "seconds") / hbm for r in gemv)
    big = [r for r in gemms if f(r, "m") >= 4096]
    compute = statistics.median(f(r, "flops") / f(r, "seconds") / peak for r in big)
    tiny = kind("tiny")[0]
    attention = kind("attention")
    mha_decode = [r for r in attention if r["model"] == "mha" and r["phase"] == "decode" and f(r, "batch") >= 16]
    heavy = [r for r in attention if r["model"] != "mha" and f(r, "batch") * f(r, "context") >= 64 * 8191]
    heavy += [r for r in attention if r["phase"] == "prefill"]
    l2 = kind("l2read")[0]
    print(f"compute = {compute:.3f}     # median of {len(big)} bf16 GEMMs with M >= 4096 / peak")
    print(f"memory = {memory:.3f}      # median of {len(gemv)} GEMVs (M <= 16) over >= 235 MB of weights / datasheet")
    print(f"op_latency_cycles = {f(tiny, 'seconds') * CLOCK:.0f}   # {f(tiny, 'seconds') * 1e6:.2f} us per tiny op")
    print(f"attention_memory = {statistics.median(f(r, 'bytes') / f(r, 'seconds') / hbm for r in mha_decode):.3f}")
    print(f"attention_compute = {statistics.median(f(r, 'flops') / f(r, 'seconds') / peak for r in heavy):.3f}")
    print(f"l2 read_bandwidth_bytes_per_cycle = {f(l2, 'bytes') / f(l2, 'seconds') / CLOCK:.0f}")

    # Energy: board joules = static W x seconds + pJ/B x HBM bytes (+ pJ/MAC x MACs), least squares on
    # rows that barely compute (idle, tiny ops, copies, GEMVs, norms), relative to each row's energy.
    light = kind("idle") + kind("tiny") + kind("copy") + kind("rmsnorm") + kind("rope") + gemv
    a = np.array([[f(r, "seconds") / f(r, "joules"), f(r, "bytes") / f(r, "joules")] for r in light])
    (static, per_byte), *_ = np.linalg.lstsq(a, np.ones(len(light)), rcond=None)
    l2_pj = (f(l2, "joules") - static * f(l2, "seconds")) / f(l2, "bytes") * 1e12
    macs = []
    for r in big:
        m, n, k = f(r, "m"), f(r, "n"), f(r, "k")
        l2_bytes = 2 * (m * k * np.ceil(n / UNIT_TILE[1]) + k * n * np.ceil(m / UNIT_TILE[0]))
        dynamic = f(r, "joules") - static * f(r, "seconds") - per_byte * f(r, "bytes") - l2_pj * 1e-12 * l2_bytes
        macs.append(dynamic / (f(r, "flops") / 2) * 1e12)
    idle = f(kind("idle")[0], "joules") / 3
    print(f"static_power_watts = {static:.1f}   # fit over {len(light)} light rows (idle {idle:.0f} W)")
    print(f"hbm read/write energy = {per_byte * 1e12:.1f} pJ per byte moved (fit)")
    print(f"l2 energy = {l2_pj:.2f} pJ/B   # L2-resident sweep")
    print(f"bf16 mac = {statistics.median(macs):.3f} pJ   # median of {len(big)} GEMMs, after static, HBM and L2")


if __name__ == "__main__":
    main()
