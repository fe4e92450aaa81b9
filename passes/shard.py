"""`shard{tp=N, dp=M}`: partitions each layer's `la` ops over a dp x tp device mesh (after absorb, before tile).

After the pass every type in a function is the shape one device holds, so tile,
place and schedule cost one device (every device runs the same program on its
part); the `mesh` dialect records how those parts relate to the whole tensors.
The rules are stated on the einsums' index letters (passes/lower_attn.py), never
on weight names, as absorb's rewrites are:

- Data parallel (`dp`): the batch letter `b` is split, batch / dp sequences per
  device (an error unless dp divides the batch); weights are replicated.
- Tensor parallel (`tp`): the head letter `h` is split, heads / tp per device
  (an error unless tp divides the heads). Every tensor with a head axis is
  split with it: per-head weights, queries, scores, per-head KV caches (MHA,
  GQA, `cache-kv`). Tensors without one are replicated on every tp rank: MLA's
  latent and RoPE-key caches and the projections into them (`W_DKV`, `W_KR`,
  `W_DQ`, norms), MQA's one key/value head. So MLA's per-device KV cache does
  not fall with tp, MHA's and GQA's do.
- GQA's KV heads (`g`) and query heads per KV head (`r`): each device holds
  heads / tp query heads and the ceil(kv_heads / tp) KV heads they read. With
  kv_heads >= tp, tp must divide kv_heads (g / tp per device, r whole); past
  them (kv_heads < tp), kv_heads must divide tp, and as vLLM does each device
  holds one KV head and r / (tp / kv_heads) of its query heads: each KV head's
  cache and K/V weights are copied on tp / kv_heads devices (`mesh.kv_head_replicas`).
  A mesh splits a tensor over an axis once, so such a function's mesh,
  `@node_kvK(dp, tp_kv = K, tp_q = tp / K)`, has two axes for tp: `tp_kv`
  picks the KV head, `tp_q` the share of its query heads.
- MLP and MoE layers (`f`, the MLP's and each expert's width) run on all tp x dp
  devices: dp splits their batch, tp an MLP's width (an error unless tp divides
  it), as vLLM does; the router, dispatch and combine are replicated.
- Expert parallelism (`ep`, `shard{ep=E}`; default E = dp): a MoE layer spreads
  its experts (`a`, the experts that receive tokens, and the `of` experts each
  device holds: experts / E, an error unless E divides them) over E devices, as
  vLLM's and SGLang's expert parallelism does: over the dp groups and over a
  share E / dp of each group's tp devices, so E is dp times a divisor of tp. The
  rest of tp, tp x dp / E, splits each expert's width; the shared experts, every
  token's, split their width over all tp. With E = dp (DeepSeek's DP attention
  with EP MoE) the mesh is `@node(dp, tp)`; past it the function's mesh is
  `@node_epE(dp, ep = E / dp, tp = tp x dp / E)`, whose `ep` axis splits the
  experts and whose `tp` axis splits each expert's width. Each device computes
  ceil(active / E) of the experts that receive tokens. Over dp, tokens live on
  their group: a `mesh.all_to_all` over dp sends the rows to the groups that
  hold their experts after the dispatch and brings the outputs back before the
  combine. Over `ep` every device holds its group's tokens already: each picks
  its experts' rows locally, and the combine leaves a partial sum over `ep`
  (the experts the device does not hold), reduced with the width's.
- Partial sums: an einsum that sums over a split letter (the output projection,
  `W_O` summing over heads; an MLP's down projection, over its width) leaves
  each device a partial sum, so a `mesh.all_reduce` over tp follows it
  (batch/dp x new tokens x d_model x dtype bytes per device). Linear ops carry
  a partial sum on (`la.combine` of experts' rows, `la.add` of two partial
  sums): the reduce follows the last of them, so a MoE layer reduces its
  output once, as vLLM does.
- The data-parallel boundary (`gather`, default true): with dp > 1 the layer's
  output is `mesh.all_gather`ed over dp along the batch, as where data-parallel
  attention hands its tokens to an MLP/MoE that runs tensor- or expert-parallel
  over the whole node (DeepSeek's DP attention in SGLang): every device then
  holds every sequence's hidden state. The reduce-scatter back belongs to the
  MLP's step and is not counted here. `gather=false` models an MLP that is data
  parallel too (no collective). MLP and MoE layers never gather: their tokens
  stay on their dp rank; and in a module with MLP/MoE layers (a whole model)
  attention layers do not gather either, for the layers after them keep each dp
  group's tokens.

Refusals (`layout_factors`, `ffn_split`, `node_problem`, `ep_problem`) are read from the layer's sizes alone,
in the user's words, so that a sweep can skip a point before lowering it.

The module gets `mesh.mesh @node(dp = M, tp = N)`; each function keeps `mesh.tp`
and `mesh.dp` (and `mesh.ep` in a module that holds experts), and every op that defines or stores a tensor gets its
`#mesh.sharding`. The sharded functions still compute their part of the same
function (only types change; the interpreter could run one device's part).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    TensorType,
    UnknownLoc,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.exceptions import PassFailedException

from dialects import la
from dialects.attn_rules import FFN_KINDS
from dialects.mesh import (
    DP,
    EP,
    SHARDING_KEY,
    TP,
    TP_KV,
    TP_Q,
    AllGatherOp,
    AllReduceOp,
    AllToAllOp,
    MeshOp,
    ShardingAttr,
    tensor_bytes,
)

MESH_NAME = "node"
TP_KEY, DP_KEY = "mesh.tp", "mesh.dp"
"""The function attributes that keep the layout a function was sharded for."""
EP_KEY = "mesh.ep"
"""On every function of a module that holds experts, sharded: the GPUs a MoE layer's experts spread over."""
KV_REPLICAS_KEY = "mesh.kv_head_replicas"
MODEL_END_KINDS = ("rmsnorm", "embedding", "lm_head")
"""The parts of a model's step around its layers (mlacc/whole_step.py builds them as `la` functions of these
kinds): the two norms of each layer; the embedding lookup with the first layer's input norm; the LM head. Their
batch splits over dp; tp splits the vocabulary (`w`, letter of the LM head's logits), as vLLM's vocabulary-parallel
embedding (an all-reduce of the looked-up rows) and LM head (an all-gather of the logits) do."""
"""On a function whose tp passes its KV heads: how many GPUs hold a copy of each KV head."""


class ShardError(PassFailedException):
    """A layer that cannot be split as asked; `place` is where the layer was written (FILE:LINE:COL) if known."""

    def __init__(self, location: Attribute, message: str):
        from xdsl.dialects.builtin import FileLineColLoc

        self.place = (
            f"{location.filename.data}:{location.line.data}:{location.column.data}"
            if isinstance(location, FileLineColLoc)
            else None
        )
        super().__init__(message)


def index_letters(function: func.FuncOp) -> dict[SSAValue, str]:
    """The einsum index letter of every axis of every tensor, propagated from the contractions' specs through
    the ops that keep (softmax, rope, rmsnorm, add, concat, kv_store) or extend (broadcast) their input's axes,
    and through `la.combine`, whose result takes the router logits' token letters and the expert rows' last
    (`bsx`, `amd` -> `bsd`): a MoE layer with no shared experts has no `la.add` to give its output letters."""
    letters: dict[SSAValue, str] = {}

    def learn(value: SSAValue, term: str) -> bool:
        if value in letters or len(term) != len(la.tensor_type(value).get_shape()):
            return False
        letters[value] = term
        return True

    ops = list(function.body.walk())
    for op in ops:
        if isinstance(op, la.ContractionOp):
            inputs, out = la.parse_einsum_spec(op.spec.data)
            learn(op.lhs, inputs[0])
            learn(op.rhs, inputs[1])
            learn(op.result, out)
    for arg in function.args:  # a layer's hidden states, where no contraction reads them (the norms between layers)
        learn(arg, "bsd")
    changed = True
    while changed:
        changed = False
        for op in ops:
            groups: list[list[SSAValue]] = []
            if isinstance(op, la.SoftmaxOp | la.RopeOp | la.ActivationOp):
                groups.append([op.input, op.result])
            elif isinstance(op, la.RmsNormOp):
                groups.append([op.input, op.result])
                if op.input in letters:
                    changed |= learn(op.gamma, letters[op.input][-1])
            elif isinstance(op, la.AddOp | la.MulOp | la.ConcatOp):
                groups.append([op.lhs, op.rhs, op.result])
            elif isinstance(op, la.CombineOp) and op.input in letters and op.logits in letters:
                changed |= learn(op.result, letters[op.logits][:-1] + letters[op.input][-1])
            elif isinstance(op, la.BroadcastOp) and op.result in letters:
                term = letters[op.result]
                dim = op.dim.value.data
                changed |= learn(op.input, term[:dim] + term[dim + 1 :])
            for group in groups:
                known = next((letters[v] for v in group if v in letters), None)
                if known is not None:
                    for v in group:
                        changed |= learn(v, known)
    return letters


def _extent(function: func.FuncOp, letter: str) -> int | None:
    for op in function.body.walk():
        if isinstance(op, la.ContractionOp) and letter in (sizes := op.index_sizes()):
            return sizes[letter]
    return None


class LayoutError(ValueError):
    """A layout a layer or node cannot take, said in the user's words (heads, KV heads, batch, GPUs)."""


def layout_factors(
    layer: str, heads: int | None, kv_heads: int | None, batch: int | None, tp: int, dp: int
) -> dict[str, int]:
    """Index letter -> how many parts it is cut into, from the layer's sizes alone (no IR), so that a sweep can
    refuse a point before lowering it; `kv_heads` is None where keys and values have no head letter of their
    own (MHA, MQA, MLA). Raises `LayoutError` for a layout the layer cannot take."""
    factors: dict[str, int] = {}
    if dp > 1:
        if batch is None or batch % dp:
            raise LayoutError(f"batch {batch} of layer '{layer}' does not split over dp {dp}: dp must divide the batch")
        factors["b"] = dp
    if tp == 1:
        return factors
    if heads is None or heads % tp:
        raise LayoutError(f"layer '{layer}' has {heads} heads, which tp {tp} does not divide: tp must divide the heads")
    if kv_heads is None:
        factors["h"] = tp
    elif kv_heads >= tp:
        if kv_heads % tp:
            raise LayoutError(
                f"layer '{layer}' has {kv_heads} KV heads, which tp {tp} does not divide: tp must divide the KV "
                f"heads, or be a multiple of them"
            )
        factors["g"] = tp
    else:
        if tp % kv_heads:
            raise LayoutError(
                f"layer '{layer}' has {kv_heads} KV heads: tp {tp} is more than them but not a multiple of them, "
                f"so they cannot be copied evenly to every GPU"
            )
        factors["g"] = kv_heads  # one KV head per device, replicated on tp / kv_heads devices (as vLLM does)
        factors["r"] = tp // kv_heads
    return factors


def kv_head_replicas(kv_heads: int | None, tp: int) -> int:
    """GPUs that hold a copy of each KV head (its cache and K/V weights): tp / kv_heads past the KV heads, else 1."""
    return tp // kv_heads if kv_heads is not None and kv_heads < tp else 1


def node_problem(tp: int, dp: int, devices: int, node: str) -> str | None:
    """Why a layout does not fit a node of `devices` GPUs, or None (a lone chip, 1 device, is judged where its
    collectives are priced)."""
    if devices > 1 and tp * dp > devices:
        return (
            f"tp {tp} x dp {dp} needs {tp * dp} GPUs, but '{node}' is a node of {devices}: choose tp x dp <= {devices}"
        )
    return None


def ep_choices(tp: int, dp: int) -> list[int]:
    """The expert-parallel sizes a tp x dp layout takes: dp times each divisor of tp."""
    return [dp * k for k in range(1, tp + 1) if tp % k == 0]


def ep_problem(tp: int, dp: int, ep: int | None) -> str | None:
    """Why `ep` cannot spread a MoE layer's experts over a tp x dp layout, or None. The MoE layers run on the GPUs
    the attention runs on: the experts spread over every dp group alike and over a share of each group's tp GPUs,
    so ep is dp times a divisor of tp (None: ep = dp, the default)."""
    if ep is None or ep in ep_choices(tp, dp):
        return None
    choices = ", ".join(str(e) for e in ep_choices(tp, dp))
    return (
        f"ep {ep} does not fit tp {tp} x dp {dp}: the experts spread over the {tp * dp} GPUs that run the model, every "
        f"dp group alike, so ep must be dp times a divisor of tp (here {choices})"
    )


@dataclass(frozen=True)
class Split:
    """How one function's index letters split over its mesh: `over`, letter -> the mesh axes it is split over (axes
    of one device left out); `expert_over`, the letters split otherwise in a term of the experts that receive tokens
    (`a`): under expert parallelism over tp GPUs, an expert's width (`f`) splits over the rest of tp only."""

    mesh: str
    axes: tuple[tuple[str, int], ...]
    over: dict[str, tuple[str, ...]]
    expert_over: dict[str, tuple[str, ...]] = field(default_factory=lambda: {})

    def axes_of(self, letter: str, term: str) -> tuple[str, ...]:
        if "a" in term and letter in self.expert_over:
            return self.expert_over[letter]
        return self.over.get(letter, ())

    def parts(self, letter: str, term: str) -> int:
        sizes = dict(self.axes)
        return prod(sizes[axis] for axis in self.axes_of(letter, term))

    def splits(self, term: str) -> bool:
        """Whether a tensor whose axes are `term` is split at all."""
        return any(self.axes_of(letter, term) for letter in term)


def _only(axes: list[tuple[str, int]]) -> tuple[str, ...]:
    return tuple(axis for axis, size in axes if size > 1)


def attention_split(factors: dict[str, int], tp: int, dp: int) -> Split:
    """The split of an attention layer whose letters `layout_factors` cut: `@node(dp, tp)`, or past the KV heads
    `@node_kvK(dp, tp_kv = K, tp_q)` (a mesh splits a tensor over an axis only once: `tp_kv` picks the KV head,
    `tp_q` the share of its query heads; the KV head's tensors are whole along `tp_q`, copied)."""
    if "r" in factors:
        kv = factors["g"]
        axes = ((DP, dp), (TP_KV, kv), (TP_Q, factors["r"]))
        name, over = f"{MESH_NAME}_kv{kv}", {"b": _only([(DP, dp)]), "g": _only([(TP_KV, kv)]), "r": (TP_Q,)}
        return Split(name, axes, {k: v for k, v in over.items() if v})
    axes = ((DP, dp), (TP, tp))
    named = {"b": DP, "h": TP, "g": TP}
    return Split(MESH_NAME, axes, {letter: (named[letter],) for letter in factors})


def ffn_split(
    layer: str,
    batch: int | None,
    widths: list[int],
    expert_widths: list[int],
    experts: int | None,
    tp: int,
    dp: int,
    ep: int | None = None,
) -> Split:
    """The split of an MLP or MoE layer (`experts`: None for an MLP) whose dense contractions are `widths` wide and
    whose experts `expert_widths` (`f`). The layer runs on all tp x dp GPUs: dp splits its batch, an MLP's width
    splits over tp. A MoE layer spreads its experts over `ep` GPUs (None: ep = dp): over the dp groups and over a
    share ep / dp of each group's tp GPUs (the mesh's `ep` axis), the rest of tp splitting each expert's width,
    every shared expert's width split over all tp. Raises `LayoutError` for a layout the layer cannot take."""
    layout_factors(layer, None, None, batch, 1, dp)  # dp must divide the batch
    problem = ep_problem(tp, dp, ep) if experts is not None else None
    if problem is not None:
        raise LayoutError(problem)
    spread = (ep or dp) if experts is not None else dp
    share = spread // dp  # the tp GPUs' share of expert parallelism (the mesh's `ep`)
    if experts is not None and spread > 1 and experts % spread:
        if ep is None:
            raise LayoutError(
                f"layer '{layer}' has {experts} experts, which dp {dp} does not divide: under dp a MoE layer's "
                f"experts are spread over the dp GPUs (expert parallelism), so dp must divide them"
            )
        raise LayoutError(
            f"layer '{layer}' has {experts} experts, which ep {ep} does not divide: ep must divide the experts"
        )
    for width in [*widths, *(expert_widths if share == 1 else [])]:
        if width % tp:
            raise LayoutError(
                f"layer '{layer}' is {width} wide, which tp {tp} does not divide: tp must divide an MLP's (and "
                f"each expert's) width"
            )
    rest = tp // share
    for width in expert_widths if share > 1 else []:
        if width % rest:
            raise LayoutError(
                f"layer '{layer}' has experts {width} wide, which the {rest} GPUs splitting each expert (tp {tp} x "
                f"dp {dp} / ep {ep}) do not divide"
            )
    if share == 1:
        axes = ((DP, dp), (TP, tp))
        over = {"b": _only([(DP, dp)]), "f": _only([(TP, tp)])}
        if experts is not None:
            over["a"] = _only([(DP, dp)])
        return Split(MESH_NAME, axes, {k: v for k, v in over.items() if v})
    axes = ((DP, dp), (EP, share), (TP, rest))
    over = {
        "b": _only([(DP, dp)]),
        "a": _only([(DP, dp), (EP, share)]),
        "f": _only([(EP, share), (TP, rest)]),
    }
    return Split(f"{MESH_NAME}_ep{spread}", axes, {k: v for k, v in over.items() if v}, {"f": _only([(TP, rest)])})


def layer_name(function: func.FuncOp) -> str:
    layer = function.attributes.get("attn.layer")
    return layer.data if isinstance(layer, StringAttr) else function.sym_name.data


def function_split(function: func.FuncOp, tp: int, dp: int, ep: int | None = None) -> Split:
    """How the function's letters split under tp x dp (and a MoE layer's experts over ep)."""
    kind = function.attributes.get("attn.kind")
    try:
        if isinstance(kind, StringAttr) and kind.data in FFN_KINDS:
            sizes = [op.index_sizes() for op in function.body.walk() if isinstance(op, la.ContractionOp)]
            expert = [s["f"] for s in sizes if "f" in s and "a" in s]
            dense = [s["f"] for s in sizes if "f" in s and "a" not in s]
            experts = _extent(function, "x") if kind.data == "moe" else None
            return ffn_split(layer_name(function), _extent(function, "b"), dense, expert, experts, tp, dp, ep)
        if isinstance(kind, StringAttr) and kind.data in MODEL_END_KINDS:
            batch = _extent(function, "b") or la.tensor_type(function.args[0]).get_shape()[0]
            layout_factors(layer_name(function), None, None, batch, 1, dp)  # dp must divide the batch
            over = {"b": _only([(DP, dp)]), "w": _only([(TP, tp)])}
            return Split(MESH_NAME, ((DP, dp), (TP, tp)), {k: v for k, v in over.items() if v})
        kv_heads = _extent(function, "g")
        heads = _extent(function, "h") if kv_heads is None else kv_heads * (_extent(function, "r") or 1)
        factors = layout_factors(layer_name(function), heads, kv_heads, _extent(function, "b"), tp, dp)
        return attention_split(factors, tp, dp)
    except LayoutError as refusal:
        raise ShardError(function.location, str(refusal)) from None


def _per_device(ty: TensorType[Attribute], term: str, split: Split) -> TensorType[Attribute]:
    # Rounded up: the experts that receive tokens (`a`) need not divide evenly; every other split letter does.
    shape = [-(-size // split.parts(letter, term)) for size, letter in zip(ty.get_shape(), term, strict=True)]
    return TensorType(ty.element_type, shape)


def _sharding(split: Split, term: str | None, rank: int) -> ShardingAttr:
    if term is None:
        return ShardingAttr(split.mesh, [[] for _ in range(rank)])
    return ShardingAttr(split.mesh, [list(split.axes_of(letter, term)) for letter in term])


def _partial_axes(op: la.ContractionOp, split: Split) -> frozenset[str]:
    """The mesh axes over which a contraction's result is a partial sum: those of the letters it sums over (the
    output projection's heads, an MLP's width), batch never."""
    inputs, out = la.parse_einsum_spec(op.spec.data)
    return frozenset(
        axis for term in inputs for letter in term if letter not in out for axis in split.axes_of(letter, term)
    ) - {DP}


def reduce_points(
    function: func.FuncOp, split: Split, letters: dict[SSAValue, str]
) -> list[tuple[Operation, list[str]]]:
    """(op whose result is reduced, the mesh axes it is summed over), in program order. A partial sum is reduced
    after the contraction that makes it, or after the last linear op that carries it on: `la.combine` of experts'
    rows (which adds the experts a device does not hold, where they spread over tp GPUs, `ep`: the tokens there
    are the same on every device), or `la.add` of two partial sums over the same axes (a MoE layer's experts and
    shared experts, reduced once)."""
    carried: dict[SSAValue, frozenset[str]] = {}

    def take(value: SSAValue) -> frozenset[str]:
        return carried.pop(value) if value in carried and value.has_one_use() else frozenset()

    for op in function.body.walk():
        if isinstance(op, la.ContractionOp):
            axes = _partial_axes(op, split)
            if axes and isinstance(op, la.PrecomposeOp):
                raise ShardError(
                    function.location, f"layer '{layer_name(function)}' under this scheme sums over heads tp splits"
                )
            if axes:
                carried[op.result] = axes
        elif isinstance(op, la.CombineOp):
            term = letters.get(op.input, "")
            axes = take(op.input) | (frozenset(split.axes_of("a", term)) - {DP})
            if axes:
                carried[op.result] = axes
        elif isinstance(op, la.AddOp) and op.lhs in carried and carried.get(op.rhs) == carried[op.lhs]:
            axes = carried[op.lhs]
            if op.lhs.has_one_use() and op.rhs.has_one_use():
                del carried[op.lhs], carried[op.rhs]
                carried[op.result] = axes
    order = [axis for axis, _ in split.axes]
    return [
        (value.owner, sorted(axes, key=order.index))
        for value, axes in carried.items()
        if isinstance(value.owner, Operation)
    ]


def shard_function(
    function: func.FuncOp, tp: int, dp: int, gather: bool, ep: int | None = None
) -> tuple[str, list[tuple[str, int]]]:
    """Shards one layer's function; returns the mesh (name, axes) its annotations and collectives name."""
    split = function_split(function, tp, dp, ep)
    letters = index_letters(function)
    ops = list(function.body.walk())
    # Per-device types, decided before any value is replaced (replacing makes new SSA values).
    retyped: list[tuple[SSAValue, TensorType[Attribute]]] = []
    for value in [*function.args, *(r for op in ops for r in op.results)]:
        term = letters.get(value)
        if term is not None and split.splits(term):
            retyped.append((value, _per_device(la.tensor_type(value), term, split)))
    annotations: dict[Operation, ShardingAttr] = {}
    for op in ops:
        if isinstance(op, la.LaOp):
            value = op.operands[0] if isinstance(op, la.KvStoreOp) else op.results[0]
            annotations[op] = _sharding(split, letters.get(value), len(la.tensor_type(value).get_shape()))
    arg_shardings = [_sharding(split, letters.get(a), len(la.tensor_type(a).get_shape())) for a in function.args]
    reduced = reduce_points(function, split, letters)
    for value, ty in retyped:
        Rewriter.replace_value_with_new_type(value, ty)
    experts = split.parts("a", "a")
    for op, sharding in annotations.items():
        op.attributes[SHARDING_KEY] = sharding
        if isinstance(op, la.WeightOp) and op.of is not None and experts > 1:  # this device's share of experts
            op.properties["of"] = IntegerAttr(op.of.value.data // experts, i64)
        if isinstance(op, la.BroadcastOp):
            op.properties["size"] = IntegerAttr(la.tensor_type(op.result).get_shape()[op.dim.value.data], i64)
    function.arg_attrs = ArrayAttr([DictionaryAttr({SHARDING_KEY: s}) for s in arg_shardings])
    for op, group in reduced:  # each device holds a partial sum: sum it over the axes it is partial over
        result = op.results[0]
        name = result.name_hint or "partial"
        reduce = AllReduceOp(result, split.mesh, group, result.type, tensor_bytes(result.type))
        Rewriter.insert_op(reduce, InsertPoint.after(op))
        result.replace_uses_with_if(reduce.result, lambda use, reduce=reduce: use.operation is not reduce)
        result.name_hint = f"{name}_partial"
        reduce.result.name_hint = name
        reduce.attributes[SHARDING_KEY] = annotations[op]
    if DP in split.over.get("a", ()):
        _exchange_rows(function, split.mesh, annotations)
    kind = function.attributes.get("attn.kind")
    if TP in split.over.get("w", ()):
        _vocabulary_parallel(function, split, tp, kind)
    if dp > 1 and gather and not (isinstance(kind, StringAttr) and kind.data in (*FFN_KINDS, *MODEL_END_KINDS)):
        (ret,) = [o for o in function.body.block.ops if isinstance(o, func.ReturnOp)]
        for i, out in enumerate(ret.operands):
            term = letters.get(out) or "b"
            dim = term.index("b") if "b" in term else 0
            gathered = AllGatherOp(out, split.mesh, [DP], dim, dp)
            gathered.attributes[SHARDING_KEY] = ShardingAttr(split.mesh, [[] for _ in la.tensor_type(out).get_shape()])
            Rewriter.insert_op(gathered, InsertPoint.before(ret))
            gathered.result.name_hint = f"{out.name_hint or 'output'}_gathered"
            ret.operands = [*ret.operands[:i], gathered.result, *ret.operands[i + 1 :]]
    function.update_function_type()
    function.attributes[TP_KEY] = IntegerAttr(tp, i64)
    function.attributes[DP_KEY] = IntegerAttr(dp, i64)
    replicas = split.parts("r", "r")
    if replicas > 1:
        function.attributes[KV_REPLICAS_KEY] = IntegerAttr(replicas, i64)
    return split.mesh, list(split.axes)


def _vocabulary_parallel(function: func.FuncOp, split: Split, tp: int, kind: Attribute | None) -> None:
    """Under tp each GPU holds 1/tp of the vocabulary: the embedding lookup finds the rows of its own tokens only,
    so the looked-up rows (the function's argument) are all-reduced over tp before the first layer's norm reads
    them; the LM head computes its share of every token's logits, all-gathered over tp along the vocabulary."""
    if kind == StringAttr("embedding"):
        (rows,) = function.args
        reduce = AllReduceOp(rows, split.mesh, [TP], rows.type, tensor_bytes(rows.type))
        reduce.attributes[SHARDING_KEY] = ShardingAttr(split.mesh, [list(split.axes_of("b", "b")), [], []])
        function.body.block.insert_op_before(reduce, function.body.block.first_op)  # pyright: ignore[reportArgumentType]
        rows.replace_uses_with_if(reduce.result, lambda use: use.operation is not reduce)
        reduce.result.name_hint = "embedded_rows"
        return
    for op in list(function.body.walk()):
        if isinstance(op, la.EinsumOp) and "w" in (out := la.parse_einsum_spec(op.spec.data)[1]):
            gathered = AllGatherOp(op.result, split.mesh, [TP], out.index("w"), tp)
            gathered.attributes[SHARDING_KEY] = ShardingAttr(split.mesh, [list(split.axes_of("b", "b")), [], []])
            Rewriter.insert_op(gathered, InsertPoint.after(op))
            op.result.replace_uses_with_if(gathered.result, lambda use, g=gathered: use.operation is not g)
            gathered.result.name_hint = f"{op.result.name_hint or 'logits'}_gathered"


def _exchange_rows(function: func.FuncOp, mesh: str, annotations: dict[Operation, ShardingAttr]) -> None:
    """Expert parallelism over dp: each dispatch's rows go to the dp groups that hold their experts (a
    `mesh.all_to_all` over dp after it), and the experts' outputs come back to their tokens' groups before each
    combine. (Within a dp group every device holds the group's tokens: no exchange over `ep`.)"""
    for op in list(function.body.walk()):
        if isinstance(op, la.DispatchOp):
            value, after = op.result, op
        elif isinstance(op, la.CombineOp):
            value, after = op.input, None
        else:
            continue
        exchange = AllToAllOp(value, mesh, [DP], value.type, tensor_bytes(value.type))
        if isinstance(value.owner, Operation) and value.owner in annotations:
            exchange.attributes[SHARDING_KEY] = annotations[value.owner]
        if after is not None:
            Rewriter.insert_op(exchange, InsertPoint.after(after))
            value.replace_uses_with_if(exchange.result, lambda use, exchange=exchange: use.operation is not exchange)
            exchange.result.name_hint = f"{value.name_hint}_exchanged"
        else:
            Rewriter.insert_op(exchange, InsertPoint.before(op))
            op.operands = [exchange.result, *op.operands[1:]]
            exchange.result.name_hint = f"{value.name_hint}_returned"


def has_experts(function: func.FuncOp) -> bool:
    """Whether a layer function holds experts: a MoE layer, or an attention layer whose model has them."""
    from dialects.attn import ModelAttr

    model = function.attributes.get("attn.model")
    kind = function.attributes.get("attn.kind")
    return kind == StringAttr("moe") or (isinstance(model, ModelAttr) and model.fields.get("experts", 0) > 0)


def check_node(module: ModuleOp, tp: int, dp: int) -> None:
    """A layout must fit the node it is asked of: tp x dp GPUs at most the target's `[interconnect]` devices. (A
    lone chip has no interconnect: its collectives say so where they are priced.)"""
    from dialects.hw import module_target

    target = module_target(module)
    if target is None:
        return
    problem = node_problem(tp, dp, int(target.interconnect_fields().get("devices", 1)), target.target_name.data)
    if problem is not None:
        raise ShardError(UnknownLoc(), problem)


@dataclass(frozen=True)
class ShardPass(ModulePass):
    """Partitions every layer function of the module over a dp x tp mesh (see the module docstring); `ep` spreads
    MoE layers' experts over that many of its GPUs (0: over the dp GPUs, ep = dp)."""

    name = "shard"

    tp: int = 1
    dp: int = 1
    gather: bool = True
    ep: int = 0

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.tp < 1 or self.dp < 1 or self.ep < 0:
            raise PassFailedException(
                f"shard: tp and dp must be positive and ep not negative, got tp={self.tp}, dp={self.dp}, ep={self.ep}"
            )
        if any(isinstance(o, MeshOp) for o in op.ops):
            raise PassFailedException("shard: the module is already sharded (it has a mesh.mesh)")
        functions = [f for f in op.ops if isinstance(f, func.FuncOp)]
        for function in functions:
            if not isinstance(function.attributes.get("attn.kind"), StringAttr):
                raise PassFailedException(f"shard: @{function.sym_name.data} was not lowered from an attn op")
        check_node(op, self.tp, self.dp)
        ep = self.ep or None
        experts = any(has_experts(f) for f in functions)
        if ep is not None:
            if not experts:
                raise ShardError(
                    UnknownLoc(), f"ep {ep} spreads a MoE layer's experts over GPUs, but no layer here has experts"
                )
            problem = ep_problem(self.tp, self.dp, ep)
            if problem is not None:
                raise ShardError(UnknownLoc(), problem)
        # A file with MLP/MoE layers is one model: its feed-forward layers keep each dp group's tokens (a MoE
        # layer exchanges rows itself), so its attention layers hand them on without gathering.
        ffn = any(f.attributes.get("attn.kind") in [StringAttr(k) for k in FFN_KINDS] for f in functions)
        meshes = {MESH_NAME: [(DP, self.dp), (TP, self.tp)]}
        for function in functions:
            name, axes = shard_function(function, self.tp, self.dp, self.gather and not ffn, ep)
            meshes[name] = axes
            if experts:
                function.attributes[EP_KEY] = IntegerAttr(ep or self.dp, i64)
        first = op.body.block.first_op
        for name, axes in meshes.items():
            mesh = MeshOp(name, axes)
            if first is None:
                op.body.block.add_op(mesh)
            else:
                op.body.block.insert_op_before(mesh, first)
