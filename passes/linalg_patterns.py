"""The rewrite patterns of `convert-la-to-linalg` (passes/convert_la_to_linalg.py): each `la` compute op as
upstream linalg/tensor/arith/math ops, one pattern per op.

An einsum iterates its output letters (parallel) then the summed ones (reduction). An einsum that reads a
concatenation (a step's cached entries joined with its new ones) reads each part where it lies instead, as a
serving engine attends over its cache in place: along a letter it sums, one generic per part accumulates into the
next; along one it keeps, each part's result is written, and only those results (the scores, far smaller than the
keys) are concatenated. A function argument cannot be produced in place, so joining the cache first copied all of
it every step (IREE materialises a tensor.concat of an argument). Softmax is scale (and the causal mask: query i
of S sees keys 0 .. T - S + i), max, exp, sum, divide; RMSNorm is a sum of squares, then
x * rsqrt(mean + eps) * gamma; RoPE rotates interleaved pairs by position x 10000^(-2i/dim), its angles in f32;
concat is tensor.concat; an MLP's SiLU is x / (1 + exp(-x)), its GELU the tanh form
0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), and `la.mul` an elementwise product. Arithmetic stays in the
layer's dtype (einsums accumulate in it too), as the `la` IR states it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from xdsl.dialects import arith
from xdsl.dialects import math as mathd
from xdsl.dialects.builtin import (
    AffineMapAttr,
    AnyFloat,
    FloatAttr,
    IndexType,
    TensorType,
    f32,
    i64,
)
from xdsl.dialects.linalg.attrs import IteratorTypeAttr
from xdsl.dialects.linalg.ops import FillOp, GenericOp, IndexOp, YieldOp
from xdsl.dialects.tensor import ConcatOp, EmptyOp, ExtractSliceOp, InsertSliceOp
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineExpr, AffineMap
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)

from dialects import la

ROPE_BASE = 10000.0
"""The RoPE base mlacc's interpreter (mlacc/interp.py) and DeepSeek's reference use."""

NEG_INF = -math.inf
"""What a masked score is and a row's max starts from: exp takes it to 0."""


class Ops:
    """Collects the upstream ops that replace one `la` op, in order; each helper returns the value it defines."""

    def __init__(self) -> None:
        self.ops: list[Operation] = []

    def add(self, op: Operation) -> SSAValue:
        self.ops.append(op)
        return op.results[0]

    def constant(self, value: float, ty: Attribute) -> SSAValue:
        assert isinstance(ty, AnyFloat)
        return self.add(arith.ConstantOp(FloatAttr(value, ty)))

    def empty(self, ty: TensorType[Attribute]) -> SSAValue:
        return self.add(EmptyOp([], ty))

    def filled(self, value: float, ty: TensorType[Attribute]) -> SSAValue:
        return self.add(FillOp([self.constant(value, ty.element_type)], [self.empty(ty)]))

    def generic(
        self,
        inputs: Sequence[tuple[SSAValue, Sequence[int]]],
        init: tuple[SSAValue, Sequence[int]],
        loops: int,
        reduced: Sequence[int],
        body: Callable[[Ops, Sequence[SSAValue]], Sequence[SSAValue]],
    ) -> SSAValue:
        """A linalg.generic over `loops` loops (those in `reduced` are reductions); each input and the init are
        read at the loops their dims list names, and `body` maps the block's scalars (inputs, then the init) to
        what it yields."""
        operands = (*inputs, init)
        block = Block(arg_types=[la.tensor_type(v).element_type for v, _ in operands])
        scalars = Ops()
        scalars.ops.append(YieldOp(*body(scalars, block.args)))
        block.add_ops(scalars.ops)
        maps = [
            AffineMapAttr(AffineMap(loops, 0, tuple(AffineExpr.dimension(d) for d in dims))) for _, dims in operands
        ]
        iterators = [
            IteratorTypeAttr.reduction() if d in reduced else IteratorTypeAttr.parallel() for d in range(loops)
        ]
        return self.add(GenericOp([v for v, _ in inputs], [init[0]], Region(block), maps, iterators, [init[0].type]))


def _same(rank: int) -> list[int]:
    return list(range(rank))


def _contraction(ops: Ops, spec: str, operands: Sequence[SSAValue], init: SSAValue) -> SSAValue:
    """The einsum `spec` of `operands` as a generic that accumulates into `init` (of the output's type)."""
    terms, out = la.parse_einsum_spec(spec)
    letters = list(out) + [c for c in dict.fromkeys("".join(terms)) if c not in out]
    return ops.generic(
        [(operand, [letters.index(c) for c in term]) for operand, term in zip(operands, terms, strict=True)],
        (init, _same(len(out))),
        len(letters),
        range(len(out), len(letters)),
        lambda b, s: [b.add(arith.AddfOp(s[2], b.add(arith.MulfOp(s[0], s[1]))))],
    )


def _slice(ops: Ops, value: SSAValue, dim: int, offset: int, size: int) -> SSAValue:
    """`value`'s entries offset .. offset + size along `dim`."""
    shape = la.tensor_type(value).get_shape()
    offsets = [offset if d == dim else 0 for d in range(len(shape))]
    sizes = [size if d == dim else n for d, n in enumerate(shape)]
    return ops.add(ExtractSliceOp.from_static_parameters(value, offsets, sizes))


def _concatenated(value: SSAValue) -> tuple[list[SSAValue], int] | None:
    """The parts and the dim of the concatenation that defines `value`, if one does."""
    owner = value.owner
    if isinstance(owner, ConcatOp):
        return list(owner.inputs), owner.dim.value.data
    if isinstance(owner, la.ConcatOp):
        return [owner.lhs, owner.rhs], owner.dim.value.data
    return None


def _numel(value: SSAValue) -> int:
    return math.prod(la.tensor_type(value).get_shape())


def _split_over_concat(ops: Ops, op: la.EinsumOp) -> SSAValue | None:
    """`op` over each part of a concatenated operand where it lies (module docstring), or None where no operand
    is a concatenation worth splitting over: along a kept letter, only where the operand moves more than the
    output (expand's up-projection of the joined latent writes more than it reads, and stays as it is)."""
    terms, out = la.parse_einsum_spec(op.spec.data)
    result = la.tensor_type(op.result)
    for index, operand in enumerate(op.operands):
        found = _concatenated(operand)
        if found is None:
            continue
        parts, dim = found
        letter, other = terms[index][dim], 1 - index
        other_dim = terms[other].find(letter)
        if letter in out and _numel(operand) <= _numel(op.result):
            continue
        offset, partials = 0, []
        init = ops.filled(0.0, result) if letter not in out else None
        for part in parts:
            size = la.tensor_type(part).get_shape()[dim]
            operands = [part, part]
            operands[other] = op.operands[other]
            if other_dim >= 0:
                operands[other] = _slice(ops, op.operands[other], other_dim, offset, size)
            if letter in out:
                shape = [size if c == letter else n for c, n in zip(out, result.get_shape(), strict=True)]
                partials.append(
                    _contraction(ops, op.spec.data, operands, ops.filled(0.0, TensorType(result.element_type, shape)))
                )
            else:
                assert init is not None
                init = _contraction(ops, op.spec.data, operands, init)
            offset += size
        if init is not None:
            return init
        return ops.add(ConcatOp(partials, out.index(letter), result))
    return None


class LowerEinsum(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: la.EinsumOp, rewriter: PatternRewriter) -> None:
        ops = Ops()
        value = _split_over_concat(ops, op)
        if value is None:
            value = _contraction(ops, op.spec.data, op.operands, ops.filled(0.0, la.tensor_type(op.result)))
        joined = [operand.owner for operand in op.operands if _concatenated(operand) is not None]
        rewriter.replace(op, ops.ops, [value])
        for concat in joined:  # a concatenation every reader now reads in parts is not built
            assert isinstance(concat, Operation)
            if not any(result.uses for result in concat.results):
                rewriter.erase(concat)


class LowerSoftmax(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: la.SoftmaxOp, rewriter: PatternRewriter) -> None:
        ty = la.tensor_type(op.input)
        shape, element = ty.get_shape(), ty.element_type
        rank = len(shape)
        rows = TensorType(element, shape[:-1])
        ops = Ops()

        def scale(b: Ops, s: Sequence[SSAValue]) -> list[SSAValue]:
            scaled = b.add(arith.MulfOp(s[0], b.constant(op.scale.value.data, element)))
            if op.causal is None:
                return [scaled]
            query, key = b.add(IndexOp(rank - 2)), b.add(IndexOp(rank - 1))
            offset = b.add(arith.ConstantOp.from_int_and_width(shape[-1] - shape[-2], IndexType()))
            visible = b.add(arith.CmpiOp(key, b.add(arith.AddiOp(query, offset)), "ule"))
            return [b.add(arith.SelectOp(visible, scaled, b.constant(NEG_INF, element)))]

        scores = ops.generic([(op.input, _same(rank))], (ops.empty(ty), _same(rank)), rank, (), scale)
        maxes = ops.generic(
            [(scores, _same(rank))],
            (ops.filled(NEG_INF, rows), _same(rank - 1)),
            rank,
            (rank - 1,),
            lambda b, s: [b.add(arith.MaximumfOp(s[0], s[1]))],
        )
        exps = ops.generic(
            [(scores, _same(rank)), (maxes, _same(rank - 1))],
            (ops.empty(ty), _same(rank)),
            rank,
            (),
            lambda b, s: [b.add(mathd.ExpOp(b.add(arith.SubfOp(s[0], s[1]))))],
        )
        sums = ops.generic(
            [(exps, _same(rank))],
            (ops.filled(0.0, rows), _same(rank - 1)),
            rank,
            (rank - 1,),
            lambda b, s: [b.add(arith.AddfOp(s[0], s[1]))],
        )
        probs = ops.generic(
            [(exps, _same(rank)), (sums, _same(rank - 1))],
            (ops.empty(ty), _same(rank)),
            rank,
            (),
            lambda b, s: [b.add(arith.DivfOp(s[0], s[1]))],
        )
        rewriter.replace(op, ops.ops, [probs])


class LowerRmsNorm(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: la.RmsNormOp, rewriter: PatternRewriter) -> None:
        ty = la.tensor_type(op.input)
        shape, element = ty.get_shape(), ty.element_type
        rank = len(shape)
        ops = Ops()
        squares = ops.generic(
            [(op.input, _same(rank))],
            (ops.filled(0.0, TensorType(element, shape[:-1])), _same(rank - 1)),
            rank,
            (rank - 1,),
            lambda b, s: [b.add(arith.AddfOp(b.add(arith.MulfOp(s[0], s[0])), s[1]))],
        )

        def normalise(b: Ops, s: Sequence[SSAValue]) -> list[SSAValue]:
            mean = b.add(arith.DivfOp(s[1], b.constant(float(shape[-1]), element)))
            inverse = b.add(mathd.RsqrtOp(b.add(arith.AddfOp(mean, b.constant(op.eps.value.data, element)))))
            return [b.add(arith.MulfOp(b.add(arith.MulfOp(s[0], inverse)), s[2]))]

        value = ops.generic(
            [(op.input, _same(rank)), (squares, _same(rank - 1)), (op.gamma, [rank - 1])],
            (ops.empty(ty), _same(rank)),
            rank,
            (),
            normalise,
        )
        rewriter.replace(op, ops.ops, [value])


def convert(b: Ops, value: SSAValue, element: Attribute) -> SSAValue:
    """A float scalar in another float type: truncated if that is narrower, extended if wider."""
    source = value.type
    assert isinstance(source, AnyFloat) and isinstance(element, AnyFloat)
    if source == element:
        return value
    if element.bitwidth < source.bitwidth:
        return b.add(arith.TruncFOp(value, element))
    return b.add(arith.ExtFOp(value, element))


def cast(ops: Ops, value: SSAValue, element: Attribute) -> SSAValue:
    """A float tensor in another element type, by an elementwise generic."""
    ty = la.tensor_type(value)
    rank = ty.get_num_dims()
    init = ops.empty(TensorType(element, ty.get_shape()))
    return ops.generic([(value, _same(rank))], (init, _same(rank)), rank, (), lambda b, s: [convert(b, s[0], element)])


def _rope_cos_sin(b: Ops, op: la.RopeOp, element: Attribute) -> tuple[SSAValue, SSAValue]:
    """cos and sin of the angle of the pair at the generic's current index: position x base^(-2i/dim), in f32."""
    rank = la.tensor_type(op.input).get_num_dims()
    dim = la.tensor_type(op.input).get_shape()[-1]

    def as_f32(index: SSAValue) -> SSAValue:
        return b.add(arith.SIToFPOp(b.add(arith.IndexCastOp(index, i64)), f32))

    position = b.add(arith.AddfOp(as_f32(b.add(IndexOp(op.seq_dim.value.data))), b.constant(op.offset.value.data, f32)))
    # base^(-2i/dim) = exp(i * (-2 ln(base) / dim))
    exponent = b.add(arith.MulfOp(as_f32(b.add(IndexOp(rank - 1))), b.constant(-2 * math.log(ROPE_BASE) / dim, f32)))
    angle = b.add(arith.MulfOp(position, b.add(mathd.ExpOp(exponent))))
    return convert(b, b.add(mathd.CosOp(angle)), element), convert(b, b.add(mathd.SinOp(angle)), element)


class LowerRope(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: la.RopeOp, rewriter: PatternRewriter) -> None:
        ty = la.tensor_type(op.input)
        shape, element = ty.get_shape(), ty.element_type
        rank, dim = len(shape), shape[-1]
        half = TensorType(element, [*shape[:-1], dim // 2])
        pairs = [1] * (rank - 1) + [2]
        ops = Ops()
        even, odd = (
            ops.add(ExtractSliceOp(op.input, [0] * (rank - 1) + [first], half.get_shape(), pairs, half))
            for first in (0, 1)
        )

        def rotate(sign: float) -> Callable[[Ops, Sequence[SSAValue]], list[SSAValue]]:
            """(x, y) -> x cos - y sin for the even elements (sign -1), x sin + y cos for the odd ones (sign 1)."""

            def body(b: Ops, s: Sequence[SSAValue]) -> list[SSAValue]:
                cos, sin = _rope_cos_sin(b, op, element)
                x, y = s[0], s[1]
                if sign < 0:
                    return [b.add(arith.SubfOp(b.add(arith.MulfOp(x, cos)), b.add(arith.MulfOp(y, sin))))]
                return [b.add(arith.AddfOp(b.add(arith.MulfOp(x, sin)), b.add(arith.MulfOp(y, cos))))]

            return body

        rotated = [
            ops.generic(
                [(even, _same(rank)), (odd, _same(rank))], (ops.empty(half), _same(rank)), rank, (), rotate(sign)
            )
            for sign in (-1.0, 1.0)
        ]
        value = ops.empty(ty)
        for first, part in zip((0, 1), rotated, strict=True):
            value = ops.add(
                InsertSliceOp.from_static_parameters(part, value, [0] * (rank - 1) + [first], half.get_shape(), pairs)
            )
        rewriter.replace(op, ops.ops, [value])


def _elementwise(
    op: la.ElementwiseBinaryOp | la.ActivationOp,
    rewriter: PatternRewriter,
    body: Callable[[Ops, Sequence[SSAValue]], SSAValue],
) -> None:
    """`op` as one elementwise generic over its operands, `body` mapping their scalars to the result's."""
    ty = la.tensor_type(op.result)
    rank = ty.get_num_dims()
    ops = Ops()
    inputs = [(operand, _same(rank)) for operand in op.operands]
    value = ops.generic(inputs, (ops.empty(ty), _same(rank)), rank, (), lambda b, s: [body(b, s)])
    rewriter.replace(op, ops.ops, [value])


class LowerAdd(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: la.AddOp, rewriter: PatternRewriter) -> None:
        _elementwise(op, rewriter, lambda b, s: b.add(arith.AddfOp(s[0], s[1])))


class LowerMul(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: la.MulOp, rewriter: PatternRewriter) -> None:
        _elementwise(op, rewriter, lambda b, s: b.add(arith.MulfOp(s[0], s[1])))


class LowerSilu(RewritePattern):
    """x * sigmoid(x) = x / (1 + exp(-x))."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: la.SiluOp, rewriter: PatternRewriter) -> None:
        element = la.tensor_type(op.result).element_type

        def silu(b: Ops, s: Sequence[SSAValue]) -> SSAValue:
            decay = b.add(mathd.ExpOp(b.add(arith.NegfOp(s[0]))))
            return b.add(arith.DivfOp(s[0], b.add(arith.AddfOp(b.constant(1.0, element), decay))))

        _elementwise(op, rewriter, silu)


GELU_CUBIC = 0.044715
"""The cubic term of GELU's tanh form (Hendrycks and Gimpel), as the interpreter's reference computes it."""


class LowerGelu(RewritePattern):
    """0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: la.GeluOp, rewriter: PatternRewriter) -> None:
        element = la.tensor_type(op.result).element_type

        def gelu(b: Ops, s: Sequence[SSAValue]) -> SSAValue:
            x = s[0]
            cube = b.add(arith.MulfOp(b.add(arith.MulfOp(x, x)), x))
            inner = b.add(arith.AddfOp(x, b.add(arith.MulfOp(b.constant(GELU_CUBIC, element), cube))))
            scaled = b.add(arith.MulfOp(b.constant(math.sqrt(2 / math.pi), element), inner))
            one_plus = b.add(arith.AddfOp(b.constant(1.0, element), b.add(mathd.TanhOp(scaled))))
            return b.add(arith.MulfOp(b.add(arith.MulfOp(b.constant(0.5, element), x)), one_plus))

        _elementwise(op, rewriter, gelu)


class LowerBroadcast(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: la.BroadcastOp, rewriter: PatternRewriter) -> None:
        ty = la.tensor_type(op.result)
        rank, dim = ty.get_num_dims(), op.dim.value.data
        ops = Ops()
        value = ops.generic(
            [(op.input, [d for d in range(rank) if d != dim])],
            (ops.empty(ty), _same(rank)),
            rank,
            (),
            lambda b, s: [s[0]],
        )
        rewriter.replace(op, ops.ops, [value])


class LowerConcat(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: la.ConcatOp, rewriter: PatternRewriter) -> None:
        rewriter.replace(op, ConcatOp([op.lhs, op.rhs], op.dim.value.data, la.tensor_type(op.result)))


COMPUTE_PATTERNS = (
    LowerEinsum,
    LowerSoftmax,
    LowerRmsNorm,
    LowerRope,
    LowerAdd,
    LowerMul,
    LowerSilu,
    LowerGelu,
    LowerBroadcast,
    LowerConcat,
)
