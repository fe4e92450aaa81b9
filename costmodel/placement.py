"""Placement homes: the memory level every tensor of a layer lives in, flash-style fusion included."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.dialects import func
from xdsl.ir import Operation, SSAValue

from costmodel.la_ops import flash_group, task_operands
from costmodel.machine import Machine, Num
from costmodel.op import Placement
from dialects import la
from dialects.mesh import CollectiveOp


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


OFF_CHIP, ON_CHIP, FUSED, SAME = "off-chip", "on-chip", "fused", "same"
"""How a tensor's home is decided: off chip; on chip if it fits beside the live ones; at the innermost level
(flash-fused); or where another tensor lives (a view)."""


def home_rule(
    op: Operation, result: SSAValue, returned: set[SSAValue], fused: set[SSAValue]
) -> tuple[str, SSAValue | None]:
    """The rule for one result, and the tensor a view takes its home from."""
    if isinstance(op, la.WeightOp | la.PrecomposeOp | la.KvLoadOp):
        return OFF_CHIP, None
    if isinstance(op, la.ConcatOp):
        return SAME, op.lhs
    if isinstance(op, la.BroadcastOp):
        return SAME, op.input
    if result in returned:
        return OFF_CHIP, None
    if result in fused:
        return FUSED, None
    return ON_CHIP, None


@dataclass(frozen=True)
class Tensor:
    """What the placement rule needs of one tensor: its rule, the tensor a view follows (an index into the
    list), its bytes (one number, or one per design point), where it is defined and last used."""

    rule: str
    source: int
    bytes: Num
    defined: int
    last_use: int


def place_tensors(tensors: list[Tensor], machine: Machine) -> list[np.ndarray]:
    """The level index (0 = innermost) of each tensor, per design point, tensors in program order: inputs,
    outputs, weights, KV caches and what collectives between devices send live off chip; fused attention
    intermediates at the innermost level; other intermediates in the outermost on-chip level while the
    live ones fit its capacity, else off chip (spilled)."""
    last = len(machine.levels) - 1
    homes: list[np.ndarray] = []
    live: list[tuple[int, np.ndarray]] = []
    for tensor in tensors:
        size = np.asarray(tensor.bytes, dtype=float)
        live = [(end, held) for end, held in live if end >= tensor.defined]
        if tensor.rule == OFF_CHIP:
            home = np.full_like(size, last)
        elif tensor.rule == SAME:
            home = homes[tensor.source]
        elif tensor.rule == FUSED:
            home = np.zeros_like(size)
        else:
            occupied = np.zeros_like(size)
            for _, held in live:
                occupied = occupied + held
            fits = occupied + size <= machine.on_chip_capacity
            home = np.where(fits, last - 1, last)
            live.append((tensor.last_use, np.where(fits, size, 0.0)))
        homes.append(home)
    return homes


def assign_homes(function: func.FuncOp, machine: Machine) -> dict[SSAValue, str]:
    """The memory level each tensor of `function` lives in (`place_tensors`' rule)."""
    returned = {v for op in function.body.walk() if isinstance(op, func.ReturnOp | CollectiveOp) for v in op.operands}
    fused = fused_values(function)
    ops = list(function.body.walk())
    position = {op: i for i, op in enumerate(ops)}
    index: dict[SSAValue, int] = {}
    tensors: list[Tensor] = []

    def last_use(v: SSAValue, default: int) -> int:
        return max((position[u.operation] for u in v.uses), default=default)

    for arg in function.args:
        index[arg] = len(tensors)
        tensors.append(Tensor(OFF_CHIP, -1, la.tensor_bytes(arg.type), -1, last_use(arg, 0)))
    for i, op in enumerate(ops):
        for result in op.results:
            rule, source = home_rule(op, result, returned, fused)
            index[result] = len(tensors)
            source_index = index[source] if source is not None else -1
            tensors.append(Tensor(rule, source_index, la.tensor_bytes(result.type), i, last_use(result, i)))
    names = [level.name for level in machine.levels]
    levels = place_tensors(tensors, machine)
    return {value: names[int(levels[i])] for value, i in index.items()}


def placement_of(op: Operation, homes: dict[SSAValue, str], machine: Machine) -> Placement:
    """Where `op` reads each operand from and writes its result to. Inside a flash group an operand that an
    earlier member already loads (MLA's latent, key and value at once) comes from the tile that load filled."""
    result = machine.dram.name if isinstance(op, la.KvStoreOp) else homes[op.results[0]]
    group = flash_group(op)
    loaded = {v for member in group[: group.index(op)] for v in member.operands} if group else set()
    operands = tuple(machine.array_level.name if v in loaded else homes[v] for v in task_operands(op))
    return Placement(operands, result)
