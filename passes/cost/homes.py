"""Placement homes: the memory level every tensor of a layer lives in, flash-style fusion included."""

from __future__ import annotations

from xdsl.dialects import func
from xdsl.ir import Operation, SSAValue

from dialects import la
from dialects.mesh import CollectiveOp
from passes.cost.gemm import Placement
from passes.cost.machine import Machine
from passes.cost.ops import flash_group, task_operands


def fused_values(function: func.FuncOp) -> set[SSAValue]:
    """Flash-style fusion: attention scores and probabilities never leave the tile level.

    The softmax's input and output, and the partial scores summed into its input,
    are produced and consumed tile by tile, so they stay on chip whatever their size.
    """
    fused: set[SSAValue] = set()
    for op in function.body.walk():
        if isinstance(op, la.SoftmaxOp):
            fused |= {op.input, op.result}
            if isinstance(op.input.owner, la.AddOp):
                fused |= set(op.input.owner.operands)
    return fused


def assign_homes(function: func.FuncOp, machine: Machine) -> dict[SSAValue, str]:
    """The memory level each tensor lives in.

    Inputs, outputs, weights, KV caches and what collectives between devices send live off chip; fused attention
    intermediates at the tile level; other intermediates in the outermost
    on-chip level while the live ones fit its capacity, else off chip (spilled).
    """
    dram, on_chip, tile = machine.dram.name, machine.tile_level.name, machine.array_level.name
    homes: dict[SSAValue, str] = dict.fromkeys(function.args, dram)
    returned = {v for op in function.body.walk() if isinstance(op, func.ReturnOp | CollectiveOp) for v in op.operands}
    fused = fused_values(function)
    ops = list(function.body.walk())
    position = {op: i for i, op in enumerate(ops)}
    last_use: dict[SSAValue, int] = {
        v: max((position[u.operation] for u in v.uses), default=i) for i, o in enumerate(ops) for v in o.results
    }
    live: dict[SSAValue, int] = {}
    for i, op in enumerate(ops):
        live = {v: b for v, b in live.items() if last_use[v] >= i}
        for result in op.results:
            if isinstance(op, la.WeightOp | la.PrecomposeOp | la.KvLoadOp):
                homes[result] = dram
            elif isinstance(op, la.ConcatOp):
                homes[result] = homes[op.lhs]
            elif isinstance(op, la.BroadcastOp):
                homes[result] = homes[op.input]
            elif result in returned:
                homes[result] = dram
            elif result in fused:
                homes[result] = tile
            elif sum(live.values()) + la.tensor_bytes(result.type) <= machine.on_chip_capacity:
                homes[result] = on_chip
                live[result] = la.tensor_bytes(result.type)
            else:
                homes[result] = dram
    return homes


def placement_of(op: Operation, homes: dict[SSAValue, str], machine: Machine) -> Placement:
    """Where `op` reads each operand from and writes its result to. Inside a flash group an operand that an
    earlier member already loads (MLA's latent, key and value at once) comes from the tile that load filled."""
    result = machine.dram.name if isinstance(op, la.KvStoreOp) else homes[op.results[0]]
    group = flash_group(op)
    loaded = {v for member in group[: group.index(op)] for v in member.operands} if group else set()
    operands = tuple(machine.array_level.name if v in loaded else homes[v] for v in task_operands(op))
    return Placement(operands, result)
