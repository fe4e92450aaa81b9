"""The `mem` dialect: how an `la` op is tiled and where its tensors live (stages 4 and 5).

`tile` sets `mem.tiling` on every contraction: the tile extents of its GEMM
view (M: output letters of the left operand only, N: of the right operand
only, K: summed letters; batch letters, in all three, are never tiled) at the
innermost memory level, and the loop order over tiles, outermost first.
`place` sets `mem.place` on every op that computes or stores: the memory level
each operand is read from and the result is written to; and makes every
transfer between levels explicit as a `mem.transfer` next to the op that needs
it, with the bytes the op's tiling moves (re-reads included).
"""

from __future__ import annotations

from xdsl.dialects.builtin import I64, ArrayAttr, IntAttr, IntegerAttr, StringAttr, TensorType, i64
from xdsl.ir import Dialect, ParametrizedAttribute, SSAValue
from xdsl.irdl import IRDLOperation, irdl_attr_definition, irdl_op_definition, operand_def, prop_def

TILING_KEY = "mem.tiling"
PLACE_KEY = "mem.place"


@irdl_attr_definition
class TilingAttr(ParametrizedAttribute):
    """`#mem.tiling<"smem", m 64, n 128, k 512, "mnk">`, in generic form."""

    name = "mem.tiling"

    level: StringAttr
    m: IntAttr
    n: IntAttr
    k: IntAttr
    order: StringAttr

    def __init__(self, level: str, m: int, n: int, k: int, order: str):
        super().__init__(StringAttr(level), IntAttr(m), IntAttr(n), IntAttr(k), StringAttr(order))


@irdl_attr_definition
class PlaceAttr(ParametrizedAttribute):
    """The level each operand is read from, and the level the result is written to."""

    name = "mem.place"

    operands: ArrayAttr[StringAttr]
    result: StringAttr

    def __init__(self, operands: list[str], result: str):
        super().__init__(ArrayAttr([StringAttr(o) for o in operands]), StringAttr(result))


@irdl_op_definition
class TransferOp(IRDLOperation):
    """`bytes` of `value` move from level `source` to level `dest` for the adjacent op (before it: operands
    coming down; after it: results going up). It marks traffic; the value itself is unchanged."""

    name = "mem.transfer"

    value = operand_def(TensorType)
    source = prop_def(StringAttr)
    dest = prop_def(StringAttr)
    bytes = prop_def(IntegerAttr[I64])
    assembly_format = "$value $source `->` $dest `bytes` `=` $bytes attr-dict `:` type($value)"

    def __init__(self, value: SSAValue, source: str, dest: str, moved: int):
        super().__init__(
            operands=[value],
            properties={"source": StringAttr(source), "dest": StringAttr(dest), "bytes": IntegerAttr(moved, i64)},
        )


Mem = Dialect("mem", [TransferOp], [TilingAttr, PlaceAttr])
