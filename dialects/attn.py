"""The `attn` dialect: stage 1 of mlacc, one op per (layer, workload).

An `attn` op states *what* an attention layer is (kind, dimensions, dtype) and
*which* workload it runs (phase, batch, cached context, new tokens), with the
hidden states it consumes and produces as SSA values. It says nothing about how
the layer computes; `lower-attn` turns it into `la` dataflow.

Every impossible shape is rejected here, so the frontend and `mlacc-opt` share
one source of truth. A `ShapeError` names the offending field so the frontend
can point at it in the DSL file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects.builtin import (
    I64,
    BFloat16Type,
    Float8E4M3FNType,
    Float16Type,
    Float32Type,
    IntAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    TensorType,
    bf16,
    f16,
    f32,
    i8,
    i64,
)
from xdsl.dialects.utils import EnumAttribute
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute, SpacedOpaqueSyntaxAttribute, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.str_enum import StrEnum


class ShapeError(VerifyException):
    """An impossible dimension; `field` names the DSL field that is at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class Phase(StrEnum):
    PREFILL = "prefill"
    DECODE = "decode"


@irdl_attr_definition
class PhaseAttr(EnumAttribute[Phase], SpacedOpaqueSyntaxAttribute):
    name = "attn.phase"


DTYPES: dict[str, Attribute] = {
    "fp32": f32,
    "bf16": bf16,
    "fp16": f16,
    "fp8": Float8E4M3FNType(),
    "int8": i8,
}
"""DSL dtype names and the element types that carry them in the IR."""


def dtype_name(element_type: Attribute) -> str:
    """The DSL name of an element type (inverse of DTYPES)."""
    for name, ty in DTYPES.items():
        if ty == element_type:
            return name
    raise VerifyException(f"unsupported element type {element_type}")


_SUPPORTED_ELEMENT_TYPES = (Float32Type, BFloat16Type, Float16Type, Float8E4M3FNType, IntegerType)


@irdl_attr_definition
class WorkloadAttr(ParametrizedAttribute):
    """What a layer is run on: `#attn.workload<"decode_4k", decode, batch = 1, context = 4096, new_tokens = 1>`.

    `context` counts tokens already in the KV cache; `new_tokens` counts tokens
    computed by this step (1 for plain decode, more for speculative decode;
    the prompt length for prefill).
    """

    name = "attn.workload"

    workload_name: StringAttr
    phase: PhaseAttr
    batch: IntAttr
    context: IntAttr
    new_tokens: IntAttr

    _FIELDS: ClassVar[tuple[str, ...]] = ("batch", "context", "new_tokens")

    def __init__(self, workload_name: str, phase: Phase, batch: int, context: int, new_tokens: int):
        super().__init__(
            StringAttr(workload_name), PhaseAttr(phase), IntAttr(batch), IntAttr(context), IntAttr(new_tokens)
        )

    @property
    def total_tokens(self) -> int:
        """Tokens attended to by the last new token: cached context plus the new ones."""
        return self.context.data + self.new_tokens.data

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            name = parser.parse_str_literal()
            parser.parse_punctuation(",")
            phase = PhaseAttr(parser.parse_str_enum(Phase))
            values: list[Attribute] = []
            for field in cls._FIELDS:
                parser.parse_punctuation(",")
                parser.parse_keyword(field)
                parser.parse_punctuation("=")
                values.append(IntAttr(parser.parse_integer(allow_boolean=False)))
        return (StringAttr(name), phase, *values)

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string_literal(self.workload_name.data)
            printer.print_string(
                f", {self.phase.data.value}, batch = {self.batch.data}, "
                f"context = {self.context.data}, new_tokens = {self.new_tokens.data}"
            )

    def verify(self) -> None:
        if self.batch.data <= 0:
            raise ShapeError("batch", f"batch must be positive, got {self.batch.data}")
        if self.context.data < 0:
            raise ShapeError("context", f"context must not be negative, got {self.context.data}")
        if self.new_tokens.data <= 0:
            raise ShapeError("new_tokens", f"new_tokens must be positive, got {self.new_tokens.data}")
        if self.phase.data == Phase.DECODE and self.context.data == 0:
            raise ShapeError("context", "a decode step needs a cached context of at least one token")


class AttentionLayerOp(IRDLOperation):
    """Common shape of every `attn` op: hidden states in, hidden states out.

    Subclasses list their dimensions in `DIMS`; each is an i64 property, so the
    op's IR carries the whole layer description. `layers` (optional, printed
    only when given) says how many such layers the model stacks, for the
    model's totals; every figure of the op itself is one layer's.
    """

    DIMS: ClassVar[tuple[str, ...]]
    """The layer's integer dimensions, in the order the DSL documents them."""
    ZERO_ALLOWED: ClassVar[tuple[str, ...]] = ()
    """Dimensions for which 0 means "absent" rather than impossible."""

    input = operand_def(TensorType)
    output = result_def(TensorType)
    layer = prop_def(StringAttr)
    layers = opt_prop_def(IntegerAttr[I64])
    workload = prop_def(WorkloadAttr)
    d_model = prop_def(IntegerAttr[I64])
    heads = prop_def(IntegerAttr[I64])

    def __init__(self, input: SSAValue, layer: str, workload: WorkloadAttr, layers: int | None = None, **dims: int):
        props: dict[str, Attribute] = {"layer": StringAttr(layer), "workload": workload}
        if layers is not None:
            props["layers"] = IntegerAttr(layers, i64)
        props.update({k: IntegerAttr(v, i64) for k, v in dims.items()})
        super().__init__(operands=[input], result_types=[input.type], properties=props)

    def dim(self, name: str) -> int:
        """The value of one of the layer's dimensions by its DSL name."""
        attr = self.properties[name]
        assert isinstance(attr, IntegerAttr)
        return attr.value.data

    @property
    def element_type(self) -> Attribute:
        assert isinstance(self.input.type, TensorType)
        return self.input.type.element_type

    @property
    def kind(self) -> str:
        return self.name.removeprefix("attn.")

    @property
    def layer_count(self) -> int | None:
        """How many such layers the model has, if the layer says (`layers = N`)."""
        return self.layers.value.data if self.layers is not None else None

    def verify_(self) -> None:
        for field in self.DIMS:
            if self.dim(field) < 0 or (self.dim(field) == 0 and field not in self.ZERO_ALLOWED):
                zero = " (or 0 for none)" if field in self.ZERO_ALLOWED else ""
                raise ShapeError(field, f"{field} must be positive{zero}, got {self.dim(field)}")
        if self.layer_count is not None and self.layer_count < 1:
            raise ShapeError("layers", f"layers must be positive, got {self.layer_count}")
        if not isinstance(self.element_type, _SUPPORTED_ELEMENT_TYPES) or (
            isinstance(self.element_type, IntegerType) and self.element_type != i8
        ):
            raise VerifyException(f"unsupported element type {self.element_type}")
        w = self.workload
        expected = (w.batch.data, w.new_tokens.data, self.dim("d_model"))
        for value in (self.input, self.output):
            assert isinstance(value.type, TensorType)
            if tuple(value.type.get_shape()) != expected or value.type.element_type != self.element_type:
                raise VerifyException(
                    f"hidden states must be tensor<{'x'.join(map(str, expected))}x{self.element_type}> "
                    f"(batch x new_tokens x d_model), got {value.type}"
                )
        self.verify_dims()

    def verify_dims(self) -> None:
        """Kind-specific relations between dimensions (all are already positive)."""


_COMMON_FORMAT = (
    "$input `layer` $layer (`layers` `=` $layers^)? `workload` $workload `d_model` `=` $d_model `heads` `=` $heads"
)
_TYPES_FORMAT = " attr-dict `:` type($input) `->` type($output)"


@irdl_op_definition
class MhaOp(AttentionLayerOp):
    """Multi-head attention: every head has its own keys and values."""

    name = "attn.mha"
    DIMS: ClassVar[tuple[str, ...]] = ("d_model", "heads", "head_dim")
    head_dim = prop_def(IntegerAttr[I64])
    assembly_format = _COMMON_FORMAT + " `head_dim` `=` $head_dim" + _TYPES_FORMAT

    def verify_dims(self) -> None:
        _check_even_head_dim(self)


@irdl_op_definition
class GqaOp(AttentionLayerOp):
    """Grouped-query attention: `heads / kv_heads` query heads share each key/value head."""

    name = "attn.gqa"
    DIMS: ClassVar[tuple[str, ...]] = ("d_model", "heads", "kv_heads", "head_dim")
    kv_heads = prop_def(IntegerAttr[I64])
    head_dim = prop_def(IntegerAttr[I64])
    assembly_format = _COMMON_FORMAT + " `kv_heads` `=` $kv_heads `head_dim` `=` $head_dim" + _TYPES_FORMAT

    def verify_dims(self) -> None:
        heads, kv_heads = self.dim("heads"), self.dim("kv_heads")
        if kv_heads > heads:
            raise ShapeError("kv_heads", f"kv_heads ({kv_heads}) must not exceed heads ({heads})")
        if heads % kv_heads:
            raise ShapeError("kv_heads", f"heads ({heads}) must be divisible by kv_heads ({kv_heads})")
        _check_even_head_dim(self)


@irdl_op_definition
class MqaOp(AttentionLayerOp):
    """Multi-query attention: all query heads share one key/value head."""

    name = "attn.mqa"
    DIMS: ClassVar[tuple[str, ...]] = ("d_model", "heads", "head_dim")
    head_dim = prop_def(IntegerAttr[I64])
    assembly_format = _COMMON_FORMAT + " `head_dim` `=` $head_dim" + _TYPES_FORMAT

    def verify_dims(self) -> None:
        _check_even_head_dim(self)


@irdl_op_definition
class MlaOp(AttentionLayerOp):
    """Multi-head latent attention (DeepSeek-V2/V3).

    Keys and values are compressed into a `kv_rank` latent plus a shared
    `qk_rope_dim` RoPE key; queries optionally through a `q_rank` latent
    (`q_rank = 0`: no query compression, as in DeepSeek-V2-Lite).
    """

    name = "attn.mla"
    DIMS: ClassVar[tuple[str, ...]] = ("d_model", "heads", "q_rank", "kv_rank", "qk_nope_dim", "qk_rope_dim", "v_dim")
    ZERO_ALLOWED: ClassVar[tuple[str, ...]] = ("q_rank",)
    q_rank = prop_def(IntegerAttr[I64])
    kv_rank = prop_def(IntegerAttr[I64])
    qk_nope_dim = prop_def(IntegerAttr[I64])
    qk_rope_dim = prop_def(IntegerAttr[I64])
    v_dim = prop_def(IntegerAttr[I64])
    assembly_format = (
        _COMMON_FORMAT + " `q_rank` `=` $q_rank `kv_rank` `=` $kv_rank `qk_nope_dim` `=` $qk_nope_dim"
        " `qk_rope_dim` `=` $qk_rope_dim `v_dim` `=` $v_dim" + _TYPES_FORMAT
    )

    def verify_dims(self) -> None:
        if self.dim("qk_rope_dim") % 2:
            raise ShapeError(
                "qk_rope_dim", f"qk_rope_dim must be even (RoPE rotates pairs), got {self.dim('qk_rope_dim')}"
            )
        d_model, kv_rank = self.dim("d_model"), self.dim("kv_rank")
        if kv_rank > d_model:
            raise ShapeError("kv_rank", f"kv_rank ({kv_rank}) must not exceed d_model ({d_model}): it compresses")
        if self.dim("q_rank") > d_model:
            raise ShapeError(
                "q_rank", f"q_rank ({self.dim('q_rank')}) must not exceed d_model ({d_model}): it compresses"
            )


def _check_even_head_dim(op: AttentionLayerOp) -> None:
    if op.dim("head_dim") % 2:
        raise ShapeError("head_dim", f"head_dim must be even (RoPE rotates pairs), got {op.dim('head_dim')}")


LAYER_OPS: dict[str, type[AttentionLayerOp]] = {
    op.name.removeprefix("attn."): op for op in (MhaOp, GqaOp, MqaOp, MlaOp)
}
"""Layer kinds by DSL name."""

Attn = Dialect("attn", [MhaOp, GqaOp, MqaOp, MlaOp], [PhaseAttr, WorkloadAttr])
