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

from mlacc.step_profile import CLASSES, StepBreakdown, breakdown


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
