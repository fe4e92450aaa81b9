"""Fits a GPU preset's MoE constants (issue #28) from the kernels of whole MoE layers profiled inside their graph
replay (layer_step.py --profile-out):

    python benchmarks/gpu/fit_moe.py benchmarks/results/h100_layer_profile_2026-12-08.csv --preset h100

Each profiled layer's MoE is cut into the parts the model has (the last MoE of the replay where it ran two copies):
- the routing, `la.dispatch`: every kernel between the router GEMM and the first grouped GEMM (scores, top-k, sorts,
  offsets, the gather of the rows by expert);
- the grouped GEMMs: [gate | up] as one GEMM (the model's gate GEMM starts no kernel of its own), and down
  (`torch._grouped_mm`: its set-up kernel and CUTLASS's);
- the combine, `la.combine`: the scatter back to token order, its copy and the GEMM that weighs and sums.
A part's measured time is its kernels' durations plus one launch gap each (the median gap of the decode replays:
the step's time less its kernels', per kernel), as the model's fixed times hold a kernel and the gap after it.

The constants, each fit where the model is linear in it or by a search where it is not:
- `moe_gemm_memory` and `moe_gemm_latency_cycles`: the decode GEMMs stream their experts' weights, so each takes
  its fixed time plus the model's off-chip bytes at that rate (relative least squares);
- `moe_gemm_compute` and `moe_gemm_overlap`: the prefill GEMMs (128-384 rows per expert, near the ridge), by a grid
  search of the whole model's estimate of each prefill GEMM;
- `moe_routing_kernels`, `moe_group_routing_kernels` and `moe_routing_score_cycles`: the routing, less its bytes'
  time, is kernels x `op_latency_cycles` plus the router scores (tokens x experts) x the cycles per score; the
  group-limited routing (DeepSeek-V3's expert groups) runs more kernels than the greedy one (V2-Lite);
- `moe_combine_kernels` is the count of its kernels (3); `moe_combine_memory` the rate at which its scatter moves
  its bytes, read and written, wherever they are (relative least squares).

Prints the lines for the preset and each part's |error| under the fitted constants. The layers the profile holds
are then left out of the validation (tests/costmodel/test_calibration.py), so no constant saw a validated shape.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fit_step_energy import with_constants

from costmodel.machine import Machine
from dialects import la
from mlacc.estimates import OpResult
from mlacc.hardware.loader import load_hardware, preset_path
from mlacc.validate import Point, estimate_layers

PARTS = ("dispatch", "gate_up", "down", "combine")
"""The parts of a MoE layer the profile is cut into (`moe_parts`)."""

COMBINE_KERNELS = 3
"""The combine's kernels in torch: index_copy_ back to token order, a copy, and the bmm that weighs and sums."""


BASE = {
    "moe_routing_kernels": 1.0,
    "moe_group_routing_kernels": 0.0,
    "moe_routing_score_cycles": 0.0,
    "moe_combine_kernels": COMBINE_KERNELS,
    "moe_combine_memory": 1.0,
}
"""The routing and combine constants the fits below read the model's bytes at (whatever the preset holds)."""


@dataclass
class Measured:
    """One profiled layer's MoE, in seconds per part (kernel durations plus one launch gap each)."""

    point: Point
    parts: dict[str, float]
    kernels: dict[str, int]


def profiled_layers(path: str) -> list[Measured]:
    by_point: dict[tuple[str, ...], list[dict[str, str]]] = defaultdict(list)
    for row in csv.DictReader(open(path)):
        if row["ffn"] == "moe":
            by_point[tuple(row[k] for k in ("model", "phase", "batch", "context", "new_tokens"))].append(row)
    gaps, cut = [], []
    for rows in by_point.values():
        rows.sort(key=lambda r: int(r["launch"]))
        seconds = [float(r["seconds"]) for r in rows]
        if rows[0]["phase"] == "decode":
            gaps.append((float(rows[0]["step_seconds"]) - sum(seconds)) / len(rows))
        cut.append((rows, moe_parts([r["kernel"] for r in rows])))
    gap = float(np.median(gaps))
    out = []
    for rows, parts in cut:
        r = rows[0]
        point = Point(r["model"], r["phase"], int(r["batch"]), int(r["context"]), int(r["new_tokens"]), ffn="moe")
        times = {name: sum(float(rows[i]["seconds"]) for i in idx) + gap * len(idx) for name, idx in parts.items()}
        out.append(Measured(point, times, {name: len(idx) for name, idx in parts.items()}))
    return out


def moe_parts(kernels: list[str]) -> dict[str, list[int]]:
    """Launch indices of each part of the last MoE in a replay's kernel names."""
    setups = [i for i, k in enumerate(kernels) if "prepare_grouped_gemm_data" in k]
    if len(setups) < 2:
        raise SystemExit("a profiled MoE layer without its two grouped GEMMs (prepare_grouped_gemm_data)")
    gate_up, down = setups[-2], setups[-1]
    start = gate_up - 1
    while not any(g in kernels[start] for g in ("nvjet", "splitKreduce", "gemv")):  # the router GEMM ends it
        start -= 1
    after = [i for i in range(down + 2, len(kernels)) if "Memset" not in kernels[i]]
    combine = [*after[:2], next(i for i in after[2:] if "nvjet" in kernels[i] or "gemv" in kernels[i])]
    return {
        "dispatch": list(range(start + 1, gate_up)),
        "gate_up": [gate_up, gate_up + 1],
        "down": [down, down + 1],
        "combine": combine,
    }


class Model:
    """The MoE layer's estimate of each profiled point under the preset with some constants set."""

    def __init__(self, preset_text: str, points: list[Point], where: Path):
        self.text, self.points, self.where = preset_text, points, where

        self.routing: list[tuple[int, bool]] = []
        """Per point: the router scores its routing reads (tokens x experts), and whether it is group-limited."""

    def ops(self, constants: dict[str, float]) -> list[dict[str, OpResult]]:
        path = self.where / f"variant{len(list(self.where.iterdir()))}.toml"
        path.write_text(with_constants(self.text, constants))
        layers = estimate_layers(self.points, str(path))
        out = []
        self.routing = []
        for point in self.points:
            ffn = next(iter(layers[point].values())).ffn
            out.append({op.name: op for op in ffn.ops})
            assert ffn.schedule is not None
            dispatch = next(op for op in ffn.schedule.walk() if isinstance(op, la.DispatchOp))
            self.routing.append((la.numel(dispatch.logits), dispatch.expert_groups() > 1))
        return out


def parts_of(ops: dict[str, OpResult]) -> dict[str, float]:
    """The model's seconds of each measured part."""
    return {
        "dispatch": ops["routed"].seconds,
        "gate_up": ops["up_experts"].seconds + ops["gate_experts"].seconds,
        "down": ops["down_experts"].seconds,
        "combine": ops["experts_out"].seconds,
    }


def dram(ops: dict[str, OpResult], *names: str) -> float:
    return sum(ops[n].bytes.get("hbm", 0.0) for n in names)


def energy_scale(path: str, layers: list[Measured], text: str, fitted: dict[str, float], where: Path) -> float:
    """`moe_gemm_energy` from the board energy of the profiled layers' own rows in layer_step.py's CSV: the energy
    is linear in it, so it is the relative least-squares solution over those layers, the grouped GEMMs' share read
    off the model (the estimate with the scale doubled, less the estimate at 1)."""
    wanted = {m.point for m in layers}
    rows = [r for r in csv.DictReader(open(path)) if r["kind"] == "layer" and r["status"] == "ok"]
    rows = [r for r in rows if Point.of(r) in wanted]
    points, schemes = [Point.of(r) for r in rows], [r["scheme"] for r in rows]
    measured = np.array([float(r["joules"]) for r in rows])

    def joules(scale: float) -> np.ndarray:
        variant = where / f"energy{scale}.toml"
        variant.write_text(with_constants(text, {**fitted, "moe_gemm_energy": scale}))
        estimates = estimate_layers(points, str(variant))
        return np.array([estimates[p][s].energy_pj * 1e-12 for p, s in zip(points, schemes, strict=True)])

    once, twice = joules(1.0), joules(2.0)
    share = twice - once
    (scale,), *_ = np.linalg.lstsq((share / measured)[:, None], (measured - once + share) / measured, rcond=None)
    fitted_error = (once + (scale - 1) * share) / measured - 1
    print(
        f"moe_gemm_energy over {len(rows)} profiled layers' board energy: |error| median "
        f"{np.median(abs(fitted_error)):.1%} (at 1: {np.median(abs(once / measured - 1)):.1%})"
    )
    return round(float(scale), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", help="layer_step.py --profile-out CSV")
    parser.add_argument("--preset", required=True, help="the preset whose other constants are read (h100, h200)")
    parser.add_argument("--layers", help="layer_step.py's CSV: fit moe_gemm_energy on the profiled layers' rows")
    args = parser.parse_args()
    layers = profiled_layers(args.profile)
    preset = Path(args.preset) if args.preset.endswith(".toml") else preset_path(args.preset)
    text = preset.read_text(encoding="utf-8")
    machine = Machine.of(load_hardware(str(preset)))
    hz = float(machine.frequency)
    bandwidth = float(machine.dram.read_bandwidth) * hz  # bytes/s off chip, the datasheet's
    op_latency = float(machine.op_latency) / hz
    points = [m.point for m in layers]
    decode = [i for i, m in enumerate(layers) if m.point.phase == "decode"]
    prefill = [i for i, m in enumerate(layers) if m.point.phase == "prefill"]
    with tempfile.TemporaryDirectory() as tmp:
        model = Model(text, points, Path(tmp))
        base = model.ops(BASE)
        # The grouped GEMMs at decode: a fixed time plus the weights streamed (gate and up the one GEMM they are).
        rows, times = [], []
        for i in decode:
            for part, names in (("gate_up", ("up_experts", "gate_experts")), ("down", ("down_experts",))):
                rows.append([1.0, dram(base[i], *names) / bandwidth])
                times.append(layers[i].parts[part])
        a, t = np.array(rows), np.array(times)
        (latency, inverse), *_ = np.linalg.lstsq(a / t[:, None], np.ones_like(t), rcond=None)
        fitted = {"moe_gemm_memory": round(float(1 / inverse), 3), "moe_gemm_latency_cycles": round(latency * hz)}
        # The prefill GEMMs: compute rate and overlap by a search of the whole model's prefill layers.
        prefill_model = Model(text, [points[i] for i in prefill], Path(tmp))
        best = None
        for compute, overlap in itertools.product(np.arange(0.40, 0.81, 0.04), (0.0, 1.0, 1.5, 2.0, 3.0)):
            trial = prefill_model.ops({**fitted, "moe_gemm_compute": round(compute, 2), "moe_gemm_overlap": overlap})
            errors = [
                parts_of(ops)[p] / layers[i].parts[p] - 1
                for i, ops in zip(prefill, trial, strict=True)
                for p in ("gate_up", "down")
            ]
            score = float(np.sqrt(np.mean(np.square(errors))))
            if best is None or score < best[0]:
                best = (score, round(compute, 2), overlap)
        assert best is not None
        fitted |= {"moe_gemm_compute": float(best[1]), "moe_gemm_overlap": best[2]}
        # The routing: kernels x op latency + scores x cycles per score, beyond its bytes' time (one kernel's
        # latency in the base model, which charges `moe_routing_kernels` 1).
        rows, times = [], []
        for i, m in enumerate(layers):
            scores, grouped = model.routing[i]
            rows.append([op_latency, op_latency * grouped, scores / hz])
            times.append(m.parts["dispatch"] - (base[i]["routed"].seconds - op_latency))
        a, t = np.array(rows), np.array(times)
        weight = 1 / np.array([m.parts["dispatch"] for m in layers])
        (kernels, extra, per_score), *_ = np.linalg.lstsq(a * weight[:, None], t * weight, rcond=None)
        fitted |= {
            "moe_routing_kernels": round(float(kernels), 1),
            "moe_group_routing_kernels": round(float(extra), 1),
            "moe_routing_score_cycles": round(float(max(per_score, 0.0)), 3),
        }
        # The combine: its kernels, then its scatter's rate (the base model moves its bytes at the full rate).
        moved = np.array([base[i]["experts_out"].seconds - COMBINE_KERNELS * op_latency for i in range(len(layers))])
        measured = np.array([m.parts["combine"] for m in layers])
        (inverse,), *_ = np.linalg.lstsq(
            (moved / measured)[:, None], 1 - COMBINE_KERNELS * op_latency / measured, rcond=None
        )
        rate = min(1.0, 1 / inverse) if inverse > 0 else 1.0
        fitted |= {"moe_combine_kernels": COMBINE_KERNELS, "moe_combine_memory": round(float(rate), 3)}
        final = model.ops(fitted)
        if args.layers:
            fitted["moe_gemm_energy"] = energy_scale(args.layers, layers, text, fitted, Path(tmp))
    print(f"{len(layers)} profiled MoE layers ({args.profile}); the constants for [efficiency]:")
    for key, value in fitted.items():
        print(f"{key} = {value}")
    print("part errors under these constants (model / measured - 1):")
    for m, ops in zip(layers, final, strict=True):
        model_parts = parts_of(ops)
        cells = "  ".join(
            f"{p} {model_parts[p] / m.parts[p] - 1:+6.1%}" for p in ("dispatch", "gate_up", "down", "combine")
        )
        print(f"  {m.point.label():55} {cells}")


if __name__ == "__main__":
    main()
