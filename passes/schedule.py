"""`schedule`: stage 6, the timed schedule of each layer function on the module's hardware.

Builds the dataflow graph of the ops that compute or store (networkx; edges
follow SSA uses through ops that only view data), estimates every op with its
tiling and placement (passes/cost.py), and list-schedules them: ready ops in
order of their longest path to the end, each starting when its inputs are
done and the chip is free. Every op uses all compute units it can fill, so ops
run one after another; transfers overlap compute inside each op. Emits a
`sched.task` after each op and the totals on the function.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import FloatAttr, ModuleOp, f64
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException

from dialects.mem import PLACE_KEY, TILING_KEY, PlaceAttr, TilingAttr
from dialects.sched import TaskOp
from passes.cost import Machine, Placement, Tiling, estimate, is_task, machine_of_module, op_spec


def _task_sources(value: SSAValue) -> set[Operation]:
    """The tasks whose results `value` is made of (through views such as concat and broadcast)."""
    owner = value.owner
    if not isinstance(owner, Operation):
        return set()
    if is_task(owner):
        return {owner}
    return set().union(*(_task_sources(v) for v in owner.operands)) if owner.operands else set()


def dataflow_graph(function: func.FuncOp) -> nx.DiGraph:
    graph = nx.DiGraph()
    for op in function.body.walk():
        if is_task(op):
            graph.add_node(op)
            for operand in op.operands:
                for source in _task_sources(operand):
                    graph.add_edge(source, op)
    return graph


def _tiling(op: Operation) -> Tiling | None:
    attr = op.attributes.get(TILING_KEY)
    if attr is None:
        return None
    assert isinstance(attr, TilingAttr)
    return Tiling(attr.m.data, attr.n.data, attr.k.data, attr.order.data)


def _placement(op: Operation) -> Placement:
    attr = op.attributes.get(PLACE_KEY)
    if not isinstance(attr, PlaceAttr):
        raise PassFailedException(f"schedule needs 'place' first: {op.name} has no {PLACE_KEY}")
    return Placement(tuple(a.data for a in attr.operands), attr.result.data)


def schedule_function(function: func.FuncOp, machine: Machine) -> None:
    graph = dataflow_graph(function)
    remaining = {op: 0.0 for op in graph}
    estimates = {}
    for op in graph:
        spec = op_spec(op)  # type: ignore[arg-type]
        tiling = _tiling(op)
        if spec.gemm is not None and tiling is None:
            raise PassFailedException(f"schedule needs 'tile' first: einsum '{spec.name}' has no {TILING_KEY}")
        estimates[op] = (spec, estimate(machine, spec, _placement(op), tiling))
        remaining[op] = estimates[op][1].cycles
    # Priority: the longest remaining path to the end of the layer (critical-path list scheduling).
    priority = {op: remaining[op] for op in graph}
    for op in reversed(list(nx.topological_sort(graph))):
        priority[op] += max((priority[s] for s in graph.successors(op)), default=0.0)
    finish: dict[Operation, float] = {}
    chip_free = 0.0
    ready = [op for op in graph if graph.in_degree(op) == 0]
    waiting = {op: graph.in_degree(op) for op in graph}
    while ready:
        ready.sort(key=lambda o: -priority[o])
        op = ready.pop(0)
        spec, est = estimates[op]
        start = max([chip_free, *(finish[p] for p in graph.predecessors(op))])
        finish[op] = chip_free = start + est.cycles
        task = TaskOp(
            spec.name,
            spec.kind,
            machine.unit_name,
            est.units,
            start,
            finish[op],
            spec.flops,
            est.bound,
            est.bytes(),
            est.energy_pj,
        )
        function.body.block.insert_op_after(task, op)
        for succ in graph.successors(op):
            waiting[succ] -= 1
            if waiting[succ] == 0:
                ready.append(succ)
    function.attributes["sched.cycles"] = FloatAttr(chip_free, f64)
    function.attributes["sched.energy_pj"] = FloatAttr(sum(e.total_energy_pj for _, e in estimates.values()), f64)


@dataclass(frozen=True)
class SchedulePass(ModulePass):
    name = "schedule"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        machine = machine_of_module(op)
        for function in op.ops:
            if isinstance(function, func.FuncOp):
                schedule_function(function, machine)
