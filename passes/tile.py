"""`tile`: stage 4, per contraction the tiling that minimises the cost model on the module's hardware.

Reads `#hw.target` from the module; writes `mem.tiling` on every `la.einsum`
(dialects/mem.py says how to read it). The search is exhaustive over
power-of-two tile extents (and each full extent) of the GEMM view's M, N and K
that fit one instance of the innermost memory level, times the choice of
innermost loop (costmodel/traffic.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from costmodel import assign_homes, best_tiling, layer_functions, machine_of_module, op_spec, placement_of
from dialects import la
from dialects.mem import TILING_KEY, TilingAttr


@dataclass(frozen=True)
class TilePass(ModulePass):
    name = "tile"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        machine = machine_of_module(op)
        for function in layer_functions(op):
            homes = assign_homes(function, machine)
            for einsum in function.body.walk():
                if isinstance(einsum, la.EinsumOp):
                    tiling, _ = best_tiling(machine, op_spec(einsum), placement_of(einsum, homes, machine))
                    einsum.attributes[TILING_KEY] = TilingAttr(
                        machine.tile_level.name, tiling.m, tiling.n, tiling.k, tiling.order
                    )
