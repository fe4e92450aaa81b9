"""The `mesh` dialect: a device mesh, how each tensor is split over it, and the collectives between devices.

After upstream MLIR's mesh (now shard) dialect, cut to what per-device cost needs:
- `mesh.mesh @node(dp = 2, tp = 4)`: a module-level symbol naming the mesh's axes
  and their sizes (devices = the product). mlacc's axes are `dp` (data parallel:
  the batch is split) and `tp` (tensor parallel: heads are split); tp past a
  layer's KV heads is `tp_kv` x `tp_q` in a mesh of its own (passes/shard.py), and
  a MoE layer whose experts spread over tp GPUs too has `@node_epE(dp, ep, tp)`:
  `ep` the tp GPUs' share of expert parallelism (each holds other experts), `tp`
  the rest (each holds part of every expert's width).
- `#mesh.sharding<@node, [(dp), (), (tp), ()]>`: for each axis of a tensor, the
  mesh axes it is split over (`()`: that axis is whole on every device). The
  `shard` pass puts one on every op that defines a per-device tensor
  (`mesh.sharding`), and on the function's arguments; the IR's types are the
  per-device shapes, so the annotation says how they relate to the global tensor.
- collectives over a group of mesh axes, each with its `bytes`: the buffer each
  device contributes to an all-reduce, receives from an all-gather, or hands to
  a reduce-scatter or an all-to-all (NCCL's "size"). Their verifiers check the bytes against the
  types and the shapes against the group's size.

Like every mlacc dialect this one imports only xDSL.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import ClassVar

from xdsl.dialects.builtin import (
    I64,
    ArrayAttr,
    IntAttr,
    IntegerAttr,
    StringAttr,
    SymbolRefAttr,
    TensorType,
    i64,
)
from xdsl.ir import Attribute, Dialect, Operation, ParametrizedAttribute, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.parser import AttrParser, Parser
from xdsl.printer import Printer
from xdsl.traits import SymbolOpInterface, SymbolTable
from xdsl.utils.exceptions import VerifyException

SHARDING_KEY = "mesh.sharding"
"""The discardable attribute that holds a tensor's `#mesh.sharding`, on the op that defines it (or stores it)."""

TP, DP = "tp", "dp"
"""mlacc's mesh axes: tensor parallel (heads split) and data parallel (batch split)."""
EP = "ep"
"""Expert parallel: in a MoE layer's mesh, the part of each dp group's tp GPUs over which the experts spread (the
rest of tp splits each expert's width); with dp, the experts spread over dp x ep GPUs in all."""
TP_KV, TP_Q = "tp_kv", "tp_q"
"""tp past a layer's KV heads, as two axes (a tensor may be split over an axis only once): `tp_kv` picks the KV
head, `tp_q` the share of that head's query heads; tensors of the KV head are copied along `tp_q`."""


@irdl_op_definition
class MeshOp(IRDLOperation):
    """`mesh.mesh @node(dp = 2, tp = 4)`: named axes and their sizes, outermost first."""

    name = "mesh.mesh"
    sym_name = prop_def(StringAttr)
    axis_names = prop_def(ArrayAttr[StringAttr])
    axis_sizes = prop_def(ArrayAttr[IntAttr])
    traits = traits_def(SymbolOpInterface())

    def __init__(self, sym_name: str, axes: Sequence[tuple[str, int]]):
        super().__init__(
            properties={
                "sym_name": StringAttr(sym_name),
                "axis_names": ArrayAttr([StringAttr(n) for n, _ in axes]),
                "axis_sizes": ArrayAttr([IntAttr(s) for _, s in axes]),
            }
        )

    def axes(self) -> dict[str, int]:
        return {n.data: s.data for n, s in zip(self.axis_names, self.axis_sizes, strict=True)}

    @property
    def devices(self) -> int:
        return prod(self.axes().values())

    @classmethod
    def parse(cls, parser: Parser) -> MeshOp:
        name = parser.parse_symbol_name().data

        def axis() -> tuple[str, int]:
            axis_name = parser.parse_identifier(" (a mesh axis name)")
            parser.parse_punctuation("=")
            return axis_name, parser.parse_integer(allow_boolean=False)

        axes = parser.parse_comma_separated_list(parser.Delimiter.PAREN, axis, " in a mesh's axes")
        op = cls(name, axes)
        op.attributes |= parser.parse_optional_attr_dict()
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(f" @{self.sym_name.data}(")
        printer.print_string(", ".join(f"{n} = {s}" for n, s in self.axes().items()))
        printer.print_string(")")
        printer.print_op_attributes(self.attributes)

    def verify_(self) -> None:
        names = [n.data for n in self.axis_names]
        if len(names) != len(self.axis_sizes.data) or not names:
            raise VerifyException(f"mesh @{self.sym_name.data} needs at least one axis, each with a size")
        if len(set(names)) != len(names):
            raise VerifyException(f"mesh @{self.sym_name.data} names an axis twice: {names}")
        for axis_name, size in self.axes().items():
            if size <= 0:
                raise VerifyException(f"mesh @{self.sym_name.data}: axis {axis_name} has size {size}, must be positive")


def lookup_mesh(op: Operation, mesh: SymbolRefAttr) -> MeshOp | None:
    """The `mesh.mesh` that `mesh` names, from the symbol table around `op` (None when `op` is not in one yet)."""
    found = SymbolTable.lookup_symbol(op, mesh) if op.parent_op() is not None else None
    return found if isinstance(found, MeshOp) else None


@irdl_attr_definition
class ShardingAttr(ParametrizedAttribute):
    """`#mesh.sharding<@node, [(dp), (), (tp)]>`: per tensor axis, the mesh axes it is split over."""

    name = "mesh.sharding"

    mesh: SymbolRefAttr
    split_axes: ArrayAttr[ArrayAttr[StringAttr]]

    def __init__(self, mesh: str, split_axes: Sequence[Sequence[str]]):
        super().__init__(
            SymbolRefAttr(mesh), ArrayAttr([ArrayAttr([StringAttr(a) for a in axes]) for axes in split_axes])
        )

    def splits(self) -> list[list[str]]:
        return [[a.data for a in axes] for axes in self.split_axes]

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            mesh = parser.parse_symbol_name()
            parser.parse_punctuation(",")

            def axes() -> ArrayAttr[StringAttr]:
                names = parser.parse_comma_separated_list(
                    parser.Delimiter.PAREN, lambda: StringAttr(parser.parse_identifier(" (a mesh axis)"))
                )
                return ArrayAttr(names)

            split = parser.parse_comma_separated_list(parser.Delimiter.SQUARE, axes, " (mesh axes per tensor axis)")
        return (SymbolRefAttr(mesh), ArrayAttr(split))

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string(f"@{self.mesh.root_reference.data}, [")
            printer.print_string(", ".join(f"({', '.join(axes)})" for axes in self.splits()))
            printer.print_string("]")

    def verify(self) -> None:
        named = [a for axes in self.splits() for a in axes]
        if len(set(named)) != len(named):
            raise VerifyException(f"sharding splits over mesh axis more than once: {named}")


def _element_bytes(ty: TensorType[Attribute]) -> int:
    width = getattr(ty.element_type, "bitwidth", None)
    if not isinstance(width, int) or width % 8:
        raise VerifyException(f"no byte size for element type {ty.element_type}")
    return width // 8


def tensor_bytes(ty: Attribute) -> int:
    assert isinstance(ty, TensorType)
    return prod(ty.get_shape()) * _element_bytes(ty)  # pyright: ignore[reportUnknownArgumentType]


class CollectiveOp(IRDLOperation):
    """A collective among the devices that differ only along `mesh_axes` (the group); `bytes` as the module says."""

    KIND: ClassVar[str] = ""
    input = operand_def(TensorType)
    mesh = prop_def(SymbolRefAttr)
    mesh_axes = prop_def(ArrayAttr[StringAttr])
    bytes = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, mesh: str, mesh_axes: Sequence[str], result_type: Attribute, moved: int):
        super().__init__(
            operands=[input],
            properties={
                "mesh": SymbolRefAttr(mesh),
                "mesh_axes": ArrayAttr([StringAttr(a) for a in mesh_axes]),
                "bytes": IntegerAttr(moved, i64),
            },
            result_types=[result_type],
        )

    def axes(self) -> list[str]:
        return [a.data for a in self.mesh_axes]

    def group_size(self) -> int | None:
        """Devices in one group, or None when the mesh cannot be looked up (the op is not in a module)."""
        mesh = lookup_mesh(self, self.mesh)
        return None if mesh is None else prod(mesh.axes()[a] for a in self.axes())

    def expected_bytes(self) -> int:
        return tensor_bytes(self.input.type)

    def verify_(self) -> None:
        if not self.axes():
            raise VerifyException(f"{self.name} needs at least one mesh axis")
        mesh = lookup_mesh(self, self.mesh)
        if mesh is not None:
            unknown = [a for a in self.axes() if a not in mesh.axes()]
            if unknown:
                raise VerifyException(
                    f"{self.name}: mesh @{mesh.sym_name.data} has no axis {', '.join(unknown)} "
                    f"(axes: {', '.join(mesh.axes())})"
                )
        elif self.parent_op() is not None:
            raise VerifyException(f"{self.name}: no mesh.mesh @{self.mesh.root_reference.data} in scope")
        if self.bytes.value.data != self.expected_bytes():
            raise VerifyException(
                f"{self.name} moves {self.expected_bytes()} bytes per device, not {self.bytes.value.data}"
            )


@irdl_op_definition
class AllReduceOp(CollectiveOp):
    """Every device of the group ends with the elementwise sum of all their (equal-shaped) inputs."""

    name = "mesh.all_reduce"
    KIND: ClassVar[str] = "all_reduce"
    assembly_format = (
        "$input `on` $mesh `axes` `=` $mesh_axes `bytes` `=` $bytes attr-dict `:` type($input) `->` type($result)"
    )

    def verify_(self) -> None:
        super().verify_()
        if self.input.type != self.result.type:
            raise VerifyException(f"all_reduce keeps the type: {self.input.type} -> {self.result.type}")


class _ConcatCollective(CollectiveOp):
    """A collective that joins (all_gather) or splits (reduce_scatter) the tensor along `dim`."""

    dim = prop_def(IntegerAttr[I64])
    assembly_format = (
        "$input `on` $mesh `axes` `=` $mesh_axes `dim` `=` $dim `bytes` `=` $bytes attr-dict "
        "`:` type($input) `->` type($result)"
    )

    def __init__(self, input: SSAValue, mesh: str, mesh_axes: Sequence[str], dim: int, group: int):
        ty = input.type
        assert isinstance(ty, TensorType)
        shape = list(ty.get_shape())
        shape[dim] = shape[dim] * group if isinstance(self, AllGatherOp) else shape[dim] // group
        result = TensorType(ty.element_type, shape)  # pyright: ignore[reportUnknownArgumentType]
        moved = tensor_bytes(result if isinstance(self, AllGatherOp) else ty)
        super().__init__(input, mesh, mesh_axes, result, moved)
        self.properties["dim"] = IntegerAttr(dim, i64)

    def verify_(self) -> None:
        super().verify_()
        src, out = self.input.type, self.result.type
        assert isinstance(src, TensorType) and isinstance(out, TensorType)
        dim = self.dim.value.data
        if not 0 <= dim < src.get_num_dims() or src.get_num_dims() != out.get_num_dims():
            raise VerifyException(f"{self.name}: dim {dim} out of range for {src} -> {out}")
        small, large = (src, out) if isinstance(self, AllGatherOp) else (out, src)
        group = self.group_size()
        expected = list(small.get_shape())
        expected[dim] *= group if group is not None else large.get_shape()[dim] // max(1, small.get_shape()[dim])
        if list(large.get_shape()) != expected or small.element_type != large.element_type:
            raise VerifyException(
                f"{self.name} over {group if group is not None else '?'} devices along dim {dim}: "
                f"{src} -> {out} does not match"
            )


@irdl_op_definition
class AllGatherOp(_ConcatCollective):
    """Every device of the group ends with all their inputs concatenated along `dim` (bytes: the gathered result)."""

    name = "mesh.all_gather"
    KIND: ClassVar[str] = "all_gather"

    def expected_bytes(self) -> int:
        return tensor_bytes(self.result.type)


@irdl_op_definition
class ReduceScatterOp(_ConcatCollective):
    """The group's inputs summed, then split along `dim`: each device keeps its part (bytes: the whole input)."""

    name = "mesh.reduce_scatter"
    KIND: ClassVar[str] = "reduce_scatter"


@irdl_op_definition
class AllToAllOp(CollectiveOp):
    """Every device of the group sends each other device the part of its input meant for it, and receives theirs
    (a MoE layer's rows, to the devices that hold their experts and back): under uniform routing each device
    receives as many as it sends, so the type is kept (bytes: the input)."""

    name = "mesh.all_to_all"
    KIND: ClassVar[str] = "all_to_all"
    assembly_format = (
        "$input `on` $mesh `axes` `=` $mesh_axes `bytes` `=` $bytes attr-dict `:` type($input) `->` type($result)"
    )

    def verify_(self) -> None:
        super().verify_()
        if self.input.type != self.result.type:
            raise VerifyException(f"all_to_all keeps the type: {self.input.type} -> {self.result.type}")


COLLECTIVES = (AllReduceOp, AllGatherOp, ReduceScatterOp, AllToAllOp)


Mesh = Dialect("mesh", [MeshOp, AllReduceOp, AllGatherOp, ReduceScatterOp, AllToAllOp], [ShardingAttr])
