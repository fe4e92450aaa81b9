"""A layer's figures from its scheduled tasks': the one aggregation both estimators read.

`mlacc.estimates.layer_result` reads one point's `sched.task` ops; the sweep's op-table path
(mlacc/sweep/fast.py) has the same tasks' figures as numpy arrays over many points. Both hand them
here, and the sums come out the same way: every figure is added task by task in program order (so one
point's sums are the same floats whichever path made them), FLOPs as exact integers (Python's or
int64), and the bound is the term the most cycles wait on, of equal sums the one a task named first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class TaskFigures:
    """One task (a `sched.task`) at one point or at every point of a sweep: numbers, or arrays over points."""

    name: str
    kind: str
    flops: Any
    """Integers: Python's, or int64 arrays."""
    bytes: dict[str, Any]
    """Bytes moved per memory level (and the interconnect)."""
    cycles: Any
    energy: dict[str, Any]
    """pJ per component."""
    bound: Any
    """Index of the term the task waits on in the layer's list of terms."""
    kernel: str | None = None
    """The fused kernel it runs inside ('flash'), as `sched.task` says."""
    library: str | None = None
    """The kernel library that runs it, where the hardware names one (`sched.task`'s `library`)."""


@dataclass
class LayerTotals:
    """What a layer's row sums over its tasks."""

    energy: dict[str, Any]
    """pJ per component, components in the order tasks first name them."""
    flops: Any
    dram_bytes: Any
    bound: Any
    """Index into the terms: the one the most cycles wait on."""
    task_energy: list[Any]
    """Each task's pJ, all components."""

    @property
    def energy_pj(self) -> Any:
        return total(self.energy.values())


def total(values: Any) -> Any:
    """The sum of numbers or arrays, added one by one in order from 0 (as Python 3.11's `sum` adds floats, on
    every Python)."""
    out: Any = 0
    for value in values:
        out = out + value
    return out


def layer_totals(tasks: Sequence[TaskFigures], terms: int, dram: str) -> LayerTotals:
    """The sums of a layer's `tasks` (program order) over `terms` possible bounds; `dram`: the outermost level."""
    energy: dict[str, Any] = {}
    for task in tasks:
        for component, pj in task.energy.items():
            energy[component] = energy.get(component, 0.0) + pj
    shape = np.broadcast_shapes(*(np.shape(task.cycles) for task in tasks), *(np.shape(t.bound) for t in tasks))
    by_bound = np.zeros((terms, *shape))
    first = np.full((terms, *shape), len(tasks))
    for i, task in enumerate(tasks):
        bound = np.broadcast_to(task.bound, shape)
        mine = np.arange(terms).reshape(-1, *([1] * len(shape))) == bound
        by_bound = by_bound + np.where(mine, task.cycles, 0.0)
        first = np.where(mine, np.minimum(first, i), first)
    # The bound most cycles wait on; of equal sums, the one a task named first (as `max` over a dict does).
    order = np.lexsort((first.reshape(terms, -1), -by_bound.reshape(terms, -1)), axis=0)[0].reshape(shape)
    return LayerTotals(
        energy=energy,
        flops=total(task.flops for task in tasks),
        dram_bytes=total(task.bytes.get(dram, 0.0) for task in tasks),
        bound=order if shape else int(order),
        task_energy=[total(task.energy.values()) for task in tasks],
    )
