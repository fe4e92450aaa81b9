"""Syntax tree -> `attn` IR: one function per (layer, workload).

Checks what the grammar cannot (known kinds and keys, required fields,
duplicates, value types), then builds each `attn` op and runs its verifier,
so impossible shapes are reported at the DSL field that causes them.

Defaults: `dtype = bf16`; `layers`: unsaid (one layer, no model totals); `batch = 1`; decode: `new_tokens = 1`; prefill:
`context = 0`. A decode workload must give `context`, a prefill one
`new_tokens`.
"""

from __future__ import annotations

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import func
from xdsl.dialects.builtin import FileLineColLoc, IntAttr, LocationAttr, ModuleOp, StringAttr, TensorType
from xdsl.ir import Attribute
from xdsl.utils.exceptions import ParseError, VerifyException
from xdsl.utils.lexer import Span

from dialects.attn import DTYPES, LAYER_OPS, AttentionLayerOp, Phase, ShapeError, WorkloadAttr
from mlacc.frontend.ast import Block, Number, Program, Word

_INT64_MAX = 2**63 - 1
_WORKLOAD_FIELDS = ("phase", "batch", "context", "new_tokens")


def _error(span: Span[str], message: str) -> ParseError:
    return ParseError(span, message)


def _fields(block: Block, allowed: tuple[str, ...], what: str) -> dict[str, Word | Number]:
    """The block's fields by key; rejects unknown and repeated keys."""
    values: dict[str, Word | Number] = {}
    for field in block.fields:
        key = field.key.text
        if key not in allowed:
            raise _error(field.key.span, f"unknown field '{key}' for {what} (expected one of: {', '.join(allowed)})")
        if key in values:
            raise _error(field.key.span, f"field '{key}' given twice in '{block.name.text}'")
        values[key] = field.value
    return values


def _int(values: dict[str, Word | Number], key: str, block: Block, default: int | None = None) -> int:
    value = values.get(key)
    if value is None:
        if default is None:
            raise _error(block.name.span, f"'{block.name.text}' is missing field '{key}'")
        return default
    if not isinstance(value, Number):
        raise _error(value.span, f"field '{key}' must be a number, got '{value.text}'")
    if value.value > _INT64_MAX:
        raise _error(value.span, f"field '{key}' is too large ({value.value})")
    return value.value


def _choice(values: dict[str, Word | Number], key: str, block: Block, choices: list[str], default: str | None) -> str:
    value = values.get(key)
    if value is None:
        if default is None:
            raise _error(
                block.name.span, f"'{block.name.text}' is missing field '{key}' (one of: {', '.join(choices)})"
            )
        return default
    text = value.text if isinstance(value, Word) else str(value.value)
    if text not in choices:
        raise _error(value.span, f"unknown {key} '{text}' (expected one of: {', '.join(choices)})")
    return text


def _shape_error(error: ShapeError, block: Block) -> ParseError:
    """Points a verifier's complaint at the field it names, or at the block when the field was defaulted."""
    for field in block.fields:
        if field.key.text == error.field:
            return _error(field.value.span, str(error))
    return _error(block.name.span, str(error))


def _check_unique(blocks: tuple[Block, ...], what: str) -> None:
    seen: dict[str, Block] = {}
    for block in blocks:
        first = seen.setdefault(block.name.text, block)
        if first is not block:
            line = first.span.get_location().line
            raise _error(block.name.span, f"duplicate {what} name '{block.name.text}' (first defined on line {line})")


def _workload(block: Block) -> WorkloadAttr:
    values = _fields(block, _WORKLOAD_FIELDS, "a workload")
    phase = Phase(_choice(values, "phase", block, [p.value for p in Phase], None))
    decode = phase == Phase.DECODE
    batch = _int(values, "batch", block, 1)
    context = _int(values, "context", block, None if decode else 0)
    new_tokens = _int(values, "new_tokens", block, 1 if decode else None)
    try:
        return WorkloadAttr(block.name.text, phase, batch, context, new_tokens)
    except ShapeError as e:
        raise _shape_error(e, block) from None


def _location(span: Span[str]) -> FileLineColLoc:
    loc = span.get_location()
    return FileLineColLoc(StringAttr(loc.file), IntAttr(loc.line), IntAttr(loc.col))


def layer_function(
    op_class: type[AttentionLayerOp],
    layer: str,
    workload: WorkloadAttr,
    dims: dict[str, int],
    element_type: Attribute,
    location: LocationAttr,
    layers: int | None = None,
) -> func.FuncOp:
    """`@LAYER.WORKLOAD(x) -> out`, a function holding the one `attn` op of a (layer, workload); not verified."""
    hidden = TensorType(element_type, [workload.batch.data, workload.new_tokens.data, dims["d_model"]])
    function = func.FuncOp(f"{layer}.{workload.workload_name.data}", ((hidden,), (hidden,)))
    function.location = location
    with ImplicitBuilder(function.body) as (x,):
        x.name_hint = "x"
        op = op_class(x, layer, workload, layers, **dims)
        op.location = location
        op.output.name_hint = "out"
        func.ReturnOp(op.output)
    return function


def build_module(program: Program) -> ModuleOp:
    """Builds the `attn` module; raises ParseError pointing into the DSL on bad input."""
    _check_unique(program.layers, "layer")
    _check_unique(program.workloads, "workload")
    start = Span(0, 0, program.source)
    if not program.layers:
        raise _error(start, "no layer defined (add a 'layer NAME : KIND { ... }' block)")
    if not program.workloads:
        raise _error(start, "no workload defined (add a 'workload NAME { phase = decode ... }' block)")
    workloads = [(_workload(w), w) for w in program.workloads]

    module = ModuleOp([])
    for layer in program.layers:
        assert layer.kind is not None
        op_class = LAYER_OPS.get(layer.kind.text)
        if op_class is None:
            raise _error(
                layer.kind.span, f"unknown layer kind '{layer.kind.text}' (expected one of: {', '.join(LAYER_OPS)})"
            )
        values = _fields(layer, (*op_class.DIMS, "layers", "dtype"), f"a {layer.kind.text} layer")
        dims = {key: _int(values, key, layer) for key in op_class.DIMS}
        layers = _int(values, "layers", layer) if "layers" in values else None
        element_type = DTYPES[_choice(values, "dtype", layer, list(DTYPES), "bf16")]
        for workload, _ in workloads:
            function = layer_function(
                op_class, layer.name.text, workload, dims, element_type, _location(layer.span), layers
            )
            module.body.block.add_op(function)
            op = function.body.block.first_op
            assert isinstance(op, AttentionLayerOp)
            try:
                op.verify()
            except ShapeError as e:
                raise _shape_error(e, layer) from None
            except VerifyException as e:
                raise _error(layer.name.span, str(e)) from None
    return module


def override_workloads(
    module: ModuleOp,
    phase: str | None = None,
    batch: int | None = None,
    context: int | None = None,
    new_tokens: int | None = None,
) -> None:
    """Rebuilds every function with its workload's fields replaced (what-ifs from the command line).

    Switching a decode workload to prefill makes its context the prompt (new tokens, nothing cached)
    unless `new_tokens` or `context` say otherwise; switching to decode makes one new token.
    """
    for function in list(module.ops):
        assert isinstance(function, func.FuncOp)
        op = function.body.block.first_op
        assert isinstance(op, AttentionLayerOp)
        w = op.workload
        new_phase = Phase(phase) if phase is not None else w.phase.data
        old_context, old_new = w.context.data, w.new_tokens.data
        if new_phase != w.phase.data:
            old_context, old_new = (0, old_context or old_new) if new_phase == Phase.PREFILL else (old_context, 1)
        workload = WorkloadAttr(
            w.workload_name.data,
            new_phase,
            batch if batch is not None else w.batch.data,
            context if context is not None else old_context,
            new_tokens if new_tokens is not None else old_new,
        )
        dims = {d: op.dim(d) for d in op.DIMS}
        rebuilt = layer_function(type(op), op.layer.data, workload, dims, op.element_type, op.location, op.layer_count)
        module.body.block.insert_op_before(rebuilt, function)
        function.detach()
        function.erase()
