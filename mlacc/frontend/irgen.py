"""Checked program -> `attn` IR: one function per (layer, workload).

mlacc/frontend/check.py has already checked the file (kinds, keys, values and the
shape rules); this module builds each `attn` op and runs its verifier, which
states the same rules on the IR, so a fault that slipped through is still
reported at the DSL layer that causes it.
"""

from __future__ import annotations

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import func
from xdsl.dialects.builtin import FileLineColLoc, IntAttr, LocationAttr, ModuleOp, StringAttr, TensorType
from xdsl.ir import Attribute
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.lexer import Span

from dialects.attn import (
    DTYPES,
    LAYER_OPS,
    AttentionLayerOp,
    FfnLayerOp,
    LayerOp,
    ModelAttr,
    MoeOp,
    Phase,
    ShapeError,
    WorkloadAttr,
)
from mlacc.frontend.check import CheckedProgram, error, shape_error


def _location(span: Span[str]) -> FileLineColLoc:
    loc = span.get_location()
    return FileLineColLoc(StringAttr(loc.file), IntAttr(loc.line), IntAttr(loc.col))


def layer_function(
    op_class: type[LayerOp],
    layer: str,
    workload: WorkloadAttr,
    dims: dict[str, int],
    element_type: Attribute,
    location: LocationAttr,
    layers: int | None = None,
    model: ModelAttr | None = None,
    kv_dtype: Attribute | None = None,
    qk_norm: bool = False,
    gated: bool = True,
    expert_groups: int = 1,
    groups_per_token: int = 1,
) -> func.FuncOp:
    """`@LAYER.WORKLOAD(x) -> out`, a function holding the one `attn` op of a (layer, workload); not verified.
    (`model`, `kv_dtype` and `qk_norm` are attention's; `gated` the feed-forward kinds'; `expert_groups` and
    `groups_per_token` a mixture of experts'.)"""
    hidden = TensorType(element_type, [workload.batch.data, workload.new_tokens.data, dims["d_model"]])
    function = func.FuncOp(f"{layer}.{workload.workload_name.data}", ((hidden,), (hidden,)))
    function.location = location
    with ImplicitBuilder(function.body) as (x,):
        x.name_hint = "x"
        if issubclass(op_class, MoeOp):
            op = op_class(x, layer, workload, layers, gated, expert_groups, groups_per_token, **dims)
        elif issubclass(op_class, FfnLayerOp):
            op = op_class(x, layer, workload, layers, gated, **dims)
        else:
            assert issubclass(op_class, AttentionLayerOp)
            op = op_class(x, layer, workload, layers, model, kv_dtype, qk_norm, **dims)
        op.location = location
        op.output.name_hint = "out"
        func.ReturnOp(op.output)
    return function


def emit_module(program: CheckedProgram) -> ModuleOp:
    """Builds and verifies the `attn` module of a checked program."""
    workloads = [WorkloadAttr(w.name, w.phase, w.batch, w.context, w.new_tokens) for w in program.workloads]
    module = ModuleOp([])
    for layer in program.layers:
        block = layer.block
        for workload in workloads:
            function = layer_function(
                LAYER_OPS[layer.kind],
                block.name.text,
                workload,
                layer.dims,
                DTYPES[layer.dtype],
                _location(block.span),
                layer.layers,
                ModelAttr(layer.model) if layer.model is not None else None,
                DTYPES[layer.kv_dtype] if layer.kv_dtype is not None else None,
                layer.qk_norm,
                layer.gated,
                layer.expert_groups,
                layer.groups_per_token,
            )
            module.body.block.add_op(function)
            op = function.body.block.first_op
            assert isinstance(op, LayerOp)
            try:
                op.verify()
            except ShapeError as e:
                raise shape_error(e, block) from None
            except VerifyException as e:
                raise error(block.name.span, str(e)) from None
    return module


def effective_workload(
    w: WorkloadAttr,
    phase: str | None = None,
    batch: int | None = None,
    context: int | None = None,
    new_tokens: int | None = None,
) -> WorkloadAttr:
    """`w` with the fields given replaced (what-ifs from the command line).

    Switching a decode workload to prefill makes its context the prompt (new tokens, nothing cached)
    unless `new_tokens` or `context` say otherwise; switching to decode makes one new token.
    """
    return WorkloadAttr(w.workload_name.data, *workload_fields(w, phase, batch, context, new_tokens))


def workload_fields(
    w: WorkloadAttr,
    phase: str | None = None,
    batch: int | None = None,
    context: int | None = None,
    new_tokens: int | None = None,
) -> tuple[Phase, int, int, int]:
    """`effective_workload`'s phase, batch, context and new tokens, without building the attribute (a sweep
    asks for thousands)."""
    new_phase = Phase(phase) if phase is not None else w.phase.data
    old_context, old_new = w.context.data, w.new_tokens.data
    if new_phase != w.phase.data:
        old_context, old_new = (0, old_context or old_new) if new_phase == Phase.PREFILL else (old_context, 1)
    return (
        new_phase,
        batch if batch is not None else w.batch.data,
        context if context is not None else old_context,
        new_tokens if new_tokens is not None else old_new,
    )


def override_workloads(
    module: ModuleOp,
    phase: str | None = None,
    batch: int | None = None,
    context: int | None = None,
    new_tokens: int | None = None,
) -> None:
    """Rebuilds every function with its workload's fields replaced (`effective_workload`)."""
    for function in list(module.ops):
        assert isinstance(function, func.FuncOp)
        op = function.body.block.first_op
        assert isinstance(op, LayerOp)
        workload = effective_workload(op.workload, phase, batch, context, new_tokens)
        dims = {d: op.dim(d) for d in op.DIMS}
        attention = op if isinstance(op, AttentionLayerOp) else None
        moe = op if isinstance(op, MoeOp) else None
        rebuilt = layer_function(
            type(op),
            op.layer.data,
            workload,
            dims,
            op.element_type,
            op.location,
            op.layer_count,
            attention.model if attention else None,
            attention.kv_dtype if attention else None,
            attention is not None and attention.qk_norm is not None,
            isinstance(op, FfnLayerOp) and op.gated is not None,
            moe.expert_groups() if moe else 1,
            moe.groups_per_token() if moe else 1,
        )
        module.body.block.insert_op_before(rebuilt, function)
        function.detach()
        function.erase()


def override_kv_dtype(module: ModuleOp, kv_dtype: str) -> None:
    """Sets every attention layer's KV-cache dtype (`--kv-dtype`); the layer's own dtype means no separate cache
    dtype. Feed-forward layers have no cache."""
    for function in module.ops:
        assert isinstance(function, func.FuncOp)
        op = function.body.block.first_op
        if isinstance(op, FfnLayerOp):
            continue
        assert isinstance(op, AttentionLayerOp)
        if DTYPES[kv_dtype] == op.element_type:
            op.properties.pop("kv_dtype", None)
        else:
            op.properties["kv_dtype"] = DTYPES[kv_dtype]
