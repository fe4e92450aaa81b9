"""Times every scheme of the bundled examples as IREE compiles them for this CPU, for `mlacc validate --hw host`:

    python benchmarks/cpu/validate.py --out benchmarks/results/host_validation_2026-12-07.csv
    mlacc validate benchmarks/results/host_validation_2026-12-07.csv --hw host --layers benchmarks/cpu/layers
    python benchmarks/cpu/validate.py --compare benchmarks/results/host_validation_2026-12-07.csv \
        benchmarks/results/host_validation_rerun_2026-12-07.csv

Each example's layer is shrunk `--shrink` times as `mlacc verify --shrink` shrinks it (every dimension divided,
head and RoPE dimensions kept even, GQA's group kept) and built in fp32, as `mlacc verify --backend iree` builds
it; the shrunk layers are written to `--layers` (benchmarks/cpu/layers/MODEL.attn), where `mlacc validate
--layers` finds them. Every scheme's step (MLA: recompute, reuse, expand, cache-kv; MHA and GQA: their one form)
at each point of the grid is lowered by convert-la-to-linalg (its tensors laid out as `--layout` says: by default
`reduction-last`, the pass's own, or `dsl` to time the DSL's layout), compiled by iree-compile for
llvm-cpu (one module a model) and timed on one core with its inputs on the device, each call's from DRAM (they
rotate over copies larger than the L3 together, `rotating_timer` in mlacc/host_timing.py): `--repeats` samples
taken round-robin over the point's schemes, the median as `seconds`, (slowest - fastest) / median as `spread`. A step is
what a serving engine calls each step: reuse reads its precomposed products, never composes them; the caches hold
random values (a step's time does not depend on them); appending its new entries is the caller's.

The grid (decode batch 1-16 x context 512-4k, prefill 1 x 128-512 new tokens) is of whole steps, which the
calibration (calibrate.py: single GEMMs, copies, dispatch chains) never timed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import TensorType, f32

from dialects.attn import WorkloadAttr
from dialects.attn_rules import Phase
from mlacc.frontend import parse_source
from mlacc.host_timing import Module, ResultFile, device_name, layer_text, read_rows, time_interleaved
from mlacc.iree_backend import Lowered, Lowering
from mlacc.verify import UNABSORBED, LayerCase, layer_cases, prepare_case, scheme_passes
from passes.convert_la_to_linalg import LAYOUTS

ROOT = Path(__file__).resolve().parents[2]
MODELS = ("deepseek_v3", "deepseek_v2_lite", "mha_baseline", "llama3_70b_gqa")
"""The bundled examples (examples/MODEL.attn) of one layer each; deepseek_v3_node.attn holds two of these layers."""

DECODE = tuple((batch, context) for batch in (1, 4, 16) for context in (512, 4096))
PREFILL = ((1, 128), (1, 512))
"""(batch, new tokens) of a prompt with nothing cached."""


def points() -> list[WorkloadAttr]:
    decode = [WorkloadAttr("decode", Phase.DECODE, b, c, 1) for b, c in DECODE]
    return decode + [WorkloadAttr("prefill", Phase.PREFILL, b, 0, n) for b, n in PREFILL]


def shrunk_case(model: str, shrink: int) -> LayerCase:
    """The example's layer, shrunk and in fp32 (its workload is replaced point by point)."""
    path = ROOT / "examples" / f"{model}.attn"
    case = layer_cases(parse_source(path.read_text(encoding="utf-8"), str(path)), 1)[0]
    return replace(case.shrunk(shrink) if shrink > 1 else case, element_type=f32)


def steps(case: LayerCase, workload: WorkloadAttr, lowering: Lowering) -> dict[str, Lowered]:
    """Each scheme's lowered step at `workload`, by the scheme name `mlacc validate` estimates (a non-MLA layer's
    kind for its one form)."""
    prepared = prepare_case(replace(case, workload=workload), scheme_passes())
    lowered = lowering.add(prepared.variants)
    if case.kind != "mla":
        return {case.kind: lowered[UNABSORBED]}
    return {label: found for label, found in lowered.items() if label != UNABSORBED}  # unabsorbed is expand


def timer(module: Module, lowered: Lowered, rng: np.random.Generator) -> Callable[[], object]:
    """Calls of the step on random fp32 inputs of its argument types (hidden states, weights, caches, products),
    rotated over copies beyond the L3 as a layer of a whole model reads them: from DRAM."""
    function = lowered.step.function
    shapes = [tuple(t.get_shape()) for t in function.function_type.inputs.data if isinstance(t, TensorType)]

    def draw() -> list[np.ndarray]:
        return [(rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32) for shape in shapes]

    return module.rotating_timer(function.sym_name.data, draw)


def measure(out: str, layers: Path, shrink: int, repeats: int, models: list[str], command: str, layout: str) -> None:
    rng = np.random.default_rng(0)
    result = ResultFile(out, device_name(), command)
    layers.mkdir(parents=True, exist_ok=True)
    for model in models:
        case = shrunk_case(model, shrink)
        (layers / f"{model}.attn").write_text(layer_text(case, model), encoding="utf-8")
        lowering = Lowering(layout)
        grid = [(w, steps(case, w, lowering)) for w in points()]
        print(f"{model}: compiling {sum(len(s) for _, s in grid)} steps ({case.describe()})", file=sys.stderr)
        module = Module(str(lowering.module))
        for workload, schemes in grid:
            timings = time_interleaved({s: timer(module, found, rng) for s, found in schemes.items()}, repeats)
            for scheme, timing in timings.items():
                result.timing(timing, grid="validation", kind="step", model=model, scheme=scheme,
                              phase=workload.phase.data.value, batch=workload.batch.data,
                              context=workload.context.data, new_tokens=workload.new_tokens.data,
                              note=f"shrunk {shrink}x, fp32 ({layers.name}/{model}.attn), layout="
                                   f"{layout}")  # fmt: skip
            print(f"  {workload.phase.data.value} b{workload.batch.data} ctx {workload.context.data} new "
                  f"{workload.new_tokens.data}: " + ", ".join(f"{s} {t.seconds * 1e3:.2f} ms +-{t.spread:.0%}"
                  for s, t in timings.items()), file=sys.stderr)  # fmt: skip
    result.close()


def compare_runs(first: str, second: str) -> str:
    """How far two runs of the grid put each step apart (|second / first - 1|: median and largest), and at how many
    points with several schemes they order the schemes alike: what a rerun on this shared machine changes."""
    runs = []
    for path in (first, second):
        rows = read_rows(path, ["step"])
        runs.append({(r["model"], r["phase"], r["batch"], r["context"], r["new_tokens"], r["scheme"]): r for r in rows})
    common = sorted(runs[0].keys() & runs[1].keys())
    if not common:
        raise SystemExit(f"error: {first} and {second} share no step")
    change = [abs(float(runs[1][k]["seconds"]) / float(runs[0][k]["seconds"]) - 1) for k in common]
    orders: dict[tuple[str, ...], list[list[str]]] = {}
    for run in runs:
        for point in {k[:-1] for k in common}:
            mine = [k for k in common if k[:-1] == point]
            orders.setdefault(point, []).append([k[-1] for k in sorted(mine, key=lambda k: float(run[k]["seconds"]))])
    ranked = [o for o in orders.values() if len(o[0]) > 1]
    return (
        f"{len(common)} steps in both runs: |second / first - 1| median {statistics.median(change):.1%}, "
        f"max {max(change):.1%}; the schemes order alike at {sum(a == b for a, b in ranked)} of {len(ranked)} points\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", metavar="CSV", help="where to write the step rows")
    parser.add_argument("--compare", nargs=2, metavar="CSV", help="instead, how far two runs' steps are apart")
    parser.add_argument("--layers", metavar="DIR", default="benchmarks/cpu/layers", help="where the shrunk layers go")
    parser.add_argument("--shrink", type=int, default=4, help="divide every dimension by this (default 4)")
    parser.add_argument("--repeats", type=int, default=7, help="timed samples per step (default 7)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"examples to time (default {','.join(MODELS)})")
    parser.add_argument("--layout", choices=LAYOUTS, default=LAYOUTS[0],
                        help="how convert-la-to-linalg lays tensors out (default %(default)s)")  # fmt: skip
    args = parser.parse_args(argv)
    if bool(args.out) == bool(args.compare):
        parser.error("give one of --out and --compare")
    if args.compare:
        sys.stdout.write(compare_runs(*args.compare))
        return 0
    models = args.models.split(",")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"unknown model {unknown[0]} (choose from {', '.join(MODELS)})")
    if args.shrink < 1 or args.repeats < 3:
        parser.error("--shrink must be at least 1 and --repeats at least 3")
    command = " ".join(["python", *sys.argv])
    measure(args.out, Path(args.layers), args.shrink, args.repeats, models, command, args.layout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
