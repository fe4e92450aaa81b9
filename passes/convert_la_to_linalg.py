"""`convert-la-to-linalg`: the `la` dataflow, after any absorb scheme, as upstream MLIR that a production
compiler (IREE, or any mlir-opt pipeline) takes unchanged: func, arith, math, tensor and linalg only.

`la` keeps weights and caches as named sources and sinks so that a layer's
signature does not depend on its scheme; upstream MLIR has no such names, so
they become the function's interface, each tagged with what it is:
- every `la.weight` a step reads is an argument `{mlacc.weight = "W_DQ"}`;
- every `la.kv_load` is an argument `{mlacc.cache = "latent"}` (the cached context);
- every `la.kv_store` is an extra result `{mlacc.cache = "latent"}` (the new entries), after the layer's output;
- a cache held in a dtype of its own (`stored`, as `--kv-dtype fp8` makes) crosses the boundary in that dtype:
  widened as it is read, narrowed on its way out;
- `la.precompose` (composed once, offline) moves to a function of its own, `@LAYER.WORKLOAD.precompose`, from
  the weights it reads to the products the step reads, which the step takes as arguments
  `{mlacc.precomposed = "W_UK_W_O"}` (named after the product's SSA name).

Compute ops become linalg.generic and tensor ops (passes/linalg_patterns.py). mlacc's own attributes (`attn.*`,
`hw.target`, `mem.*`) are dropped: upstream tools do not know those dialects. Anything but `la` in a layer function
(the `mesh` collectives of `shard`) is refused: lower before sharding.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    AnyFloat,
    ArrayAttr,
    DictionaryAttr,
    FunctionType,
    ModuleOp,
    StringAttr,
    TensorType,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriteWalker,
)
from xdsl.utils.exceptions import PassFailedException

from dialects import la
from passes.linalg_patterns import COMPUTE_PATTERNS, Ops, cast

WEIGHT_KEY, CACHE_KEY, PRECOMPOSED_KEY = "mlacc.weight", "mlacc.cache", "mlacc.precomposed"
"""Argument and result attributes naming what each tensor of a lowered function is."""


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

    def new_argument(value: SSAValue, ty: Attribute, tag: DictionaryAttr) -> SSAValue:
        arg = block.insert_arg(ty, len(block.args))
        arg.name_hint = value.name_hint
        arg_attrs.append(tag)
        return arg

    def as_argument(value: SSAValue, tag: DictionaryAttr) -> None:
        """The value becomes an argument for the step; products that only feed other products stay offline."""
        if any(not isinstance(use.operation, la.PrecomposeOp) for use in value.uses):
            arg = new_argument(value, value.type, tag)
            for use in list(value.uses):
                if not isinstance(use.operation, la.PrecomposeOp):
                    use.operation.operands[use.index] = arg

    sources: list[Operation] = []
    for op in list(block.ops):
        if isinstance(op, la.WeightOp):
            as_argument(op.result, _tag(WEIGHT_KEY, op.weight.data))
        elif isinstance(op, la.KvLoadOp):
            # a cache held in a dtype of its own (`stored`) comes in as that type and is widened as it is read
            ty = la.tensor_type(op.result)
            entries = new_argument(
                op.result, TensorType(op.stored or ty.element_type, ty.get_shape()), _tag(CACHE_KEY, op.cache.data)
            )
            if op.stored is not None:
                widened = Ops()
                entries = cast(widened, entries, ty.element_type)
                block.insert_ops_before(widened.ops, op)
            op.result.replace_all_uses_with(entries)
        elif isinstance(op, la.KvStoreOp):
            entries = op.value
            if op.stored is not None:
                narrowed = Ops()
                entries = cast(narrowed, entries, op.stored)
                entries.name_hint = f"{op.cache.data}_stored"
                block.insert_ops_before(narrowed.ops, ret)
            stored.append(entries)
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
        stored = op.stored if isinstance(op, la.KvLoadOp | la.KvStoreOp) else None
        values = [*op.operands, *op.results]
        types = [v.type.element_type for v in values if isinstance(v.type, TensorType)] + ([stored] if stored else [])
        if not all(isinstance(t, AnyFloat) for t in types):
            raise PassFailedException(
                f"convert-la-to-linalg: @{function.sym_name.data} holds '{op.name}' on integer elements: only float "
                "dtypes are lowered (an int8 tensor needs its quantisation scales, which the IR does not carry)"
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
            GreedyRewritePatternApplier([pattern() for pattern in COMPUTE_PATTERNS]),
            apply_recursively=False,
        ).rewrite_module(op)
