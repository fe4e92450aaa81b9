"""Per-kernel device times of whole attention steps, to see which op of a step the model misjudges.

    python3 benchmarks/gpu/profile_step.py --out profile.csv [--points deepseek_v3:recompute:decode:32:16384 ...]

Builds each step as benchmarks/gpu/measure.py does (its `Step`, the tuned block shapes of the fused
kernel from a short `tune`), runs it eagerly under torch.profiler (CUPTI) 10 times after warm-up and
writes one row per kernel launch of the step, in launch order, with the median device time over the
10 runs. Launch gaps are not in these times: the step's CUDA-graph time (measure.py) is the total.
Eager runs between syncs keep a chip under its power limit where back-to-back replays may not, so a
compute-heavy kernel can time faster here than in its step (a K = 512 up-projection: 709 TFLOP/s here,
566-587 replayed back to back on the kernel grid). With --graph, the step is captured in a CUDA graph as
measure.py times it, replayed back to back for half a second (the power state of its measurement), then
profiled over 10 more back-to-back replays: each kernel's time inside its step as measured, and `sm_mhz`,
the mean SM clock NVML reports over those replays.

benchmarks/results/h200_profile_2026-11-30.csv: the default points, then the rows of a second run with
--points deepseek_v3:recompute:decode:8:4096 ...:8:16384 ...:8:32768 ...:32:4096 ...:1:4096
deepseek_v3:cache-kv:decode:8:32768 ...:128:1024 mha_baseline:mha:decode:32:1024 ...:128:1024.
benchmarks/results/h200_profile_graph_2026-11-30.csv: two --graph runs, with --points
deepseek_v3:expand:decode:2:8192 ...:16:8192 ...:8:32768 ...:128:4096 deepseek_v3:reuse:decode:128:1024
mha_baseline:mha:decode:128:4096 deepseek_v3:recompute:decode:128:1024 deepseek_v3:cache-kv:decode:128:1024
deepseek_v3:expand:prefill:4:8192, then expand decode 64:2048 2:24576, cache-kv decode 16:8192 64:8192,
recompute decode 64:8192 16:24576, reuse decode 64:8192 16:24576, mha decode 16:8192 64:2048, every
scheme's prefill at 2:4096 and expand decode 16:8192 again; a third run with every scheme's prefill at 2:1024
and decode at 2:2048, expand decode 16:2048 16:24576, cache-kv decode 2:8192 and mha decode 2:24576.
benchmarks/results/h200_profile_small_2026-11-30.csv: one --graph run of short steps, with --points
deepseek_v3:expand:decode:1:1536 ...:1:768 ...:2:1024 deepseek_v3:reuse:decode:1:1536
deepseek_v3:recompute:decode:1:1536 deepseek_v3:cache-kv:decode:1:1536 ...:4:1536 mha_baseline:mha:decode:1:1536.
benchmarks/results/h200_profile_mha_2026-11-30.csv: one --graph run of large-batch decode, with --points
mha_baseline:mha:decode:64:2048 ...:112:1024 ...:96:1536 ...:1:24576 deepseek_v3:cache-kv:decode:112:1024.
benchmarks/results/h200_profile_expand_2026-11-30.csv: one --graph run of short steps that also wrote each
step's whole replay (`step_seconds`), with --points deepseek_v3:expand:decode:1:1024 ...:1:4096
deepseek_v3:reuse:decode:1:4096 deepseek_v3:expand:decode:8:1024 ...:2:2048 deepseek_v3:reuse:decode:1:1024.
benchmarks/results/h200_profile_prefill_2026-12-01.csv: one --graph run of prefill steps, with --points
deepseek_v3:recompute:prefill:2:6144 and cache-kv, expand, reuse at 2:6144, recompute and cache-kv at 2:4096,
recompute at 1:8192 (the hold-out grid's 6k prefill, which one board ran 10-13% slower than another).
benchmarks/results/h200_profile_mha_2026-12-01.csv: one --graph run of MHA decode at 8-16 x 12k and 12 and 24 x
6k (the hold-out grid's MHA 12 x 12k, which measure.py had timed 12% slow). h200_profile_order_2026-12-01.csv:
MHA decode 12 x 12k, expand and cache-kv decode 96 x 6k, then MHA 12 x 12k again: its whole replay, timed
right after capture, reads 2.40 ms first and 2.74 ms after the power-heavy steps, its kernels 2.38 ms both
times (why measure.py and this script now settle each step before timing it);
h200_profile_order_settled_2026-12-01.csv: the same order with this script settling: 2.38 ms both times.
benchmarks/step_breakdown.py reads them.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
from collections.abc import Callable
from pathlib import Path

import torch
from measure import Board, Runner, Step, capture, replay_seconds, settle_graph, tune
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


def kernels_of(step: Callable[[], object]) -> list[tuple[str, float]]:
    """(kernel name, median device seconds) per launch of one step (or any call), in launch order."""
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


SETTLE = 0.5
"""Seconds of back-to-back replays before a step's whole replay is timed, as measure.py --settle, and again
before its kernels are profiled (the runs
below up to h200_profile_order_2026-12-01.csv timed it right after capture)."""


def graph_kernels_of(step: Step, board: Board) -> tuple[list[tuple[str, float]], float, float]:
    """(kernel name, median device seconds) per launch of one step replayed back to back from a CUDA graph,
    the mean SM clock (MHz, NVML sampled every 2 ms) over the profiled replays, and the whole replay's seconds
    (launch gaps included), timed as measure.py times a step."""
    graph = capture(step)
    whole = replay_seconds(graph, settle=SETTLE)
    print(f"   the graph replays in {whole * 1e6:.1f} us", flush=True)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        graph.replay()
        torch.cuda.synchronize()
    launches = sum(1 for e in prof.events() if e.device_type.name == "CUDA" and e.device_time > 0)
    settle_graph(graph, SETTLE)
    with profile(activities=[ProfilerActivity.CUDA]) as prof, board.sm_clocks() as clocks:
        for _ in range(RUNS):
            graph.replay()
        torch.cuda.synchronize()
    events = [e for e in prof.events() if e.device_type.name == "CUDA" and e.device_time > 0]
    events.sort(key=lambda e: e.time_range.start)
    assert len(events) == launches * RUNS, f"{len(events)} kernels profiled, {launches} x {RUNS} launched"
    per_run = [events[r * launches : (r + 1) * launches] for r in range(RUNS)]
    kernels = [
        (per_run[0][i].name, statistics.median(r[i].device_time / 1e6 for r in per_run)) for i in range(launches)
    ]
    return kernels, statistics.mean(clocks) if clocks else math.nan, whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--points", nargs="*", default=POINTS, help="model:scheme:phase:batch:context")
    parser.add_argument("--graph", action="store_true", help="profile back-to-back CUDA-graph replays, not eager runs")
    args = parser.parse_args()
    run = Runner(args.out.with_suffix(".tune.csv"), 0.5, quick=False)
    tune(run)
    device = torch.cuda.get_device_name(0)
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["device", "model", "scheme", "phase", "batch", "context", "new_tokens", "launch", "kernel",
                         "seconds", "sm_mhz", "step_seconds"])  # fmt: skip
        for point in args.points:
            model, scheme, phase, batch, context = point.split(":")
            new = 1 if phase == "decode" else int(context)
            ctx = int(context) if phase == "decode" else 0
            step = Step(model, scheme, int(batch), ctx, new)
            if args.graph:
                kernels, mhz, whole = graph_kernels_of(step, run.board)
            else:
                kernels, mhz, whole = kernels_of(step), math.nan, math.nan
            total = sum(s for _, s in kernels)
            print(f"== {point}: {len(kernels)} kernels, {total * 1e6:.1f} us of device time, {mhz:.0f} MHz", flush=True)
            for i, (name, seconds) in enumerate(kernels):
                writer.writerow([device, model, scheme, phase, batch, ctx, new, i, name, f"{seconds:.6g}",
                                 "" if math.isnan(mhz) else f"{mhz:.0f}",
                                 "" if math.isnan(whole) else f"{whole:.6g}"])  # fmt: skip
                print(f"  {i:2d} {seconds * 1e6:9.1f} us  {name[:90]}", flush=True)
            del step
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
