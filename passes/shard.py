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
- MLP and MoE layers (`f`, the MLP's and each expert's width): tp splits the
  width (an error unless tp divides it), as vLLM does; the router, dispatch and
  combine are replicated. dp splits their batch. A MoE layer under dp is also
  expert parallel over the dp axis (ep = dp, as DeepSeek's DP attention with EP
  MoE): each device holds experts / dp of the experts (an error unless dp
  divides them) and computes ceil(active / dp) of the experts that receive
  tokens (`a`), the step's rows sent to them by a `mesh.all_to_all` after the
  dispatch and brought back by another before the combine.
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
  stay on their dp rank.

Refusals (`layout_factors`, `node_problem`) are read from the layer's sizes alone,
in the user's words, so that a sweep can skip a point before lowering it.

The module gets `mesh.mesh @node(dp = M, tp = N)`; each function keeps `mesh.tp`
and `mesh.dp`, and every op that defines or stores a tensor gets its
`#mesh.sharding`. The sharded functions still compute their part of the same
function (only types change; the interpreter could run one device's part).
"""

from __future__ import annotations

from dataclasses import dataclass

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
KV_REPLICAS_KEY = "mesh.kv_head_replicas"
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
    the ops that keep (softmax, rope, rmsnorm, add, concat, kv_store) or extend (broadcast) their input's axes."""
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


def ffn_layout_factors(
    layer: str, widths: list[int], batch: int | None, experts: int | None, tp: int, dp: int
) -> dict[str, int]:
    """`layout_factors` of an MLP or MoE layer (`experts`: None for an MLP) whose contractions are `widths` wide
    (`f`): tp splits the width; dp the batch and a MoE layer's experts."""
    factors = layout_factors(layer, None, None, batch, 1, dp)
    if experts is not None and dp > 1:
        if experts % dp:
            raise LayoutError(
                f"layer '{layer}' has {experts} experts, which dp {dp} does not divide: under dp a MoE layer's "
                f"experts are spread over the dp GPUs (expert parallelism), so dp must divide them"
            )
        factors["a"] = dp
    if tp > 1:
        for width in widths:
            if width % tp:
                raise LayoutError(
                    f"layer '{layer}' is {width} wide, which tp {tp} does not divide: tp must divide an MLP's (and "
                    f"each expert's) width"
                )
        factors["f"] = tp
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


def layer_name(function: func.FuncOp) -> str:
    layer = function.attributes.get("attn.layer")
    return layer.data if isinstance(layer, StringAttr) else function.sym_name.data


def split_factors(function: func.FuncOp, tp: int, dp: int) -> dict[str, int]:
    """Index letter -> how many parts it is cut into (letters not named are whole on every device)."""
    kind = function.attributes.get("attn.kind")
    if isinstance(kind, StringAttr) and kind.data in FFN_KINDS:
        widths = [
            op.index_sizes()["f"]
            for op in function.body.walk()
            if isinstance(op, la.ContractionOp) and "f" in op.index_sizes()
        ]
        try:
            experts = _extent(function, "x") if kind.data == "moe" else None
            return ffn_layout_factors(layer_name(function), widths, _extent(function, "b"), experts, tp, dp)
        except LayoutError as refusal:
            raise ShardError(function.location, str(refusal)) from None
    kv_heads = _extent(function, "g")
    heads = _extent(function, "h") if kv_heads is None else kv_heads * (_extent(function, "r") or 1)
    try:
        return layout_factors(layer_name(function), heads, kv_heads, _extent(function, "b"), tp, dp)
    except LayoutError as refusal:
        raise ShardError(function.location, str(refusal)) from None


def mesh_axes(factors: dict[str, int]) -> dict[str, str]:
    """Index letter -> the mesh axis it is split over. Past the KV heads, tp is two axes, as a mesh can split a
    tensor over an axis only once: `tp_kv` picks the KV head, `tp_q` the share of its query heads (the KV head's
    tensors are whole along `tp_q`: copied)."""
    if "r" in factors:
        return {"b": DP, "g": TP_KV, "r": TP_Q}
    return {"b": DP, "h": TP, "g": TP, "f": TP, "a": DP}


def mesh_of(factors: dict[str, int], tp: int, dp: int) -> tuple[str, list[tuple[str, int]]]:
    """The mesh a function's factors split over: `@node(dp, tp)`, or `@node_kvK(dp, tp_kv = K, tp_q)`."""
    if "r" in factors:
        kv = factors["g"]
        return f"{MESH_NAME}_kv{kv}", [(DP, dp), (TP_KV, kv), (TP_Q, factors["r"])]
    return MESH_NAME, [(DP, dp), (TP, tp)]


def _per_device(ty: TensorType[Attribute], term: str, factors: dict[str, int]) -> TensorType[Attribute]:
    # Rounded up: the experts that receive tokens (`a`) need not divide evenly; every other split letter does.
    shape = [-(-size // factors.get(letter, 1)) for size, letter in zip(ty.get_shape(), term, strict=True)]
    return TensorType(ty.element_type, shape)


def _sharding(mesh: str, term: str | None, rank: int, factors: dict[str, int]) -> ShardingAttr:
    if term is None:
        return ShardingAttr(mesh, [[] for _ in range(rank)])
    axes = mesh_axes(factors)
    return ShardingAttr(mesh, [[axes[letter]] if letter in factors else [] for letter in term])


def shard_function(function: func.FuncOp, tp: int, dp: int, gather: bool) -> tuple[str, list[tuple[str, int]]]:
    """Shards one layer's function; returns the mesh (name, axes) its annotations and collectives name."""
    factors = split_factors(function, tp, dp)
    mesh, axes = mesh_of(factors, tp, dp)
    split_over = mesh_axes(factors)
    letters = index_letters(function)
    ops = list(function.body.walk())
    # Per-device types, decided before any value is replaced (replacing makes new SSA values).
    retyped: list[tuple[SSAValue, TensorType[Attribute]]] = []
    for value in [*function.args, *(r for op in ops for r in op.results)]:
        term = letters.get(value)
        if term is not None and any(letter in factors for letter in term):
            retyped.append((value, _per_device(la.tensor_type(value), term, factors)))
    annotations: dict[Operation, ShardingAttr] = {}
    for op in ops:
        if isinstance(op, la.LaOp):
            value = op.operands[0] if isinstance(op, la.KvStoreOp) else op.results[0]
            annotations[op] = _sharding(mesh, letters.get(value), len(la.tensor_type(value).get_shape()), factors)
    arg_shardings = [
        _sharding(mesh, letters.get(a), len(la.tensor_type(a).get_shape()), factors) for a in function.args
    ]
    partial = [
        op
        for op in ops
        if isinstance(op, la.ContractionOp)
        and any(letter in factors and letter != "b" for letter in set("".join(la.parse_einsum_spec(op.spec.data)[0])))
        and not any(letter in la.parse_einsum_spec(op.spec.data)[1] for letter in factors if letter != "b")
    ]
    for op in partial:
        if isinstance(op, la.PrecomposeOp):
            raise ShardError(
                function.location, f"layer '{layer_name(function)}' under this scheme sums over heads tp splits"
            )
    reduced = reduce_points(partial)
    for value, ty in retyped:
        Rewriter.replace_value_with_new_type(value, ty)
    for op, sharding in annotations.items():
        op.attributes[SHARDING_KEY] = sharding
        if isinstance(op, la.WeightOp) and op.of is not None and "a" in factors:  # this device's share of experts
            op.properties["of"] = IntegerAttr(op.of.value.data // factors["a"], i64)
        if isinstance(op, la.BroadcastOp):
            op.properties["size"] = IntegerAttr(la.tensor_type(op.result).get_shape()[op.dim.value.data], i64)
    function.arg_attrs = ArrayAttr([DictionaryAttr({SHARDING_KEY: s}) for s in arg_shardings])
    for op, origin in reduced:  # each device holds a partial sum over its heads: sum it over the axes of those heads
        result = op.results[0]
        name = result.name_hint or "partial"
        spec = la.parse_einsum_spec(origin.spec.data)[0]
        summed = {split_over[letter] for letter in "".join(spec) if letter in factors}
        group = [axis for axis, _ in axes if axis in summed and axis != DP]
        reduce = AllReduceOp(result, mesh, group, result.type, tensor_bytes(result.type))
        Rewriter.insert_op(reduce, InsertPoint.after(op))
        result.replace_uses_with_if(reduce.result, lambda use, reduce=reduce: use.operation is not reduce)
        result.name_hint = f"{name}_partial"
        reduce.result.name_hint = name
        reduce.attributes[SHARDING_KEY] = annotations[op]
    if "a" in factors:
        _exchange_rows(function, mesh, annotations)
    kind = function.attributes.get("attn.kind")
    if dp > 1 and gather and not (isinstance(kind, StringAttr) and kind.data in FFN_KINDS):
        (ret,) = [o for o in function.body.block.ops if isinstance(o, func.ReturnOp)]
        for i, out in enumerate(ret.operands):
            term = letters.get(out) or "b"
            dim = term.index("b") if "b" in term else 0
            gathered = AllGatherOp(out, mesh, [DP], dim, dp)
            gathered.attributes[SHARDING_KEY] = ShardingAttr(mesh, [[] for _ in la.tensor_type(out).get_shape()])
            Rewriter.insert_op(gathered, InsertPoint.before(ret))
            gathered.result.name_hint = f"{out.name_hint or 'output'}_gathered"
            ret.operands = [*ret.operands[:i], gathered.result, *ret.operands[i + 1 :]]
    function.update_function_type()
    function.attributes[TP_KEY] = IntegerAttr(tp, i64)
    function.attributes[DP_KEY] = IntegerAttr(dp, i64)
    if "r" in factors:
        function.attributes[KV_REPLICAS_KEY] = IntegerAttr(factors["r"], i64)
    return mesh, axes


def _exchange_rows(function: func.FuncOp, mesh: str, annotations: dict[Operation, ShardingAttr]) -> None:
    """Expert parallelism: each dispatch's rows go to the devices that hold their experts (a `mesh.all_to_all`
    over dp after it), and the experts' outputs come back to their tokens' devices before each combine."""
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


def reduce_points(partial: list[la.ContractionOp]) -> list[tuple[Operation, la.ContractionOp]]:
    """(op whose result is reduced, the contraction whose partial sum it carries): a partial sum is reduced after
    its contraction, or after the last linear op that carries it on: `la.combine` of experts' rows, or `la.add` of
    two partial sums (a MoE layer's experts and shared experts, reduced once)."""
    carried: dict[SSAValue, la.ContractionOp] = {op.result: op for op in partial}
    changed = True
    while changed:
        changed = False
        for value in list(carried):
            users = [use.operation for use in value.uses]
            if len(users) != 1:
                continue
            user = users[0]
            combine = isinstance(user, la.CombineOp) and user.input == value
            if combine or (isinstance(user, la.AddOp) and user.lhs in carried and user.rhs in carried):
                origin = carried[value]
                for operand in user.operands:
                    carried.pop(operand, None)
                carried[user.results[0]] = origin
                changed = True
                break
    return [(value.owner, origin) for value, origin in carried.items() if isinstance(value.owner, Operation)]


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
    """Partitions every layer function of the module over a dp x tp mesh (see the module docstring)."""

    name = "shard"

    tp: int = 1
    dp: int = 1
    gather: bool = True

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.tp < 1 or self.dp < 1:
            raise PassFailedException(f"shard: tp and dp must be positive, got tp={self.tp}, dp={self.dp}")
        if any(isinstance(o, MeshOp) for o in op.ops):
            raise PassFailedException("shard: the module is already sharded (it has a mesh.mesh)")
        functions = [f for f in op.ops if isinstance(f, func.FuncOp)]
        for function in functions:
            if not isinstance(function.attributes.get("attn.kind"), StringAttr):
                raise PassFailedException(f"shard: @{function.sym_name.data} was not lowered from an attn op")
        check_node(op, self.tp, self.dp)
        meshes = {MESH_NAME: [(DP, self.dp), (TP, self.tp)]}
        for function in functions:
            name, axes = shard_function(function, self.tp, self.dp, self.gather)
            meshes[name] = axes
        first = op.body.block.first_op
        for name, axes in meshes.items():
            mesh = MeshOp(name, axes)
            if first is None:
                op.body.block.add_op(mesh)
            else:
                op.body.block.insert_op_before(mesh, first)
