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

A weight is a constant laid out offline, so its layout is the compiler's to choose, as serving engines
pre-transpose theirs. With `layout=reduction-last` (the default) every weight and product a step reads comes in
with the dimensions its contraction keeps first (in the order of the contraction's output) and the ones it sums
last (in the order the other operand holds them): `W_DQ` of `bsd,dq->bsq`, declared [d, q], is an argument
[q, d]. IREE's llvm-cpu code streams a weight laid out so 2.6-3.5x as fast as the DSL's [K, N]
(benchmarks/cpu/calibrate.py's grids `stream` and `stream-dsl`). Such an argument says how it is laid out,
`{mlacc.weight = "W_DQ", mlacc.layout = array<i64: 1, 0>}`: it is `numpy.transpose(w, layout)` of the weight as
the DSL declares it, and the contractions that read it index it accordingly. An argument without `mlacc.layout`
is in the DSL's layout, as are the weights `@...precompose` reads (they are composed offline, once); a product it
returns carries the layout the step reads it in.

An intermediate that only contractions read keeps the layout the DSL gives it unless its reader sums several of
its dimensions that are not adjacent there: IREE cannot read those as one summed dimension. The contraction that
writes it then writes it in `reduction_last`'s layout: reuse's attention output over the latent, `bhst,btc->bhsc`,
is written [b, s, h, c], so the output projection that sums h and c reads them innermost (a prefill of 128
tokens took 334 ms over [b, h, s, c] and 49 ms over [b, s, h, c]). Laying out every intermediate so was measured
slower: expand's values written [b, h, v, t] for the weighted sum made its decode step 33% slower. The caches,
the output and what a step stores keep the DSL's layout. `layout=dsl` keeps every tensor in the DSL's layout.

Compute ops become linalg.generic and tensor ops (passes/linalg_patterns.py), an MLP layer's SiLU, GELU and
products included; a MoE layer's routing (`la.dispatch`, `la.combine`) is refused. mlacc's own attributes (`attn.*`,
`hw.target`, `mem.*`) are dropped: upstream tools do not know those dialects. Anything but `la` in a layer function
(the `mesh` collectives of `shard`) is refused: lower before sharding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    AnyFloat,
    ArrayAttr,
    DenseArrayBase,
    DictionaryAttr,
    FunctionType,
    ModuleOp,
    StringAttr,
    TensorType,
    i64,
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
LAYOUT_KEY = "mlacc.layout"
"""The permutation of the DSL's dimensions a weight or product is laid out in, beside its name (module docstring)."""

LAYOUTS = ("reduction-last", "dsl")
"""The pass's `layout`: the summed dimensions of the contraction that reads a weight or an intermediate innermost
(the default), or the DSL's layout for every tensor."""

Layout = tuple[int, ...]


def _tag(key: str, name: str, layout: Layout | None = None) -> DictionaryAttr:
    attrs: dict[str, Attribute] = {key: StringAttr(name)}
    if layout is not None and list(layout) != sorted(layout):
        attrs[LAYOUT_KEY] = DenseArrayBase.from_list(i64, layout)
    return DictionaryAttr(attrs)


def _permuted(term: str, layout: Layout) -> str:
    return "".join(term[d] for d in layout)


def reduction_last(spec: str, operand: int) -> Layout:
    """The layout of einsum `spec`'s operand `operand` (a weight) with the letters the contraction keeps first, in
    the output's order, and the letters it sums last, in the order the other operand holds them (so that both
    operands hold the summed dimensions alike): `bsd,dq->bsq`'s weight as [q, d], `bshn,chn->bshc`'s as [h, c, n]."""
    terms, out = la.parse_einsum_spec(spec)
    term, other = terms[operand], terms[1 - operand]
    kept = [c for c in out if c in term]
    summed = [c for c in other if c in term and c not in out]
    summed += [c for c in term if c not in out and c not in summed]
    return tuple(term.index(c) for c in kept + summed)


def _step_readers(value: SSAValue) -> list[Operation]:
    """The ops of the step that read `value` (a precomposition reads it offline), in block order."""
    readers = {use.operation for use in value.uses if not isinstance(use.operation, la.PrecomposeOp)}
    block = value.owner.parent_block() if isinstance(value.owner, Operation) else None
    return [op for op in block.ops if op in readers] if block else list(readers)


def _layouts(block: Block, policy: str) -> dict[SSAValue, Layout]:
    """The layout of every weight and product the step reads: what its first reader, an einsum, streams fastest
    (`reduction_last`); the DSL's if that reader is no einsum (an RMSNorm's gamma) or with `layout=dsl`."""
    layouts: dict[SSAValue, Layout] = {}
    for op in block.ops:
        if not isinstance(op, la.WeightOp | la.PrecomposeOp):
            continue
        readers = _step_readers(op.result)
        rank = la.tensor_type(op.result).get_num_dims()
        layout = tuple(range(rank))
        if policy != "dsl" and readers and isinstance(readers[0], la.EinsumOp):
            layout = reduction_last(readers[0].spec.data, list(readers[0].operands).index(op.result))
        layouts[op.result] = layout
    return layouts


def _read_as(reader: Operation, index: int, arg: SSAValue, layout: Layout) -> None:
    """`reader` reads `arg` (laid out `layout`) as its operand `index`: an einsum indexes it through its spec."""
    if list(layout) != sorted(layout):
        assert isinstance(reader, la.EinsumOp)
        terms, out = la.parse_einsum_spec(reader.spec.data)
        terms[index] = _permuted(terms[index], layout)
        reader.spec = StringAttr(f"{','.join(terms)}->{out}")
    reader.operands[index] = arg


def _name(value: SSAValue, fallback: str) -> str:
    return value.name_hint or fallback


def _apart(spec: str, operand: int) -> bool:
    """Whether einsum `spec` sums several dimensions of its operand `operand` that are not adjacent in it."""
    terms, out = la.parse_einsum_spec(spec)
    summed = [i for i, c in enumerate(terms[operand]) if c not in out]
    return len(summed) > 1 and summed[-1] - summed[0] + 1 != len(summed)


def _lay_out_intermediates(block: Block) -> None:
    """Each einsum whose result only einsums read, the first of which sums dimensions of it that lie apart
    (`_apart`), writes it in the layout that reader reads fastest (`reduction_last`), after the weights have
    taken theirs; the readers index it accordingly."""
    for op in list(block.ops):
        if not isinstance(op, la.EinsumOp):
            continue
        readers = _step_readers(op.result)
        first = readers[0] if readers else None
        if not isinstance(first, la.EinsumOp) or not all(isinstance(r, la.EinsumOp) for r in readers):
            continue
        index = list(first.operands).index(op.result)
        if not _apart(first.spec.data, index):
            continue
        layout = reduction_last(first.spec.data, index)
        terms, out = la.parse_einsum_spec(op.spec.data)
        written = la.EinsumOp(f"{','.join(terms)}->{_permuted(out, layout)}", op.lhs, op.rhs)
        written.result.name_hint = op.result.name_hint
        block.insert_op_before(written, op)
        for use in list(op.result.uses):
            _read_as(use.operation, use.index, written.result, layout)
        op.detach()
        op.erase()


def _interface(function: func.FuncOp, policy: str) -> func.FuncOp | None:
    """Turns `function`'s sources and sinks into its arguments and results (module docstring), each weight and
    product laid out as `policy` (the pass's `layout`) says, and returns the function that precomposes its
    weights, if it has any."""
    block = function.body.block
    arg_attrs: list[DictionaryAttr] = [DictionaryAttr({}) for _ in block.args]
    res_attrs: list[DictionaryAttr] = [DictionaryAttr({}) for _ in function.function_type.outputs]
    ret = block.last_op
    assert isinstance(ret, func.ReturnOp)
    stored: list[SSAValue] = []
    precomposed: list[Operation] = [op for op in block.ops if isinstance(op, la.PrecomposeOp)]
    layouts = _layouts(block, policy)
    precompose = _precompose_function(function.sym_name.data, precomposed, layouts)

    def new_argument(value: SSAValue, ty: Attribute, tag: DictionaryAttr) -> SSAValue:
        arg = block.insert_arg(ty, len(block.args))
        arg.name_hint = value.name_hint
        arg_attrs.append(tag)
        return arg

    def as_argument(value: SSAValue, key: str, name: str) -> None:
        """The value becomes an argument for the step, in its layout; products that only feed other products stay
        offline."""
        if _step_readers(value):
            layout = layouts[value]
            ty = la.tensor_type(value)
            shape = ty.get_shape()
            arg = new_argument(value, TensorType(ty.element_type, [shape[d] for d in layout]), _tag(key, name, layout))
            for use in list(value.uses):
                if not isinstance(use.operation, la.PrecomposeOp):
                    _read_as(use.operation, use.index, arg, layout)

    sources: list[Operation] = []
    for op in list(block.ops):
        if isinstance(op, la.WeightOp):
            as_argument(op.result, WEIGHT_KEY, op.weight.data)
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
            as_argument(op.result, PRECOMPOSED_KEY, _name(op.result, "precomposed"))
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


def _precompose_function(
    step: str, precomposed: Sequence[Operation], layouts: dict[SSAValue, Layout]
) -> func.FuncOp | None:
    """`@STEP.precompose`: the weights the products read in (in the DSL's layout), every product the step reads out
    (in the layout the step reads it in), as einsums that the patterns then lower. Built from the step's
    `la.precompose` ops before they are erased."""
    if not precomposed:
        return None
    block = Block()
    values: dict[SSAValue, SSAValue] = {}
    arg_attrs: list[DictionaryAttr] = []
    outputs: list[SSAValue] = []
    res_attrs: list[DictionaryAttr] = []
    written: dict[SSAValue, Layout] = {}
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
        # a product the step reads is written in the step's layout; one that only feeds others stays in the DSL's
        terms, out = la.parse_einsum_spec(op.spec.data)
        terms = [_permuted(t, written.get(v, tuple(range(len(t))))) for t, v in zip(terms, op.operands, strict=True)]
        read = bool(_step_readers(op.result))
        if read:
            written[op.result] = layouts[op.result]
            out = _permuted(out, layouts[op.result])
        einsum = la.EinsumOp(f"{','.join(terms)}->{out}", values[op.lhs], values[op.rhs])
        einsum.result.name_hint = op.result.name_hint
        block.add_op(einsum)
        values[op.result] = einsum.result
        if read:
            outputs.append(einsum.result)
            res_attrs.append(_tag(PRECOMPOSED_KEY, _name(op.result, "precomposed"), layouts[op.result]))
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
    la.MulOp,
    la.SiluOp,
    la.GeluOp,
    la.BroadcastOp,
    la.ConcatOp,
    func.ReturnOp,
)


def _check_lowerable(function: func.FuncOp) -> None:
    for op in function.body.walk():
        if isinstance(op, la.DispatchOp | la.CombineOp):
            raise PassFailedException(
                f"convert-la-to-linalg: @{function.sym_name.data} holds '{op.name}', a MoE layer's routing, which "
                "has no upstream form here: the IR keeps the rows each expert gets under uniform routing, not which "
                "tokens go where (that depends on the data)"
            )
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

    layout: str = "reduction-last"
    """How weights, precomposed products and intermediates that only contractions read are laid out (module
    docstring): `reduction-last`, the summed dimensions of the contraction that reads one innermost, or `dsl`, as
    the DSL declares them."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.layout not in LAYOUTS:
            raise PassFailedException(
                f"convert-la-to-linalg: layout '{self.layout}' is not one of {', '.join(LAYOUTS)}"
            )
        op.attributes.clear()
        functions = [f for f in op.ops if isinstance(f, func.FuncOp)]
        for function in functions:
            _check_lowerable(function)
        for function in functions:
            for key in [k for k in function.attributes if "." in k]:
                del function.attributes[key]
            precompose = _interface(function, self.layout)
            if precompose is not None:
                op.body.block.insert_op_before(precompose, function)
            if self.layout != "dsl":
                _lay_out_intermediates(function.body.block)
        PatternRewriteWalker(
            GreedyRewritePatternApplier([pattern() for pattern in COMPUTE_PATTERNS]),
            apply_recursively=False,
        ).rewrite_module(op)
