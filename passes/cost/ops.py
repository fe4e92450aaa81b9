"""From `la` IR to the model's op table: which ops are tasks, and what the model needs of each."""

from __future__ import annotations

from collections.abc import Iterator

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue

from dialects import la
from dialects.attn import dtype_name
from dialects.mem import TILING_KEY, TilingAttr
from passes.cost.gemm import Gemm, OpSpec, Tiling

VIEW_OPS = (la.WeightOp, la.PrecomposeOp, la.KvLoadOp, la.ConcatOp, la.BroadcastOp)
"""Ops that move nothing themselves: their consumers read the data from where it lives."""


def is_task(op: Operation) -> bool:
    """An op the schedule times: it computes, or it writes a KV cache."""
    return isinstance(op, la.LaOp) and not isinstance(op, VIEW_OPS)


def op_spec(op: la.LaOp) -> OpSpec:
    dtype_of = op.operands[0] if op.operands else op.results[0]
    element_type = la.tensor_type(dtype_of).element_type
    name = op.results[0].name_hint if op.results and op.results[0].name_hint else ""
    if isinstance(op, la.KvStoreOp):
        name = f"store {op.cache.data}"
    gemm = Gemm.of(op.spec.data, op.index_sizes()) if isinstance(op, la.EinsumOp) else None
    result_bytes = op.operand_bytes() if isinstance(op, la.KvStoreOp) else op.result_bytes()
    return OpSpec(
        name=name,
        kind=op.name.removeprefix("la."),
        dtype=dtype_name(element_type),
        element_bytes=la.element_bytes(element_type),
        flops=op.flops(),
        operand_bytes=tuple(la.tensor_bytes(v.type) for v in op.operands if not is_gamma(op, v)),
        result_bytes=result_bytes,
        gemm=gemm,
    )


def is_gamma(op: Operation, value: SSAValue) -> bool:
    """RMSNorm's scale vector is tiny and read once; it is not an operand stream."""
    return isinstance(op, la.RmsNormOp) and value == op.gamma


def task_operands(op: Operation) -> list[SSAValue]:
    return [v for v in op.operands if not is_gamma(op, v)]


def tiling_of(op: Operation) -> Tiling | None:
    """The tiling `tile` recorded on an op, if any."""
    attr = op.attributes.get(TILING_KEY)
    return Tiling(attr.m.data, attr.n.data, attr.k.data, attr.order.data) if isinstance(attr, TilingAttr) else None


def layer_functions(module: ModuleOp) -> Iterator[func.FuncOp]:
    return (op for op in module.ops if isinstance(op, func.FuncOp))
