"""`place`: stage 5, every tensor a step touches gets a memory level, recorded on the ops that move it.

Rules (costmodel/placement.py `assign_homes`): inputs, outputs, weights and KV caches
live off chip; attention scores and probabilities are fused flash-style and
stay at the tile level whatever their size; other intermediates stay in the
outermost on-chip level while the live ones fit its capacity, and spill off
chip otherwise. Each op that computes or stores gets `mem.place`: the level
each operand is read from and the level its result is written to; a
`mem.transfer` before it for each operand that comes down to the innermost
level and after it for a result that goes up, with the bytes its tiling moves.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.passes import ModulePass

from costmodel import (
    Machine,
    Placement,
    assign_homes,
    is_task,
    layer_functions,
    machine_of_module,
    moved_bytes,
    op_spec,
    placement_of,
    task_operands,
    tiling_of,
)
from dialects import la
from dialects.mem import PLACE_KEY, PlaceAttr, TransferOp


@dataclass(frozen=True)
class PlacePass(ModulePass):
    name = "place"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        machine = machine_of_module(op)
        for function in layer_functions(op):
            homes = assign_homes(function, machine)
            for task in list(function.body.walk()):
                if is_task(task):
                    placement = placement_of(task, homes, machine)
                    task.attributes[PLACE_KEY] = PlaceAttr(list(placement.operands), placement.result)
                    _insert_transfers(task, placement, machine)


def _insert_transfers(task: Operation, placement: Placement, machine: Machine) -> None:
    """A `mem.transfer` for every operand that comes down to the arrays and every result that goes up."""
    inner = machine.array_level.name
    loads, stored = moved_bytes(op_spec(task), tiling_of(task))  # type: ignore[arg-type]
    block = task.parent_block()
    assert block is not None
    for value, home, moved in zip(task_operands(task), placement.operands, loads, strict=True):
        if home != inner:
            block.insert_op_before(TransferOp(value, home, inner, round(moved)), task)
    if placement.result != inner:
        written = task.operands[0] if isinstance(task, la.KvStoreOp) else task.results[0]
        block.insert_op_after(TransferOp(written, inner, placement.result, round(stored)), task)
