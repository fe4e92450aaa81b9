"""From `la` IR to the model's op table: which ops are tasks, and what the model needs of each."""

from __future__ import annotations

from collections.abc import Iterator

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue

from costmodel.attention import FlashShape
from costmodel.machine import Num
from costmodel.op import Gemm, OpSpec, Tiling
from dialects import la
from dialects.attn import dtype_name
from dialects.mem import TILING_KEY, TilingAttr

VIEW_OPS = (la.WeightOp, la.PrecomposeOp, la.KvLoadOp, la.ConcatOp, la.BroadcastOp)
"""Ops that move nothing themselves: their consumers read the data from where it lives."""


def is_task(op: Operation) -> bool:
    """An op the schedule times: it computes, or it writes a KV cache."""
    return isinstance(op, la.LaOp) and not isinstance(op, VIEW_OPS)


def flash_group(op: Operation) -> list[Operation]:
    """The ops fused with `op` into one flash-attention kernel, in program order (empty if none): the
    score contractions, their sum, the softmax and the contractions that weight values by its result."""
    softmax = op if isinstance(op, la.SoftmaxOp) else None
    candidates = [u.operation for r in op.results for u in r.uses]
    candidates += [u.operation for r in op.results for u in r.uses for r2 in u.operation.results for u in r2.uses]
    candidates += [v.owner for v in op.operands if isinstance(v.owner, Operation)]
    for other in candidates:
        if softmax is None and isinstance(other, la.SoftmaxOp):
            softmax = other
    if softmax is None:
        return []
    scores = softmax.input.owner
    producers = [scores] if not isinstance(scores, la.AddOp) else [v.owner for v in scores.operands] + [scores]
    members = {o for o in producers if isinstance(o, Operation)} | {softmax}
    members |= {u.operation for u in softmax.result.uses}
    if op not in members:
        return []
    block = softmax.parent_block()
    assert block is not None
    return [o for o in block.ops if o in members]


def causal_density(softmax: la.SoftmaxOp) -> float:
    """The fraction of (query, key) pairs a causal mask leaves: query i of S sees T - S + i + 1 keys."""
    if softmax.causal is None:
        return 1.0
    shape = la.tensor_type(softmax.input).get_shape()
    return float(causal_fraction(shape[-2], shape[-1]))


def causal_fraction(s: Num, t: Num) -> Num:
    """(S T - S (S - 1) / 2) / (S T) for S queries over T keys (numbers, or arrays over design points)."""
    return (s * t - s * (s - 1) / 2) / (s * t)


def op_spec(op: la.LaOp) -> OpSpec:
    dtype_of = op.operands[0] if op.operands else op.results[0]
    element_type = la.tensor_type(dtype_of).element_type
    name = op.results[0].name_hint if op.results and op.results[0].name_hint else ""
    if isinstance(op, la.KvStoreOp):
        name = f"store {op.cache.data}"
    gemm = Gemm.of(op.spec.data, op.index_sizes()) if isinstance(op, la.EinsumOp) else None
    result_bytes = op.operand_bytes() if isinstance(op, la.KvStoreOp) else op.result_bytes()
    group = flash_group(op)
    softmax = next((o for o in group if isinstance(o, la.SoftmaxOp)), None)
    density = causal_density(softmax) if softmax is not None else 1.0
    return OpSpec(
        name=name,
        kind=op.name.removeprefix("la."),
        dtype=dtype_name(element_type),
        element_bytes=la.element_bytes(element_type),
        flops=round(op.flops() * density),
        operand_bytes=tuple(la.read_bytes(v) for v in op.operands if not is_gamma(op, v)),
        result_bytes=result_bytes,
        gemm=gemm,
        attention=flash_shape(softmax, group, is_decode(op)) if softmax is not None else None,
        density=density,
        launch=(not group or op is softmax) and not second_of_fused_pair(op),
        grouped=isinstance(op, la.EinsumOp) and is_expert_slice(op.operands[1]),
        routing_scores=la.numel(op.logits) if isinstance(op, la.DispatchOp) else 0,
        group_limited=isinstance(op, la.DispatchOp) and op.expert_groups() > 1,
    )


def second_of_fused_pair(op: Operation) -> bool:
    """Whether `op` is a grouped expert GEMM whose rows an earlier one of its block already multiplies: the gate
    and up projections of a gated MoE, which engines store as one [gate | up] weight and run as one grouped GEMM,
    so the second starts no kernel of its own."""
    if not isinstance(op, la.EinsumOp) or not is_expert_slice(op.operands[1]):
        return False
    block = op.parent_block()
    assert block is not None
    for other in block.ops:
        if other is op:
            return False
        grouped = isinstance(other, la.EinsumOp) and is_expert_slice(other.operands[1])
        if grouped and other.operands[0] == op.operands[0]:
            return True
    return False


def is_expert_slice(value: SSAValue) -> bool:
    """Whether `value` is the slice of a MoE layer's stacked experts that receive tokens (`la.weight ... of N`)."""
    return isinstance(value.owner, la.WeightOp) and value.owner.of is not None


def flash_shape(softmax: la.SoftmaxOp, group: list[Operation], decode: bool) -> FlashShape:
    """What the attention kernel model reads of a flash group (costmodel/attention.py `FlashShape`), in integers.

    Where the scores are the sum of two contractions, a library that takes one query and one key tensor (FlashMLA,
    torch SDPA) needs the parts joined: the query's parts always (read, and written whole), the keys' where one part
    is batched apart from the other (expand's RoPE key, shared by all heads, broadcast to each head's 192-wide key);
    keys batched alike live in one cache already (the latent's 576 values, cache-kv's 192)."""
    scores = softmax.input.owner
    parts = [v.owner for v in scores.operands] if isinstance(scores, la.AddOp) else [scores]
    contractions = {o: Gemm.of(o.spec.data, o.index_sizes()) for o in group if isinstance(o, la.EinsumOp)}
    einsums = [p for p in parts if isinstance(p, la.EinsumOp)]
    gemms = [contractions[p] for p in einsums]
    values = [g for o, g in contractions.items() if softmax.result in o.operands]
    first = gemms[0] if gemms else None
    element = la.element_bytes(la.tensor_type(softmax.input).element_type)
    query_concat, key_concat, key_broadcast = 0, 0, 0
    if len(einsums) == 2:
        query_concat = 2 * sum(la.tensor_bytes(p.operands[0].type) for p in einsums)
        if gemms[0].extents["g"] != gemms[1].extents["g"]:
            per_head = max(range(2), key=lambda i: gemms[i].extents["g"])
            per_head_keys, own = la.tensor_bytes(einsums[per_head].operands[1].type), int(gemms[per_head].extents["k"])
            width = sum(int(g.extents["k"]) for g in gemms)
            key_concat = 2 * per_head_keys * width // own
            key_broadcast = per_head_keys * int(gemms[1 - per_head].extents["k"]) // own
    return FlashShape(
        keys=la.tensor_type(softmax.input).get_shape()[-1],
        kernel=flash_kernel(softmax),
        decode=decode,
        batch=int(first.extents["g"]) if first else 0,
        rows=int(first.extents["m"]) if first else 0,
        key_bytes=sum(int(g.extents["k"]) for g in gemms) * element,
        key_read_bytes=sum(
            int(g.extents["k"]) * la.read_bytes(p.operands[1]) // max(1, la.tensor_type(p.operands[1]).element_count())
            for p, g in zip(einsums, gemms, strict=True)
        ),
        value_width=int(values[0].extents["n"]) if values else 0,
        group_macs=sum(int(c.macs) for c in contractions.values()),
        query_concat_bytes=query_concat,
        key_concat_bytes=key_concat,
        key_broadcast_bytes=key_broadcast,
    )


def score_parts(softmax: la.SoftmaxOp) -> list[Gemm]:
    """The two contractions the scores are summed from (DeepSeek's keys and RoPE keys), or none."""
    scores = softmax.input.owner
    if not isinstance(scores, la.AddOp):
        return []
    parts = [v.owner for v in scores.operands]
    if not all(isinstance(p, la.EinsumOp) for p in parts):
        return []
    return [Gemm.of(p.spec.data, p.index_sizes()) for p in parts]  # type: ignore[union-attr]


def two_part_keys(softmax: la.SoftmaxOp) -> bool:
    """Whether the scores are the sum of two contractions batched alike (the same programs read both parts
    of their keys), as DeepSeek's keys and RoPE keys are; a part shared by all heads where the other is per
    head (expand's RoPE key) is read once by all heads' programs together."""
    parts = score_parts(softmax)
    return bool(parts) and parts[0].extents["g"] == parts[1].extents["g"]


def two_part_heads(softmax: la.SoftmaxOp) -> bool:
    """Whether the scores are the sum of two contractions and the first holds one head's queries per batch
    (its rows are the softmax's queries, heads batched apart): the per-head kernel of `cache-kv` and `expand`,
    not the latent kernel, whose rows are every head's queries over the shared latent."""
    parts = score_parts(softmax)
    return bool(parts) and parts[0].extents["m"] == la.tensor_type(softmax.input).get_shape()[-2]


def flash_kernel(softmax: la.SoftmaxOp) -> str:
    """Which compiled attention kernel runs the flash group of `softmax` (costmodel/attention.py `KERNELS`)."""
    return FlashShape.of(0, two_part_keys(softmax), two_part_heads(softmax)).kernel


def is_decode(op: Operation) -> bool:
    """Whether `op` belongs to a decode step: the phase of its layer function's workload."""
    from dialects.attn import WorkloadAttr

    function = op.parent_op()
    while function is not None and not isinstance(function, func.FuncOp):
        function = function.parent_op()
    workload = function.attributes.get("attn.workload") if function is not None else None
    return not isinstance(workload, WorkloadAttr) or workload.phase.data.value == "decode"


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
