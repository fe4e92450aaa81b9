"""`absorb{scheme=...}`: stage 3, the execution scheme of an MLA layer, as algebra on `la`.

The input is MLA's unabsorbed form as `lower-attn` emits it: keys and values
are up-projections of cached tokens, `einsum(cache, W_UK)` and `einsum(cache,
W_UV)`, consumed by the attention einsums. Each scheme is a small set of
function-preserving rewrites, none of which knows MLA's weight names:

- `recompute`: reassociate `A . (cache . W)` into `(A . W) . cache` wherever an
  activation meets an up-projected cache, so the up-projection folds into the
  query side (scores) and the output side (probabilities x values), and every
  head attends over the shared cache.
- `reuse`: `recompute`, then reassociate `(X . W1) . W2` into `X . (W1 . W2)`
  wherever two weights meet, composing the product once (`la.precompose`).
- `expand`: the input form (up-project every cached token every step).
- `cache-kv`: distribute each up-projection over the cache (`einsum(concat(
  cached, new), W) = concat(einsum(cached, W), einsum(new, W))`) and cache its
  result instead, and cache every key per head, as MHA does.
- `auto`: the fastest of these on the module's hardware (`hw.target`), by the
  cost model that tile, place and schedule share (ties: least energy).

Functions of other layer kinds pass through unchanged with a remark on stderr.
The chosen scheme is recorded on each function as `attn.scheme`.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from string import ascii_lowercase

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FloatAttr,
    ModuleOp,
    StringAttr,
    TensorType,
    f64,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint

from costmodel import Machine, machine_of_module
from dialects import la
from dialects.hw import TARGET_KEY, attach_target
from passes.accounting import account
from passes.place import PlacePass
from passes.remarks import remark, warning
from passes.schedule import SchedulePass
from passes.schemes import SCHEMES, Scheme
from passes.tile import TilePass


def is_constant(value: SSAValue) -> bool:
    """Weights and products of weights: known before any token arrives."""
    return isinstance(value.owner, la.WeightOp | la.PrecomposeOp)


@dataclass(frozen=True)
class CacheView:
    """A KV cache as one step sees it: the new entries it stores, and all entries it attends to."""

    store: la.KvStoreOp
    new: SSAValue
    concat: la.ConcatOp | None  # concat(kv_load, new); absent when nothing is cached yet (prefill)

    @property
    def tokens(self) -> SSAValue:
        """Entries of every token of the step: cached, then new."""
        return self.concat.result if self.concat is not None else self.new

    @staticmethod
    def of(store: la.KvStoreOp) -> CacheView:
        concat = next(
            (
                use.operation
                for use in store.value.uses
                if isinstance(use.operation, la.ConcatOp)
                and use.operation.rhs == store.value
                and isinstance(use.operation.lhs.owner, la.KvLoadOp)
                and use.operation.lhs.owner.cache == store.cache
            ),
            None,
        )
        return CacheView(store, store.value, concat)


def cache_of(value: SSAValue) -> CacheView | None:
    """The cache whose entries (cached, then new) `value` is, if any."""
    owner = value.owner
    new = owner.rhs if isinstance(owner, la.ConcatOp) and isinstance(owner.lhs.owner, la.KvLoadOp) else value
    for use in new.uses:
        if isinstance(use.operation, la.KvStoreOp) and (view := CacheView.of(use.operation)).tokens == value:
            return view
    return None


@dataclass(frozen=True)
class Chain:
    """`outer = einsum(a, inner)` with `inner = einsum(b, c)`, all indices in one namespace.

    Regrouping it as `einsum(einsum(x, y), z)` is matrix-chain reassociation:
    the same function, with a cost that depends on which pair goes first.
    """

    a: SSAValue
    b: SSAValue
    c: SSAValue
    indices: dict[SSAValue, str]
    sizes: dict[str, int]
    out: str

    @staticmethod
    def of(outer: la.ContractionOp, inner_position: int) -> Chain:
        (lhs_term, rhs_term), out = la.parse_einsum_spec(outer.spec.data)
        terms = (lhs_term, rhs_term)
        inner = outer.operands[inner_position].owner
        assert isinstance(inner, la.ContractionOp)
        (b_term, c_term), inner_out = la.parse_einsum_spec(inner.spec.data)
        # The inner result's letters become the outer's; its summed letters get fresh ones.
        rename = dict(zip(inner_out, terms[inner_position], strict=True))
        used = set(outer.spec.data)
        for letter in dict.fromkeys(b_term + c_term):
            if letter not in rename:
                fresh = letter if letter not in used else next(x for x in ascii_lowercase if x not in used)
                rename[letter] = fresh
                used.add(fresh)
        a = outer.operands[1 - inner_position]
        indices = {
            a: terms[1 - inner_position],
            inner.lhs: "".join(rename[x] for x in b_term),
            inner.rhs: "".join(rename[x] for x in c_term),
        }
        sizes = outer.index_sizes() | {rename[x]: size for x, size in inner.index_sizes().items()}
        return Chain(a, inner.lhs, inner.rhs, indices, sizes, out)

    def _rest(self, first: SSAValue, second: SSAValue) -> SSAValue:
        (rest,) = [v for v in (self.a, self.b, self.c) if v not in (first, second)]
        return rest

    def regroup(self, first: SSAValue, second: SSAValue, pair_last: bool = False) -> tuple[str, str]:
        """Specs for `einsum(einsum(first, second), rest)` (or `einsum(rest, ...)` with `pair_last`).

        The pair keeps only the indices that `rest` or the result still need.
        """
        rest = self.indices[self._rest(first, second)]
        needed = set(rest) | set(self.out)
        pair = "".join(x for x in dict.fromkeys(self.indices[first] + self.indices[second]) if x in needed)
        outer_inputs = f"{rest},{pair}" if pair_last else f"{pair},{rest}"
        return f"{self.indices[first]},{self.indices[second]}->{pair}", f"{outer_inputs}->{self.out}"

    def grouping_macs(self, first: SSAValue, second: SSAValue) -> int:
        """MACs of `einsum(einsum(first, second), rest)`: each product spans the union of its indices."""
        pair_spec, outer_spec = self.regroup(first, second)
        return sum(
            prod(self.sizes[x] for x in set(spec.replace(",", "").replace("->", "")))
            for spec in (pair_spec, outer_spec)
        )


def _named(op: Operation, name: str) -> Operation:
    op.results[0].name_hint = name
    return op


class AbsorbUpProjection(RewritePattern):
    """`A . (cache . W)` -> `(A . W) . cache` or `(A . cache) . W`, whichever is cheaper.

    Either way W leaves the cache side: no cached token is up-projected, and
    every head reads the shared cache. On the score side the cheaper pairing
    folds W into the query; on the value side it applies W to the
    probability-weighted cache, after attention.
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: la.EinsumOp, rewriter: PatternRewriter) -> None:
        for position, operand in enumerate(op.operands):
            inner = operand.owner
            other = op.operands[1 - position]
            if not (isinstance(inner, la.EinsumOp) and operand.has_one_use() and not is_constant(other)):
                continue
            cached, weight = (inner.lhs, inner.rhs) if cache_of(inner.lhs) is not None else (inner.rhs, inner.lhs)
            if cache_of(cached) is None or not is_constant(weight):
                continue
            chain = Chain.of(op, position)
            first, second = min(((other, weight), (other, cached)), key=lambda pair: chain.grouping_macs(*pair))
            pair_spec, outer_spec = chain.regroup(first, second)
            rest = weight if second is cached else cached
            name = f"{first.name_hint}_absorbed" if rest is cached else f"{op.result.name_hint}_latent"
            absorbed = _named(la.EinsumOp(pair_spec, first, second), name)
            rewriter.replace(op, [absorbed, la.EinsumOp(outer_spec, absorbed.results[0], rest)])
            rewriter.erase(inner)
            return


class PrecomposeWeights(RewritePattern):
    """`(X . W1) . W2` -> `X . (W1 . W2)`, composing the weight product once."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: la.EinsumOp, rewriter: PatternRewriter) -> None:
        for position, operand in enumerate(op.operands):
            inner = operand.owner
            w2 = op.operands[1 - position]
            if not (isinstance(inner, la.EinsumOp) and operand.has_one_use() and is_constant(w2)):
                continue
            x, w1 = (inner.lhs, inner.rhs) if is_constant(inner.rhs) else (inner.rhs, inner.lhs)
            if not is_constant(w1) or is_constant(x):
                continue
            compose_spec, outer_spec = Chain.of(op, position).regroup(w1, w2, pair_last=True)
            name = f"{_weight_name(w1)}.{_weight_name(w2)}"
            composed = _named(la.PrecomposeOp(compose_spec, w1, w2), name.replace(".", "_"))
            rewriter.replace(op, [composed, la.EinsumOp(outer_spec, x, composed.results[0])])
            rewriter.erase(inner)
            return


def _weight_name(value: SSAValue) -> str:
    owner = value.owner
    return owner.weight.data if isinstance(owner, la.WeightOp) else value.name_hint or "W"


class CacheUpProjections(RewritePattern):
    """Caches `einsum(new, W)` in place of a cache whose every reader up-projects it with a weight."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: la.KvStoreOp, rewriter: PatternRewriter) -> None:
        view = CacheView.of(op)
        readers = [u.operation for u in view.tokens.uses if u.operation is not op]
        if not readers or not all(_is_token_projection(r, view.tokens) for r in readers):
            return
        for reader in readers:
            assert isinstance(reader, la.EinsumOp)
            projected_new = _named(
                la.EinsumOp(reader.spec.data, *_swap(reader, view.tokens, view.new)), f"{reader.result.name_hint}_new"
            )
            cache = reader.result.name_hint or f"{op.cache.data}_{_weight_name(reader.operands[1])}"
            rewriter.insert(projected_new, _before(reader))
            rewriter.insert(la.KvStoreOp(projected_new.results[0], cache, op.stored), _before(reader))
            tokens = _append_to_cache(projected_new.results[0], cache, view.concat, op.stored)
            rewriter.replace(reader, tokens, [tokens[-1].results[0] if tokens else projected_new.results[0]])
        _erase_cache(view, rewriter)


class CachePerHead(RewritePattern):
    """Caches a key shared by all heads once per head, as MHA does (`cache-kv`).

    A key cache is one read by a score contraction (its token axis survives
    into the result) against a query laid out as `la` lays out activations:
    batch, tokens, then head and feature axes. Every head axis of the query
    that the key lacks is added to the cached key.
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: la.KvStoreOp, rewriter: PatternRewriter) -> None:
        view = CacheView.of(op)
        readers = [u.operation for u in view.tokens.uses if u.operation is not op]
        if len(readers) != 1 or not isinstance(reader := readers[0], la.EinsumOp):
            return
        position = reader.operands.index(view.tokens)
        other = reader.operands[1 - position]
        terms, out = la.parse_einsum_spec(reader.spec.data)
        if is_constant(other) or terms[position][1] not in out:
            return
        missing = [x for x in terms[1 - position][2:] if x in out and x not in terms[position]]
        if not missing:
            return
        sizes = reader.index_sizes()
        term, value = terms[position], view.new
        for letter in missing:  # each missing head index goes right after the token index
            term = term[:2] + letter + term[2:]
            broadcast = _named(la.BroadcastOp(value, 2, sizes[letter]), f"{view.new.name_hint}_{letter}")
            rewriter.insert(broadcast, _before(reader))
            value = broadcast.results[0]
        cache = f"{op.cache.data}_per_head"
        rewriter.insert(la.KvStoreOp(value, cache, op.stored), _before(reader))
        tokens = _append_to_cache(value, cache, view.concat, op.stored)
        rewriter.insert(tokens, _before(reader))
        all_entries = tokens[-1].results[0] if tokens else value
        new_terms = [term, terms[1]] if position == 0 else [terms[0], term]
        operands = (all_entries, other) if position == 0 else (other, all_entries)
        rewriter.replace(reader, la.EinsumOp(f"{','.join(new_terms)}->{out}", *operands))
        _erase_cache(view, rewriter)


def _is_token_projection(reader: Operation, tokens: SSAValue) -> bool:
    """An einsum of the cache's tokens with a weight that keeps the token axis."""
    if not isinstance(reader, la.EinsumOp):
        return False
    position = reader.operands.index(tokens)
    terms, out = la.parse_einsum_spec(reader.spec.data)
    return is_constant(reader.operands[1 - position]) and terms[position][1] in out


def _swap(op: la.EinsumOp, old: SSAValue, new: SSAValue) -> tuple[SSAValue, SSAValue]:
    return (new if op.lhs == old else op.lhs, new if op.rhs == old else op.rhs)


def _before(op: Operation) -> InsertPoint:
    return InsertPoint.before(op)


def _append_to_cache(
    new: SSAValue, cache: str, old_concat: la.ConcatOp | None, stored: Attribute | None
) -> list[Operation]:
    """Ops that give all entries of `cache` (cached + `new`, held as `stored`), mirroring the cache they replace."""
    if old_concat is None:
        return []
    shape = list(la.tensor_type(new).get_shape())
    shape[1] = la.tensor_type(old_concat.lhs).get_shape()[1]
    load = _named(la.KvLoadOp(cache, TensorType(la.tensor_type(new).element_type, shape), stored), f"{cache}_cached")
    concat = _named(la.ConcatOp(load.results[0], new, dim=1), f"{cache}_all")
    return [load, concat]


def _erase_cache(view: CacheView, rewriter: PatternRewriter) -> None:
    """Drops a cache whose readers now read its replacement: its store, and its load and concat."""
    rewriter.erase(view.store)
    if view.concat is not None:
        load = view.concat.lhs.owner
        assert isinstance(load, Operation) and not view.concat.result.uses
        rewriter.erase(view.concat)
        rewriter.erase(load)


_PATTERNS: dict[str, list[RewritePattern]] = {
    "recompute": [AbsorbUpProjection()],
    "reuse": [AbsorbUpProjection()],
    "expand": [],
    "cache-kv": [CacheUpProjections()],
}
_FOLLOW_UP: dict[str, list[RewritePattern]] = {"reuse": [PrecomposeWeights()], "cache-kv": [CachePerHead()]}


def rewrite(function: func.FuncOp, scheme: str) -> None:
    """Rewrites one MLA function into a concrete scheme."""
    for patterns in (_PATTERNS[scheme], _FOLLOW_UP.get(scheme, [])):
        if patterns:
            PatternRewriteWalker(GreedyRewritePatternApplier(patterns)).rewrite_region(function.body)
    function.attributes["attn.scheme"] = StringAttr(scheme)


def schedule_schemes(function: func.FuncOp, target: Attribute) -> dict[str, func.FuncOp]:
    """`function` rewritten into every scheme and scheduled by `tile`, `place` and `schedule` on `target`: what the
    report of each scheme would say, so `auto` picks on the estimates users read (mlacc/pipeline.py `estimate`
    schedules whole modules the same way and picks with `pick_scheme`)."""
    out = {}
    for scheme in SCHEMES:
        candidate = function.clone()
        rewrite(candidate, scheme)
        module = ModuleOp([candidate])
        attach_target(module, target)
        for p in (TilePass(), PlacePass(), SchedulePass()):
            p.apply(Context(), module)
        out[scheme] = candidate
    return out


def scheduled_totals(function: func.FuncOp, machine: Machine) -> tuple[float, float, bool]:
    """A scheduled function's cycles and energy (pJ), as `schedule` recorded them, and whether its resident bytes
    fit the outermost memory."""
    cycles, energy = (function.attributes[key] for key in ("sched.cycles", "sched.energy_pj"))
    assert isinstance(cycles, FloatAttr) and isinstance(energy, FloatAttr)
    fits = bool(account(function).resident_bytes <= machine.dram.capacity * machine.dram.count)
    return cycles.value.data, energy.value.data, fits


def pick_scheme(function: func.FuncOp, totals: dict[str, tuple[float, float, bool]], hardware: str) -> str:
    """Among the schemes whose resident bytes fit the outermost memory, the one with the fewest cycles (ties: least
    energy); the fastest of all when none fits (with a warning). `totals`: per scheme, `scheduled_totals`."""
    fitting = [s for s, (_, _, fits) in totals.items() if fits]
    if not fitting:
        message = f"absorb: no scheme of @{function.sym_name.data} fits {hardware}; picking the fastest"
        warning(function.location, message)
    return min(fitting or totals, key=lambda s: totals[s][:2])


@dataclass(frozen=True)
class AbsorbPass(ModulePass):
    """Rewrites every MLA function of the module into one execution scheme.

    `auto` schedules every scheme on the module's `hw.target` with tile, place
    and schedule themselves (`schedule_schemes`), keeps the fastest that fits
    (`pick_scheme`), and records every scheme's estimate on the function
    (`attn.alternatives`: scheme -> [cycles, energy in pJ]).
    """

    name = "absorb"

    scheme: Scheme = "auto"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        machine = machine_of_module(op) if self.scheme == "auto" else None
        target = op.attributes.get(TARGET_KEY)
        for function in op.ops:
            if not isinstance(function, func.FuncOp):
                continue
            kind = function.attributes.get("attn.kind")
            if kind != StringAttr("mla"):
                what = f"a {kind.data} layer" if isinstance(kind, StringAttr) else "not a lowered attention layer"
                message = f"absorb: @{function.sym_name.data} is {what}; MLA schemes do not apply, unchanged"
                remark(function.location, message)
                continue
            if machine is None:
                rewrite(function, self.scheme)
                continue
            assert target is not None
            totals = {s: scheduled_totals(f, machine) for s, f in schedule_schemes(function, target).items()}
            rewrite(function, pick_scheme(function, totals, machine.name))
            function.attributes["attn.alternatives"] = DictionaryAttr(
                {s: ArrayAttr([FloatAttr(c, f64), FloatAttr(e, f64)]) for s, (c, e, _) in totals.items()}
            )
