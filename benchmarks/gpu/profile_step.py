"""Per-kernel device times of whole attention steps, to see which op of a step the model misjudges.

    python3 benchmarks/gpu/profile_step.py --out profile.csv [--points deepseek_v3:recompute:decode:32:16384 ...]

Builds each step as benchmarks/gpu/measure.py does (its `Step`, the tuned block shapes of the fused
kernel from a short `tune`), runs it eagerly under torch.profiler (CUPTI) 10 times after warm-up and
writes one row per kernel launch of the step, in launch order, with the median device time over the
10 runs. Launch gaps are not in these times: the step's CUDA-graph time (measure.py) is the total.
Eager runs between syncs keep a chip under its power limit where back-to-back replays may not, so a
compute-heavy kernel can time faster here than in its step (a K = 512 up-projection: 709 TFLOP/s here,
566-587 replayed back to back on the kernel grid).

benchmarks/results/h200_profile_2026-11-30.csv: the default points, then the rows of a second run with
--points deepseek_v3:recompute:decode:8:4096 ...:8:16384 ...:8:32768 ...:32:4096 ...:1:4096
deepseek_v3:cache-kv:decode:8:32768 ...:128:1024 mha_baseline:mha:decode:32:1024 ...:128:1024.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path

import torch
from measure import Runner, Step, tune
from torch.profiler import ProfilerActivity, profile

POINTS = [
    "deepseek_v3:recompute:decode:1:1024",
    "deepseek_v3:recompute:decode:32:16384",
    "deepseek_v3:recompute:decode:128:4096",
    "deepseek_v3:reuse:decode:32:16384",
    "deepseek_v3:cache-kv:decode:32:1024",
    "deepseek_v3:expand:decode:32:4096",
    "deepseek_v3:recompute:prefill:1:8192",
    "deepseek_v3:expand:prefill:1:8192",
]
RUNS = 10


def kernels_of(step: Step) -> list[tuple[str, float]]:
    """(kernel name, median device seconds) per launch of one step, in launch order."""
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    per_run: list[list[tuple[str, float]]] = []
    for _ in range(RUNS):
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            step()
            torch.cuda.synchronize()
        events = [e for e in prof.events() if e.device_type.name == "CUDA" and e.device_time > 0]
        events.sort(key=lambda e: e.time_range.start)
        per_run.append([(e.name, e.device_time / 1e6) for e in events])
    launches = len(per_run[0])
    assert all(len(r) == launches for r in per_run), "the step launched a different number of kernels"
    return [(per_run[0][i][0], statistics.median(r[i][1] for r in per_run)) for i in range(launches)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--points", nargs="*", default=POINTS, help="model:scheme:phase:batch:context")
    args = parser.parse_args()
    run = Runner(args.out.with_suffix(".tune.csv"), 0.5, quick=False)
    tune(run)
    device = torch.cuda.get_device_name(0)
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["device", "model", "scheme", "phase", "batch", "context", "new_tokens", "launch", "kernel",
                         "seconds"])  # fmt: skip
        for point in args.points:
            model, scheme, phase, batch, context = point.split(":")
            new = 1 if phase == "decode" else int(context)
            ctx = int(context) if phase == "decode" else 0
            step = Step(model, scheme, int(batch), ctx, new)
            kernels = kernels_of(step)
            total = sum(s for _, s in kernels)
            print(f"== {point}: {len(kernels)} kernels, {total * 1e6:.1f} us of device time", flush=True)
            for i, (name, seconds) in enumerate(kernels):
                writer.writerow([device, model, scheme, phase, batch, ctx, new, i, name, f"{seconds:.6g}"])
                print(f"  {i:2d} {seconds * 1e6:9.1f} us  {name[:90]}", flush=True)
            del step
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
