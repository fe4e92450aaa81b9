"""A profiled step's kernels against the cost model's ops of the same step, by kind of kernel.

A step whose total matches its measurement can still hide two errors that cancel: `breakdown` reads per-kernel
times of whole steps (benchmarks/gpu/profile_step.py; --graph rows are the kernels inside the step's own CUDA-graph
replays, at the clock the board's power limit leaves the step) and sums both sides by class: GEMMs (cuBLAS), the
fused attention kernel (Triton, with its split combine) and everything else (norms, RoPE, cache stores, copies).
`python benchmarks/step_breakdown.py` prints it.
"""

from __future__ import annotations

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
