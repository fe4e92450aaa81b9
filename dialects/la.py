"""The `la` dialect: stage 2 of mlacc, tensor-level dataflow of an attention layer.

Every value is a whole tensor with a static shape and dtype, so the work and
the data footprint of each op follow from the IR alone: each op reports its
multiply-accumulates, its FLOPs and the bytes of its operands and results
(`LaOp.macs/flops/operand_bytes/result_bytes`). Later passes (absorb, tile,
place, schedule) and reports read these counts; nothing recounts them.

Contractions are einsums with an explicit index spec (`"bsd,dq->bsq"`), so a
rewrite such as weight absorption is algebra on index strings. Weights and
KV-cache entries are named sources (`la.weight`, `la.kv_load`) and sinks
(`la.kv_store`) rather than function arguments, so a layer's function has the
same signature whatever execution scheme is chosen.

FLOP conventions (per output element unless stated): einsum 2 per MAC;
softmax 5 (scale, subtract max, exp, sum, divide); rope 3 (two multiplies and
an add per rotated element); rmsnorm 4 (square, sum, normalise, scale by
gamma); add 1; mul 1; silu 4 (exp, add, divide, multiply); gelu 8 (tanh
form); dispatch 5 per router logit (the softmax that weighs the experts; top-k
selection's compares not counted); combine 2 per expert-output element (weigh,
sum); weight, kv_load, kv_store, concat and broadcast move data only;
precompose runs once, offline, and costs nothing per step.
"""

from __future__ import annotations

from math import prod
from typing import ClassVar

from xdsl.dialects.builtin import (
    I64,
    Float64Type,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
    UnitAttr,
    f64,
    i64,
)
from xdsl.ir import Attribute, Dialect, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    VarConstraint,
    base,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException


def tensor_type(value: SSAValue) -> TensorType[Attribute]:
    assert isinstance(value.type, TensorType)
    return value.type  # pyright: ignore[reportUnknownVariableType]


def element_bytes(element_type: Attribute) -> int:
    """Bytes of one element of a supported dtype (fp8 and int8: 1, bf16/fp16: 2, fp32: 4)."""
    width = getattr(element_type, "bitwidth", None)
    if not isinstance(width, int) or width % 8:
        raise VerifyException(f"no byte size for element type {element_type}")
    return width // 8


def tensor_bytes(ty: Attribute) -> int:
    assert isinstance(ty, TensorType)
    return prod(ty.get_shape()) * element_bytes(ty.element_type)


def numel(value: SSAValue) -> int:
    return prod(tensor_type(value).get_shape())


class LaOp(IRDLOperation):
    """The cost interface every `la` op implements."""

    def macs(self) -> int:
        """Multiply-accumulates done on a matrix unit (contractions only)."""
        return 0

    def flops(self) -> int:
        """Floating-point operations, counting a MAC as two."""
        return 2 * self.macs()

    def operand_bytes(self) -> int:
        return sum(tensor_bytes(v.type) for v in self.operands)

    def result_bytes(self) -> int:
        return sum(tensor_bytes(r.type) for r in self.results)


@irdl_op_definition
class WeightOp(LaOp):
    """A named parameter tensor of the layer (`W_DQ`, `W_UK`, `kv_norm`, ...).

    `of N`, where given, says the tensor is the step's slice of a parameter stacked N deep along its first axis
    (the experts of a MoE layer that receive tokens): the step reads the slice, all N stay resident."""

    name = "la.weight"
    weight = prop_def(StringAttr)
    of = opt_prop_def(IntegerAttr[I64])
    result = result_def(TensorType)
    assembly_format = "$weight (`of` $of^)? attr-dict `:` type($result)"
    traits = traits_def(Pure())

    def __init__(self, weight: str, ty: TensorType[Attribute], of: int | None = None):
        props: dict[str, Attribute] = {"weight": StringAttr(weight)}
        if of is not None:
            props["of"] = IntegerAttr(of, i64)
        super().__init__(properties=props, result_types=[ty])

    def resident_bytes(self) -> int:
        """The bytes the whole parameter keeps in memory (the slice's, scaled to all `of` entries)."""
        if self.of is None:
            return self.result_bytes()
        return self.result_bytes() // tensor_type(self.result).get_shape()[0] * self.of.value.data

    def verify_(self) -> None:
        if self.of is not None and not 0 < tensor_type(self.result).get_shape()[0] <= self.of.value.data:
            raise VerifyException(f"a slice of {self.of.value.data} entries has 1 to {self.of.value.data} of them")


@irdl_op_definition
class KvLoadOp(LaOp):
    """Reads the entries of one KV cache for the cached context (batch x context x ...).

    `stored`, where given, is the element type the cache holds (an fp8 cache beside bf16 weights): the entries
    are read as that many bytes and widened to the result's type as they are read, as fp8-cache kernels do."""

    name = "la.kv_load"
    cache = prop_def(StringAttr)
    stored = opt_prop_def(Attribute)
    result = result_def(TensorType)
    assembly_format = "$cache (`stored` $stored^)? attr-dict `:` type($result)"

    def __init__(self, cache: str, ty: TensorType[Attribute], stored: Attribute | None = None):
        props: dict[str, Attribute] = {"cache": StringAttr(cache)}
        if stored is not None:
            props["stored"] = stored
        super().__init__(properties=props, result_types=[ty])

    def result_bytes(self) -> int:
        return stored_bytes(self.result, self.stored)


@irdl_op_definition
class KvStoreOp(LaOp):
    """Appends the new tokens' entries (batch x new_tokens x ...) to a KV cache, narrowed to `stored` where given."""

    name = "la.kv_store"
    value = operand_def(TensorType)
    cache = prop_def(StringAttr)
    stored = opt_prop_def(Attribute)
    assembly_format = "$value `into` $cache (`stored` $stored^)? attr-dict `:` type($value)"

    def __init__(self, value: SSAValue, cache: str, stored: Attribute | None = None):
        props: dict[str, Attribute] = {"cache": StringAttr(cache)}
        if stored is not None:
            props["stored"] = stored
        super().__init__(operands=[value], properties=props)

    def operand_bytes(self) -> int:
        return stored_bytes(self.value, self.stored)


def stored_bytes(value: SSAValue, stored: Attribute | None) -> int:
    """Bytes of `value` held as `stored` elements (its own type's when None)."""
    return numel(value) * element_bytes(stored) if stored is not None else tensor_bytes(value.type)


def read_bytes(value: SSAValue) -> int:
    """The bytes an op reads of its operand `value`: a KV cache's entries (loaded, or cached joined with new) in
    the cache's dtype, any other tensor in its own."""
    owner = value.owner
    if isinstance(owner, KvLoadOp):
        return owner.result_bytes()
    if isinstance(owner, ConcatOp) and isinstance(owner.lhs.owner, KvLoadOp):
        return owner.lhs.owner.result_bytes() + stored_bytes(owner.rhs, owner.lhs.owner.stored)
    return tensor_bytes(value.type)


@irdl_op_definition
class ConcatOp(LaOp):
    """Joins two tensors along `dim` (cached context followed by new tokens)."""

    name = "la.concat"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    dim = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)
    assembly_format = "$lhs `,` $rhs `dim` `=` $dim attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(self, lhs: SSAValue, rhs: SSAValue, dim: int):
        shape = list(tensor_type(lhs).get_shape())
        shape[dim] += tensor_type(rhs).get_shape()[dim]
        super().__init__(
            operands=[lhs, rhs],
            properties={"dim": IntegerAttr(dim, i64)},
            result_types=[TensorType(tensor_type(lhs).element_type, shape)],
        )

    def verify_(self) -> None:
        lhs, rhs, out = tensor_type(self.lhs), tensor_type(self.rhs), tensor_type(self.result)
        dim = self.dim.value.data
        if not 0 <= dim < lhs.get_num_dims():
            raise VerifyException(f"concat dim {dim} out of range for rank {lhs.get_num_dims()}")
        expected = list(lhs.get_shape())
        expected[dim] += rhs.get_shape()[dim]
        others = [i for i in range(lhs.get_num_dims()) if i != dim]
        if (
            rhs.get_num_dims() != lhs.get_num_dims()
            or any(lhs.get_shape()[i] != rhs.get_shape()[i] for i in others)
            or list(out.get_shape()) != expected
            or not lhs.element_type == rhs.element_type == out.element_type
        ):
            raise VerifyException(f"cannot concatenate {lhs} and {rhs} along dim {dim} into {out}")


def parse_einsum_spec(spec: str) -> tuple[list[str], str]:
    """Split `"ab,bc->ac"` into input index strings and the output index string."""
    if spec.count("->") != 1:
        raise VerifyException(f"einsum spec '{spec}' must have exactly one '->'")
    lhs, out = spec.split("->")
    inputs = lhs.split(",")
    for term in (*inputs, out):
        if not term.isalpha() or not term.islower() or not term.isascii():
            raise VerifyException(f"einsum spec '{spec}': index terms must be lowercase letters")
        if len(set(term)) != len(term):
            raise VerifyException(f"einsum spec '{spec}': index repeated within '{term}'")
    if not set(out) <= set("".join(inputs)):
        raise VerifyException(f"einsum spec '{spec}': output index not found in any input")
    return inputs, out


class ContractionOp(LaOp):
    """A binary tensor contraction `spec` (`"bsq,qhn->bshn"`): indices in the inputs but not the output are summed."""

    spec = prop_def(StringAttr)
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    assembly_format = "$spec $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(self, spec: str, lhs: SSAValue, rhs: SSAValue):
        sizes = _index_sizes(spec, lhs, rhs)
        _, out = parse_einsum_spec(spec)
        super().__init__(
            operands=[lhs, rhs],
            properties={"spec": StringAttr(spec)},
            result_types=[TensorType(tensor_type(lhs).element_type, [sizes[i] for i in out])],
        )

    def index_sizes(self) -> dict[str, int]:
        """The extent of every index letter of the spec."""
        return _index_sizes(self.spec.data, self.lhs, self.rhs)

    def contraction_macs(self) -> int:
        """Multiply-accumulates of the contraction: the product of all index extents."""
        return prod(self.index_sizes().values())

    def verify_(self) -> None:
        sizes = self.index_sizes()
        _, out = parse_einsum_spec(self.spec.data)
        result = tensor_type(self.result)
        expected = [sizes[i] for i in out]
        if list(result.get_shape()) != expected:
            raise VerifyException(
                f"einsum '{self.spec.data}' yields shape {expected}, result has {list(result.get_shape())}"
            )
        if not tensor_type(self.lhs).element_type == tensor_type(self.rhs).element_type == result.element_type:
            raise VerifyException(f"einsum '{self.spec.data}' mixes element types")


@irdl_op_definition
class EinsumOp(ContractionOp):
    """A contraction computed at run time, every step."""

    name = "la.einsum"

    def macs(self) -> int:
        return self.contraction_macs()


@irdl_op_definition
class PrecomposeOp(ContractionOp):
    """A product of weights composed once, offline, and stored as a weight (weight absorption's `reuse`).

    Its operands are weights or other precomposed products; it costs nothing per
    step, and its result, not its operands, is what a step reads.
    """

    name = "la.precompose"

    def verify_(self) -> None:
        super().verify_()
        for operand in (self.lhs, self.rhs):
            if not isinstance(operand.owner, WeightOp | PrecomposeOp):
                raise VerifyException("precompose operands must be weights or precomposed weights")


def _index_sizes(spec: str, lhs: SSAValue, rhs: SSAValue) -> dict[str, int]:
    inputs, _ = parse_einsum_spec(spec)
    if len(inputs) != 2:
        raise VerifyException(f"einsum spec '{spec}' must have two inputs, got {len(inputs)}")
    sizes: dict[str, int] = {}
    for term, value in zip(inputs, (lhs, rhs), strict=True):
        shape = tensor_type(value).get_shape()
        if len(shape) != len(term):
            raise VerifyException(f"einsum '{spec}': operand of rank {len(shape)} for index term '{term}'")
        for index, size in zip(term, shape, strict=True):
            if sizes.setdefault(index, size) != size:
                raise VerifyException(
                    f"einsum '{spec}': index '{index}' is {sizes[index]} in one operand, {size} in another"
                )
    return sizes


@irdl_op_definition
class SoftmaxOp(LaOp):
    """softmax(scale * x) over the last axis.

    With `causal`, the second-to-last axis holds queries that are the last
    tokens of the key axis: query i (of S) sees keys 0 .. T - S + i.
    """

    name = "la.softmax"
    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    scale = prop_def(FloatAttr[Float64Type])
    causal = opt_prop_def(UnitAttr)
    result = result_def(T)
    assembly_format = "$input `scale` `=` $scale (`causal` $causal^)? attr-dict `:` type($input)"
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue, scale: float, causal: bool):
        props: dict[str, Attribute] = {"scale": FloatAttr(scale, f64)}
        if causal:
            props["causal"] = UnitAttr()
        super().__init__(operands=[input], properties=props, result_types=[input.type])

    def flops(self) -> int:
        return 5 * numel(self.input)

    def verify_(self) -> None:
        shape = tensor_type(self.input).get_shape()
        if self.causal is not None and (len(shape) < 2 or shape[-2] > shape[-1]):
            raise VerifyException(f"causal softmax needs queries <= keys on the last two axes, got {list(shape)}")


@irdl_op_definition
class RopeOp(LaOp):
    """Rotary position embedding over the last axis (pairs of elements).

    Positions run along `seq_dim` and start at `offset` (the cached context).
    """

    name = "la.rope"
    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    seq_dim = prop_def(IntegerAttr[I64])
    offset = prop_def(IntegerAttr[I64])
    result = result_def(T)
    assembly_format = "$input `seq_dim` `=` $seq_dim `offset` `=` $offset attr-dict `:` type($input)"
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue, seq_dim: int, offset: int):
        super().__init__(
            operands=[input],
            properties={"seq_dim": IntegerAttr(seq_dim, i64), "offset": IntegerAttr(offset, i64)},
            result_types=[input.type],
        )

    def flops(self) -> int:
        return 3 * numel(self.input)

    def verify_(self) -> None:
        shape = tensor_type(self.input).get_shape()
        if shape[-1] % 2:
            raise VerifyException(f"rope rotates pairs: last axis must be even, got {shape[-1]}")
        if not 0 <= self.seq_dim.value.data < len(shape) - 1:
            raise VerifyException(f"rope seq_dim {self.seq_dim.value.data} out of range for rank {len(shape)}")
        if self.offset.value.data < 0:
            raise VerifyException("rope offset must not be negative")


@irdl_op_definition
class RmsNormOp(LaOp):
    """RMSNorm over the last axis, scaled by a learnt `gamma` vector."""

    name = "la.rmsnorm"
    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    gamma = operand_def(TensorType)
    eps = prop_def(FloatAttr[Float64Type])
    result = result_def(T)
    assembly_format = "$input `,` $gamma `eps` `=` $eps attr-dict `:` type($input) `,` type($gamma)"
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue, gamma: SSAValue, eps: float = 1e-6):
        super().__init__(operands=[input, gamma], properties={"eps": FloatAttr(eps, f64)}, result_types=[input.type])

    def flops(self) -> int:
        return 4 * numel(self.input)

    def verify_(self) -> None:
        x, g = tensor_type(self.input), tensor_type(self.gamma)
        if list(g.get_shape()) != [x.get_shape()[-1]] or g.element_type != x.element_type:
            raise VerifyException(f"rmsnorm gamma must be tensor<{x.get_shape()[-1]}x{x.element_type}>, got {g}")


@irdl_op_definition
class BroadcastOp(LaOp):
    """Inserts a new axis `dim` of extent `size`, repeating the input along it (a per-head copy of a shared key)."""

    name = "la.broadcast"
    input = operand_def(TensorType)
    dim = prop_def(IntegerAttr[I64])
    size = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)
    assembly_format = "$input `dim` `=` $dim `size` `=` $size attr-dict `:` type($input) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue, dim: int, size: int):
        shape = list(tensor_type(input).get_shape())
        shape.insert(dim, size)
        super().__init__(
            operands=[input],
            properties={"dim": IntegerAttr(dim, i64), "size": IntegerAttr(size, i64)},
            result_types=[TensorType(tensor_type(input).element_type, shape)],
        )

    def verify_(self) -> None:
        x, out = tensor_type(self.input), tensor_type(self.result)
        dim, size = self.dim.value.data, self.size.value.data
        expected = list(x.get_shape())
        if not 0 <= dim <= len(expected) or size <= 0:
            raise VerifyException(f"cannot broadcast rank {len(expected)} at dim {dim} to size {size}")
        expected.insert(dim, size)
        if list(out.get_shape()) != expected or out.element_type != x.element_type:
            raise VerifyException(f"broadcast of {x} at dim {dim} to size {size} yields {expected}, result is {out}")


class ElementwiseBinaryOp(LaOp):
    """Two tensors of one type in, one out, one FLOP per element: what `la.add` and `la.mul` share."""

    T: ClassVar = VarConstraint("T", base(TensorType))
    lhs = operand_def(T)
    rhs = operand_def(T)
    result = result_def(T)
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($result)"
    traits = traits_def(Pure())

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        super().__init__(operands=[lhs, rhs], result_types=[lhs.type])

    def flops(self) -> int:
        return numel(self.result)


@irdl_op_definition
class AddOp(ElementwiseBinaryOp):
    """Elementwise sum of two tensors of one type."""

    name = "la.add"


@irdl_op_definition
class MulOp(ElementwiseBinaryOp):
    """Elementwise product of two tensors of one type (a gated MLP's SiLU(gate) x up)."""

    name = "la.mul"


class ActivationOp(LaOp):
    """An elementwise activation; `FLOPS` per element."""

    FLOPS: ClassVar[int]
    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    result = result_def(T)
    assembly_format = "$input attr-dict `:` type($input)"
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue):
        super().__init__(operands=[input], result_types=[input.type])

    def flops(self) -> int:
        return self.FLOPS * numel(self.input)


@irdl_op_definition
class SiluOp(ActivationOp):
    """x * sigmoid(x): a gated MLP's activation (SwiGLU)."""

    name = "la.silu"
    FLOPS: ClassVar[int] = 4


@irdl_op_definition
class GeluOp(ActivationOp):
    """GELU (tanh form): a plain MLP's activation."""

    name = "la.gelu"
    FLOPS: ClassVar[int] = 8


@irdl_op_definition
class DispatchOp(LaOp):
    """Routes tokens to experts: the hidden states (b x s x d) and the router's logits (b x s x experts) give the
    rows each expert that receives tokens computes on (`experts` x `tokens` x d, `tokens` the expected rows per
    such expert under uniform routing): the experts are weighed by a softmax over the logits and the top ones
    kept, and each token's row is copied to its experts' groups.

    Group-limited routing (DeepSeek-V2/V3) says so, `expert_groups = 8 groups_per_token = 4`: each token first
    picks the best `groups_per_token` of `expert_groups` equal groups of experts, then its top experts inside
    them, which takes more routing kernels than one top-k. Both are absent where routing is plain top-k."""

    name = "la.dispatch"
    input = operand_def(TensorType)
    logits = operand_def(TensorType)
    result = result_def(TensorType)
    expert_groups_attr = opt_prop_def(IntegerAttr[I64], prop_name="expert_groups")
    groups_per_token_attr = opt_prop_def(IntegerAttr[I64], prop_name="groups_per_token")
    assembly_format = (
        "$input `,` $logits (`expert_groups` `=` $expert_groups^ `groups_per_token` `=` $groups_per_token)?"
        " attr-dict `:` type($input) `,` type($logits) `->` type($result)"
    )

    def __init__(
        self,
        input: SSAValue,
        logits: SSAValue,
        experts: int,
        tokens: int,
        expert_groups: int = 1,
        groups_per_token: int = 1,
    ):
        x = tensor_type(input)
        shape = [experts, tokens, x.get_shape()[-1]]
        groups = {}
        if expert_groups > 1:
            groups = {
                "expert_groups": IntegerAttr(expert_groups, i64),
                "groups_per_token": IntegerAttr(groups_per_token, i64),
            }
        super().__init__(operands=[input, logits], result_types=[TensorType(x.element_type, shape)], properties=groups)

    def expert_groups(self) -> int:
        """The groups the experts fall into; 1 for plain top-k routing."""
        return self.expert_groups_attr.value.data if self.expert_groups_attr is not None else 1

    def groups_per_token(self) -> int:
        """The groups each token picks its experts from; 1 for plain top-k routing."""
        return self.groups_per_token_attr.value.data if self.groups_per_token_attr is not None else 1

    def flops(self) -> int:
        return 5 * numel(self.logits)

    def verify_(self) -> None:
        x, logits, out = tensor_type(self.input), tensor_type(self.logits), tensor_type(self.result)
        if x.get_num_dims() != 3 or list(logits.get_shape()[:2]) != list(x.get_shape()[:2]):
            raise VerifyException(
                f"dispatch needs hidden states b x s x d and logits b x s x experts, got {x}, {logits}"
            )
        experts = logits.get_shape()[2]
        if out.get_num_dims() != 3 or out.get_shape()[2] != x.get_shape()[2] or out.get_shape()[0] > experts:
            raise VerifyException(f"dispatch yields at most {experts} experts' rows of d, got {out}")
        self.verify_groups(experts)

    def verify_groups(self, experts: int) -> None:
        """Group-limited routing names both counts, more than one group, equal groups and at most all of them."""
        if (self.expert_groups_attr is None) != (self.groups_per_token_attr is None):
            raise VerifyException("group-limited dispatch needs both expert_groups and groups_per_token")
        groups, picked = self.expert_groups(), self.groups_per_token()
        if self.expert_groups_attr is not None and groups < 2:
            raise VerifyException(f"group-limited dispatch needs more than one expert group, got {groups}")
        if experts % groups:
            raise VerifyException(f"expert_groups ({groups}) must divide the {experts} experts")
        if not 1 <= picked <= groups:
            raise VerifyException(f"groups_per_token ({picked}) must be between 1 and expert_groups ({groups})")


@irdl_op_definition
class CombineOp(LaOp):
    """The inverse of `dispatch`: each token's outputs from its experts, weighed by the router and summed, back to
    the hidden states' shape (b x s x d, from the logits' b x s)."""

    name = "la.combine"
    input = operand_def(TensorType)
    logits = operand_def(TensorType)
    result = result_def(TensorType)
    assembly_format = "$input `,` $logits attr-dict `:` type($input) `,` type($logits) `->` type($result)"

    def __init__(self, input: SSAValue, logits: SSAValue):
        rows, logits_type = tensor_type(input), tensor_type(logits)
        shape = [*logits_type.get_shape()[:2], rows.get_shape()[-1]]
        super().__init__(operands=[input, logits], result_types=[TensorType(rows.element_type, shape)])

    def flops(self) -> int:
        return 2 * numel(self.input)

    def verify_(self) -> None:
        rows, logits, out = tensor_type(self.input), tensor_type(self.logits), tensor_type(self.result)
        expected = [*logits.get_shape()[:2], rows.get_shape()[-1]]
        if list(out.get_shape()) != expected:
            raise VerifyException(f"combine yields {expected} (the logits' b x s, the rows' d), got {out}")


La = Dialect(
    "la",
    [
        WeightOp,
        KvLoadOp,
        KvStoreOp,
        ConcatOp,
        EinsumOp,
        PrecomposeOp,
        SoftmaxOp,
        RopeOp,
        RmsNormOp,
        BroadcastOp,
        AddOp,
        MulOp,
        SiluOp,
        GeluOp,
        DispatchOp,
        CombineOp,
    ],
    [],
)
