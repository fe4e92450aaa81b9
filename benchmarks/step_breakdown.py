"""Where a step's estimate and its measurement part ways, by kind of kernel (no GPU needed):

    python benchmarks/step_breakdown.py benchmarks/results/h200_profile_graph_2026-11-30.csv [--hw h200]

Reads per-kernel times of whole steps (benchmarks/gpu/profile_step.py; --graph rows are the kernels inside
the step's own CUDA-graph replays, at the clock the board's power limit leaves the step) and sets them
against the cost model's ops of the same step, summed by class: GEMMs (cuBLAS), the fused attention kernel
(Triton, with its split combine) and everything else (norms, RoPE, cache stores, copies). A step whose
total matches can still hide two errors that cancel; this shows them.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass

from mlacc.estimates import OpResult
from mlacc.validate import Point, estimate_point, preset_for, read_profile

CLASSES = ("gemm", "attention", "other")


def kernel_class(name: str) -> str:
    if name.startswith(("nvjet", "void cublas", "sm90_xmma", "cutlass")) or "gemm" in name.lower():
        return "gemm"
    return "attention" if name in ("_attention_kernel", "_combine_kernel") else "other"


def op_class(op: OpResult) -> str:
    if op.kernel == "flash":
        return "attention"
    return "gemm" if op.kind == "einsum" else "other"


@dataclass
class StepBreakdown:
    step: str
    sm_mhz: str
    model_mhz: float | None
    """The clock the model gives the step (costmodel/clock.py), where its preset models one."""
    estimate: dict[str, float]
    measured: dict[str, float]
    step_seconds: float | None = None
    """The whole step's replay (its kernels and the gaps between them), where the profile timed it."""
    gap: float | None = None
    """`ProfiledStep.gap`: seconds per kernel of launch gaps, where the profile timed them."""


def breakdown(path: str, hardware: str | None = None) -> list[StepBreakdown]:
    """One row per profiled step (a step profiled twice gives two): its clock, and the estimated and measured
    seconds of each class."""
    out = []
    for step in read_profile(path):
        kernels = step.kernels
        device, model, scheme, phase, batch, context, new = (
            kernels[0][c] for c in ("device", "model", "scheme", "phase", "batch", "context", "new_tokens")
        )
        measured: dict[str, float] = defaultdict(float)
        for kernel in kernels:
            measured[kernel_class(kernel["kernel"])] += float(kernel["seconds"])
        point = Point(model, phase, int(batch), int(context), int(new))
        results = estimate_point(point, hardware or preset_for(device))
        estimate: dict[str, float] = defaultdict(float)
        for op in results[scheme].ops:
            estimate[op_class(op)] += op.seconds
        label = f"{model} {scheme} {phase} b{batch} ctx {context} new {new}"
        clock = results[scheme].clock_hz
        mhz = clock / 1e6 if clock else None
        whole = kernels[0].get("step_seconds")
        out.append(
            StepBreakdown(
                label, kernels[0].get("sm_mhz") or "", mhz, estimate, measured, float(whole) if whole else None,
                step.gap,
            )
        )  # fmt: skip
    return out


def format_breakdown(rows: list[StepBreakdown]) -> str:
    head = f"{'step':46} {'MHz':>5} {'model':>5}" + "".join(f" | {c:>9}: est    meas    err" for c in CLASSES)
    head += " |  step: est    meas    err  gaps"
    lines = [head]
    for row in rows:
        est, meas = row.estimate, row.measured
        model = f"{row.model_mhz:5.0f}" if row.model_mhz else ""
        line = f"{row.step:46} {row.sm_mhz:>5} {model:>5}"
        for c in CLASSES:
            err = f"{est[c] / meas[c] - 1:+6.1%}" if meas[c] else "      "
            line += f" | {est[c] * 1e3:9.3f} {meas[c] * 1e3:7.3f} {err}"
        if row.step_seconds:
            total = sum(est.values())
            gap = f"{row.gap * 1e6:4.2f}" if row.gap is not None else ""
            line += f" | {total * 1e3:9.3f} {row.step_seconds * 1e3:7.3f} {total / row.step_seconds - 1:+6.1%} {gap}"
        lines.append(line)
    lines.append(
        "milliseconds per step; err = estimate / measurement - 1; MHz: the SM clock measured in the step, "
        "model: the model's; step: the whole replay where the profile timed it, gaps: its microseconds per kernel "
        "beyond the kernels' own (where its profile held the top clock it was timed at)"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", help="per-kernel rows of benchmarks/gpu/profile_step.py")
    parser.add_argument("--hw", help="preset to judge (default: by device)")
    args = parser.parse_args()
    print(format_breakdown(breakdown(args.csv, args.hw)), end="")


if __name__ == "__main__":
    main()
