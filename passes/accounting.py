"""What one step of a lowered layer costs, independent of hardware: work, weights, KV cache.

Read from `la` IR alone (each op's own counts, dialects/la.py), so reports,
`absorb{scheme=auto}` and the cost model see the same numbers. Definitions:
- `flops`: every op run per step (a `la.precompose` runs once, offline: its
  FLOPs are `precompose_flops`, not part of the step);
- `weight_bytes`: constant tensors a step reads: weights, and precomposed
  products in place of the weights they were composed from;
- `idle_weight_bytes`: weights resident but not read this step (the experts
  of a MoE layer that receive no token: `la.weight ... of N`);
After `shard`, every count is one device's (its part of the weights, caches
and batch: the IR's types are per-device shapes).
- `kv_bytes_per_token`: what one token adds to the layer's KV caches;
  `kv_cache_bytes`: the caches after the step (batch x (context + new tokens));
- `min_bytes`: the compulsory traffic of the step: weights and cached entries
  read once, the new entries and the output written once, the input read
  once, every intermediate kept on chip;
- `activation_bytes`: the most bytes of step tensors alive at once (input,
  intermediates, output), in program order; flash-fused attention scores and
  probabilities never exist whole and do not count;
- `resident_bytes`: what must fit in the outermost memory for the step to
  run: weights, the KV caches after the step, and `activation_bytes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import IntegerAttr, StringAttr, TensorType
from xdsl.ir import SSAValue

from costmodel import fused_values
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
class Accounting:
    """One (layer, workload, scheme): the hardware-independent counts of one step."""

    function: str
    layer: str
    layer_kind: str
    scheme: str
    workload: WorkloadAttr
    dtype: str
    ops: tuple[OpCounts, ...]
    flops: int
    precompose_flops: int
    weight_bytes: int
    kv_read_bytes: int
    kv_write_bytes: int
    kv_bytes_per_token: int
    kv_cache_bytes: int
    io_bytes: int
    activation_bytes: int
    layers: int | None = None
    """How many such layers the model has, where the layer says (`attn.layers`); every count above is one layer's."""
    idle_weight_bytes: int = 0

    @property
    def resident_bytes(self) -> int:
        return self.weight_bytes + self.idle_weight_bytes + self.kv_cache_bytes + self.activation_bytes

    @property
    def min_bytes(self) -> int:
        return self.weight_bytes + self.kv_read_bytes + self.kv_write_bytes + self.io_bytes

    @property
    def intensity(self) -> float:
        """FLOPs per compulsory byte: above a machine's FLOP/byte ratio the step can be compute-bound."""
        return self.flops / self.min_bytes


def _describe(op: la.LaOp) -> str:
    if isinstance(op, la.ContractionOp):
        return f"{op.name.removeprefix('la.')} {op.spec.data}"
    if isinstance(op, la.KvLoadOp | la.KvStoreOp):
        return f"{op.name.removeprefix('la.')} {op.cache.data}"
    return op.name.removeprefix("la.")


def _read_per_step(op: la.LaOp) -> bool:
    """A constant that some per-step op reads (not only a precompose, offline)."""
    return isinstance(op, la.WeightOp | la.PrecomposeOp) and any(
        not isinstance(use.operation, la.PrecomposeOp) for use in op.results[0].uses
    )


_VIEWS = (la.WeightOp, la.PrecomposeOp, la.KvLoadOp, la.ConcatOp, la.BroadcastOp)
"""Ops whose results are views of weights or caches (counted there), not new step tensors."""


def activation_spans(function: func.FuncOp, fused: set[SSAValue]) -> list[tuple[int, int, int]]:
    """(first, last program position, bytes) of every step tensor: each lives from its definition to its
    last use."""
    ops = list(function.body.walk())
    position = {op: i for i, op in enumerate(ops)}
    spans = [
        (0, max((position[u.operation] for u in v.uses), default=0), la.tensor_bytes(v.type)) for v in function.args
    ]
    for i, op in enumerate(ops):
        if isinstance(op, _VIEWS):
            continue
        for v in op.results:
            if v not in fused:
                spans.append((i, max((position[u.operation] for u in v.uses), default=i), la.tensor_bytes(v.type)))
    return spans


def peak_bytes(spans: Sequence[tuple[int, int, Any]], positions: int) -> Any:
    """The most bytes alive at once over `positions` program positions (bytes: numbers, or arrays over
    design points)."""
    peak: Any = 0
    for i in range(positions):
        alive: Any = 0
        for start, end, size in spans:
            if start <= i <= end:
                alive = alive + size
        exact = isinstance(peak, int) and isinstance(alive, int)  # a layer's own counts: exact, however large
        peak = max(peak, alive) if exact else np.maximum(peak, alive)
    return peak


def peak_activation_bytes(function: func.FuncOp, fused: set[SSAValue]) -> int:
    """The most bytes of step tensors alive at once."""
    return peak_bytes(activation_spans(function, fused), len(list(function.body.walk())))


def account(function: func.FuncOp) -> Accounting:
    """Counts of a function lowered by `lower-attn` (which records the layer on it) and maybe `absorb`."""
    attrs = function.attributes
    layer, kind, workload = (attrs.get(f"attn.{k}") for k in ("layer", "kind", "workload"))
    if not (isinstance(layer, StringAttr) and isinstance(kind, StringAttr) and isinstance(workload, WorkloadAttr)):
        raise ValueError(f"function @{function.sym_name.data} was not lowered from an attn op")
    scheme = attrs.get("attn.scheme")
    ops = [op for op in function.body.walk() if isinstance(op, la.LaOp)]
    rows = tuple(
        OpCounts(
            op.results[0].name_hint or "" if op.results else "",
            _describe(op),
            op.flops(),
            op.operand_bytes(),
            op.result_bytes(),
        )
        for op in ops
        if not isinstance(op, la.WeightOp | la.PrecomposeOp)
    )
    kv_write = sum(op.operand_bytes() for op in ops if isinstance(op, la.KvStoreOp))
    new, context = workload.new_tokens.data, workload.context.data
    # One device's sequences: the workload's batch, split by `shard` under data parallelism (mesh.dp).
    batch = workload.batch.data // (dp.value.data if isinstance(dp := attrs.get("mesh.dp"), IntegerAttr) else 1)
    (hidden,) = function.function_type.inputs.data
    assert isinstance(hidden, TensorType)
    return Accounting(
        function=function.sym_name.data,
        layer=layer.data,
        layer_kind=kind.data,
        scheme=scheme.data if isinstance(scheme, StringAttr) else "unabsorbed" if kind.data == "mla" else "-",
        workload=workload,
        dtype=dtype_name(hidden.element_type),
        ops=rows,
        flops=sum(op.flops() for op in ops),
        precompose_flops=sum(op.contraction_macs() * 2 for op in ops if isinstance(op, la.PrecomposeOp)),
        weight_bytes=sum(op.result_bytes() for op in ops if _read_per_step(op)),
        kv_read_bytes=sum(op.result_bytes() for op in ops if isinstance(op, la.KvLoadOp)),
        kv_write_bytes=kv_write,
        kv_bytes_per_token=kv_write // (batch * new),
        kv_cache_bytes=kv_write // (batch * new) * batch * (context + new),
        io_bytes=2 * la.tensor_bytes(hidden),
        activation_bytes=peak_activation_bytes(function, fused_values(function)),
        layers=layers.value.data if isinstance(layers := attrs.get("attn.layers"), IntegerAttr) else None,
        idle_weight_bytes=sum(op.resident_bytes() - op.result_bytes() for op in ops if isinstance(op, la.WeightOp)),
    )
