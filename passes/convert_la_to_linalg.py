"""`convert-la-to-linalg`: the `la` dataflow, after any absorb scheme, as upstream MLIR that a production
compiler (IREE, or any mlir-opt pipeline) takes unchanged: func, arith, math, tensor and linalg only.

`la` keeps weights and caches as named sources and sinks so that a layer's
signature does not depend on its scheme; upstream MLIR has no such names, so
they become the function's interface, each tagged with what it is:
- every `la.weight` a step reads is an argument `{mlacc.weight = "W_DQ"}`;
- every `la.kv_load` is an argument `{mlacc.cache = "latent"}` (the cached context);
- every `la.kv_store` is an extra result `{mlacc.cache = "latent"}` (the new entries), after the layer's output;
- `la.precompose` (composed once, offline) moves to a function of its own, `@LAYER.WORKLOAD.precompose`, from
  the weights it reads to the products the step reads, which the step takes as arguments
  `{mlacc.precomposed = "W_UK_W_O"}` (named after the product's SSA name).

Compute ops become linalg.generic: an einsum iterates its output letters (parallel) then the summed ones
(reduction); softmax is scale (and the causal mask, query i of S sees keys 0 .. T - S + i), max, exp, sum,
divide; RMSNorm is a sum of squares, then x * rsqrt(mean + eps) * gamma; RoPE rotates interleaved pairs by
position x 10000^(-2i/dim), its angles in f32; concat is tensor.concat. Arithmetic stays in the layer's dtype
(einsums accumulate in it too), as the `la` IR states it. mlacc's own attributes (`attn.*`, `hw.target`, `mem.*`)
are dropped: upstream tools do not know those dialects. Anything but `la` in a layer function (the `mesh`
collectives of `shard`) is refused: lower before sharding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func
from xdsl.dialects import math as mathd
from xdsl.dialects.builtin import (
    AffineMapAttr,
    AnyFloat,
    ArrayAttr,
    DictionaryAttr,
    FloatAttr,
    FunctionType,
    IndexType,
    ModuleOp,
    StringAttr,
    TensorType,
    f32,
    i64,
)
from xdsl.dialects.linalg.attrs import IteratorTypeAttr
from xdsl.dialects.linalg.ops import FillOp, GenericOp, IndexOp, YieldOp
from xdsl.dialects.tensor import ConcatOp, EmptyOp, ExtractSliceOp, InsertSliceOp
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineExpr, AffineMap
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.utils.exceptions import PassFailedException

from dialects import la

ROPE_BASE = 10000.0
"""The RoPE base mlacc's interpreter (mlacc/interp.py) and DeepSeek's reference use."""

NEG_INF = -math.inf
"""What a masked score is and a row's max starts from: exp takes it to 0."""

WEIGHT_KEY, CACHE_KEY, PRECOMPOSED_KEY = "mlacc.weight", "mlacc.cache", "mlacc.precomposed"
"""Argument and result attributes naming what each tensor of a lowered function is."""


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


class LowerEinsum(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: la.EinsumOp, rewriter: PatternRewriter) -> None:
        terms, out = la.parse_einsum_spec(op.spec.data)
        letters = list(out) + [c for c in dict.fromkeys("".join(terms)) if c not in out]
        result = la.tensor_type(op.result)
        ops = Ops()
        value = ops.generic(
            [(operand, [letters.index(c) for c in term]) for operand, term in zip(op.operands, terms, strict=True)],
            (ops.filled(0.0, result), _same(len(out))),
            len(letters),
            range(len(out), len(letters)),
            lambda b, s: [b.add(arith.AddfOp(s[2], b.add(arith.MulfOp(s[0], s[1]))))],
        )
        rewriter.replace(op, ops.ops, [value])


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


def _to_element(b: Ops, value: SSAValue, element: Attribute) -> SSAValue:
    """An f32 scalar in the tensor's element type."""
    assert isinstance(element, AnyFloat)
    if element == f32:
        return value
    if element.bitwidth < 32:
        return b.add(arith.TruncFOp(value, element))
    return b.add(arith.ExtFOp(value, element))


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
    return _to_element(b, b.add(mathd.CosOp(angle)), element), _to_element(b, b.add(mathd.SinOp(angle)), element)


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


class LowerAdd(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: la.AddOp, rewriter: PatternRewriter) -> None:
        ty = la.tensor_type(op.result)
        rank = ty.get_num_dims()
        ops = Ops()
        value = ops.generic(
            [(op.lhs, _same(rank)), (op.rhs, _same(rank))],
            (ops.empty(ty), _same(rank)),
            rank,
            (),
            lambda b, s: [b.add(arith.AddfOp(s[0], s[1]))],
        )
        rewriter.replace(op, ops.ops, [value])


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


def _tag(key: str, name: str) -> DictionaryAttr:
    return DictionaryAttr({key: StringAttr(name)})


def _name(value: SSAValue, fallback: str) -> str:
    return value.name_hint or fallback


def _interface(function: func.FuncOp) -> func.FuncOp | None:
    """Turns `function`'s sources and sinks into its arguments and results (module docstring), and returns the
    function that precomposes its weights, if it has any."""
    block = function.body.block
    arg_attrs: list[DictionaryAttr] = [DictionaryAttr({}) for _ in block.args]
    res_attrs: list[DictionaryAttr] = [DictionaryAttr({}) for _ in function.function_type.outputs]
    ret = block.last_op
    assert isinstance(ret, func.ReturnOp)
    stored: list[SSAValue] = []
    precomposed: list[Operation] = [op for op in block.ops if isinstance(op, la.PrecomposeOp)]
    precompose = _precompose_function(function.sym_name.data, precomposed)

    def as_argument(value: SSAValue, tag: DictionaryAttr) -> None:
        """The value becomes an argument for the step; products that only feed other products stay offline."""
        if any(not isinstance(use.operation, la.PrecomposeOp) for use in value.uses):
            arg = block.insert_arg(value.type, len(block.args))
            arg.name_hint = value.name_hint
            arg_attrs.append(tag)
            for use in list(value.uses):
                if not isinstance(use.operation, la.PrecomposeOp):
                    use.operation.operands[use.index] = arg

    sources: list[Operation] = []
    for op in list(block.ops):
        if isinstance(op, la.WeightOp):
            as_argument(op.result, _tag(WEIGHT_KEY, op.weight.data))
        elif isinstance(op, la.KvLoadOp):
            as_argument(op.result, _tag(CACHE_KEY, op.cache.data))
        elif isinstance(op, la.KvStoreOp):
            stored.append(op.value)
            res_attrs.append(_tag(CACHE_KEY, op.cache.data))
        elif isinstance(op, la.PrecomposeOp):
            as_argument(op.result, _tag(PRECOMPOSED_KEY, _name(op.result, "precomposed")))
        else:
            continue
        sources.append(op)
    for op in reversed(sources):
        op.detach()
        op.erase()
    ret.operands = [*ret.operands, *stored]
    function.function_type = FunctionType.from_lists(block.arg_types, [v.type for v in ret.operands])
    function.arg_attrs = ArrayAttr(arg_attrs)
    function.res_attrs = ArrayAttr(res_attrs)
    return precompose


def _precompose_function(step: str, precomposed: list[Operation]) -> func.FuncOp | None:
    """`@STEP.precompose`: the weights the products read in, every product the step reads out, as einsums that the
    patterns then lower. Built from the step's `la.precompose` ops before they are erased."""
    if not precomposed:
        return None
    block = Block()
    values: dict[SSAValue, SSAValue] = {}
    arg_attrs: list[DictionaryAttr] = []
    outputs: list[SSAValue] = []
    res_attrs: list[DictionaryAttr] = []
    for op in precomposed:
        assert isinstance(op, la.PrecomposeOp)
        for operand in op.operands:
            if operand not in values:
                source = operand.owner
                assert isinstance(source, la.WeightOp)
                arg = block.insert_arg(operand.type, len(block.args))
                arg.name_hint = operand.name_hint
                arg_attrs.append(_tag(WEIGHT_KEY, source.weight.data))
                values[operand] = arg
        einsum = la.EinsumOp(op.spec.data, values[op.lhs], values[op.rhs])
        einsum.result.name_hint = op.result.name_hint
        block.add_op(einsum)
        values[op.result] = einsum.result
        if any(not isinstance(use.operation, la.PrecomposeOp) for use in op.result.uses):
            outputs.append(einsum.result)
            res_attrs.append(_tag(PRECOMPOSED_KEY, _name(op.result, "precomposed")))
    block.add_op(func.ReturnOp(*outputs))
    return func.FuncOp(
        f"{step}.precompose",
        (block.arg_types, [v.type for v in outputs]),
        Region(block),
        arg_attrs=ArrayAttr(arg_attrs),
        res_attrs=ArrayAttr(res_attrs),
    )


LOWERED_OPS = (
    la.WeightOp,
    la.KvLoadOp,
    la.KvStoreOp,
    la.PrecomposeOp,
    la.EinsumOp,
    la.SoftmaxOp,
    la.RmsNormOp,
    la.RopeOp,
    la.AddOp,
    la.BroadcastOp,
    la.ConcatOp,
    func.ReturnOp,
)


def _check_lowerable(function: func.FuncOp) -> None:
    for op in function.body.walk():
        if not isinstance(op, LOWERED_OPS):
            raise PassFailedException(
                f"convert-la-to-linalg: @{function.sym_name.data} holds '{op.name}', which has no upstream form here"
                + (": lower the `la` IR before shard" if op.dialect_name() == "mesh" else "")
            )


@dataclass(frozen=True)
class ConvertLaToLinalgPass(ModulePass):
    name = "convert-la-to-linalg"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        op.attributes.clear()
        functions = [f for f in op.ops if isinstance(f, func.FuncOp)]
        for function in functions:
            _check_lowerable(function)
        for function in functions:
            for key in [k for k in function.attributes if "." in k]:
                del function.attributes[key]
            precompose = _interface(function)
            if precompose is not None:
                op.body.block.insert_op_before(precompose, function)
        PatternRewriteWalker(
            GreedyRewritePatternApplier(
                [
                    LowerEinsum(),
                    LowerSoftmax(),
                    LowerRmsNorm(),
                    LowerRope(),
                    LowerAdd(),
                    LowerBroadcast(),
                    LowerConcat(),
                ]
            ),
            apply_recursively=False,
        ).rewrite_module(op)
