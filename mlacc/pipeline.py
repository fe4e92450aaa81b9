"""The compile pipeline, written once: its passes in order, the stage each one produces, and `estimate`, the one
function that turns a module and its hardware target into estimates (every command goes through it).

`mlacc compile --emit STAGE` stops after the pass that produces STAGE; `mlacc-opt -p`
takes the same pass names.

The stage tables are plain data that a command line reads to build its options
before it knows whether it will compile anything; xDSL and the passes are
imported by the functions that run them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xdsl.context import Context
    from xdsl.dialects import func
    from xdsl.dialects.builtin import ModuleOp

    from dialects.hw import TargetAttr
    from mlacc.estimates import LayerResult

STAGES: tuple[tuple[str, str], ...] = (
    ("la", "lower-attn"),
    ("absorbed", "absorb{{scheme={scheme}}}"),
    ("sharded", "shard{{tp={tp} dp={dp}{ep}}}"),
    ("tiled", "tile"),
    ("placed", "place"),
    ("sched", "schedule"),
)
"""(stage name, pass that produces it, with its options), in pipeline order; the frontend produces stage `attn`.
`shard` runs only when tp x dp > 1: on one device the pipeline (and every output) is what it was without it; its
`ep` option is written only when given."""

LOWERINGS: tuple[tuple[str, str, str], ...] = (("mlir", "absorbed", "convert-la-to-linalg"),)
"""(stage name, the stage it branches off after, pass that produces it): stages that leave mlacc's dialects for
upstream MLIR (docs/mlir.md); no pass of STAGES runs after them."""

EMIT_STAGES: tuple[str, ...] = ("attn", *(stage for stage, _ in STAGES), *(stage for stage, _, _ in LOWERINGS))

HARDWARE_STAGES: tuple[str, ...] = ("tiled", "placed", "sched")
"""Stages that need the module's `hw.target` (as does `absorbed` with scheme auto)."""

DEFAULT_SCHEME = "auto"


def pipeline_spec(
    until: str, scheme: str = DEFAULT_SCHEME, tp: int = 1, dp: int = 1, start: str = "attn", ep: int | None = None
) -> str:
    """The pass pipeline that turns stage `start` (`attn` or a later one) into stage `until`, with MLA run as
    `scheme`, over tp x dp devices (a MoE layer's experts over `ep` of them; None: over dp)."""
    for stage, after, lowering in LOWERINGS:
        if until == stage:
            return ",".join(filter(None, (pipeline_spec(after, scheme, tp, dp, start, ep), lowering)))
    names = [stage for stage, _ in STAGES]
    if until not in names:
        return ""
    first = names.index(start) + 1 if start in names else 0
    return ",".join(
        spec.format(scheme=scheme, tp=tp, dp=dp, ep=f" ep={ep}" if ep is not None else "")
        for stage, spec in STAGES[first : names.index(until) + 1]
        if stage != "sharded" or tp * dp > 1
    )


def make_context() -> Context:
    from xdsl.context import Context
    from xdsl.dialects import func
    from xdsl.dialects.builtin import Builtin

    from dialects import get_all_dialects

    ctx = Context()
    ctx.load_dialect(Builtin)
    ctx.load_dialect(func.Func)
    for name, factory in get_all_dialects().items():
        ctx.register_dialect(name, factory)
    return ctx


def compile_to(
    module: ModuleOp,
    until: str,
    scheme: str = DEFAULT_SCHEME,
    ctx: Context | None = None,
    tp: int = 1,
    dp: int = 1,
    start: str = "attn",
    verify_each: bool = True,
    ep: int | None = None,
) -> ModuleOp:
    """Runs the pipeline in place on `module`, which is at stage `start`, up to stage `until`, verifying after each
    pass (or, with `verify_each` off, once at the end: what `estimate` needs, at a fifth less time)."""
    from xdsl.passes import ModulePass, PassPipeline

    from mlacc.diagnostics import verify_module
    from passes import get_all_passes

    def check(_prev: ModulePass | None, m: ModuleOp, _next: ModulePass | None) -> None:
        verify_module(m)

    spec = pipeline_spec(until, scheme, tp, dp, start, ep)
    if spec:
        pipeline = PassPipeline.parse_spec(get_all_passes(), spec, callback=check if verify_each else None)
        pipeline.apply(ctx or make_context(), module)
    if not spec or not verify_each:
        verify_module(module)
    return module


def estimate(
    module: ModuleOp,
    scheme: str | None = None,
    tp: int = 1,
    dp: int = 1,
    layout: str = "fixed",
    memory_utilization: float | None = None,
    ep: int | None = None,
) -> list[LayerResult]:
    """Estimates of every layer function of an `attn` module on its `hw.target`: the one function every command
    (compile, compare, validate, the sweep's IR path, the benchmarks) turns a module into estimates with.

    MLA layers run as `scheme`; with `auto` as the scheme that fits and is fastest (`absorb`'s `pick_scheme`), with
    None the same, every scheme's estimate riding along as `alternatives`. Every scheme asked for is scheduled once
    per layout, on tp x dp devices (`shard`) when either is above 1; `auto` picks on one device's estimate, before
    sharding, as `absorb{scheme=auto}` does. With `layout="auto"` every layout of the target's node (tp x dp = its
    devices) that `shard` accepts for the whole file is estimated and, per layer, the fastest of those whose whole
    model (`layers = N`, else the layer) fits one GPU (the fastest when none fits) is returned, every layout's
    result in its `layouts`. Under dp each GPU runs batch / dp sequences, under tp all of them with its part of
    the heads, so one step's time is comparable across layouts: the node's tokens per step are the same.
    `memory_utilization` is the share of each GPU's memory the whole model's capacity figures count
    (mlacc/whole_model.py; None: its default). `ep` spreads MoE layers' experts over that many GPUs (None: over
    the dp GPUs; passes/shard.py)."""
    from dialects.hw import module_target

    target = module_target(module)
    assert target is not None
    lowered = compile_to(module, "la")
    one_device: dict[str, list[func.FuncOp]] = {}
    if layout == "fixed":
        return _estimate(lowered, target, scheme, tp, dp, one_device, memory_utilization, ep)
    from costmodel import Machine
    from passes.shard import ShardError

    devices = Machine.of(target).devices
    per_layout: list[list[LayerResult]] = []
    refusals: list[ShardError] = []
    for tp in (d for d in range(1, devices + 1) if devices % d == 0):
        try:
            per_layout.append(_estimate(lowered, target, scheme, tp, devices // tp, one_device, memory_utilization, ep))
        except ShardError as refusal:
            refusals.append(refusal)
    if not per_layout:
        raise refusals[-1]
    chosen = []
    for options in zip(*per_layout, strict=True):
        best = min(options, key=lambda r: (not r.model.fits, r.cycles))
        best.layouts = list(options)
        chosen.append(best)
    return chosen


def _estimate(
    lowered: ModuleOp,
    target: TargetAttr,
    scheme: str | None,
    tp: int,
    dp: int,
    one_device: dict[str, list[func.FuncOp]],
    memory_utilization: float | None = None,
    ep: int | None = None,
) -> list[LayerResult]:
    """`estimate` of the `la` module `lowered` on one layout; `one_device` keeps each scheme's one-device schedule
    that `auto` picks on, for the other layouts of the same module."""
    from xdsl.dialects import func
    from xdsl.dialects.builtin import StringAttr

    from costmodel import Machine
    from mlacc.estimates import layer_result
    from passes import SCHEMES
    from passes.absorb import pick_scheme, scheduled_totals

    mla = any(f.attributes.get("attn.kind") == StringAttr("mla") for f in lowered.ops if isinstance(f, func.FuncOp))
    choosing = scheme in (None, "auto") and mla
    # Without an MLA layer every scheme leaves the module as it is: one schedule says it all.
    schemes = SCHEMES if choosing else (scheme if scheme not in (None, "auto") else SCHEMES[0],)
    scheduled = {s: _scheduled(lowered, s, tp, dp, ep) for s in schemes}
    if choosing and not one_device:
        one_device.update(scheduled if tp * dp == 1 else {s: _scheduled(lowered, s, 1, 1) for s in SCHEMES})
    machine = Machine.of(target)
    results = []
    for i, first in enumerate(scheduled[schemes[0]]):
        if first.attributes.get("attn.kind") != StringAttr("mla"):
            results.append(layer_result(first, target, memory_utilization))
            continue
        per_scheme = {s: layer_result(functions[i], target, memory_utilization) for s, functions in scheduled.items()}
        if not choosing:
            results.append(per_scheme[schemes[0]])
            continue
        totals = {s: scheduled_totals(functions[i], machine) for s, functions in one_device.items()}
        chosen = replace(per_scheme[pick_scheme(first, totals, machine.name)])
        if scheme is None:
            chosen.alternatives = list(per_scheme.values())
        results.append(chosen)
    _time_step_ends(lowered, target, results, tp, dp, memory_utilization)
    return results


def _time_step_ends(
    lowered: ModuleOp,
    target: TargetAttr,
    results: list[LayerResult],
    tp: int,
    dp: int,
    memory_utilization: float | None,
) -> None:
    """Each result of an attention layer that heads a whole step gets the parts of the step around the layers
    (norms, embedding lookup, LM head: mlacc/whole_step.py `model_ends`), sharded, tiled, placed and scheduled as
    the layers are."""
    from xdsl.dialects import func

    from mlacc.estimates import layer_result
    from mlacc.whole_step import ends_module

    built = ends_module(lowered)
    if built is None:
        return
    module, pairs = built
    compile_to(module, "sched", tp=tp, dp=dp, start="absorbed", verify_each=False)
    scheduled = iter([f for f in module.ops if isinstance(f, func.FuncOp)])
    functions = [f for f in lowered.ops if isinstance(f, func.FuncOp)]
    for head, ends in pairs:
        parts = [layer_result(next(scheduled), target, memory_utilization) for _ in ends]
        results[functions.index(head)].step_ends = parts


def _scheduled(lowered: ModuleOp, scheme: str, tp: int, dp: int, ep: int | None = None) -> list[func.FuncOp]:
    """The layer functions of a copy of the `la` module under one concrete scheme, sharded when tp x dp > 1, then
    tiled, placed and scheduled."""
    from xdsl.dialects import func

    module = compile_to(lowered.clone(), "sched", scheme, tp=tp, dp=dp, start="la", verify_each=False, ep=ep)
    return [f for f in module.ops if isinstance(f, func.FuncOp)]
