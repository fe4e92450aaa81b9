"""Design points per second of `mlacc sweep` (run on demand: python benchmarks/sweep_speed.py [--jobs N]).

The sweep: DeepSeek-V3's decode workload x 2 presets x every MLA scheme x a few batches and contexts,
evaluated by `mlacc.sweep.evaluate` as `mlacc sweep` runs it. A design point is one row: (preset,
batch, context, scheme); an estimate is one `estimate_module` run, which schedules every scheme of a
(preset, batch, context) at once. Today that is the IR path; this is the baseline the op-table fast
path (DESIGN.md "Speed") is measured against.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mlacc.sweep.run import run_sweep
from mlacc.sweep.space import Chip, DesignPoint, SweepInput, design_points
from passes import SCHEMES

DEEPSEEK_V3 = Path(__file__).resolve().parent.parent / "examples" / "deepseek_v3.attn"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hw", default="h100,h20", help="presets (default: h100,h20)")
    parser.add_argument("--batch", default="1,8,32")
    parser.add_argument("--context", default="4k,16k,64k")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes, as mlacc sweep --jobs")
    args = parser.parse_args()
    from mlacc.sweep.axes import parse_axis

    sweep = SweepInput(str(DEEPSEEK_V3), DEEPSEEK_V3.read_text(), SCHEMES)
    chips = [Chip(name) for name in args.hw.split(",")]
    batches = [int(b) for b in parse_axis(args.batch, "--batch", integer=True)]
    contexts = [int(c) for c in parse_axis(args.context, "--context", integer=True)]
    points: list[DesignPoint] = design_points(chips, ["decode"], None, batches, contexts, None)
    run_sweep(sweep, points[:1], quiet=True)  # imports and the preset caches, not part of a sweep's rate
    start = time.perf_counter()
    rows = run_sweep(sweep, points, jobs=args.jobs, quiet=True)
    seconds = time.perf_counter() - start
    print(
        f"IR path, DeepSeek-V3 decode x {len(chips)} presets x {len(SCHEMES)} schemes x {len(batches)} batches x "
        f"{len(contexts)} contexts, --jobs {args.jobs}:"
    )
    print(f"  {len(rows)} design points ({len(points)} estimates) in {seconds:.2f} s")
    print(f"  {len(rows) / seconds:.1f} design points/s ({len(points) / seconds:.2f} estimates/s)")


if __name__ == "__main__":
    main()
