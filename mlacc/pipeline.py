"""The compile pipeline, written once: its passes in order and the stage each one produces.

`mlacc compile --emit STAGE` stops after the pass that produces STAGE; `mlacc-opt -p`
takes the same pass names.

The stage tables are plain data that a command line reads to build its options
before it knows whether it will compile anything; xDSL and the passes are
imported by the functions that run them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xdsl.context import Context
    from xdsl.dialects.builtin import ModuleOp

STAGES: tuple[tuple[str, str], ...] = (
    ("la", "lower-attn"),
    ("absorbed", "absorb{{scheme={scheme}}}"),
    ("sharded", "shard{{tp={tp} dp={dp}}}"),
    ("tiled", "tile"),
    ("placed", "place"),
    ("sched", "schedule"),
)
"""(stage name, pass that produces it, with its options), in pipeline order; the frontend produces stage `attn`.
`shard` runs only when tp x dp > 1: on one device the pipeline (and every output) is what it was without it."""

EMIT_STAGES: tuple[str, ...] = ("attn", *(stage for stage, _ in STAGES))

HARDWARE_STAGES: tuple[str, ...] = ("tiled", "placed", "sched")
"""Stages that need the module's `hw.target` (as does `absorbed` with scheme auto)."""

DEFAULT_SCHEME = "auto"


def pipeline_spec(until: str, scheme: str = DEFAULT_SCHEME, tp: int = 1, dp: int = 1) -> str:
    """The pass pipeline that turns `attn` IR into stage `until`, with MLA run as `scheme`, over tp x dp devices."""
    names = [stage for stage, _ in STAGES]
    if until not in names:
        return ""
    return ",".join(
        spec.format(scheme=scheme, tp=tp, dp=dp)
        for stage, spec in STAGES[: names.index(until) + 1]
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
) -> ModuleOp:
    """Runs the pipeline in place on `module` up to stage `until`, verifying after each pass."""
    from xdsl.passes import ModulePass, PassPipeline

    from mlacc.diagnostics import verify_module
    from passes import get_all_passes

    def check(_prev: ModulePass | None, m: ModuleOp, _next: ModulePass | None) -> None:
        verify_module(m)

    spec = pipeline_spec(until, scheme, tp, dp)
    if spec:
        PassPipeline.parse_spec(get_all_passes(), spec, callback=check).apply(ctx or make_context(), module)
    else:
        verify_module(module)
    return module
