"""`lower-attn`: stage 2, `attn` ops become `la` tensor dataflow.

MHA, GQA and MQA lower to one shape of dataflow that differs only in how
query heads map onto key/value heads (the index letters of the einsums).
MLA lowers to its *unabsorbed* form, as DeepSeek's paper writes it: the
latent and the shared RoPE key are cached, and every step re-expands per-head
keys and values from all cached latents with W_UK and W_UV. Choosing another
execution scheme is the job of `absorb`, which rewrites this form. A layer
with a KV-cache dtype of its own (`kv_dtype`) stores and loads its caches as
that type (`stored` on `la.kv_store` and `la.kv_load`).

The feed-forward kinds lower here too. An MLP is its GEMMs and elementwise
ops: gated (SwiGLU) `silu(x W_gate) * (x W_up)` then `W_down`, plain `gelu(x
W_up)` then `W_down`. A mixture of experts is a router GEMM (logits per
expert), `la.dispatch` of the tokens to the experts that receive them,
grouped expert GEMMs (one batch entry per such expert: each reads only its
own weights, `la.weight ... of EXPERTS`), `la.combine` back to the tokens,
and the shared experts as one dense MLP of their summed width beside them.
Routing is uniform: T routed tokens (batch x new tokens) send T k rows to E
experts, of which E (1 - (1 - k/E)^T) receive any, each ceil(T k / that)
rows (`moe_routing`). Group-limited routing (`expert_groups` > 1) changes
none of these counts, only the routing's kernels: `la.dispatch` carries its
`expert_groups` and `groups_per_token`.

Index letters used in the einsum specs: b batch, s new tokens, t all tokens
(cached + new), d d_model, h heads, g kv heads, r query heads per kv head,
e head dim, q q_rank, c kv_rank, n qk_nope_dim, p qk_rope_dim, v v_dim;
f an MLP's or expert's width, x every expert (the router's), a the experts
that receive tokens, m the rows each of them computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil, floor, sqrt

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, StringAttr, TensorType, i64
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from dialects import attn, la


class _DataflowBuilder:
    """Collects the `la` ops that replace one `attn` op, naming their results."""

    def __init__(self, source: attn.LayerOp):
        self.source = source
        self.ops: list[Operation] = []
        self.element_type = source.element_type
        # the caches' element type, where it differs from the layer's
        self.stored = source.kv_dtype if isinstance(source, attn.AttentionLayerOp) else None
        w = source.workload
        self.batch, self.context, self.new = w.batch.data, w.context.data, w.new_tokens.data

    def _add(self, op: Operation, name: str) -> SSAValue:
        op.location = self.source.location
        self.ops.append(op)
        result = op.results[0]
        result.name_hint = name
        return result

    def _type(self, shape: list[int]) -> TensorType[Attribute]:
        return TensorType(self.element_type, shape)

    def weight(self, name: str, shape: list[int], of: int | None = None) -> SSAValue:
        return self._add(la.WeightOp(name, self._type(shape), of), name)

    def einsum(self, spec: str, lhs: SSAValue, rhs: SSAValue, name: str) -> SSAValue:
        return self._add(la.EinsumOp(spec, lhs, rhs), name)

    def rmsnorm(self, x: SSAValue, gamma_name: str, name: str) -> SSAValue:
        gamma = self.weight(gamma_name, [la.tensor_type(x).get_shape()[-1]])
        return self._add(la.RmsNormOp(x, gamma), name)

    def add(self, lhs: SSAValue, rhs: SSAValue, name: str) -> SSAValue:
        return self._add(la.AddOp(lhs, rhs), name)

    def rope(self, x: SSAValue, name: str) -> SSAValue:
        return self._add(la.RopeOp(x, seq_dim=1, offset=self.context), name)

    def cache(self, cache: str, new_entries: SSAValue) -> SSAValue:
        """Stores the new tokens' entries; returns cached + new entries along the token axis."""
        self.ops.append(la.KvStoreOp(new_entries, cache, self.stored))
        self.ops[-1].location = self.source.location
        if self.context == 0:
            return new_entries
        shape = list(la.tensor_type(new_entries).get_shape())
        shape[1] = self.context
        cached = self._add(la.KvLoadOp(cache, self._type(shape), self.stored), f"{cache}_cached")
        return self._add(la.ConcatOp(cached, new_entries, dim=1), f"{cache}_all")

    def attention(self, scores: SSAValue, values: SSAValue, probs_spec: str, qk_dim: int) -> SSAValue:
        probs = self._add(la.SoftmaxOp(scores, 1.0 / sqrt(qk_dim), causal=self.new > 1), "probs")
        return self.einsum(probs_spec, probs, values, "attn_out")


def _lower_mla(op: attn.MlaOp) -> _DataflowBuilder:
    b = _DataflowBuilder(op)
    d, h = op.dim("d_model"), op.dim("heads")
    q_rank, c = op.dim("q_rank"), op.dim("kv_rank")
    n, p, v = op.dim("qk_nope_dim"), op.dim("qk_rope_dim"), op.dim("v_dim")
    x = op.input

    if q_rank:
        c_q = b.einsum("bsd,dq->bsq", x, b.weight("W_DQ", [d, q_rank]), "c_q")
        c_q = b.rmsnorm(c_q, "q_norm", "c_q_normed")
        q_nope = b.einsum("bsq,qhn->bshn", c_q, b.weight("W_UQ", [q_rank, h, n]), "q_nope")
        q_pe = b.einsum("bsq,qhp->bshp", c_q, b.weight("W_QR", [q_rank, h, p]), "q_pe")
    else:
        q_nope = b.einsum("bsd,dhn->bshn", x, b.weight("W_Q", [d, h, n]), "q_nope")
        q_pe = b.einsum("bsd,dhp->bshp", x, b.weight("W_QR", [d, h, p]), "q_pe")
    q_pe = b.rope(q_pe, "q_pe_rot")

    c_kv = b.einsum("bsd,dc->bsc", x, b.weight("W_DKV", [d, c]), "c_kv")
    c_kv = b.rmsnorm(c_kv, "kv_norm", "c_kv_normed")
    k_pe = b.einsum("bsd,dp->bsp", x, b.weight("W_KR", [d, p]), "k_pe")
    k_pe = b.rope(k_pe, "k_pe_rot")
    latent = b.cache("latent", c_kv)
    rope_key = b.cache("rope_key", k_pe)

    k_nope = b.einsum("btc,chn->bthn", latent, b.weight("W_UK", [c, h, n]), "k_nope")
    value = b.einsum("btc,chv->bthv", latent, b.weight("W_UV", [c, h, v]), "value")
    s_nope = b.einsum("bshn,bthn->bhst", q_nope, k_nope, "scores_nope")
    s_pe = b.einsum("bshp,btp->bhst", q_pe, rope_key, "scores_pe")
    scores = b.add(s_nope, s_pe, "scores")
    out = b.attention(scores, value, "bhst,bthv->bshv", n + p)
    b.einsum("bshv,hvd->bsd", out, b.weight("W_O", [h, v, d]), "output")
    return b


def moe_routing(tokens: int, experts: int, per_token: int) -> tuple[int, int]:
    """(experts that receive tokens, rows each computes) for `tokens` tokens routed uniformly to `per_token` of
    `experts` experts: E (1 - (1 - k/E)^T) expected experts, rounded half up (at least k, at most E), and the T k
    rows shared among them, rounded up."""
    expected = experts * (1 - (1 - per_token / experts) ** tokens)
    active = max(per_token, min(experts, floor(expected + 0.5)))
    return active, ceil(tokens * per_token / active)


def _mlp(b: _DataflowBuilder, x: SSAValue, gated: bool, shape: list[int], spec: str, prefix: str) -> SSAValue:
    """One MLP (or a group of experts, batched by a leading letter of `spec`'s terms) on `x`: `spec` is the up
    projection's einsum, its weights of `shape` (d x f, or experts x d x f); the down projection mirrors it."""
    inputs, out = spec.split("->")
    x_term, w_term = inputs.split(",")
    down_spec = f"{out},{w_term.replace('df', 'fd')}->{x_term}"
    down_shape = [*shape[:-2], shape[-1], shape[-2]]
    of = b.source.dim("experts") if len(shape) == 3 else None
    up = b.einsum(spec, x, b.weight(f"W_up{prefix}", shape, of), f"up{prefix}")
    if gated:
        gate = b.einsum(spec, x, b.weight(f"W_gate{prefix}", shape, of), f"gate{prefix}")
        act = b._add(la.SiluOp(gate), f"gate{prefix}_act")
        hidden = b._add(la.MulOp(act, up), f"hidden{prefix}")
    else:
        hidden = b._add(la.GeluOp(up), f"hidden{prefix}")
    return b.einsum(down_spec, hidden, b.weight(f"W_down{prefix}", down_shape, of), f"down{prefix}")


def _lower_mlp(op: attn.MlpOp) -> _DataflowBuilder:
    b = _DataflowBuilder(op)
    d, f = op.dim("d_model"), op.dim("width")
    _mlp(b, op.input, op.gated is not None, [d, f], "bsd,df->bsf", "")
    return b


def _lower_moe(op: attn.MoeOp) -> _DataflowBuilder:
    b = _DataflowBuilder(op)
    d, experts, k = op.dim("d_model"), op.dim("experts"), op.dim("experts_per_token")
    width, shared, gated = op.dim("expert_width"), op.dim("shared_experts"), op.gated is not None
    x = op.input
    # every token's dense path: the shared experts as one MLP of their summed width
    shared_out = _mlp(b, x, gated, [d, shared * width], "bsd,df->bsf", "_shared") if shared else None
    logits = b.einsum("bsd,dx->bsx", x, b.weight("W_router", [d, experts]), "router_logits")
    active, rows = moe_routing(b.batch * b.new, experts, k)
    routed = b._add(la.DispatchOp(x, logits, active, rows, op.expert_groups(), op.groups_per_token()), "routed")
    expert_out = _mlp(b, routed, gated, [active, d, width], "amd,adf->amf", "_experts")
    out = b._add(la.CombineOp(expert_out, logits), "experts_out")
    if shared_out is not None:
        b.add(out, shared_out, "output")
    return b


def _lower_standard(op: attn.MhaOp | attn.GqaOp | attn.MqaOp) -> _DataflowBuilder:
    """MHA, GQA and MQA: query heads `q_idx` share key/value heads `kv_idx`."""
    b = _DataflowBuilder(op)
    d, h, e = op.dim("d_model"), op.dim("heads"), op.dim("head_dim")
    if isinstance(op, attn.GqaOp):
        g = op.dim("kv_heads")
        q_idx, q_heads, kv_idx, kv_heads = "gr", [g, h // g], "g", [g]
    elif isinstance(op, attn.MqaOp):
        q_idx, q_heads, kv_idx, kv_heads = "h", [h], "", []
    else:
        q_idx, q_heads, kv_idx, kv_heads = "h", [h], "h", [h]
    x = op.input

    q = b.einsum(f"bsd,d{q_idx}e->bs{q_idx}e", x, b.weight("W_Q", [d, *q_heads, e]), "query")
    if op.qk_norm is not None:  # Qwen3: an RMSNorm over each head's query, and each key, before RoPE
        q = b.rmsnorm(q, "q_norm", "query_normed")
    q = b.rope(q, "query_rot")
    k = b.einsum(f"bsd,d{kv_idx}e->bs{kv_idx}e", x, b.weight("W_K", [d, *kv_heads, e]), "key_new")
    if op.qk_norm is not None:
        k = b.rmsnorm(k, "k_norm", "key_normed")
    k = b.rope(k, "key_rot")
    v = b.einsum(f"bsd,d{kv_idx}e->bs{kv_idx}e", x, b.weight("W_V", [d, *kv_heads, e]), "value_new")
    keys = b.cache("key", k)
    values = b.cache("value", v)

    scores = b.einsum(f"bs{q_idx}e,bt{kv_idx}e->b{q_idx}st", q, keys, "scores")
    out = b.attention(scores, values, f"b{q_idx}st,bt{kv_idx}e->bs{q_idx}e", e)
    b.einsum(f"bs{q_idx}e,{q_idx}ed->bsd", out, b.weight("W_O", [*q_heads, e, d]), "output")
    return b


@dataclass
class LowerAttentionLayer(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: attn.LayerOp, rewriter: PatternRewriter) -> None:
        if isinstance(op, attn.MlaOp):
            built = _lower_mla(op)
        elif isinstance(op, attn.MlpOp):
            built = _lower_mlp(op)
        elif isinstance(op, attn.MoeOp):
            built = _lower_moe(op)
        else:
            assert isinstance(op, attn.MhaOp | attn.GqaOp | attn.MqaOp)
            built = _lower_standard(op)
        function = op.parent_op()
        if isinstance(function, func.FuncOp):
            # The layer's identity outlives its op: reports and later passes read it here.
            function.attributes.update(
                {"attn.layer": op.layer, "attn.kind": StringAttr(op.kind), "attn.workload": op.workload}
            )
            if op.layers is not None:
                function.attributes["attn.layers"] = op.layers
            if isinstance(op, attn.AttentionLayerOp) and op.model is not None:
                # The model's parameters count the layer's as lowered here, whatever scheme `absorb` picks later.
                weights = sum(la.numel(o.results[0]) for o in built.ops if isinstance(o, la.WeightOp))
                function.attributes["attn.model"] = op.model
                function.attributes["attn.params"] = IntegerAttr(weights, i64)
        rewriter.replace(op, built.ops, [built.ops[-1].results[0]])


@dataclass(frozen=True)
class LowerAttnPass(ModulePass):
    """Lowers every `attn` op to `la` dataflow (MLA in its unabsorbed form)."""

    name = "lower-attn"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(GreedyRewritePatternApplier([LowerAttentionLayer()])).rewrite_module(op)
