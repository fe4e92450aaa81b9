"""How long each stage of `mlacc compile` takes per example (run on demand: python benchmarks/compile_speed.py).

Prints, per example and stage, the best of N runs in milliseconds and per `la` op, so regressions in the
passes (and the DESIGN.md budget of ~0.2-0.4 ms per op per stage) can be checked on any machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dialects.hw import attach_target
from mlacc.frontend import parse_dsl
from mlacc.hardware import load_hardware
from mlacc.pipeline import STAGES, compile_to, make_context

PASSES = tuple((stage, spec.split("{")[0]) for stage, spec in STAGES if stage != "sharded")
"""The pipeline's passes on one device (mlacc/pipeline.py), each with the stage it produces."""
EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.attn"))


def stage_times(path: Path, hardware: str, scheme: str) -> tuple[dict[str, float], int]:
    ctx = make_context()
    times: dict[str, float] = {}
    start = time.perf_counter()
    module = parse_dsl(path.read_text(), str(path))
    attach_target(module, load_hardware(hardware))
    times["parse"] = time.perf_counter() - start
    previous = "attn"
    for stage, name in PASSES:
        start = time.perf_counter()
        compile_to(module, stage, scheme, ctx, start=previous)
        times[name] = time.perf_counter() - start
        previous = stage
    ops = sum(1 for op in module.walk() if op.name.startswith("la."))
    return times, ops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hw", default="h100")
    parser.add_argument("--scheme", default="auto")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    stages = ("parse", *(name for _, name in PASSES))
    header = "  ".join(f"{s:>10}" for s in stages)
    print(f"{'example':<24} {'la ops':>6}  {header}   (ms, best of {args.repeat})")
    for path in EXAMPLES:
        best: dict[str, float] = {}
        ops = 0
        for _ in range(args.repeat):
            times, ops = stage_times(path, args.hw, args.scheme)
            best = {s: min(best.get(s, float("inf")), t) for s, t in times.items()}
        print(f"{path.name:<24} {ops:>6}  " + "  ".join(f"{best[s] * 1e3:>10.1f}" for s in stages))


if __name__ == "__main__":
    main()
