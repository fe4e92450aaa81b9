"""The `attn` dialect: stage 1 of mlacc, one op per (layer, workload).

An `attn` op states *what* a layer is (an attention kind, or the MLP or MoE
layer between attention layers; dimensions, dtype) and
*which* workload it runs (phase, batch, cached context, new tokens), with the
hidden states it consumes and produces as SSA values. It says nothing about how
the layer computes; `lower-attn` turns it into `la` dataflow.

Every impossible shape is rejected by these verifiers, which run the plain-Python
rules of dialects/attn_rules.py: the frontend runs the same rules before it builds
IR, so the frontend and `mlacc-opt` share one source of truth. A `ShapeError` names
the offending field so the frontend can point at it in the DSL file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects.builtin import (
    I64,
    ArrayAttr,
    BFloat16Type,
    Float8E4M3FNType,
    Float16Type,
    Float32Type,
    IntAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    TensorType,
    UnitAttr,
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

from dialects.attn_rules import (
    DTYPE_NAMES,
    KIND_DIMS,
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

__all__ = ["Phase", "ShapeError"]  # re-exported: the rules live in dialects/attn_rules.py


@irdl_attr_definition
class PhaseAttr(EnumAttribute[Phase], SpacedOpaqueSyntaxAttribute):
    name = "attn.phase"


DTYPES: dict[str, Attribute] = dict(zip(DTYPE_NAMES, (f32, bf16, f16, Float8E4M3FNType(), i8), strict=True))
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
        check_workload(self.phase.data, self.batch.data, self.context.data, self.new_tokens.data)


@irdl_attr_definition
class ModelAttr(ParametrizedAttribute):
    """The rest of the model around a layer that says `layers = N`: `#attn.model<vocab = 129280, ...>`, every
    field of dialects/attn_rules.py `MODEL_FIELDS` (0: absent). Its weights are counted with the layers' for the
    model's parameters and capacity; it changes no figure of the layer itself."""

    name = "attn.model"

    values: ArrayAttr[IntAttr]

    def __init__(self, fields: dict[str, int]):
        super().__init__(ArrayAttr([IntAttr(fields[key]) for key in MODEL_FIELDS]))

    def field(self, key: str) -> int:
        return self.values.data[MODEL_FIELDS.index(key)].data

    @property
    def fields(self) -> dict[str, int]:
        return {key: v.data for key, v in zip(MODEL_FIELDS, self.values.data, strict=True)}

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        values: list[IntAttr] = []
        with parser.in_angle_brackets():
            for i, key in enumerate(MODEL_FIELDS):
                if i:
                    parser.parse_punctuation(",")
                parser.parse_keyword(key)
                parser.parse_punctuation("=")
                values.append(IntAttr(parser.parse_integer(allow_boolean=False)))
        return (ArrayAttr(values),)

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string(", ".join(f"{key} = {value}" for key, value in self.fields.items()))

    def verify(self) -> None:
        if len(self.values.data) != len(MODEL_FIELDS):
            raise VerifyException(f"#attn.model has {len(MODEL_FIELDS)} fields, got {len(self.values.data)}")


class LayerOp(IRDLOperation):
    """Common shape of every `attn` op: hidden states in, hidden states out.

    Subclasses list their dimensions in `DIMS`; each is an i64 property, so the
    op's IR carries the whole layer description. `layers` (optional, printed
    only when given) says how many such layers the model stacks, for the
    model's totals; every figure of the op itself is one layer's.
    """

    DIMS: ClassVar[tuple[str, ...]]
    """The layer's integer dimensions, in the order the DSL documents them."""

    input = operand_def(TensorType)
    output = result_def(TensorType)
    layer = prop_def(StringAttr)
    layers = opt_prop_def(IntegerAttr[I64])
    workload = prop_def(WorkloadAttr)
    d_model = prop_def(IntegerAttr[I64])

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

    def verify_own(self) -> None:
        """The rules of a kind's own properties, checked after the dimensions and before the hidden states."""

    def verify_(self) -> None:
        check_positive(self.kind, {d: self.dim(d) for d in self.DIMS})
        if self.layer_count is not None:
            check_layer_count(self.layer_count)
        self.verify_own()
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
        check_relations(self.kind, {d: self.dim(d) for d in self.DIMS})


class AttentionLayerOp(LayerOp):
    """An attention layer: heads, a KV cache, and what the rest of the model is where the layer says."""

    model = opt_prop_def(ModelAttr)
    """The rest of the model (MLP or experts, embeddings), where the file says it."""
    kv_dtype = opt_prop_def(Attribute)
    """The KV cache's element type where it differs from the layer's (`kv_dtype = fp8`)."""
    qk_norm = opt_prop_def(UnitAttr)
    """An RMSNorm on every query and key head before RoPE (Qwen3's q/k norms); not for MLA."""
    heads = prop_def(IntegerAttr[I64])

    def __init__(
        self,
        input: SSAValue,
        layer: str,
        workload: WorkloadAttr,
        layers: int | None = None,
        model: ModelAttr | None = None,
        kv_dtype: Attribute | None = None,
        qk_norm: bool = False,
        **dims: int,
    ):
        props: dict[str, Attribute] = {"layer": StringAttr(layer), "workload": workload}
        if layers is not None:
            props["layers"] = IntegerAttr(layers, i64)
        if model is not None:
            props["model"] = model
        if kv_dtype is not None:
            props["kv_dtype"] = kv_dtype
        if qk_norm:
            props["qk_norm"] = UnitAttr()
        props.update({k: IntegerAttr(v, i64) for k, v in dims.items()})
        super().__init__(operands=[input], result_types=[input.type], properties=props)

    def verify_own(self) -> None:
        if self.model is not None:
            check_model(self.model.fields, self.layer_count)
        if self.kv_dtype is not None and self.kv_dtype not in DTYPES.values():
            raise VerifyException(f"unsupported kv_dtype {self.kv_dtype}")
        if self.qk_norm is not None and self.kind == "mla":
            raise VerifyException("qk_norm is for mha, gqa and mqa layers (MLA normalises its latents)")


class FfnLayerOp(LayerOp):
    """A feed-forward layer between attention layers: a dense MLP or a mixture of experts, gated (SwiGLU: gate and
    up projections, SiLU of the gate times the up) unless `gated` is absent (up, GELU, down)."""

    gated = opt_prop_def(UnitAttr)

    def __init__(
        self,
        input: SSAValue,
        layer: str,
        workload: WorkloadAttr,
        layers: int | None = None,
        gated: bool = True,
        **dims: int,
    ):
        props: dict[str, Attribute] = {"layer": StringAttr(layer), "workload": workload}
        if layers is not None:
            props["layers"] = IntegerAttr(layers, i64)
        if gated:
            props["gated"] = UnitAttr()
        props.update({k: IntegerAttr(v, i64) for k, v in dims.items()})
        super().__init__(operands=[input], result_types=[input.type], properties=props)


_COMMON_FORMAT = (
    "$input `layer` $layer (`layers` `=` $layers^)? (`model` $model^)? (`kv_dtype` `=` $kv_dtype^)? "
    "(`qk_norm` $qk_norm^)? `workload` $workload `d_model` `=` $d_model `heads` `=` $heads"
)
_TYPES_FORMAT = " attr-dict `:` type($input) `->` type($output)"
_FFN_FORMAT = "$input `layer` $layer (`layers` `=` $layers^)? `workload` $workload `d_model` `=` $d_model"


@irdl_op_definition
class MhaOp(AttentionLayerOp):
    """Multi-head attention: every head has its own keys and values."""

    name = "attn.mha"
    DIMS: ClassVar[tuple[str, ...]] = KIND_DIMS["mha"]
    head_dim = prop_def(IntegerAttr[I64])
    assembly_format = _COMMON_FORMAT + " `head_dim` `=` $head_dim" + _TYPES_FORMAT


@irdl_op_definition
class GqaOp(AttentionLayerOp):
    """Grouped-query attention: `heads / kv_heads` query heads share each key/value head."""

    name = "attn.gqa"
    DIMS: ClassVar[tuple[str, ...]] = KIND_DIMS["gqa"]
    kv_heads = prop_def(IntegerAttr[I64])
    head_dim = prop_def(IntegerAttr[I64])
    assembly_format = _COMMON_FORMAT + " `kv_heads` `=` $kv_heads `head_dim` `=` $head_dim" + _TYPES_FORMAT


@irdl_op_definition
class MqaOp(AttentionLayerOp):
    """Multi-query attention: all query heads share one key/value head."""

    name = "attn.mqa"
    DIMS: ClassVar[tuple[str, ...]] = KIND_DIMS["mqa"]
    head_dim = prop_def(IntegerAttr[I64])
    assembly_format = _COMMON_FORMAT + " `head_dim` `=` $head_dim" + _TYPES_FORMAT


@irdl_op_definition
class MlaOp(AttentionLayerOp):
    """Multi-head latent attention (DeepSeek-V2/V3).

    Keys and values are compressed into a `kv_rank` latent plus a shared
    `qk_rope_dim` RoPE key; queries optionally through a `q_rank` latent
    (`q_rank = 0`: no query compression, as in DeepSeek-V2-Lite).
    """

    name = "attn.mla"
    DIMS: ClassVar[tuple[str, ...]] = KIND_DIMS["mla"]
    q_rank = prop_def(IntegerAttr[I64])
    kv_rank = prop_def(IntegerAttr[I64])
    qk_nope_dim = prop_def(IntegerAttr[I64])
    qk_rope_dim = prop_def(IntegerAttr[I64])
    v_dim = prop_def(IntegerAttr[I64])
    assembly_format = (
        _COMMON_FORMAT + " `q_rank` `=` $q_rank `kv_rank` `=` $kv_rank `qk_nope_dim` `=` $qk_nope_dim"
        " `qk_rope_dim` `=` $qk_rope_dim `v_dim` `=` $v_dim" + _TYPES_FORMAT
    )


@irdl_op_definition
class MlpOp(FfnLayerOp):
    """A dense MLP: `d_model -> width -> d_model`."""

    name = "attn.mlp"
    DIMS: ClassVar[tuple[str, ...]] = KIND_DIMS["mlp"]
    width = prop_def(IntegerAttr[I64])
    assembly_format = _FFN_FORMAT + " `width` `=` $width (`gated` $gated^)?" + _TYPES_FORMAT


@irdl_op_definition
class MoeOp(FfnLayerOp):
    """A mixture of experts: a router, `experts` routed experts of `expert_width` of which each token goes through
    `experts_per_token`, and `shared_experts` every token goes through (DeepSeek's, Qwen2-MoE's). Routing may be
    group-limited (`expert_groups`, `groups_per_token`: dialects/attn_rules.py `ROUTING_GROUPS`), each absent
    where it is 1."""

    name = "attn.moe"
    DIMS: ClassVar[tuple[str, ...]] = KIND_DIMS["moe"]
    experts = prop_def(IntegerAttr[I64])
    experts_per_token = prop_def(IntegerAttr[I64])
    expert_width = prop_def(IntegerAttr[I64])
    shared_experts = prop_def(IntegerAttr[I64])
    expert_groups_attr = opt_prop_def(IntegerAttr[I64], prop_name="expert_groups")
    groups_per_token_attr = opt_prop_def(IntegerAttr[I64], prop_name="groups_per_token")
    assembly_format = (
        _FFN_FORMAT + " `experts` `=` $experts `experts_per_token` `=` $experts_per_token"
        " `expert_width` `=` $expert_width `shared_experts` `=` $shared_experts"
        " (`expert_groups` `=` $expert_groups^)? (`groups_per_token` `=` $groups_per_token^)?"
        " (`gated` $gated^)?" + _TYPES_FORMAT
    )

    def __init__(
        self,
        input: SSAValue,
        layer: str,
        workload: WorkloadAttr,
        layers: int | None = None,
        gated: bool = True,
        expert_groups: int = 1,
        groups_per_token: int = 1,
        **dims: int,
    ):
        super().__init__(input, layer, workload, layers, gated, **dims)
        for key, value in zip(ROUTING_GROUPS, (expert_groups, groups_per_token), strict=True):
            if value != 1:
                self.properties[key] = IntegerAttr(value, i64)

    def expert_groups(self) -> int:
        """The groups the experts fall into (1: plain top-k routing)."""
        return self.expert_groups_attr.value.data if self.expert_groups_attr is not None else 1

    def groups_per_token(self) -> int:
        """The groups each token picks its experts from (1 where absent)."""
        return self.groups_per_token_attr.value.data if self.groups_per_token_attr is not None else 1

    def verify_(self) -> None:
        super().verify_()
        check_routing_groups({d: self.dim(d) for d in self.DIMS}, self.expert_groups(), self.groups_per_token())


LAYER_OPS: dict[str, type[LayerOp]] = {
    op.name.removeprefix("attn."): op for op in (MhaOp, GqaOp, MqaOp, MlaOp, MlpOp, MoeOp)
}
"""Layer kinds by DSL name."""

Attn = Dialect("attn", [MhaOp, GqaOp, MqaOp, MlaOp, MlpOp, MoeOp], [PhaseAttr, WorkloadAttr, ModelAttr])
