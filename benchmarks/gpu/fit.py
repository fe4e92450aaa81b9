"""Fits a GPU preset's measured constants from the calibration rows of a benchmarks/gpu/measure.py CSV.

    python benchmarks/gpu/fit.py benchmarks/results/h100_2026-11-24.csv --peak-tflops 989.4 --hbm-tbs 3.35 --preset h100
    python benchmarks/gpu/fit.py benchmarks/results/h200_2026-11-24.csv --peak-tflops 989.4 --hbm-tbs 4.8 \
        --preset h200 \
        --kernels benchmarks/results/h200_kernels_2026-11-30.csv benchmarks/results/h200_decode_kernels_2026-11-30.csv \
        benchmarks/results/h200_head_many_2026-11-30.csv benchmarks/results/h200_head_few_2026-11-30.csv \
        benchmarks/results/h200_expand_short_2026-11-30.csv benchmarks/results/h200_head16_2026-12-01.csv \
        --clock benchmarks/results/h200_duty_2026-11-30.csv benchmarks/results/h200_duty_mix_2026-11-30.csv \
        --profiles benchmarks/results/h200_profile_gaps_2026-11-30.csv

Prints the [efficiency] and energy lines for the preset, each with the rows it came from. Only
calibration rows are read (never the validation grid), so `mlacc validate` judges the fit on shapes
it did not see. Runs anywhere (numpy and mlacc).
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import statistics

import numpy as np

from costmodel import Gemm, Machine
from costmodel.attention import flash_programs, flash_splits, in_flight_share, list_makespan
from costmodel.clock import balanced_clock
from costmodel.gemm_library import library_splits_k
from mlacc.energy_fit import fit_energy, gemm_estimate
from mlacc.hardware import load_hardware
from mlacc.validate import SMALL_KERNELS, read_profile

CLOCK = 1.83e9  # the presets' derived boost clock (h100.toml)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv")
    parser.add_argument("--peak-tflops", type=float, required=True, help="datasheet dense bf16")
    parser.add_argument("--hbm-tbs", type=float, required=True, help="datasheet HBM bandwidth")
    parser.add_argument("--preset", required=True, help="the preset whose traffic model the energies are fit to")
    parser.add_argument("--kernels", nargs="+", help="kernel_grid.py CSVs: fit the flash programs' constants")
    parser.add_argument("--clock", nargs="+", help="kernel_grid.py duty and duty-mix CSVs: fit the step clock's power")
    parser.add_argument("--profiles", nargs="+", help="profile_step.py --graph CSVs with step_seconds: fit op_latency")
    args = parser.parse_args()
    rows = [r for r in csv.DictReader(open(args.csv)) if r["grid"] == "calibration" and r["status"] == "ok"]
    peak, hbm = args.peak_tflops * 1e12, args.hbm_tbs * 1e12

    def kind(k: str) -> list[dict[str, str]]:
        return [r for r in rows if r["kind"] == k]

    def f(r: dict[str, str], key: str) -> float:
        return float(r[key]) if r[key] else 0.0

    gemms = kind("gemm")
    big = [r for r in gemms if f(r, "m") >= 4096]
    # Big GEMMs: seconds x peak / FLOPs = (1 + epilogue / slices) / compute, with slices = K / 64 per output
    # tile (costmodel/gemm_library.py compute_efficiency): a line in 1 / slices.
    per_slice, mainloop = np.polyfit(
        [1 / math.ceil(f(r, "k") / 64) for r in big], [f(r, "seconds") * peak / f(r, "flops") for r in big], 1
    )
    compute, epilogue = 1 / mainloop, per_slice / mainloop
    tiny = kind("tiny")[0]
    attention = kind("attention")
    mha_decode = [r for r in attention if r["model"] == "mha" and r["phase"] == "decode" and f(r, "batch") >= 16]
    prefill = [r for r in attention if r["phase"] == "prefill"]
    l2 = kind("l2read")[0]
    # Skinny GEMMs (M <= 16) and per-head batched ones are weight streams: seconds = latency + bytes / rate, plus
    # the kernel that sums the partial results where the library splits K (costmodel/gemm_library.py
    # `library_splits_k`), by relative least squares.
    skinny = [r for r in gemms + kind("bmm") if f(r, "m") <= 16]
    machine = Machine.of(load_hardware(args.preset))
    units = machine.units
    split = [bool(library_splits_k_of(units, r)) for r in skinny]
    seconds = np.array([f(r, "seconds") for r in skinny])
    columns = np.array([[1.0, f(r, "bytes"), s] for r, s in zip(skinny, split, strict=True)])
    (intercept, slope, reduce), *_ = np.linalg.lstsq(columns / seconds[:, None], np.ones_like(seconds), rcond=None)
    errors = np.abs(columns @ [intercept, slope, reduce] / seconds - 1)
    print(
        f"memory = {1 / slope / hbm:.3f}   # weight-stream rate of {len(skinny)} GEMMs with M <= 16 (fit) / datasheet, "
        f"|error| median {np.median(errors):.1%}, max {errors.max():.1%}"
    )
    print(
        f"contraction_latency_cycles = {intercept * CLOCK:.0f}   # {intercept * 1e6:.2f} us, the same fit's intercept"
    )
    print(
        f"split_k_latency_cycles = {reduce * CLOCK:.0f}   # {reduce * 1e6:.2f} us, the same fit: {sum(split)} of them "
        "split K"
    )
    # Stores: the per-head batched GEMMs with M >= 64 write outputs up to 3x their reads; with the latency, read
    # rate and split-K kernel above, the write rate that fits them best (relative least squares, one unknown).
    stores = [r for r in kind("bmm") if f(r, "m") >= 64]
    fixed, written = [], []
    for r in stores:
        est = gemm_estimate(machine, r)
        reads, writes = est.read_bytes[machine.dram.name], est.write_bytes[machine.dram.name]
        fixed.append(intercept + slope * reads + reduce * library_splits_k_of(units, r))
        written.append(writes)
    per_byte = np.array(written) / np.array([f(r, "seconds") for r in stores])
    share = np.array(fixed) / np.array([f(r, "seconds") for r in stores])
    inverse_rate = float(np.sum(per_byte * (1 - share)) / np.sum(per_byte**2))
    errors = np.abs(share + per_byte * inverse_rate - 1)
    print(
        f"memory_write = {1 / inverse_rate / hbm:.3f}   # store rate of {len(stores)} per-head batched GEMMs with "
        f"M >= 64 (fit) / datasheet, |error| median {np.median(errors):.1%}, max {errors.max():.1%}"
    )
    print(f"compute = {compute:.3f}     # mainloop rate of {len(big)} bf16 GEMMs with M >= 4096 / peak (fit)")
    print(f"epilogue_slices = {epilogue:.2f}   # the same fit: a tile's write-out in K slices of 64")
    if args.profiles:
        fit_op_latency(args.profiles)
    else:
        print(f"op_latency_cycles = {f(tiny, 'seconds') * CLOCK:.0f}   # {f(tiny, 'seconds') * 1e6:.2f} us per tiny op")
    if args.kernels:
        fit_flash_programs(args.kernels, peak, hbm, machine)
    else:
        print(f"attention_memory = {statistics.median(f(r, 'bytes') / f(r, 'seconds') / hbm for r in mha_decode):.3f}")
        print(f"attention_compute = {statistics.median(f(r, 'flops') / f(r, 'seconds') / peak for r in prefill):.3f}")
    print(f"l2 read_bandwidth_bytes_per_cycle = {f(l2, 'bytes') / f(l2, 'seconds') / CLOCK:.0f}")
    if args.clock:
        fit_clock(args.clock)

    energy = fit_energy(rows, machine, args.preset)
    idle = f(kind("idle")[0], "joules") / 3
    l2_name, hbm_name = machine.levels[-2].name, machine.dram.name
    print(f"static_power_watts = {energy['static_watts']:.1f}   # median power of the idle / tiny-op rows "
          f"(idle {idle:.0f} W)")  # fmt: skip
    print(f"{l2_name} energy = {energy['l2_pj'] * 1e12:.2f} pJ/B   # L2 sweep less static power")
    print(f"{hbm_name} energy = {energy['hbm_pj'] * 1e12:.2f} pJ/B   # median of {energy['streams']:.0f} copies, norms "
          "and GEMVs over 16 MiB")  # fmt: skip
    print(f"bf16 mac = {energy['mac_pj'] * 1e12:.3f} pJ   # median of {len(big)} GEMMs with M >= 4096, after the above")
    print(f"attention_mac_energy_ratio = {energy['attention_ratio']:.2f}   # median of {energy['heavy']:.0f} "
          "compute-heavy attention rows")  # fmt: skip


def fit_flash_programs(paths: list[str], peak: float, hbm: float, machine: Machine) -> None:
    """`attention_compute`, `attention_decode_compute`, `attention_decode_unsplit_compute`,
    `attention_program_keys` and `attention_split_cycles` from kernel_grid.py CSVs.

    The combine of S splits reads the fp32 partials at the kernel's HBM rate (the preset's
    `attention_memory`) and then takes S x split_cycles: the median of that residual per split, on the
    `latent-split` kernels timed with and without it.
    A flash program over K keys takes (K + program_keys) x its per-key work / (the SM's peak x its kernel's
    mainloop rate) (costmodel/gemm_library.py compute_efficiency). A causal prefill kernel takes as many of those as
    it has waves of programs; the decode kernel, as the steps launch it (`latent-default`: its own splits,
    the last one short), as long as its busiest SM's list of programs (`list_makespan`), plus its combine.
    Four rates, one per compiled kernel (causal prefill: the latent and MHA kernels, whose rates fit apart
    agree within 1%, and the per-head kernel whose keys come in two parts, 10% faster; split decode; unsplit
    decode), fit by relative least squares at each program_keys; program_keys is the one that fits the
    decode rows best, since there batch, context and splits set keys per program apart from the rest.
    Decode rows whose key count is a multiple of 16 are left out: Triton compiles the kernel for them apart
    and it runs 8% faster there (part `divisibility`), where the steps' contexts (and most of a server's)
    are not.
    """
    all_rows = [r for p in paths for r in csv.DictReader(open(p)) if r["grid"] == "calibration" and r["status"] == "ok"]
    units, per_sm = machine.units, peak / machine.units
    by_point = {(r["batch"], r["context"], r["splits"], r["combine"]): float(r["seconds"])
                for r in all_rows if r["kind"] == "latent-split"}  # fmt: skip
    per_split = []
    for (b, t, s, combine), total in by_point.items():
        if combine == "1" and int(s) > 1:
            partial = int(b) * int(s) * 128 * C_VALUE * 4
            alone = total - by_point[(b, t, s, "0")] - partial / (hbm * machine.attention_memory_efficiency)
            per_split.append(alone / int(s))
    split_seconds = statistics.median(per_split)

    prefill_rows = [r for r in all_rows if r["kind"] == "prefill-attention"]
    decode_rows = [r for r in all_rows if r["kind"] == "latent-default" and (int(r["context"]) + 1) % 16]
    seconds = np.array([float(r["seconds"]) for r in prefill_rows + decode_rows])
    decode = np.arange(len(seconds)) >= len(prefill_rows)
    split = np.array([False] * len(prefill_rows) + [int(r["splits"]) > 1 for r in decode_rows])
    two_part = np.array([r["model"] == "mla-expanded" for r in prefill_rows] + [False] * len(decode_rows))
    groups = [~decode & ~two_part, two_part, split, decode & ~split]
    combine = np.zeros_like(seconds)
    for i, r in enumerate(decode_rows, start=len(prefill_rows)):
        s = int(r["splits"])
        partial = int(r["batch"]) * s * 128 * C_VALUE * 4
        combine[i] = (partial / (hbm * machine.attention_memory_efficiency) + s * split_seconds) if s > 1 else 0.0

    def busiest_keys(program_keys: float) -> np.ndarray:
        """Keys (with each program's start and end) on the busiest SM of every row's kernel."""
        out = []
        for r in prefill_rows:
            visible = float(r["flops"]) / (2 * int(r["batch"]) * 128 * int(r["new_tokens"]) * WIDTH[r["model"]])
            out.append(math.ceil(int(r["programs"]) / units) * (visible + program_keys))
        for r in decode_rows:
            blocks, keys = 128 / int(r["block_m"]) * int(r["batch"]), int(r["context"]) + 1
            splits, split_keys, last = flash_splits(units, blocks, keys)
            assert int(splits) == int(r["splits"]), "the model splits the keys as the kernel did"
            out.append(list_makespan(units, blocks * (splits - 1), split_keys + program_keys, blocks,
                                     last + program_keys))  # fmt: skip
        return np.array(out, dtype=float)

    work = np.array([2 * int(r["block_m"]) * WIDTH[r["model"]] for r in prefill_rows + decode_rows], dtype=float)
    weight = sum(g / max(1, int(g.sum())) ** 0.5 for g in groups)  # each kernel counts alike

    def solve(program_keys: float) -> tuple[np.ndarray, np.ndarray]:
        """Per kernel, 1 / rate by relative least squares (each row divided by its seconds); the errors."""
        base = busiest_keys(program_keys) * work / per_sm / seconds
        columns = np.stack([base * g for g in groups], axis=1)
        target = 1 - combine / seconds
        inverse, *_ = np.linalg.lstsq(columns * weight[:, None], target * weight, rcond=None)
        return inverse, (columns @ inverse + combine / seconds) - 1

    program_keys = min(np.arange(0.0, 400.0, 2.0), key=lambda p: float(np.sum(solve(p)[1][decode] ** 2)))
    inverse, errors = solve(program_keys)
    prefill, two_part_rate, split_rate, unsplit = 1 / inverse
    print(f"attention_compute = {prefill:.3f}   # causal prefill programs' mainloop rate / peak (latent, MHA)")
    print(f"attention_two_part_compute = {two_part_rate:.3f}   # the same, per-head kernel with keys in two parts")
    print(f"attention_decode_compute = {split_rate:.3f}   # split decode programs' mainloop rate / peak")
    print(f"attention_decode_unsplit_compute = {unsplit:.3f}   # unsplit decode programs' mainloop rate / peak")
    print(f"attention_program_keys = {program_keys:.0f}   # a program's unoverlapped start and end, in keys")
    print(f"attention_split_cycles = {split_seconds * CLOCK:.0f}   # combine per split, median of "
          f"{len(per_split)} split kernels timed with and without it")  # fmt: skip
    for name, g in zip(("prefill", "prefill two-part", "decode split", "decode unsplit"), groups, strict=True):
        e = np.abs(errors[g])
        print(f"    {name}: {len(e)} rows, |error| median {np.median(e):.1%}, max {e.max():.1%}")
    fit_head_decode(all_rows, hbm, units)


def fit_op_latency(paths: list[str]) -> None:
    """`op_latency_cycles`: what a small op adds to a step, its kernel's time and the launch gap after it: the
    median over the small kernels of the profiled steps whose gap the profile timed (`ProfiledStep.gap`)."""
    timed = [(step, gap) for path in paths for step in read_profile(path) if (gap := step.gap) is not None]
    gaps = [gap for _, gap in timed]
    costs = [float(k["seconds"]) + gap for step, gap in timed for k in step.kernels
             if k["kernel"].startswith(SMALL_KERNELS)]  # fmt: skip
    latency = statistics.median(costs)
    print(
        f"op_latency_cycles = {latency * CLOCK:.0f}   # {latency * 1e6:.2f} us: {len(costs)} small kernels of "
        f"{len(gaps)} profiled steps, each with its step's launch gap (median {statistics.median(gaps) * 1e6:.2f} us)"
    )


def library_splits_k_of(units: int, row: dict[str, str]) -> bool:
    """Whether the model takes the library to split this calibration row's GEMM along K (bmm rows: one GEMM per
    head, 128 of them)."""
    g = int(row["heads"] or 128) if row["kind"] == "bmm" else 1
    gemm = Gemm({}, {"g": g, "m": int(row["m"]), "n": int(row["n"]), "k": int(row["k"])})
    return bool(library_splits_k(units, gemm))


HEAD_DECODE_BLOCK_M = 16
"""Query rows a program of the per-head decode kernel holds: one is used, 16 is the smallest tensor-core tile
and what measure.py's `tune` now picks. Rows timed before 2026-12-01 ran 64-row blocks (and record none): up to
28% slower (benchmarks/results/h200_head_blocks_2026-12-01.csv), so they are left out."""


def fit_head_decode(all_rows: list[dict[str, str]], hbm: float, units: int) -> None:
    """`attention_memory`, `attention_programs_per_unit`, `attention_stream_programs`,
    `attention_two_part_programs_per_unit` and `attention_two_part_memory` from the per-head decode kernels
    (kernel_grid.py parts `head-*`: one new token over context + 1 keys), key counts not a multiple of 16 (see
    `fit_flash_programs`: this kernel too ran faster there, 3.77-3.78 ms at batch 16 x 12288 and 12304 keys,
    3.81-4.31 at 12289 and 12296), 16 query rows a program (`HEAD_DECODE_BLOCK_M`).

    Each kernel holds a few programs per SM at once and streams at its full rate only with enough of them in
    flight (`in_flight_share`): fit on MHA's kernel (`fit_in_flight`); with the same programs in flight, the
    kernels whose keys come in two parts (larger tiles) hold fewer per SM, fit with their rates on cache-kv's
    rows. Each by relative least squares. expand's kernel (the RoPE part shared by all heads) is charged MHA's
    rate with the two-part kernels' programs per SM; its own rate under that share, over part head-expand's
    shapes, is printed to check it."""
    heads = [r for r in all_rows if r["kind"] == "head-decode" and (int(r["context"]) + 1) % 16
             and r.get("block_m") == str(HEAD_DECODE_BLOCK_M)]  # fmt: skip
    _, needed = fit_in_flight([r for r in heads if r["model"] == "mha"], hbm, units)
    cache_kv = [r for r in heads if r["model"] == "cache-kv"]
    two_part_per_unit = min((1, 2, 3, 4), key=lambda n: _rms(_rate_under_share(cache_kv, hbm, units, n, needed)[1]))
    two_part, errors = _rate_under_share(cache_kv, hbm, units, two_part_per_unit, needed)
    print(
        f"attention_two_part_programs_per_unit = {two_part_per_unit}   # the cache-kv decode kernel's, with the same "
        f"programs in flight\nattention_two_part_memory = {two_part:.3f}   # its HBM rate / datasheet, the same "
        f"fit, {len(errors)} kernels, |error| median {np.median(errors):.1%}, max {errors.max():.1%}"
    )
    # expand's kernel over part head-expand's shapes (batch 4-48 x 3073 and 12289 keys); its rows over fewer keys
    # (part head-expand-short, batch 1-8 x 769-6145) read slower still, down to 2.0 TB/s at batch 1 x 769: a start
    # and end per program the model does not charge (steps: benchmarks/step_breakdown.py).
    expand = [r for r in heads if r["model"] == "expand" and int(r["batch"]) in (4, 16, 48)
              and int(r["context"]) in (3072, 12288)]  # fmt: skip
    if expand:
        shared, errors = _rate_under_share(expand, hbm, units, two_part_per_unit, needed)
        print(
            f"    expand's decode kernel (the RoPE part shared by all heads) under the two-part share: {shared:.3f},"
            f" charged attention_memory, {len(errors)} kernels, |error| median {np.median(errors):.1%}, "
            f"max {errors.max():.1%}"
        )


def _rms(errors: np.ndarray) -> float:
    return float(np.sqrt(np.mean(errors**2)))


def _rate_under_share(
    rows: list[dict[str, str]], hbm: float, units: int, per_unit: float, needed: float
) -> tuple[float, np.ndarray]:
    """A per-head decode kernel's HBM rate (over the datasheet) where it streams at `in_flight_share` of it:
    seconds = bytes / (rate x datasheet x share), by relative least squares (`needed` 0: one rate). Returns the
    rate and each row's |relative error|."""
    seconds = np.array([float(r["seconds"]) for r in rows])
    stream = np.array([float(r["bytes"]) / hbm for r in rows])
    blocks = np.array([int(r["batch"]) * int(r["heads"]) for r in rows], dtype=float)
    programs = flash_programs(units, blocks, np.array([int(r["context"]) + 1 for r in rows], dtype=float))
    x = stream / in_flight_share(programs, units * per_unit, needed) / seconds
    inverse = float(np.sum(x) / np.sum(x**2))
    return 1 / inverse, np.abs(x * inverse - 1)


def fit_in_flight(rows: list[dict[str, str]], hbm: float, units: int) -> tuple[int, int]:
    """`attention_memory`, `attention_programs_per_unit` and `attention_stream_programs` from MHA's per-head
    decode kernels: the kernel holds a few programs per SM at once and streams at its full rate only with enough
    of them in flight (`in_flight_share`), so 256 programs (batch 2) read 15% slower than 384 (batch 3, part
    `head-few`). Relative least squares of seconds = bytes / (rate x datasheet x share) over a grid of the two
    (1-4 per SM, 20-700 in flight by 10), the rate solved at each. Returns the two."""
    best = None
    for per_unit in (1, 2, 3, 4):
        for needed in range(20, 701, 10):
            rate, errors = _rate_under_share(rows, hbm, units, per_unit, needed)
            best = (_rms(errors), per_unit, needed, rate, errors) if best is None or _rms(errors) < best[0] else best
    assert best is not None
    rms, per_unit, needed, rate, errors = best
    _, alone = _rate_under_share(rows, hbm, units, 1, 0)
    print(
        f"attention_memory = {rate:.3f}   # MHA's per-head decode kernel's HBM rate / datasheet, {len(rows)} kernels\n"
        f"attention_programs_per_unit = {per_unit}   # programs each SM holds at once, the same fit\n"
        f"attention_stream_programs = {needed}   # programs in flight for the full rate; |error| median "
        f"{np.median(errors):.1%}, rms {rms:.1%} (one rate: median {np.median(alone):.1%}, "
        f"rms {_rms(alone):.1%})"
    )
    return per_unit, needed


def fit_clock(paths: list[str]) -> None:
    """`clock_power_exponent` and `memory_power` (costmodel/clock.py) from kernel_grid.py's `duty` and
    `duty-mix` rows: kernels replayed alone (each at the clock it holds) and mixes of two kinds.

    A mix of n kernels of each kind, each taking t alone at its own clock f_k (copies are memory-bound: no
    clock), holds the clock the model gives it: a clock-bound kernel takes t f_k / f and draws (f / f_k)^exponent
    of the power limit, a copy draws memory_power, and f is the highest clock, at most the top any row held, at
    which the mix's time-weighted draw is at most 1. Least squares of the clock's relative error over a grid of
    the two (exponent 0.5-5 by 0.25, memory_power 0.30-1 by 0.01).
    """
    rows = [r for p in paths for r in csv.DictReader(open(p)) if r["kind"] == "clock" and r["status"] == "ok"]
    by_name = {r["model"]: r for r in rows}

    def alone(name: str) -> tuple[float, float | None]:
        r = by_name[name]
        return float(r["seconds"]), None if "copy" in name else float(r["sm_mhz"]) * 1e6

    mixes: list[tuple[str, list[tuple[int, tuple[float, float | None]]], float]] = []
    for r in rows:
        if two := re.match(r"(\d+) x (.+?) \(.* then (\d+) x (.+?) \(", r["note"]):
            parts = [(int(two[1]), alone(f"mix {two[2]} alone")), (int(two[3]), alone(f"mix {two[4]} alone"))]
        elif duty := re.match(r"(\d+) GEMMs .* then (\d+) copies", r["note"]):
            parts = [(int(duty[1]), alone("duty gemm k512")), (int(duty[2]), alone("duty copy 256 MiB"))]
        else:
            continue
        mixes.append((r["model"], parts, float(r["sm_mhz"]) * 1e6))
    exponent, memory = (g.ravel() for g in np.meshgrid(np.arange(0.5, 5.01, 0.25), np.arange(0.30, 1.0001, 0.01)))
    top = np.full(exponent.shape, max(float(r["sm_mhz"]) for r in rows) * 1e6)
    predicted = []
    for _, parts, _ in mixes:

        def mean_draw(f: np.ndarray, parts: list[tuple[int, tuple[float, float | None]]] = parts) -> np.ndarray:
            time, drawn = np.zeros_like(f), np.zeros_like(f)
            for n, (seconds, own) in parts:
                t = n * seconds * (own / f if own else 1.0)
                time, drawn = time + t, drawn + t * ((f / own) ** exponent if own else memory)
            return drawn / time

        predicted.append(balanced_clock(mean_draw, top))
    measured = np.array([clock for *_, clock in mixes])
    errors = np.array(predicted) / measured[:, None] - 1
    best = int(np.argmin((errors**2).sum(axis=0)))
    print(f"clock_power_exponent = {exponent[best]:g}   # least squares over {len(mixes)} kernel mixes' clocks")
    print(f"memory_power = {memory[best]:.2f}   # the same fit")
    for (name, _, clock), error in zip(mixes, errors[:, best], strict=True):
        print(f"    {name}: measured {clock / 1e6:.0f} MHz, model {clock * (1 + error) / 1e6:.0f} ({error:+.1%})")


C_LATENT, C_VALUE = 512 + 64 + 512, 512
"""DeepSeek-V3's latent attention: key width (latent + RoPE) plus value width, and the value width."""

WIDTH = {"mla-latent": C_LATENT, "mla-expanded": 128 + 64 + 128, "mha": 128 + 128}
"""Key plus value width per query row of each fused kernel the grids time."""


if __name__ == "__main__":
    main()
