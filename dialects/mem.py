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

from collections.abc import Sequence

from xdsl.dialects.builtin import I64, ArrayAttr, IntAttr, IntegerAttr, StringAttr, TensorType, i64
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute, SSAValue
from xdsl.irdl import IRDLOperation, irdl_attr_definition, irdl_op_definition, operand_def, prop_def
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

TILING_KEY = "mem.tiling"
PLACE_KEY = "mem.place"


@irdl_attr_definition
class TilingAttr(ParametrizedAttribute):
    """`#mem.tiling<"l2", m = 64, n = 128, k = 512, order = "mkn">`: tile extents and loop order (innermost last)."""

    name = "mem.tiling"

    level: StringAttr
    m: IntAttr
    n: IntAttr
    k: IntAttr
    order: StringAttr

    def __init__(self, level: str, m: int, n: int, k: int, order: str):
        super().__init__(StringAttr(level), IntAttr(m), IntAttr(n), IntAttr(k), StringAttr(order))

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            level = StringAttr(parser.parse_str_literal())
            sizes: list[Attribute] = []
            for key in "mnk":
                parser.parse_punctuation(",")
                parser.parse_keyword(key)
                parser.parse_punctuation("=")
                sizes.append(IntAttr(parser.parse_integer(allow_boolean=False, allow_negative=False)))
            parser.parse_punctuation(",")
            parser.parse_keyword("order")
            parser.parse_punctuation("=")
            order = StringAttr(parser.parse_str_literal())
        return (level, *sizes, order)

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string_literal(self.level.data)
            printer.print_string(f", m = {self.m.data}, n = {self.n.data}, k = {self.k.data}, order = ")
            printer.print_string_literal(self.order.data)

    def verify(self) -> None:
        if min(self.m.data, self.n.data, self.k.data) <= 0:
            raise VerifyException("tile extents must be positive")
        if sorted(self.order.data) != ["k", "m", "n"]:
            raise VerifyException(f"loop order must be a permutation of 'mnk', got '{self.order.data}'")


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
