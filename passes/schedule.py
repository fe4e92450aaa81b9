"""`schedule`: stage 6, the timed schedule of each layer function on the module's hardware.

Builds the dataflow graph of the ops that compute or store (networkx; edges
follow SSA uses through ops that only view data), estimates every op with the
tiling and placement in the IR, and list-schedules them (costmodel/plan.py
`plan`): ready ops by longest path to the end; on a one-core chip each op uses
all the units it can fill, so ops run one after another; on a multi-core chip
an op runs on every core or on one, whichever finishes first, and results
crossing cores pay the interconnect. Transfers overlap compute inside each op.
Collectives between devices (after `shard`) are tasks too, on the `interconnect`,
timed by the ring model of costmodel/collectives.py. Emits a `sched.task`
after each op and the totals on the function.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import FloatAttr, ModuleOp, f64
from xdsl.ir import Operation
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException

from costmodel import (
    LINK,
    Machine,
    Placement,
    Tiling,
    collective_placement,
    is_collective,
    is_task,
    layer_cycles_and_energy,
    layer_functions,
    machine_of_module,
    op_spec,
    plan,
    static_energy_pj,
    tiling_of,
)
from dialects import la
from dialects.mem import PLACE_KEY, TILING_KEY, PlaceAttr
from dialects.mesh import CollectiveOp
from dialects.sched import TaskOp


def _placement(op: Operation) -> Placement:
    attr = op.attributes.get(PLACE_KEY)
    if not isinstance(attr, PlaceAttr):
        raise PassFailedException(f"schedule needs 'place' first: {op.name} has no {PLACE_KEY}")
    return Placement(tuple(a.data for a in attr.operands), attr.result.data)


def schedule_function(function: func.FuncOp, machine: Machine) -> None:
    placements: dict[Operation, Placement] = {}
    tilings: dict[Operation, Tiling | None] = {}
    for op in function.body.walk():
        if is_collective(op):
            placements[op], tilings[op] = collective_placement(machine), None
        elif is_task(op):
            tilings[op] = tiling_of(op)
            if isinstance(op, la.EinsumOp) and tilings[op] is None:
                name = op.result.name_hint or "?"
                raise PassFailedException(f"schedule needs 'tile' first: einsum '{name}' has no {TILING_KEY}")
            placements[op] = _placement(op)
    slots = plan(function, machine, placements, tilings)
    for op, slot in slots.items():
        if isinstance(op, CollectiveOp):
            energy = dict(slot.estimate.energy_pj)
            if machine.static_power:
                energy["static"] = static_energy_pj(slot, machine)
            name = op.result.name_hint or op.KIND
            bytes_moved = slot.estimate.bytes()
            task = TaskOp(name, op.KIND, LINK, 1, slot.start, slot.end, 0, LINK, bytes_moved, energy)
            function.body.block.insert_op_after(task, op)
            continue
        spec, est = op_spec(op), slot.estimate  # type: ignore[arg-type]
        if machine.cores == 1:
            unit = machine.unit_name
        else:
            unit = "all cores" if len(slot.cores) == machine.cores else f"core {slot.cores[0]}"
        moved, energy = est.bytes(), dict(est.energy_pj)
        if machine.static_power:
            energy["static"] = static_energy_pj(slot, machine)
        if machine.cores > 1:
            moved["interconnect"] = slot.interconnect_bytes
            energy["interconnect"] = float(slot.interconnect_bytes * machine.interconnect_energy)
        flops = int(spec.flops)
        task = TaskOp(spec.name, spec.kind, unit, est.units, slot.start, slot.end, flops, est.bound, moved, energy,
                      spec.kernel, machine.library(spec.op_class))  # fmt: skip
        function.body.block.insert_op_after(task, op)
    cycles, energy_pj = layer_cycles_and_energy(slots, machine)
    function.attributes["sched.cycles"] = FloatAttr(cycles, f64)
    function.attributes["sched.energy_pj"] = FloatAttr(energy_pj, f64)
    clock = max((slot.clock for slot in slots.values()), default=0.0)
    if clock:
        function.attributes["sched.clock_hz"] = FloatAttr(clock, f64)


@dataclass(frozen=True)
class SchedulePass(ModulePass):
    name = "schedule"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        machine = machine_of_module(op)
        for function in layer_functions(op):
            schedule_function(function, machine)
