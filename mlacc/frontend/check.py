"""Syntax tree -> checked program: what the grammar cannot check, before any IR is built.

Known kinds and keys, required fields, duplicates, value types, and the shape rules
of dialects/attn_rules.py, in the order a reader meets them (names, then each
workload, then each layer), each reported at the DSL field that causes it. Light on
purpose: it needs no xDSL IR classes, so a one-line error in a DSL file is reported
before mlacc/frontend/irgen.py (and xDSL's builtin dialect) is imported.

Defaults: `dtype = bf16`; `layers`: unsaid (one layer, no model totals); `batch = 1`; decode: `new_tokens = 1`; prefill:
`context = 0`. A decode workload must give `context`, a prefill one
`new_tokens`.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.utils.exceptions import ParseError
from xdsl.utils.lexer import Span

from dialects.attn_rules import (
    DTYPE_NAMES,
    FFN_KINDS,
    KIND_DIMS,
    MODEL_DEFAULTS,
    MODEL_FIELDS,
    ROUTING_GROUPS,
    Phase,
    ShapeError,
    check_layer_count,
    check_model,
    check_positive,
    check_relations,
    check_routing_groups,
    check_workload,
)
from mlacc.frontend.ast import Block, Number, Program, Word

_INT64_MAX = 2**63 - 1
_WORKLOAD_FIELDS = ("phase", "batch", "context", "new_tokens")


@dataclass(frozen=True)
class CheckedWorkload:
    name: str
    phase: Phase
    batch: int
    context: int
    new_tokens: int


@dataclass(frozen=True)
class CheckedLayer:
    block: Block
    kind: str
    dims: dict[str, int]
    dtype: str
    layers: int | None
    """How many such layers the model has (`layers = N`), None when the layer does not say."""
    model: dict[str, int] | None = None
    """The rest of the model (dialects/attn_rules.py `MODEL_FIELDS`), None when the layer gives none of it."""
    kv_dtype: str | None = None
    """The KV cache's dtype where the layer gives one (`kv_dtype = fp8`)."""
    qk_norm: bool = False
    """An RMSNorm on every query and key head (`qk_norm = 1`, Qwen3's q/k norms)."""
    gated: bool = True
    """A gated MLP or experts (SwiGLU), for the feed-forward kinds (`gated = 0`: up, GELU, down)."""
    expert_groups: int = 1
    """The `moe` kind's groups of experts (dialects/attn_rules.py `ROUTING_GROUPS`); 1: plain top-k routing."""
    groups_per_token: int = 1
    """The groups of experts each token of a `moe` layer picks its experts from."""


@dataclass(frozen=True)
class CheckedProgram:
    """A program whose every layer and workload passed the shape rules, defaults filled in."""

    layers: tuple[CheckedLayer, ...]
    workloads: tuple[CheckedWorkload, ...]


def error(span: Span[str], message: str) -> ParseError:
    return ParseError(span, message)


def _fields(block: Block, allowed: tuple[str, ...], what: str) -> dict[str, Word | Number]:
    """The block's fields by key; rejects unknown and repeated keys."""
    values: dict[str, Word | Number] = {}
    for field in block.fields:
        key = field.key.text
        if key not in allowed:
            raise error(field.key.span, f"unknown field '{key}' for {what} (expected one of: {', '.join(allowed)})")
        if key in values:
            raise error(field.key.span, f"field '{key}' given twice in '{block.name.text}'")
        values[key] = field.value
    return values


def _int(values: dict[str, Word | Number], key: str, block: Block, default: int | None = None) -> int:
    value = values.get(key)
    if value is None:
        if default is None:
            raise error(block.name.span, f"'{block.name.text}' is missing field '{key}'")
        return default
    if not isinstance(value, Number):
        raise error(value.span, f"field '{key}' must be a number, got '{value.text}'")
    if value.value > _INT64_MAX:
        raise error(value.span, f"field '{key}' is too large ({value.value})")
    return value.value


def _choice(values: dict[str, Word | Number], key: str, block: Block, choices: list[str], default: str | None) -> str:
    value = values.get(key)
    if value is None:
        if default is None:
            raise error(block.name.span, f"'{block.name.text}' is missing field '{key}' (one of: {', '.join(choices)})")
        return default
    text = value.text if isinstance(value, Word) else str(value.value)
    if text not in choices:
        raise error(value.span, f"unknown {key} '{text}' (expected one of: {', '.join(choices)})")
    return text


def shape_error(failure: ShapeError, block: Block) -> ParseError:
    """Points a shape rule's complaint at the field it names, else at its fallback field, or at the block when both
    were defaulted."""
    for key in (failure.field, failure.fallback):
        for field in block.fields:
            if field.key.text == key:
                return error(field.value.span, str(failure))
    return error(block.name.span, str(failure))


def _check_unique(blocks: tuple[Block, ...], what: str) -> None:
    seen: dict[str, Block] = {}
    for block in blocks:
        first = seen.setdefault(block.name.text, block)
        if first is not block:
            line = first.span.get_location().line
            raise error(block.name.span, f"duplicate {what} name '{block.name.text}' (first defined on line {line})")


def _workload(block: Block) -> CheckedWorkload:
    values = _fields(block, _WORKLOAD_FIELDS, "a workload")
    phase = Phase(_choice(values, "phase", block, [p.value for p in Phase], None))
    decode = phase == Phase.DECODE
    batch = _int(values, "batch", block, 1)
    context = _int(values, "context", block, None if decode else 0)
    new_tokens = _int(values, "new_tokens", block, 1 if decode else None)
    try:
        check_workload(phase, batch, context, new_tokens)
    except ShapeError as e:
        raise shape_error(e, block) from None
    return CheckedWorkload(block.name.text, phase, batch, context, new_tokens)


def _layer(block: Block) -> CheckedLayer:
    assert block.kind is not None
    kind = block.kind.text
    if kind not in KIND_DIMS:
        raise error(block.kind.span, f"unknown layer kind '{kind}' (expected one of: {', '.join(KIND_DIMS)})")
    if kind in FFN_KINDS:  # no heads, no cache: nothing of attention's own, nor the rest of a model
        routing = ROUTING_GROUPS if kind == "moe" else ()
        allowed = (*KIND_DIMS[kind], *routing, "gated", "layers", "dtype")
    else:
        own = ("qk_norm",) if kind != "mla" else ()
        allowed = (*KIND_DIMS[kind], *own, "layers", "dtype", "kv_dtype", *MODEL_FIELDS)
    values = _fields(block, allowed, f"a {kind} layer")
    qk_norm, gated = _int(values, "qk_norm", block, 0), _int(values, "gated", block, 1)
    for key, flag in (("qk_norm", qk_norm), ("gated", gated)):
        if flag not in (0, 1):
            raise error(values[key].span, f"{key} is 0 or 1, got {flag}")
    dims = {key: _int(values, key, block) for key in KIND_DIMS[kind]}
    expert_groups, groups_per_token = (_int(values, key, block, 1) for key in ROUTING_GROUPS)
    layers = _int(values, "layers", block) if "layers" in values else None
    dtype = _choice(values, "dtype", block, list(DTYPE_NAMES), "bf16")
    kv_dtype = _choice(values, "kv_dtype", block, list(DTYPE_NAMES), dtype) if "kv_dtype" in values else None
    model = None
    if kind not in FFN_KINDS and any(key in values for key in MODEL_FIELDS):
        model = {key: _int(values, key, block, MODEL_DEFAULTS.get(key, 0)) for key in MODEL_FIELDS}
    try:
        check_positive(kind, dims)
        if layers is not None:
            check_layer_count(layers)
        check_relations(kind, dims)
        if kind == "moe":
            check_routing_groups(dims, expert_groups, groups_per_token)
        if model is not None:
            check_model(model, layers)
    except ShapeError as e:
        raise shape_error(e, block) from None
    kv_dtype = kv_dtype if kv_dtype != dtype else None
    return CheckedLayer(
        block, kind, dims, dtype, layers, model, kv_dtype, bool(qk_norm), bool(gated), expert_groups, groups_per_token
    )


def check_program(program: Program) -> CheckedProgram:
    """Checks every block; raises ParseError pointing into the DSL at the first fault."""
    _check_unique(program.layers, "layer")
    _check_unique(program.workloads, "workload")
    start = Span(0, 0, program.source)
    if not program.layers:
        raise error(start, "no layer defined (add a 'layer NAME : KIND { ... }' block)")
    if not program.workloads:
        raise error(start, "no workload defined (add a 'workload NAME { phase = decode ... }' block)")
    workloads = tuple(_workload(w) for w in program.workloads)
    layers = tuple(_layer(layer) for layer in program.layers)
    _check_model_stack(layers)
    return CheckedProgram(layers, workloads)


def _check_described(part: CheckedLayer, attention: CheckedLayer) -> None:
    """An MLP/MoE layer of a model whose attention layer also describes it (`#attn.model`) agrees with that
    description, so that the step's time and the capacity count the same layers."""
    model = attention.model
    assert model is not None and part.layers is not None
    dense = model["dense_layers"] if model["experts"] else attention.layers
    said: dict[str, tuple[int, str]] = {"gated": (model["gated"], "gated"), "layers": (dense or 0, "dense_layers")}
    if part.kind == "mlp":
        said["width"] = (model["mlp"], "mlp")
    else:
        said |= {key: (model[key], key) for key in ("experts", "experts_per_token", "expert_width", "shared_experts")}
        said["layers"] = ((attention.layers or 0) - model["dense_layers"], "layers - dense_layers")
    given = {**part.dims, "gated": int(part.gated), "layers": part.layers}
    for key, (value, source) in said.items():
        if given[key] != value:
            raise shape_error(
                ShapeError(key, f"{key} ({given[key]}) differs from what layer '{attention.block.name.text}' says "
                           f"of its model ({source} = {value})"),
                part.block,
            )  # fmt: skip


def _check_model_stack(layers: tuple[CheckedLayer, ...]) -> None:
    """A file whose MLP/MoE layers say `layers` is one model (mlacc/whole_step.py): each attention layer that says
    `layers` has their width and as many layers as they add up to, one feed-forward layer after each of its own."""
    ffn = [layer for layer in layers if layer.kind in FFN_KINDS and layer.layers is not None]
    if not ffn:
        return
    stacked = sum(layer.layers or 0 for layer in ffn)
    d_model = ffn[0].dims["d_model"]
    parts = " + ".join(f"{layer.block.name.text} {layer.layers}" for layer in ffn)
    for layer in layers:
        if layer.layers is None:
            continue
        if layer.dims["d_model"] != d_model:
            raise shape_error(
                ShapeError("d_model", f"d_model ({layer.dims['d_model']}) differs from the model's ({d_model}, "
                           f"layer '{ffn[0].block.name.text}'): a file with MLP/MoE layers is one model"),
                layer.block,
            )  # fmt: skip
        if layer.kind not in FFN_KINDS and layer.layers != stacked:
            raise shape_error(
                ShapeError("layers", f"layers ({layer.layers}) must be what the MLP/MoE layers add up to "
                           f"({parts} = {stacked}): each attention layer is followed by one of them"),
                layer.block,
            )  # fmt: skip
        if layer.model is not None:
            for part in ffn:
                _check_described(part, layer)
