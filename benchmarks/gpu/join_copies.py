"""Times the copies that join a two-part score's keys or queries into the one tensor torch SDPA and FlashMLA take
(issue #26): expand's keys, each head's 128 up-projected values beside the 64-wide RoPE key shared by all heads
(`torch.cat((k_nope, k_pe.expand(...)), -1)`, as production.py's steps and vLLM's MLA prefill join them), a
query's two per-head parts, and cache-kv's two stores into its 192-wide key cache (FORMS, up to 16k keys). 128
heads x 87,382 keys and more join into 2^31 elements or more, which torch writes by one elementwise copy per part
instead of its concatenation kernel. One row per (form, keys, heads): seconds
(median of CUDA-event timed calls after warm-up), bytes read + written, and the kernels torch launched (their
names from the profiler). With --window, also the board's joules per call (NVML's energy counter around that many
seconds of CUDA-graph replays after --settle seconds, as production.py's steps are read) and the idle power before
the first shape, so that the copy's power can be fit apart from the kernels beside it in a step.

    python3 benchmarks/gpu/join_copies.py --out benchmarks/results/h100_join_copies_2026-12-07.csv
    python3 benchmarks/gpu/join_copies.py --out $OUT/h100_join_copies2_2026-12-08.csv --window 0.5 --settle 0.5
"""

from __future__ import annotations

import argparse
import csv
import os
from collections.abc import Callable
from pathlib import Path

import torch
from measure import Runner
from production import median_event_seconds
from torch.profiler import ProfilerActivity, profile

CALLS = 10


def timed(fn) -> float:
    """Median seconds of CALLS event-timed calls after three to warm up (production.py's timer)."""
    for _ in range(3):
        fn()
    return median_event_seconds(fn, CALLS)


def kernels(fn) -> str:
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    names = [e.name for e in prof.events() if e.device_type.name == "CUDA" and e.device_time > 0]
    return f"{len(names)} kernels: " + " | ".join(sorted({n.split("<")[0][:60] for n in names}))


FORMS = ("key-broadcast", "query-parts", "store-part", "store-broadcast")
"""The copies timed: the two joins, and the two stores into one 192-wide per-head key cache that cache-kv's steps
make (production.py): each head's 128 up-projected values into the first 128 of its 192 columns (a strided
write), and the RoPE key shared by all heads into the last 64 (a broadcast write)."""


def copy_of(form: str, keys: int, heads: int) -> tuple[Callable[[], object], int]:
    """The copy of `form` over `keys` tokens x `heads` heads, and the bytes it reads + writes."""

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, device="cuda", dtype=torch.bfloat16)

    part = rand(keys, heads * 128).view(keys, heads, 128)
    if form == "key-broadcast":
        rope = rand(keys, 1, 64).expand(keys, heads, 64)
        return (lambda: torch.cat((part, rope), -1)), part.numel() * 2 + keys * 64 * 2 + keys * heads * 192 * 2
    if form == "query-parts":
        other = rand(keys, heads * 64).view(keys, heads, 64)
        return (lambda: torch.cat((part, other), -1)), (part.numel() + other.numel()) * 2 + keys * heads * 192 * 2
    cache = torch.empty(keys, heads, 192, device="cuda", dtype=torch.bfloat16)
    if form == "store-part":
        return (lambda: cache[:, :, :128].copy_(part)), 2 * part.numel() * 2
    rope = rand(keys, 1, 64).expand(keys, heads, 64)
    return (lambda: cache[:, :, 128:].copy_(rope)), keys * 64 * 2 + keys * heads * 64 * 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--window", type=float, help="seconds of replays per energy reading (none without it)")
    parser.add_argument("--settle", type=float, default=0.5, help="seconds of replays before an energy reading")
    args = parser.parse_args()
    device = torch.cuda.get_device_name(0)
    meter = Runner(Path(os.devnull), args.window, quick=False, settle=args.settle) if args.window else None
    if meter is not None:
        meter.measure_idle()
        print(f"idle {meter.idle_watts:.1f} W ({meter.board.identity()})", flush=True)
    with open(args.out, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["device", "form", "keys", "heads", "seconds", "bytes", "tb_per_s", "kernels", "torch",
                      "joules", "idle_watts"])  # fmt: skip
        for heads in (128, 16):
            for keys in (1024, 4096, 16384, 32768, 65536, 87382, 131072, 196608, 262144):
                if heads == 16 and keys in (87382, 196608, 262144):
                    continue
                for form in FORMS:
                    if form != "key-broadcast" and keys > 16384:
                        continue
                    fn, moved = copy_of(form, keys, heads)
                    seconds = timed(fn)
                    names = kernels(fn)
                    joules = meter.time_and_energy(fn)[1] if meter is not None else None
                    out.writerow([device, form, keys, heads, f"{seconds:.6g}", moved, f"{moved / seconds / 1e12:.3f}",
                                  names, torch.__version__, "" if joules is None else f"{joules:.6g}",
                                  "" if meter is None else f"{meter.idle_watts:.2f}"])  # fmt: skip
                    watts = "" if joules is None else f" {joules / seconds:5.0f} W"
                    print(f"{form:>13} keys {keys:>6} h{heads:<3}: {seconds * 1e6:9.1f} us "
                          f"{moved / seconds / 1e12:5.2f} TB/s{watts}  {names}", flush=True)  # fmt: skip
                    del fn
                    torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
