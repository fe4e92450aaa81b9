"""`mlacc verify`: every execution scheme computes the function the unabsorbed layer computes.

For each (layer, workload) of a DSL file, on one set of random float64 inputs:
1. each scheme's KV caches are filled the way the scheme fills them, by
   running its own prefill of `context` random history tokens (sliced to the
   cache stores, so no attention is run for the history);
2. each scheme's step runs on the same new tokens over its caches;
3. every output is compared with the unabsorbed IR's output, and the
   unabsorbed IR with the paper's formulas in numpy (mlacc/reference.py),
   which attend over all tokens at once without any cache.
The difference reported is max|y - y_ref| / max|y_ref| over the output.

Full-size layers can need tens of GiB in float64; such cases are refused
unless `--shrink N` divides every dimension and token count by N (see
`LayerCase.shrunk`) or `--max-gib` raises the limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from math import prod
from typing import TYPE_CHECKING

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import LocationAttr, ModuleOp, TensorType, f32
from xdsl.ir import Attribute
from xdsl.passes import ModulePass
from xdsl.transforms.dead_code_elimination import region_dce

from dialects import la
from dialects.attn import LAYER_OPS, AttentionLayerOp, FfnLayerOp, Phase, WorkloadAttr
from mlacc.diagnostics import PlacedError, verify_module
from mlacc.frontend.irgen import layer_function
from mlacc.interp import Array, run_function
from mlacc.pipeline import compile_to, make_context
from mlacc.reference import reference_output
from passes.absorb import SCHEMES, AbsorbPass

if TYPE_CHECKING:
    from mlacc.iree_backend import Compiled, Lowered

TOLERANCE = 1e-9
"""Largest relative difference accepted: float64 rounding, with room for long reductions."""

UNABSORBED = "unabsorbed IR"
FORMULA = "paper formulas"


@dataclass(frozen=True)
class LayerCase:
    """One (layer, workload) of a DSL file, as the data needed to rebuild its IR at any size."""

    kind: str
    layer: str
    dims: dict[str, int]
    workload: WorkloadAttr
    element_type: Attribute
    location: LocationAttr
    shrink: int = 1
    qk_norm: bool = False
    """Whether the layer normalises every query and key head (`qk_norm`)."""

    @staticmethod
    def of(op: AttentionLayerOp) -> LayerCase:
        dims = {d: op.dim(d) for d in op.DIMS}
        qk_norm = op.qk_norm is not None
        return LayerCase(op.kind, op.layer.data, dims, op.workload, op.element_type, op.location, qk_norm=qk_norm)

    @property
    def name(self) -> str:
        return f"{self.layer} x {self.workload.workload_name.data}"

    def shrunk(self, factor: int) -> LayerCase:
        """Every dimension and token count divided by `factor`, rounded up.

        RoPE and head dimensions stay even, GQA keeps its group size (query
        heads per kv head), q_rank 0 stays 0 and a decode step keeps one new token.
        """

        def down(value: int, even: bool = False) -> int:
            if value == 0:
                return 0
            shrunk = -(-value // factor)
            return shrunk + (shrunk % 2 if even else 0)

        dims = {key: down(value, even=key in ("qk_rope_dim", "head_dim")) for key, value in self.dims.items()}
        if "kv_heads" in dims:
            dims["heads"] = dims["kv_heads"] * (self.dims["heads"] // self.dims["kv_heads"])
        w = self.workload
        workload = WorkloadAttr(
            w.workload_name.data, w.phase.data, down(w.batch.data), down(w.context.data), down(w.new_tokens.data)
        )
        return replace(self, dims=dims, workload=workload, shrink=self.shrink * factor)

    def describe(self) -> str:
        w = self.workload
        dims = " ".join(f"{key} {value}" for key, value in self.dims.items()) + (" qk_norm" if self.qk_norm else "")
        tokens = f"batch {w.batch.data} context {w.context.data} new_tokens {w.new_tokens.data}"
        how = "full size" if self.shrink == 1 else f"shrunk {self.shrink}x"
        return f"{how}: {dims}; {tokens}"

    def lowered(self, workload: WorkloadAttr | None = None) -> ModuleOp:
        """The layer's `la` IR for `workload` (default: its own)."""
        function = layer_function(
            LAYER_OPS[self.kind],
            self.layer,
            workload or self.workload,
            self.dims,
            self.element_type,
            self.location,
            qk_norm=self.qk_norm,
        )
        return compile_to(ModuleOp([function]), "la")

    def history(self) -> WorkloadAttr:
        """The prefill that put the cached context in the cache."""
        w = self.workload
        return WorkloadAttr("history", Phase.PREFILL, w.batch.data, 0, w.context.data)


def scheme_passes() -> dict[str, ModulePass]:
    return {scheme: AbsorbPass(scheme=scheme) for scheme in SCHEMES}


def _only_cache_stores(module: ModuleOp) -> ModuleOp:
    """Drops everything but what feeds the KV-cache stores (the history's attention is never used)."""
    function = _function(module)
    ret = function.body.block.last_op
    assert isinstance(ret, func.ReturnOp)
    ret.operands = [function.args[0]]
    region_dce(function.body)
    return module


def _function(module: ModuleOp) -> func.FuncOp:
    (function,) = module.ops
    assert isinstance(function, func.FuncOp)
    return function


def float64_bytes(module: ModuleOp) -> int:
    """What interpreting `module` keeps alive: every tensor it defines, in float64."""
    values = [r for op in module.walk() for r in op.results] + list(_function(module).args)
    return 8 * sum(prod(v.type.get_shape()) for v in values if isinstance(v.type, TensorType))


def random_weights(module: ModuleOp, rng: np.random.Generator) -> dict[str, Array]:
    """Weights of the unabsorbed layer: projections ~ N(0, 1/fan_in), norm scales ~ U(0.5, 1.5)."""
    weights: dict[str, Array] = {}
    for op in module.walk():
        if not isinstance(op, la.WeightOp):
            continue
        shape = tuple(la.tensor_type(op.result).get_shape())
        reader = next((use.operation for use in op.result.uses), None)
        if isinstance(reader, la.ContractionOp):
            terms, out = la.parse_einsum_spec(reader.spec.data)
            term = terms[list(reader.operands).index(op.result)]
            fan_in = prod(size for letter, size in zip(term, shape, strict=True) if letter not in out)
            weights[op.weight.data] = rng.standard_normal(shape) / np.sqrt(fan_in)
        else:
            weights[op.weight.data] = rng.uniform(0.5, 1.5, shape)
    return weights


def relative_difference(value: Array, reference: Array) -> float:
    scale = float(np.max(np.abs(reference)))
    return float(np.max(np.abs(value - reference))) / (scale or 1.0)


@dataclass(frozen=True)
class CaseResult:
    case: LayerCase
    differences: dict[str, float]
    """Label -> max relative difference: the formulas vs the unabsorbed IR, then each scheme vs it."""
    tolerance: float = TOLERANCE

    @property
    def ok(self) -> bool:
        return all(d <= self.tolerance for d in self.differences.values())


@dataclass(frozen=True)
class PreparedCase:
    """A case's IR, built before anything runs: the unabsorbed step and each scheme's, each with its history."""

    case: LayerCase
    variants: dict[str, tuple[ModuleOp, ModuleOp | None]]

    @property
    def float64_bytes(self) -> int:
        return max(float64_bytes(s) + (float64_bytes(h) if h else 0) for s, h in self.variants.values())

    def refuse_over(self, max_bytes: int) -> None:
        if self.float64_bytes > max_bytes:
            raise PlacedError(
                self.case.location,
                f"verifying {self.case.name} ({self.case.describe()}) needs about "
                f"{self.float64_bytes / 2**30:.1f} GiB of float64 tensors, over the {max_bytes / 2**30:g} GiB "
                "limit: pass --shrink N (divides every dimension and token count by N) or raise --max-gib",
            )


def prepare_case(case: LayerCase, passes: Mapping[str, ModulePass]) -> PreparedCase:
    """Lowers the case, and for MLA applies every scheme of `passes` to the step and to its history."""
    ctx = make_context()
    unabsorbed = case.lowered()
    context = case.workload.context.data
    variants = {UNABSORBED: (unabsorbed, _only_cache_stores(case.lowered(case.history())) if context else None)}
    if case.kind == "mla":
        for label, scheme in passes.items():
            step = unabsorbed.clone()
            scheme.apply(ctx, step)
            verify_module(step)
            history = None
            if context:
                history = case.lowered(case.history())
                scheme.apply(ctx, history)
                history = _only_cache_stores(history)
            variants[label] = (step, history)
    return PreparedCase(case, variants)


def random_inputs(prepared: PreparedCase, rng: np.random.Generator) -> tuple[dict[str, Array], Array, Array]:
    """A case's weights, the history's hidden states and the step's."""
    case = prepared.case
    unabsorbed, _ = prepared.variants[UNABSORBED]
    weights = random_weights(unabsorbed, rng)
    w = case.workload
    past = rng.standard_normal((w.batch.data, w.context.data, case.dims["d_model"]))
    new = rng.standard_normal((w.batch.data, w.new_tokens.data, case.dims["d_model"]))
    return weights, past, new


def interpret(prepared: PreparedCase, label: str, weights: Mapping[str, Array], past: Array, new: Array) -> Array:
    """One variant's output in float64 with the numpy interpreter, its caches filled by its own history."""
    step, history = prepared.variants[label]
    caches = run_function(history, _function(history), past, weights).stored if history else {}
    return run_function(step, _function(step), new, weights, caches).output


def check_case(prepared: PreparedCase, rng: np.random.Generator) -> CaseResult:
    """Runs the unabsorbed IR, the formulas and every scheme on one set of random inputs."""
    case = prepared.case
    w = case.workload
    weights, past, new = random_inputs(prepared, rng)
    outputs = {label: interpret(prepared, label, weights, past, new) for label in prepared.variants}
    reference = outputs.pop(UNABSORBED)
    formula = reference_output(case.kind, weights, case.dims, np.concatenate([past, new], axis=1), w.new_tokens.data)
    differences = {f"{FORMULA} vs {UNABSORBED}": relative_difference(reference, formula)}
    differences.update({f"{label} vs {UNABSORBED}": relative_difference(y, reference) for label, y in outputs.items()})
    return CaseResult(case, differences)


def check_case_iree(
    prepared: PreparedCase, rng: np.random.Generator, compiled: Compiled, lowered: Mapping[str, Lowered]
) -> CaseResult:
    """Runs the unabsorbed IR and every scheme compiled by IREE (float32, host CPU) on one set of random inputs,
    each against the numpy interpreter's float64 run of the unabsorbed IR."""
    from mlacc.iree_backend import TOLERANCE as IREE_TOLERANCE
    from mlacc.iree_backend import run_variant

    weights, past, new = random_inputs(prepared, rng)
    reference = interpret(prepared, UNABSORBED, weights, past, new)
    differences = {
        f"{label} on IREE vs numpy": relative_difference(
            run_variant(compiled, functions, weights, past, new), reference
        )
        for label, functions in lowered.items()
    }
    return CaseResult(prepared.case, differences, IREE_TOLERANCE)


def verify_cases(
    cases: list[LayerCase], passes: Mapping[str, ModulePass], seed: int, max_bytes: int, backend: str = "numpy"
) -> list[CaseResult]:
    """Checks every case on `backend`; refuses before running anything if one would exceed `max_bytes`.

    IREE runs float32 IR: its cases are built with that element type, whatever the file's dtype."""
    if backend == "iree":
        cases = [replace(case, element_type=f32) for case in cases]
    prepared = [prepare_case(case, passes) for case in cases]
    for p in prepared:
        p.refuse_over(max_bytes)
    rng = np.random.default_rng(seed)
    if backend != "iree":
        return [check_case(p, rng) for p in prepared]
    from mlacc.iree_backend import Compiled, Lowering

    lowering = Lowering()
    lowered = [lowering.add(p.variants) for p in prepared]
    compiled = Compiled(lowering.module)
    return [check_case_iree(p, rng, compiled, functions) for p, functions in zip(prepared, lowered, strict=True)]


def layer_cases(module: ModuleOp, shrink: int) -> list[LayerCase]:
    """The (layer, workload) cases of a frontend module, shrunk by `shrink`: its attention layers (an MLP or MoE
    layer has no scheme to check: a remark says it is skipped, and a file of nothing else is refused in one line)."""
    from passes.remarks import remark

    cases: list[LayerCase] = []
    skipped: list[FfnLayerOp] = []
    for function in module.ops:
        assert isinstance(function, func.FuncOp)
        op = function.body.block.first_op
        if isinstance(op, FfnLayerOp):
            remark(
                op.location, f"verify: layer '{op.layer.data}' is a {op.kind} layer, with no scheme to check: skipped"
            )
            skipped.append(op)
            continue
        assert isinstance(op, AttentionLayerOp)
        case = LayerCase.of(op)
        cases.append(case.shrunk(shrink) if shrink > 1 else case)
    if not cases and skipped:
        first = skipped[0]
        raise PlacedError(
            first.location, f"no attention layer to verify ('{first.layer.data}' is a {first.kind} layer)"
        )
    return cases


def format_results(results: list[CaseResult]) -> str:
    lines: list[str] = []
    for result in results:
        lines.append(f"{result.case.name} ({result.case.describe()})")
        for label, difference in result.differences.items():
            verdict = "ok" if difference <= result.tolerance else f"FAILED (> {result.tolerance:g})"
            lines.append(f"  {label:<34} max rel diff {difference:.2e}  {verdict}")
    failed = [r.case.name for r in results if not r.ok]
    checks = sum(len(r.differences) for r in results)
    if failed:
        lines.append(f"verify: FAILED for {', '.join(failed)}")
    else:
        lines.append(
            f"verify: {checks} comparisons over {len(results)} layer x workload cases, all within "
            f"{max(r.tolerance for r in results):g}"
        )
    return "\n".join(lines) + "\n"
