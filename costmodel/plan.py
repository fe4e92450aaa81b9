"""The list-scheduling plan: tasks of a layer onto the cores of a chip, along the dataflow graph."""

from __future__ import annotations

from dataclasses import dataclass, replace

import networkx as nx
from xdsl.dialects import func
from xdsl.ir import Operation, SSAValue

from costmodel.clock import ClockedOp, clock_modelled, step_clock
from costmodel.collectives import estimate_collective, is_collective
from costmodel.estimate import estimate
from costmodel.la_ops import is_task, op_spec
from costmodel.machine import Machine, Num
from costmodel.op import Estimate, OpSpec, Placement, Tiling
from costmodel.placement import fused_values
from dialects import la
from dialects.mesh import CollectiveOp


def _task_sources(value: SSAValue) -> set[Operation]:
    """The tasks whose results `value` is made of (through views such as concat and broadcast)."""
    owner = value.owner
    if not isinstance(owner, Operation):
        return set()
    if is_task(owner) or is_collective(owner):
        return {owner}
    return set().union(*(_task_sources(v) for v in owner.operands)) if owner.operands else set()


def dataflow_graph(function: func.FuncOp) -> nx.DiGraph:
    """Tasks (and collectives between devices) and the data dependencies between them (through views)."""
    graph = nx.DiGraph()
    for op in function.body.walk():
        if is_task(op) or is_collective(op):
            graph.add_node(op)
            for operand in op.operands:
                for source in _task_sources(operand):
                    graph.add_edge(source, op)
    return graph


@dataclass(frozen=True)
class Slot:
    """Where and when one task runs: the cores it occupies, its cycles, and the bytes it received from other cores."""

    cores: tuple[int, ...]
    start: float
    end: float
    estimate: Estimate
    interconnect_bytes: float
    clock: float = 0.0
    """The SM clock (Hz) the step holds under the power limit; 0 where the preset does not model it."""


def plan(
    function: func.FuncOp,
    machine: Machine,
    placements: dict[Operation, Placement],
    tilings: dict[Operation, Tiling | None],
) -> dict[Operation, Slot]:
    """Critical-path list scheduling of a layer's tasks onto the chip's cores.

    Ready tasks go in order of their longest path to the end of the layer. On a
    multi-core chip each task runs either on every core (split, as on a
    one-core chip) or on one core with that core's share of the units, on-chip
    memory and off-chip bandwidth, whichever finishes first. A result kept on
    chip and consumed on other cores crosses the interconnect (all of it between
    two single cores, (cores - 1) / cores of it between one core and all; none
    between two split tasks, which split alike); flash-fused attention stays
    where it was produced.
    """
    graph = dataflow_graph(function)
    fused = fused_values(function)
    count = machine.cores
    core = machine.per_core() if count > 1 else None

    specs = {op: None if isinstance(op, CollectiveOp) else op_spec(op) for op in graph}  # type: ignore[arg-type]

    def cost(on: Machine, op: Operation) -> Estimate:
        spec = specs[op]
        if spec is None:
            return estimate_collective(on, op)  # type: ignore[arg-type]
        return estimate(on, spec, placements[op], tilings[op])

    full = {op: cost(machine, op) for op in graph}
    clock = 0.0
    if count == 1 and clock_modelled(machine):
        clock, full = at_step_clock(machine, specs, full)
    single = {op: cost(core, op) for op in graph} if core else {}
    priority = {op: full[op].cycles for op in graph}
    for op in reversed(list(nx.topological_sort(graph))):
        priority[op] += max((priority[s] for s in graph.successors(op)), default=0.0)
    everyone = tuple(range(count))
    options = [everyone, *((c,) for c in range(count))] if count > 1 else [everyone]
    free = [0.0] * count
    slots: dict[Operation, Slot] = {}
    waiting = {op: graph.in_degree(op) for op in graph}
    ready = [op for op in graph if waiting[op] == 0]
    while ready:
        ready.sort(key=lambda o: -priority[o])
        op = ready.pop(0)
        best: Slot | None = None
        for cores in options:
            preds = [(p, slots[p]) for p in graph.predecessors(op)]
            if any(set(p.results) & fused and slot.cores != cores for p, slot in preds):
                continue  # a fused pipeline stays on its cores
            arrive, received = 0.0, 0.0
            for p, slot in preds:
                moved = crossing_bytes(p, slot.cores, cores, count, placements[p], machine)
                received += moved
                link = machine.interconnect_bandwidth * len(cores)
                arrive = max(arrive, slot.end + (float(moved / link) if moved else 0.0))
            est = full[op] if cores == everyone else single[op]
            start = max(arrive, *(free[c] for c in cores))
            if best is None or start + est.cycles < best.end - 1e-9:
                best = Slot(cores, start, start + est.cycles, est, received, clock)
        assert best is not None
        slots[op] = best
        for c in best.cores:
            free[c] = best.end
        for succ in graph.successors(op):
            waiting[succ] -= 1
            if waiting[succ] == 0:
                ready.append(succ)
    return slots


def at_step_clock(
    machine: Machine, specs: dict[Operation, OpSpec | None], estimates: dict[Operation, Estimate]
) -> tuple[float, dict[Operation, Estimate]]:
    """The clock a one-core chip's step holds and its ops' estimates at that clock (costmodel/clock.py);
    `specs` holds None for a collective."""
    ops = list(estimates)
    clocked = [clocked_op(machine, specs[op], estimates[op]) for op in ops]
    clock, cycles = step_clock(machine, clocked)
    return float(clock[0]), {op: replace(estimates[op], cycles=float(c[0])) for op, c in zip(ops, cycles, strict=True)}


def clocked_op(machine: Machine, spec: OpSpec | None, est: Estimate) -> ClockedOp:
    """An estimate's terms as the clock model reads them (a collective: all fixed time)."""
    if spec is None:
        return ClockedOp(None, 0.0, 0.0, 0.0, est.cycles)
    dram = machine.dram.name
    on_chip = max((c for name, c in est.level_cycles.items() if name != dram), default=0.0)
    off_chip = est.level_cycles.get(dram, 0.0)
    body = max(est.compute_cycles, on_chip, off_chip)
    return ClockedOp(spec, est.compute_cycles, on_chip, off_chip, est.cycles - body)


def crossing_bytes(
    producer: Operation,
    source: tuple[int, ...],
    dest: tuple[int, ...],
    count: int,
    placement: Placement,
    machine: Machine,
) -> float:
    """Bytes of `producer`'s result that move between cores to reach a task on `dest`."""
    if not producer.results or placement.result == machine.dram.name or source == dest:
        return 0.0
    size = float(la.tensor_bytes(producer.results[0].type))
    if len(source) == len(dest) == count:
        return 0.0
    if len(source) == len(dest) == 1:
        return size
    return size * (count - 1) / count


def collective_placement(machine: Machine) -> Placement:
    """A collective reads and writes device memory (NCCL's buffers live in HBM)."""
    return Placement((machine.dram.name,), machine.dram.name)


def static_energy_pj(slot: Slot, machine: Machine) -> float:
    """The chip's static power over the slot's time, in the share of the chip's cores the slot occupies."""
    return float(static_pj(machine, slot.end - slot.start, len(slot.cores)))


def static_pj(machine: Machine, cycles: Num, cores: int) -> Num:
    """Static power (with the busy floor a GPU preset's kernels add to it) x the time of `cycles`, for `cores` of
    the chip's cores (cycles: one number, or an array over design points)."""
    return (machine.static_power + machine.busy_power) * cycles / machine.frequency * 1e12 * cores / machine.cores


def layer_cycles_and_energy(slots: dict[Operation, Slot], machine: Machine) -> tuple[float, float]:
    cycles = max((slot.end for slot in slots.values()), default=0.0)
    energy = sum(
        slot.estimate.total_energy_pj
        + float(slot.interconnect_bytes * machine.interconnect_energy)
        + static_energy_pj(slot, machine)
        for slot in slots.values()
    )
    return cycles, energy
