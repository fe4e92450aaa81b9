"""Fits a GPU preset's production-kernel constants (issue #26) from the calibration rows of production.py CSVs:

    python benchmarks/gpu/fit_production.py benchmarks/results/h100_production_2026-12-07.csv --preset h100
    python benchmarks/gpu/fit_production.py benchmarks/results/h200_production_2026-12-07.csv --preset h200

Prints the [efficiency] lines of the preset's production profile, each with the rows it came from and its error
on the calibration rows and on the validation rows (which no fit reads). Only grid=calibration rows are fitted, so
`mlacc validate` judges the steps on shapes no constant saw. Runs anywhere (numpy and mlacc).

- FlashMLA (`flashmla` rows): costmodel/flashmla.py's kernel, its mainloop rate, its read rate and the
  combine's time per piece fit together by relative least squares, and the exponent of the soft maximum between the
  mainloop and the read (`attention_latent_overlap`), by a search.
- cuDNN causal prefill (`sdpa-prefill-*` rows, the fastest backend): costmodel/attention.py's causal program model,
  waves of programs over the keys each query sees plus `attention_program_keys`, one rate per compiled kernel
  (128 x 128 heads; the expanded 192 / 128 form, which cache-kv and expand run).
- the latent (576 / 512) prefill, which only SDPA's EFFICIENT backend runs: its rate on the latent form's own rows
  (`sdpa-prefill-latent`, production.py --only sdpa-latent) where the CSVs have them; otherwise on the expanded
  form, read from those rows' notes (every backend is timed on every shape).
- cuDNN per-head decode (`sdpa-decode-*`): seconds = the kernel's fixed time + bytes / (rate x datasheet x the
  share of programs in flight), the fixed time common to both forms, the rest per form.
- the fused kernels' energy per MAC over a GEMM's, on the compute-bound prefill rows.
- with --joins (a benchmarks/gpu/join_copies.py CSV): the generic concatenation's rates, `join_memory` and, from
  2^31 joined elements, `join_split_memory`.
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
from dataclasses import replace

import numpy as np

from costmodel import Machine
from costmodel.attention import decode_programs, in_flight_share
from costmodel.estimate import JOIN_SPLIT_ELEMENTS
from costmodel.flashmla import BLOCK_KEYS, BLOCK_ROWS, kernel_cycles, soft_maximum
from mlacc.hardware import load_hardware

LATENT_KEY, LATENT_VALUE = 576, 512
"""DeepSeek-V3's absorbed query/key width (512 latent + 64 RoPE) and value width, as production.py times them."""

WIDTHS = {"mha": (128, 128), "expanded": (192, 128), "latent": (LATENT_KEY, LATENT_VALUE)}
"""Query/key and value widths of the SDPA forms production.py times."""


def rows_of(paths: list[str]) -> list[dict[str, str]]:
    return [r for p in paths for r in csv.DictReader(open(p)) if r["status"] == "ok" and r["kind"] == "attention"]


def column(rows: list[dict[str, str]], key: str) -> np.ndarray:
    return np.array([float(r[key]) for r in rows])


def report(name: str, errors: np.ndarray, calibration: np.ndarray) -> str:
    parts = []
    for label, mask in (("calibration", calibration), ("validation", ~calibration)):
        if mask.any():
            e = np.abs(errors[mask])
            parts.append(f"{label} {mask.sum()}: median {np.median(e):.1%}, max {e.max():.1%}")
    return f"    {name}: " + "; ".join(parts)


def flashmla_seconds(machine: Machine, rows: list[dict[str, str]], block: float, rate: float, split: float,
                     overlap: float) -> np.ndarray:  # fmt: skip
    """The model's seconds of each FlashMLA row at these constants (a block's mainloop and a split in seconds)."""
    hz = float(machine.frequency)
    batch, context, tokens, heads = (
        column(rows, k).astype(np.int64) for k in ("batch", "context", "new_tokens", "heads")
    )
    trial = replace(
        machine,
        attention_latent_compute=block_fraction(machine, block),
        attention_latent_memory=rate,
        attention_split_cycles=split * hz,
        attention_latent_overlap=overlap,
    )
    compute, memory, combine = kernel_cycles(
        trial, "bf16", 2 * LATENT_KEY, batch, heads * tokens, context + tokens, LATENT_KEY, LATENT_VALUE
    )
    return (soft_maximum(compute, memory, overlap) + combine) / hz


def block_fraction(machine: Machine, seconds: float) -> float:
    """A FlashMLA block (64 rows x 64 keys x (576 + 512) MACs) taking `seconds` on one SM, as a fraction of its peak."""
    macs = BLOCK_ROWS * BLOCK_KEYS * (LATENT_KEY + LATENT_VALUE)
    return macs / (seconds * float(machine.frequency) * float(machine.peak_macs("bf16")))


def fit_flashmla(machine: Machine, rows: list[dict[str, str]]) -> None:
    rows = [r for r in rows if r["model"] == "flashmla"]
    seconds = column(rows, "seconds")
    calibration = np.array([r["grid"] == "calibration" for r in rows])
    hbm = float(machine.dram.read_bandwidth) * float(machine.frequency)
    best = None
    for overlap in np.arange(1.2, 4.01, 0.04):
        # Linear in (block, 1 / rate, split) at a fixed overlap only where one term dominates: fit by Gauss-Newton.
        x = np.array([1.6e-6, 1 / (0.9 * hbm), 2e-7])
        for _ in range(30):

            def model(x: np.ndarray, overlap: float = overlap) -> np.ndarray:
                rate = min(1.0, 1 / (x[1] * hbm))
                return flashmla_seconds(machine, rows, x[0], rate, x[2], overlap) / seconds - 1

            residual = model(x)
            jacobian = np.stack([(model(x + step) - residual) / step[i]
                                 for i, step in enumerate(np.diag(x * 1e-4))], axis=1)  # fmt: skip
            delta, *_ = np.linalg.lstsq(jacobian[calibration], -residual[calibration], rcond=None)
            x = np.maximum(x + delta, [1e-9, 1 / hbm, 0.0])
            if np.all(np.abs(delta) < np.abs(x) * 1e-7):
                break
        errors = model(x)
        rms = float(np.sqrt(np.mean(errors[calibration] ** 2)))
        if best is None or rms < best[0]:
            best = (rms, overlap, x, errors)
    assert best is not None
    _, overlap, (block, inverse, split), errors = best
    hz = float(machine.frequency)
    print(f"attention_latent_compute = {block_fraction(machine, block):.3f}   # {block * 1e6:.3f} us per 64 x 64 block")
    print(f"attention_latent_memory = {min(1.0, 1 / (inverse * hbm)):.3f}   # latent cache read rate / datasheet")
    print(f"attention_latent_overlap = {overlap:.2f}   # soft maximum of mainloop and read")
    print(f"attention_split_cycles = {split * hz:.0f}   # {split * 1e6:.3f} us per piece of the most-split request")
    print(report(f"FlashMLA, {len(rows)} kernels (block {BLOCK_KEYS} keys)", errors, calibration))


def backend_times(note: str) -> dict[str, float]:
    """Every backend's microseconds a production.py SDPA row's note lists ('cudnn 89.0 us, flash 161.1 us')."""
    return {name: float(us) * 1e-6 for name, us in re.findall(r"(cudnn|flash|efficient) ([0-9.]+) us", note)}


def fit_prefill(machine: Machine, rows: list[dict[str, str]]) -> None:
    """Causal prefill: seconds = waves x (keys a query sees on average + program_keys) x per-key MACs / (the SM's
    peak x rate) + the kernel's latency, as costmodel/attention.py charges a causal flash program."""
    prefill = [r for r in rows if r["model"].startswith("sdpa-prefill") and "fastest" in r["note"]]
    peak = float(machine.peak_macs("bf16")) * float(machine.frequency)  # MACs per second of one SM
    latency = float(machine.contraction_latency) / float(machine.frequency)

    def busiest(r: dict[str, str], program_keys: float, seconds: float) -> float:
        qk, v = WIDTHS[r["model"].removeprefix("sdpa-prefill-")]
        b, s, h = int(r["batch"]), int(r["new_tokens"]), int(r["heads"])
        programs = b * h * -(-s // machine.rows)
        average = (s + 1) / 2
        per_key = machine.rows * (qk + v)
        return -(-programs // machine.units) * (average + program_keys) * per_key / peak / (seconds - latency)

    def solve(subset: list[dict[str, str]], program_keys: float, seconds_of) -> tuple[float, np.ndarray]:
        x = np.array([busiest(r, program_keys, seconds_of(r)) for r in subset])
        inverse = float(np.sum(x) / np.sum(x**2))  # relative least squares of x x inverse = 1
        return 1 / inverse, x * inverse - 1

    def fastest(r: dict[str, str]) -> float:
        return float(r["seconds"])

    calibration = [r for r in prefill if r["grid"] == "calibration"]
    mha = [r for r in calibration if r["model"].endswith("mha")]
    program_keys = min(np.arange(0.0, 1024.0, 8.0), key=lambda p: float(np.sum(solve(mha, p, fastest)[1] ** 2)))
    print(f"attention_program_keys = {program_keys:.0f}   # a causal program's start and end, in keys (cuDNN, MHA)")
    for key, form in (("attention_compute", "mha"), ("attention_two_part_compute", "expanded")):
        mine = [r for r in prefill if r["model"].endswith(form)]
        rate, _ = solve([r for r in mine if r["grid"] == "calibration"], program_keys, fastest)
        errors = np.array([busiest(r, program_keys, fastest(r)) / rate - 1 for r in mine])
        print(f"{key} = {rate:.3f}   # cuDNN causal prefill, {form} form, mainloop rate / peak")
        print(report(f"sdpa-prefill-{form}", errors, np.array([r["grid"] == "calibration" for r in mine])))
    # The latent form (q/k 576, v 512) runs only on EFFICIENT: its own rows, else its rate on the expanded form.
    latent = [r for r in prefill if r["model"].endswith("latent")]
    if latent:
        mine = [r for r in latent if r["grid"] == "calibration"]
        keys = min(np.arange(0.0, 1024.0, 8.0), key=lambda p: float(np.sum(solve(mine, p, fastest)[1] ** 2)))
        rate, _ = solve(mine, keys, fastest)
        errors = np.array([busiest(r, keys, fastest(r)) / rate - 1 for r in latent])
        print(f"attention_latent_program_keys = {keys:.0f}   # its causal program's start and end (EFFICIENT)")
        print(f"attention_latent_prefill_compute = {rate:.3f}   # SDPA EFFICIENT causal prefill, latent form")
        print(report("sdpa-prefill-latent", errors, np.array([r["grid"] == "calibration" for r in latent])))
        return
    expanded = [r for r in calibration if r["model"].endswith("expanded") and "efficient" in backend_times(r["note"])]

    def efficient(r: dict[str, str]) -> float:
        return backend_times(r["note"])["efficient"]

    rate, errors = solve(expanded, program_keys, efficient)
    print(f"attention_latent_prefill_compute = {rate:.3f}   # SDPA EFFICIENT causal prefill rate / peak")
    print(report("sdpa EFFICIENT, expanded form", errors, np.ones(len(errors), dtype=bool)))


def fit_decode(machine: Machine, rows: list[dict[str, str]]) -> None:
    """Per-head decode: seconds = the kernel's fixed time + bytes / (rate x datasheet x the in-flight share of its
    programs), costmodel/attention.py's `off_chip_efficiency` with cuDNN's programs (`decode_programs`): the
    fixed time common to both forms, per form a rate by relative least squares and the programs a unit holds and
    the kernel needs in flight by a search."""
    hbm = float(machine.dram.read_bandwidth) * float(machine.frequency)
    units = machine.units
    forms = {}
    for form in ("mha", "expanded"):
        mine = [r for r in rows if r["model"] == f"sdpa-decode-{form}" and "fastest" in r["note"]]
        blocks = np.array([int(r["batch"]) * int(r["heads"]) for r in mine], dtype=float)
        programs = decode_programs(machine, blocks, column(mine, "context") + 1)
        forms[form] = (mine, programs, column(mine, "seconds"), column(mine, "bytes"))

    def fit(form: str, latency: float) -> tuple[float, float, float, float, np.ndarray]:
        mine, programs, seconds, moved = forms[form]
        calibration = np.array([r["grid"] == "calibration" for r in mine])
        best = (np.inf, 0.0, 0.0, 0.0, np.zeros(0))
        for per_unit in (1.0, 2.0, 3.0, 4.0):
            for needed in np.arange(0.0, 400.0, 4.0):
                share = in_flight_share(programs, units * per_unit, needed)
                x = moved / (hbm * share) / (seconds - latency)
                rate = min(1.0, float(np.sum(x[calibration] ** 2) / np.sum(x[calibration])))
                errors = (latency + moved / (rate * hbm * share)) / seconds - 1
                cost = float(np.sum(errors[calibration] ** 2))
                if cost < best[0] - 1e-12:
                    best = (cost, rate, per_unit, needed, errors)
        return best

    latencies = np.arange(2e-6, 12e-6, 0.25e-6)
    latency = min(latencies, key=lambda t: sum(fit(form, float(t))[0] for form in forms))
    cycles = latency * float(machine.frequency)
    print(f"attention_decode_latency_cycles = {cycles:.0f}   # {latency * 1e6:.2f} us, cuDNN decode's fixed time")
    names = {"mha": ("attention_memory", "attention_programs_per_unit", "attention_stream_programs"),
             "expanded": ("attention_two_part_memory", "attention_two_part_programs_per_unit",
                          "attention_two_part_stream_programs")}  # fmt: skip
    for form, (rate_key, unit_key, needed_key) in names.items():
        _, rate, per_unit, needed, errors = fit(form, float(latency))
        mine = forms[form][0]
        print(f"{rate_key} = {rate:.3f}   # cuDNN per-head decode, {form} form, cache read rate / datasheet")
        print(f"{unit_key} = {per_unit:.0f}")
        print(f"{needed_key} = {needed:.0f}   # programs in flight for the full rate")
        print(report(f"sdpa-decode-{form}", errors, np.array([r["grid"] == "calibration" for r in mine])))


def fit_energy_ratio(machine: Machine, rows: list[dict[str, str]]) -> None:
    """Joules of compute-bound prefill kernels (prompts >= 4k) less the preset's static power and their HBM bytes,
    over their MACs at a GEMM's pJ per MAC."""
    static = float(machine.static_power)  # as the model charges it (the preset's, fit on its own idle rows)
    hbm_pj = float(machine.dram.read_energy)
    mac_pj = float(machine.mac_energy["bf16"])
    ratios = []
    for r in rows:
        cudnn = r["model"].startswith("sdpa-prefill") and not r["model"].endswith("latent")
        if cudnn and r["joules"] and r["grid"] == "calibration":
            if int(r["new_tokens"]) >= 4096:
                left = float(r["joules"]) - static * float(r["seconds"]) - float(r["bytes"]) * hbm_pj * 1e-12
                ratios.append(left / (float(r["flops"]) / 2 * mac_pj * 1e-12))
    print(f"attention_mac_energy_ratio = {statistics.median(ratios):.2f}   # median of {len(ratios)} cuDNN "
          f"prefill kernels, static power {static:.0f} W")  # fmt: skip


JOIN_CALIBRATION = (4096, 16384, 65536, 131072, 262144)
"""Key counts of join_copies.py's rows the join rates are fit on; the others (32k, 87k, 192k) judge them. The
first shape of each heads loop (1024 keys) is left out of both: its time is the caching allocator's first growth,
not the copy's."""


def fit_join(machine: Machine, path: str) -> None:
    """The generic concatenation (join_copies.py `key-broadcast` rows): seconds = a small op's fixed time + bytes
    read and written / (rate x datasheet), relative least squares on JOIN_CALIBRATION's rows, one rate below 2^31
    joined elements (`join_memory`) and one from there, where torch copies each part apart (`join_split_memory`)."""
    hbm = float(machine.dram.read_bandwidth) * float(machine.frequency)
    latency = float(machine.op_latency) / float(machine.frequency)
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["form"] == "key-broadcast" and int(r["keys"]) > 1024]
    for key, split in (("join_memory", False), ("join_split_memory", True)):
        mine = [r for r in rows if (int(r["keys"]) * int(r["heads"]) * 192 >= JOIN_SPLIT_ELEMENTS) == split]
        seconds, moved = column(mine, "seconds"), column(mine, "bytes")
        calibration = np.array([int(r["keys"]) in JOIN_CALIBRATION for r in mine])
        x = moved / hbm / (seconds - latency)
        rate = float(np.sum(x[calibration] ** 2) / np.sum(x[calibration]))
        errors = (latency + moved / (rate * hbm)) / seconds - 1
        print(f"{key} = {rate:.3f}   # torch.cat of a part broadcast over heads, read + written / datasheet")
        print(report(f"key-broadcast join{' of 2^31 elements or more' if split else ''}", errors, calibration))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", nargs="+")
    parser.add_argument("--preset", required=True, help="the preset whose clock, units and GEMM latency are read")
    parser.add_argument("--joins", help="a join_copies.py CSV: fit the generic concatenation's rate from it")
    args = parser.parse_args()
    machine = Machine.of(load_hardware(args.preset))
    rows = rows_of(args.csv)
    fit_flashmla(machine, rows)
    fit_prefill(machine, rows)
    fit_decode(machine, rows)
    fit_energy_ratio(machine, rows)
    if args.joins:
        fit_join(machine, args.joins)


if __name__ == "__main__":
    main()
