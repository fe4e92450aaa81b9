"""The SM clock a power-limited chip holds over a step, and the op times at that clock.

A preset's rates were measured kernel by kernel, each replayed back to back, at the clock the power limit
left that kernel alone: a GPU's cuBLAS GEMMs hold about 1500 MHz, its flash kernels about 1900, copies
the top clock (benchmarks/results/h200_duty_2026-11-30.csv). A step runs a mix, and the limiter gives the
mix one clock in between (h200_duty_mix_2026-11-30.csv, h200_profile_graph_2026-11-30.csv), so a GEMM
between memory-bound kernels runs faster than it does alone.

The clock f solves a time-weighted power balance: each op draws (f / its own clock)^exponent of the limit
while a clock-bound term sets its time, and `memory_power` while memory or a fixed latency does;
f is the highest clock, at most the top, at which the step's mean is at most 1. Ops bound by compute
(GEMMs at `gemm_clock`, causal flash programs at `attention_clock`) take time x own clock / f;
everything else keeps its time. Presets without a measured `clock_top_hz` keep every op's time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from costmodel.machine import Machine, Num
from costmodel.op import OpSpec

BISECTION_STEPS = 40
"""Halvings of the clock interval: 2^-40 of the top clock, far below anything measured."""


@dataclass(frozen=True)
class ClockedOp:
    """One op's terms at the preset's clocks, as arrays over design points (cycles of `Machine.frequency`)."""

    spec: OpSpec | None
    """None for a collective: its time is all fixed."""
    compute: Num
    """Compute cycles at the clock its rate was measured at."""
    on_chip: Num
    """The slowest on-chip level's cycles (these levels are taken not to follow the clock)."""
    off_chip: Num
    """Off-chip cycles, at the op's off-chip rate."""
    fixed: Num
    """Cycles nothing overlaps: the kernel's launch and prologue."""


def clock_modelled(machine: Machine) -> bool:
    """Whether the preset (any of a sweep's) measured what the step clock needs."""
    return bool(np.any(np.asarray(machine.clock_top) > 0))


def _positive(clock: Num, f: np.ndarray) -> np.ndarray:
    """A preset's own clock, or f where it has none (a sweep's presets without the clock model)."""
    clock = np.asarray(clock, dtype=float)
    return np.where(clock > 0, clock, f)


def _times(machine: Machine, ops: list[ClockedOp], f: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each op's cycles at clock f (Hz, per point) and the share of the power limit it draws there."""
    times, powers = [], []
    exponent, memory = np.asarray(machine.clock_power_exponent), np.asarray(machine.memory_power)
    for op in ops:
        compute, on_chip, off_chip = (np.asarray(x, dtype=float) for x in (op.compute, op.on_chip, op.off_chip))
        spec = op.spec
        causal = np.asarray(spec.density if spec else 1.0) < 1
        clocked = np.zeros_like(f)
        own: Num = f
        if spec is None:
            pass
        elif spec.gemm is not None and (not spec.flash or np.any(causal)):
            own = _positive(machine.attention_clock if spec.flash else machine.gemm_clock, f)
            follows = causal if spec.flash else True
            # On-chip levels run on the SM clock too: the kernel's whole on-chip pipeline follows it.
            inner = np.maximum(compute, on_chip)
            compute = np.where(follows, inner * own / f, compute)
            on_chip = np.where(follows, 0.0, on_chip)
            clocked = np.where(follows, compute, 0.0)
        body = np.maximum(np.maximum(compute, on_chip), off_chip)
        time = body + op.fixed
        draws = np.where((clocked > 0) & (clocked >= body), (f / own) ** exponent, memory)
        times.append(time)
        powers.append(draws)
    return times, powers


def balanced_clock(mean_draw: Callable[[np.ndarray], np.ndarray], top: np.ndarray) -> np.ndarray:
    """The highest clock, at most `top` (per point), at which `mean_draw(f)` (a step's time-weighted share of
    the power limit, rising with f) is at most 1."""
    low, high = np.zeros_like(top), top.copy()
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        over = mean_draw(np.maximum(middle, 1.0)) > 1
        high, low = np.where(over, middle, high), np.where(over, low, middle)
    return np.where(mean_draw(top) <= 1, top, np.maximum(low, 1.0))


def step_clock(machine: Machine, ops: list[ClockedOp], points: int = 1) -> tuple[np.ndarray, list[np.ndarray]]:
    """The clock the step holds (Hz, per point; `machine.frequency` where the preset does not model it) and
    each op's cycles at it (cycles of `machine.frequency`)."""
    top = np.broadcast_to(np.asarray(machine.clock_top, dtype=float), (points,))
    modelled = top > 0
    top = np.where(modelled, top, np.broadcast_to(np.asarray(machine.frequency, dtype=float), (points,)))

    def mean_draw(f: np.ndarray) -> np.ndarray:
        times, powers = _times(machine, ops, f)
        total = sum(times, np.zeros(points))
        drawn = sum((t * p for t, p in zip(times, powers, strict=True)), np.zeros(points))
        return drawn / np.maximum(total, 1e-30)

    # Times beyond the float range (absurd hardware files) draw nan, never over the limit: the top clock.
    with np.errstate(over="ignore", invalid="ignore"):
        f = np.where(modelled, balanced_clock(mean_draw, top), top)
        at_f = _times(machine, ops, f)[0]
    as_measured = [np.maximum(np.maximum(op.compute, op.on_chip), op.off_chip) + op.fixed for op in ops]
    times = [np.where(modelled, t, m) for t, m in zip(at_f, as_measured, strict=True)]
    return f, times
