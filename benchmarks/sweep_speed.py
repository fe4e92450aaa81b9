"""How fast `mlacc sweep` runs (on demand: python benchmarks/sweep_speed.py [--jobs N] [--runs N]).

First, the sweep of issue #27 as a user runs it, process start included: `mlacc sweep examples/deepseek_v3.attn
--hw h100,h200 --batch 1..256:x2 --context 1k..128k:x2 -o FILE.parquet` (1,152 rows: both workloads, every
scheme; its large prefill points have FLOP counts past float64's exact integers), timed in `--runs` fresh
processes (target: 3 s on the 2-core CI machine).

Then design points per second:
The sweep of the issue that asked for speed: DeepSeek-V3's decode workload x 4 presets x every MLA scheme
x batch 1..128 (x2) x context 1k..128k (x2) x 8 HBM bandwidths (`--set hbm.read_bandwidth_bytes_per_cycle`),
evaluated by `mlacc.sweep.run_sweep` as `mlacc sweep` runs it. A design point is one row: (chip, batch,
context, scheme). The time counts everything a fresh process pays after its imports: checking the chips,
probing the layer's IR for its op tables, the estimates and building the rows. The IR path (one
`mlacc.pipeline.estimate` per (chip, batch, context), as `mlacc compile` runs) is timed in the same run on every
`--ir-every`th estimate, and its rate is reported beside the fast path's.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEEPSEEK_V3 = Path(__file__).resolve().parent.parent / "examples" / "deepseek_v3.attn"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hw", default="h100,h200,a100,h20", help="presets (default: h100,h200,a100,h20)")
    parser.add_argument("--batch", default="1..128:x2")
    parser.add_argument("--context", default="1k..128k:x2")
    parser.add_argument("--bandwidth", default="1000..8000:+1000", help="HBM bytes/cycle values (8 by default)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes, as mlacc sweep --jobs")
    parser.add_argument("--ir-every", type=int, default=64, help="time the IR path on every Nth estimate")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes timing issue #27's sweep")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, "-m", "mlacc", "sweep", str(DEEPSEEK_V3), "--hw", "h100,h200", "--batch",
                   "1..256:x2", "--context", "1k..128k:x2", "-o", str(Path(scratch) / "s.parquet"), "-q"]  # fmt: skip
        walls = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            walls.append(time.perf_counter() - start)
    print("mlacc sweep examples/deepseek_v3.attn --hw h100,h200 --batch 1..256:x2 --context 1k..128k:x2 -o s.parquet:")
    print(f"  {args.runs} fresh processes: best {min(walls):.2f} s, median {statistics.median(walls):.2f} s wall")

    from mlacc.sweep.axes import parse_axis
    from mlacc.sweep.evaluate import _point_rows
    from mlacc.sweep.run import run_sweep
    from mlacc.sweep.space import SweepInput, chips, design_points
    from passes import SCHEMES

    # The modules a sweep imports on its first point (mlacc imports lazily): a process pays them once,
    # whatever the sweep, so they are not part of its rate.
    for module in ("mlacc.sweep.fast_rows", "mlacc.sweep.fast", "mlacc.estimates", "mlacc.frontend", "passes.shard"):
        importlib.import_module(module)

    batches = [int(b) for b in parse_axis(args.batch, "--batch", integer=True)]
    contexts = [int(c) for c in parse_axis(args.context, "--context", integer=True)]
    bandwidths = parse_axis(args.bandwidth, "--bandwidth")
    start = time.perf_counter()
    sweep = SweepInput(str(DEEPSEEK_V3), DEEPSEEK_V3.read_text(), SCHEMES)
    targets = chips(args.hw.split(","), [("hbm.read_bandwidth_bytes_per_cycle", bandwidths)])
    points = design_points(list(targets), ["decode"], None, batches, contexts, None)
    rows = run_sweep(sweep, points, jobs=args.jobs, quiet=True)
    fast = time.perf_counter() - start
    sample = points[:: args.ir_every]
    start = time.perf_counter()
    ir_rows = [row for point in sample for row in _point_rows(sweep, point)]
    ir = time.perf_counter() - start
    print(
        f"DeepSeek-V3 decode x {len(args.hw.split(','))} presets x {len(bandwidths)} HBM bandwidths x "
        f"{len(SCHEMES)} schemes x {len(batches)} batches x {len(contexts)} contexts, --jobs {args.jobs}:"
    )
    print(f"  op tables: {len(rows)} design points in {fast:.2f} s = {len(rows) / fast:,.0f} design points/s")
    print(f"  IR path:   {len(ir_rows)} design points in {ir:.2f} s = {len(ir_rows) / ir:,.1f} design points/s")
    print(f"  ratio: {len(rows) / fast / (len(ir_rows) / ir):,.0f}x")


if __name__ == "__main__":
    main()
