"""Text report of a lowered module: per (layer, workload), the work and data of every `la` op.

Hardware-independent: FLOPs and bytes come from the `la` ops' own counts
(dialects/la.py), so the report and the tests read the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr

from dialects import la
from dialects.attn import WorkloadAttr, dtype_name


@dataclass(frozen=True)
class OpCounts:
    name: str
    kind: str
    flops: int
    operand_bytes: int
    result_bytes: int


@dataclass(frozen=True)
class FunctionCounts:
    """What one (layer, workload) costs, independent of hardware."""

    function: str
    layer: str
    layer_kind: str
    workload: WorkloadAttr
    dtype: str
    ops: tuple[OpCounts, ...]
    flops: int
    weight_bytes: int
    kv_read_bytes: int
    kv_write_bytes: int


def _describe(op: la.LaOp) -> str:
    if isinstance(op, la.EinsumOp):
        return f"einsum {op.spec.data}"
    if isinstance(op, la.WeightOp):
        return f"weight {op.weight.data}"
    if isinstance(op, la.KvLoadOp | la.KvStoreOp):
        return f"{op.name.removeprefix('la.')} {op.cache.data}"
    return op.name.removeprefix("la.")


def count_function(function: func.FuncOp) -> FunctionCounts:
    """Counts of a function lowered by `lower-attn` (which records the layer on it)."""
    layer, kind, workload = (function.attributes.get(f"attn.{k}") for k in ("layer", "kind", "workload"))
    if not (isinstance(layer, StringAttr) and isinstance(kind, StringAttr) and isinstance(workload, WorkloadAttr)):
        raise ValueError(f"function @{function.sym_name.data} was not lowered from an attn op")
    rows: list[OpCounts] = []
    for op in function.body.walk():
        if isinstance(op, la.LaOp) and not isinstance(op, la.WeightOp):
            name = op.results[0].name_hint if op.results and op.results[0].name_hint else ""
            rows.append(OpCounts(name, _describe(op), op.flops(), op.operand_bytes(), op.result_bytes()))
    ops = [op for op in function.body.walk() if isinstance(op, la.LaOp)]
    return FunctionCounts(
        function=function.sym_name.data,
        layer=layer.data,
        layer_kind=kind.data,
        workload=workload,
        dtype=dtype_name(function.function_type.inputs.data[0].element_type),  # type: ignore[attr-defined]
        ops=tuple(rows),
        flops=sum(op.flops() for op in ops),
        weight_bytes=sum(op.result_bytes() for op in ops if isinstance(op, la.WeightOp)),
        kv_read_bytes=sum(op.result_bytes() for op in ops if isinstance(op, la.KvLoadOp)),
        kv_write_bytes=sum(op.operand_bytes() for op in ops if isinstance(op, la.KvStoreOp)),
    )


def count_module(module: ModuleOp) -> list[FunctionCounts]:
    return [count_function(f) for f in module.ops if isinstance(f, func.FuncOp)]


def si(value: float, unit: str) -> str:
    """1.23e9 -> '1.23 G' + unit (decimal prefixes)."""
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.0f} {unit}"


def format_report(counts: list[FunctionCounts]) -> str:
    out: list[str] = []
    for c in counts:
        w = c.workload
        out.append(
            f"== {c.layer} ({c.layer_kind}, {c.dtype}) x {w.workload_name.data}: {w.phase.data.value}, "
            f"batch {w.batch.data}, context {w.context.data}, new tokens {w.new_tokens.data}"
        )
        width = max(len(r.name) for r in c.ops)
        kind_width = max(len(r.kind) for r in c.ops)
        out.append(f"  {'value':<{width}}  {'op':<{kind_width}}  {'FLOPs':>11}  {'bytes in':>10}  {'bytes out':>10}")
        for r in c.ops:
            out.append(
                f"  {r.name:<{width}}  {r.kind:<{kind_width}}  {si(r.flops, 'FLOP'):>11}  "
                f"{si(r.operand_bytes, 'B'):>10}  {si(r.result_bytes, 'B'):>10}"
            )
        out.append(
            f"  total: {si(c.flops, 'FLOP')}; weights {si(c.weight_bytes, 'B')}; "
            f"KV cache read {si(c.kv_read_bytes, 'B')}, written {si(c.kv_write_bytes, 'B')}"
        )
        out.append("")
    return "\n".join(out)
