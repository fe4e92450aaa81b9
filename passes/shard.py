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
  kv_heads >= tp, tp must divide kv_heads (g / tp per device, r whole); with
  kv_heads < tp, kv_heads must divide tp, each device holds one KV head and
  r / (tp / kv_heads) of its query heads, and each KV head is replicated on
  tp / kv_heads devices.
- Partial sums: an einsum that sums over a split letter (the output projection,
  `W_O` summing over heads) leaves each device a partial sum, so a
  `mesh.all_reduce` over tp follows it (batch/dp x new tokens x d_model x dtype
  bytes per device).
- The data-parallel boundary (`gather`, default true): with dp > 1 the layer's
  output is `mesh.all_gather`ed over dp along the batch, as where data-parallel
  attention hands its tokens to an MLP/MoE that runs tensor- or expert-parallel
  over the whole node (DeepSeek's DP attention in SGLang): every device then
  holds every sequence's hidden state. The reduce-scatter back belongs to the
  MLP's step and is not counted here. `gather=false` models an MLP that is data
  parallel too (no collective).

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
from dialects.mesh import DP, SHARDING_KEY, TP, AllGatherOp, AllReduceOp, MeshOp, ShardingAttr, tensor_bytes

MESH_NAME = "node"
TP_KEY, DP_KEY = "mesh.tp", "mesh.dp"
"""The function attributes that keep the layout a function was sharded for."""


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
            if isinstance(op, la.SoftmaxOp | la.RopeOp):
                groups.append([op.input, op.result])
            elif isinstance(op, la.RmsNormOp):
                groups.append([op.input, op.result])
                if op.input in letters:
                    changed |= learn(op.gamma, letters[op.input][-1])
            elif isinstance(op, la.AddOp | la.ConcatOp):
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


def split_factors(function: func.FuncOp, tp: int, dp: int) -> dict[str, int]:
    """Index letter -> how many parts it is cut into (letters not named are whole on every device)."""
    where = function.location
    name = function.sym_name.data
    factors: dict[str, int] = {}
    batch = _extent(function, "b")
    if dp > 1:
        if batch is None or batch % dp:
            raise ShardError(where, f"shard: batch ({batch}) of @{name} is not divisible by dp ({dp})")
        factors["b"] = dp
    if tp == 1:
        return factors
    heads, kv_heads = _extent(function, "h"), _extent(function, "g")
    if kv_heads is None:  # MHA, MQA, MLA: one head letter
        if heads is None or heads % tp:
            raise ShardError(where, f"shard: heads ({heads}) of @{name} are not divisible by tp ({tp})")
        factors["h"] = tp
        return factors
    group = _extent(function, "r") or 1
    heads = kv_heads * group
    if heads % tp:
        raise ShardError(where, f"shard: heads ({heads}) of @{name} are not divisible by tp ({tp})")
    if kv_heads >= tp:
        if kv_heads % tp:
            raise ShardError(where, f"shard: kv_heads ({kv_heads}) of @{name} are not divisible by tp ({tp})")
        factors["g"] = tp
    else:
        if tp % kv_heads:
            raise ShardError(
                where, f"shard: tp ({tp}) of @{name} is not a multiple of kv_heads ({kv_heads}), nor divides them"
            )
        factors["g"] = kv_heads  # one KV head per device, replicated on tp / kv_heads devices
        factors["r"] = tp // kv_heads
    return factors


def _axis(letter: str) -> str:
    return DP if letter == "b" else TP


def _per_device(ty: TensorType[Attribute], term: str, factors: dict[str, int]) -> TensorType[Attribute]:
    shape = [size // factors.get(letter, 1) for size, letter in zip(ty.get_shape(), term, strict=True)]
    return TensorType(ty.element_type, shape)


def _sharding(term: str | None, rank: int, factors: dict[str, int]) -> ShardingAttr:
    if term is None:
        return ShardingAttr(MESH_NAME, [[] for _ in range(rank)])
    return ShardingAttr(MESH_NAME, [[_axis(letter)] if letter in factors else [] for letter in term])


def shard_function(function: func.FuncOp, tp: int, dp: int, gather: bool) -> None:
    factors = split_factors(function, tp, dp)
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
            annotations[op] = _sharding(letters.get(value), len(la.tensor_type(value).get_shape()), factors)
    arg_shardings = [_sharding(letters.get(a), len(la.tensor_type(a).get_shape()), factors) for a in function.args]
    partial = [
        op
        for op in ops
        if isinstance(op, la.ContractionOp)
        and any(letter in factors and letter != "b" for letter in set("".join(la.parse_einsum_spec(op.spec.data)[0])))
        and not any(letter in la.parse_einsum_spec(op.spec.data)[1] for letter in factors if letter != "b")
    ]
    for op in partial:
        if isinstance(op, la.PrecomposeOp):
            name = function.sym_name.data
            raise ShardError(function.location, f"shard: a precomposed weight of @{name} sums over split heads")
    for value, ty in retyped:
        Rewriter.replace_value_with_new_type(value, ty)
    for op, sharding in annotations.items():
        op.attributes[SHARDING_KEY] = sharding
        if isinstance(op, la.BroadcastOp):
            op.properties["size"] = IntegerAttr(la.tensor_type(op.result).get_shape()[op.dim.value.data], i64)
    function.arg_attrs = ArrayAttr([DictionaryAttr({SHARDING_KEY: s}) for s in arg_shardings])
    for op in partial:  # each device holds a partial sum over its heads: sum it over tp
        name = op.result.name_hint or "partial"
        reduce = AllReduceOp(op.result, MESH_NAME, [TP], op.result.type, tensor_bytes(op.result.type))
        Rewriter.insert_op(reduce, InsertPoint.after(op))
        op.result.replace_uses_with_if(reduce.result, lambda use, reduce=reduce: use.operation is not reduce)
        op.result.name_hint = f"{name}_partial"
        reduce.result.name_hint = name
        reduce.attributes[SHARDING_KEY] = annotations[op]
    if dp > 1 and gather:
        (ret,) = [o for o in function.body.block.ops if isinstance(o, func.ReturnOp)]
        for i, out in enumerate(ret.operands):
            term = letters.get(out) or "b"
            dim = term.index("b") if "b" in term else 0
            gathered = AllGatherOp(out, MESH_NAME, [DP], dim, dp)
            gathered.attributes[SHARDING_KEY] = ShardingAttr(MESH_NAME, [[] for _ in la.tensor_type(out).get_shape()])
            Rewriter.insert_op(gathered, InsertPoint.before(ret))
            gathered.result.name_hint = f"{out.name_hint or 'output'}_gathered"
            ret.operands = [*ret.operands[:i], gathered.result, *ret.operands[i + 1 :]]
    function.update_function_type()
    function.attributes[TP_KEY] = IntegerAttr(tp, i64)
    function.attributes[DP_KEY] = IntegerAttr(dp, i64)


def check_node(module: ModuleOp, tp: int, dp: int) -> None:
    """A layout must fit the node it is asked of: tp x dp GPUs at most the target's `[interconnect]` devices. (A
    lone chip has no interconnect: its collectives say so where they are priced.)"""
    from dialects.hw import module_target

    target = module_target(module)
    if target is None:
        return
    devices = int(target.interconnect_fields().get("devices", 1))
    if devices > 1 and tp * dp > devices:
        raise ShardError(
            UnknownLoc(),
            f"tp {tp} x dp {dp} needs {tp * dp} GPUs, but '{target.target_name.data}' is a node of {devices}: "
            f"choose tp x dp <= {devices}",
        )


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
        for function in functions:
            shard_function(function, self.tp, self.dp, self.gather)
        mesh = MeshOp(MESH_NAME, [(DP, self.dp), (TP, self.tp)])
        first = op.body.block.first_op
        if first is None:
            op.body.block.add_op(mesh)
        else:
            op.body.block.insert_op_before(mesh, first)
