"""`place`: stage 5, every tensor a step touches gets a memory level, recorded on the ops that move it.

Rules (passes/cost.py `assign_homes`): inputs, outputs, weights and KV caches
live off chip; attention scores and probabilities are fused flash-style and
stay at the tile level whatever their size; other intermediates stay in the
outermost on-chip level while the live ones fit its capacity, and spill off
chip otherwise. Each op that computes or stores gets `mem.place`: the level
each operand is read from and the level its result is written to.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from dialects.mem import PLACE_KEY, PlaceAttr
from passes.cost import assign_homes, is_task, machine_of_module, placement_of


@dataclass(frozen=True)
class PlacePass(ModulePass):
    name = "place"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        machine = machine_of_module(op)
        for function in op.ops:
            if not isinstance(function, func.FuncOp):
                continue
            homes = assign_homes(function, machine)
            for task in function.body.walk():
                if is_task(task):
                    placement = placement_of(task, homes, machine)
                    task.attributes[PLACE_KEY] = PlaceAttr(list(placement.operands), placement.result)
