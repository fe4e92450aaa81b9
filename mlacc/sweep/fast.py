"""The op-table fast path: many design points of one op table at once, with the cost model's own functions.

`tile`, `place` and `schedule` estimate one point by calling costmodel/ on one `la` op at a time; here
the same functions run on numpy arrays whose entries are design points (batch, context and the rates,
energies and latencies of the chips, which `stack` lays out per point): the placement rule
(`place_tensors`), the tiling search (`best_tilings`), every op's estimate (`op_estimates`), ring
collectives (`collective_cycles`), the live-activation peak (`peak_bytes`) and the largest batch
(`max_batch`'s formula). The schedule of a one-core chip is its tasks one after another, as `plan` lays
them out there; chips of several cores (list scheduling across cores) take the IR path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel import LINK, Gemm, Machine, OpSpec, collective_cycles, ring_factor
from costmodel.attention import FlashShape
from costmodel.clock import ClockedOp, clock_modelled, step_clock
from costmodel.estimate import op_estimates
from costmodel.la_ops import causal_fraction
from costmodel.op import LevelIndices
from costmodel.placement import Tensor, place_tensors
from costmodel.plan import static_pj
from costmodel.tiles import best_tilings
from mlacc.aggregate import LayerTotals, TaskFigures, layer_totals, total
from mlacc.sweep.optable import OpTable, Task
from mlacc.whole_model import RestOfModel
from passes.accounting import peak_bytes


@dataclass
class TableResult:
    """One op table at every point: the fields of `LayerResult` that vary, as arrays over points."""

    terms: list[str]
    """Names of the bounds: compute, each memory level, the interconnect."""
    tasks: list[TaskFigures]
    """Each task at every point; its `bound` indexes `terms`."""
    totals: LayerTotals
    """`layer_totals` of the tasks: the sums `layer_result` makes of the same tasks."""
    cycles: np.ndarray
    plan_energy: np.ndarray
    """Energy as `layer_cycles_and_energy` sums it (for `auto`'s choice)."""
    kv_cache_bytes: np.ndarray
    weight_bytes: np.ndarray
    activation_bytes: np.ndarray
    clock_hz: np.ndarray
    """The SM clock each point's step holds (`sched.clock_hz`); 0 where its preset does not model it."""

    @property
    def resident_bytes(self) -> np.ndarray:
        return self.weight_bytes + self.kv_cache_bytes + self.activation_bytes


def evaluate_table(
    table: OpTable,
    machine: Machine,
    batch: np.ndarray,
    context: np.ndarray,
    new_tokens: int,
    shared: dict[tuple[object, ...], tuple[np.ndarray, ...]] | None = None,
) -> TableResult:
    """`table` at per-device batch `batch` and `context` (arrays over points) on `machine` (one core; its rates
    may be arrays over the same points). `shared` keeps the tilings found, for other tables of the same
    points (the schemes of a layer share most of their contractions)."""
    # Everything but rates depends on the workload alone: it is found once per (batch, context).
    workloads, workload = np.unique(np.stack([batch, context]), axis=1, return_inverse=True)
    workload = workload.reshape(-1)
    numbers = table.integers(workloads[0], workloads[1])
    reals = numbers.astype(float)  # what the cost model reads: each exact integer rounded once, as `float(int)`
    points = len(batch)

    def integer(index: int) -> np.ndarray:
        return reals[index]

    levels = [level.name for level in machine.levels]
    terms = ["compute", *levels, LINK]
    homes = place_tensors(
        [Tensor(v.rule, v.source, integer(v.bytes), v.defined, v.last_use) for v in table.values], machine
    )
    innermost, off_chip = np.zeros(len(workloads[0])), np.full(len(workloads[0]), len(levels) - 1.0)
    tasks: list[TaskFigures] = []
    tilings: dict[tuple[object, ...], tuple[np.ndarray, ...]] = {} if shared is None else shared
    static = bool(np.any(machine.static_power))  # the same for every point: part of `Machine.shape`
    clocked: list[ClockedOp] = []
    for task in table.tasks:
        if task.collective:
            size = integer(task.result_bytes)[workload]
            sent = size * ring_factor(task.collective, task.group)
            cycles = np.broadcast_to(collective_cycles(machine, task.collective, size, task.group), (points,))
            energy = {LINK: sent * machine.link_energy}
            moved = {LINK: sent + 0.0}
            bound = np.full(points, len(terms) - 1)
            flops = np.zeros(points, dtype=np.int64)
            kernel, library = None, None
            clocked.append(ClockedOp(None, 0.0, 0.0, 0.0, cycles))
        else:
            density: np.ndarray | float = 1.0
            if task.causal is not None:
                density = causal_fraction(integer(task.causal[0]), integer(task.causal[1]))
            gemm = None
            if task.extents:
                gemm = Gemm(dict(task.gemm_letters), {c: integer(i) for c, i in zip("gmnk", task.extents, strict=True)})
            spec = OpSpec(
                name=task.name,
                kind=task.kind,
                dtype=task.dtype,
                element_bytes=task.element_bytes,
                flops=np.rint(integer(task.flops) * density),
                operand_bytes=tuple(integer(i) for i in task.operand_bytes),
                result_bytes=integer(task.result_bytes),
                gemm=gemm,
                attention=None
                if task.attention_kernel is None
                else FlashShape(
                    kernel=task.attention_kernel,
                    decode=task.decode,
                    **{name: integer(i) for name, i in zip(FlashShape.NUMBERS, task.flash, strict=True)},
                ),
                density=density,
                launch=task.launch,
            )
            placement = LevelIndices(
                tuple(innermost if v < 0 else homes[v] for v in task.operands),
                off_chip if task.result < 0 else homes[task.result],
            )
            tiling = None
            if gemm is not None:
                tiling = _tilings(machine, task, spec, placement, workload, tilings)
            spec, placement = spec.take(workload), placement.take(workload)
            est = op_estimates(machine, spec, placement, tiling)
            cycles = est.cycles
            moved = {name: est.reads[i] + est.writes[i] for i, name in enumerate(levels)}
            energy = {"mac": est.energy[0], **{name: est.energy[i + 1] for i, name in enumerate(levels)}}
            bound = est.bound
            flops = np.asarray(spec.flops).astype(np.int64)  # rint of float(op FLOPs) x density, as `op_spec`'s
            kernel, library = spec.kernel, machine.library(spec.op_class)
            body = np.max(np.vstack([est.compute_cycles, est.level_cycles]), axis=0)
            on_chip = np.max(est.level_cycles[:-1], axis=0) if len(levels) > 1 else np.zeros(points)
            clocked.append(ClockedOp(spec, est.compute_cycles, on_chip, est.level_cycles[-1], cycles - body))
        tasks.append(TaskFigures(task.name, task.kind, flops, moved, cycles, energy, bound, kernel, library))
    clock = np.zeros(points)
    if clock_modelled(machine):
        clock, times = step_clock(machine, clocked, points)
        clock = np.where(np.asarray(machine.clock_top) > 0, clock, 0.0)
        for result, cycles in zip(tasks, times, strict=True):
            result.cycles = cycles
    for result in tasks:
        if static:
            result.energy["static"] = np.asarray(static_pj(machine, result.cycles, 1), dtype=float)
    numbers = numbers[:, workload]
    return _totals(table, machine, terms, tasks, numbers, batch, context, new_tokens, clock)


def _tilings(
    machine: Machine,
    task: Task,
    spec: OpSpec,
    placement: LevelIndices,
    workload: np.ndarray,
    found: dict[tuple[object, ...], tuple[np.ndarray, ...]],
) -> tuple[np.ndarray, ...]:
    """The best tiling of a contraction at every point, searched once per distinct (shapes, homes) of the op:
    an op whose shapes follow the batch only has a few, whatever the contexts."""
    assert spec.gemm is not None
    rows = np.shape(spec.result_bytes)
    values = (*spec.gemm.extents.values(), *spec.operand_bytes, spec.result_bytes, spec.density,
              spec.attention.keys if spec.attention else 0)  # fmt: skip
    features = np.stack(
        [*(np.broadcast_to(np.asarray(x, dtype=float), rows) for x in values), *placement.operands, placement.result]
    )
    key = (
        task.name,
        task.kind,
        task.dtype,
        task.attention_kernel,
        task.decode,
        task.launch,
        task.gemm_letters,
        features.tobytes(),
    )
    if key not in found:
        rows, inverse = np.unique(features, axis=1, return_inverse=True)
        inverse = inverse.reshape(-1)
        first = np.zeros(rows.shape[1], dtype=int)
        first[inverse[::-1]] = np.arange(len(inverse))[::-1]
        found[key] = (*best_tilings(machine, spec.take(first), placement.take(first), inverse[workload]),)
    return found[key]


def _totals(
    table: OpTable,
    machine: Machine,
    terms: list[str],
    tasks: list[TaskFigures],
    numbers: np.ndarray,
    batch: np.ndarray,
    context: np.ndarray,
    new_tokens: int,
    clock: np.ndarray,
) -> TableResult:
    """The layer's figures from its tasks': the one-core schedule's (its tasks one after another, as `plan`
    lays them out and sums them), `layer_totals`' sums, and the counts of passes/accounting.py (exact)."""
    cycles: np.ndarray | float = 0.0
    plan_energy: np.ndarray | float = 0.0
    for task in tasks:
        cycles = cycles + task.cycles
        dynamic = total(pj for component, pj in task.energy.items() if component != "static")
        plan_energy = plan_energy + (dynamic + 0.0 + task.energy.get("static", 0.0))
    kv_write = numbers[table.kv_write_bytes]
    kv_per_token = np.floor_divide(kv_write, batch * new_tokens)
    spans = [(s, e, numbers[b]) for s, e, b in table.activation_spans]
    points = len(batch)
    return TableResult(
        terms=terms,
        tasks=tasks,
        totals=layer_totals(tasks, len(terms), machine.dram.name),
        cycles=np.broadcast_to(cycles, (points,)),
        plan_energy=np.broadcast_to(plan_energy, (points,)),
        kv_cache_bytes=kv_per_token * batch * (context + new_tokens),
        weight_bytes=numbers[table.weight_bytes],
        activation_bytes=np.broadcast_to(peak_bytes(spans, table.positions), (points,)),
        clock_hz=clock,
    )


def max_batch(
    layers: int,
    result: TableResult,
    batch: np.ndarray,
    capacity: np.ndarray,
    rest: RestOfModel | None = None,
    tp: int = 1,
    dp: int = 1,
) -> np.ndarray:
    """mlacc/whole_model.py `max_batch` at every point: the most sequences whose caches (all layers) and
    activations (one layer) fit beside all the weights (with `rest`, a `RestOfModel`, every weight of the model,
    in the memory its default utilization leaves, as `model_totals` counts them)."""
    from mlacc.whole_model import max_batch as largest
    from mlacc.whole_model import rest_bytes_per_gpu, utilization_of

    kv_per_sequence = np.floor_divide(result.kv_cache_bytes, batch)
    activations_per_sequence = -np.floor_divide(-result.activation_bytes, batch)
    usable = np.floor(capacity * utilization_of(rest, None)).astype(np.int64) if rest is not None else capacity
    other = rest_bytes_per_gpu(rest, layers, tp, dp)
    return largest(layers, result.weight_bytes, kv_per_sequence, activations_per_sequence, usable, other)
