"""Time NCCL collectives between the GPUs of one host: the data a tensor- or data-parallel attention moves.

    python3 benchmarks/gpu/collectives.py --out results.csv      (on a lent multi-GPU machine)

One process per GPU (torch.multiprocessing, NCCL backend, NVLink multicast kept off as the lending
workplace requires). For each collective (all-reduce, all-gather, reduce-scatter) and each size from
8 KiB to 512 MiB (the attention output of a decode step is batch x 7168 x 2 bytes for DeepSeek-V3,
14 KiB to 1.8 MiB; a prefill's is up to 117 MiB at 8k tokens), it checks the result against the
expected sums, then, as nccl-tests does, times 20 back-to-back calls between two CUDA events (after 5
warm-up calls and a barrier), 7 times over; the row keeps the median of the per-call time of the
slowest rank. `bytes` is the buffer each rank contributes to an all-reduce, receives from an all-gather, or
hands to a reduce-scatter (NCCL's "size"); algbw = bytes / seconds, busbw scales it as nccl-tests
does (2 (n - 1) / n for all-reduce, (n - 1) / n for the others), the figure comparable to a link's
bandwidth. Rows are written with the device, world size and date.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import statistics
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

os.environ.update(NCCL_NVLS_ENABLE="0", TORCH_SYMM_MEM_DISABLE_MULTICAST="1", NVSHMEM_DISABLE_NVLS="1")

SIZES = [8 << 10 << (2 * i) for i in range(9)]  # 8 KiB, 32 KiB, ..., 512 MiB
OPS = ("all_reduce", "all_gather", "reduce_scatter")
WARMUP, CALLS, REPEATS = 5, 20, 7


def _call(op: str, buffer: torch.Tensor, gathered: torch.Tensor, world: int) -> None:
    if op == "all_reduce":
        dist.all_reduce(buffer)
    elif op == "all_gather":
        dist.all_gather_into_tensor(gathered, buffer[: buffer.numel() // world])
    else:
        dist.reduce_scatter_tensor(buffer[: buffer.numel() // world], gathered)


def _check(op: str, rank: int, world: int, elements: int) -> float:
    """Relative error of one call on rank-dependent random data against the sum computed on this rank."""
    generator = torch.Generator(device="cuda").manual_seed(1234)
    inputs = [torch.randn(elements, device="cuda", dtype=torch.bfloat16, generator=generator) for _ in range(world)]
    part = elements // world
    if op == "all_reduce":
        out = inputs[rank].clone()
        dist.all_reduce(out)
        expected = torch.stack([x.float() for x in inputs]).sum(0)
    elif op == "all_gather":
        out = torch.full((part * world,), float("nan"), device="cuda", dtype=torch.bfloat16)
        dist.all_gather_into_tensor(out, inputs[rank][:part].contiguous())
        expected = torch.cat([x[:part].float() for x in inputs])
    else:
        out = torch.full((part,), float("nan"), device="cuda", dtype=torch.bfloat16)
        dist.reduce_scatter_tensor(out, inputs[rank].contiguous())
        expected = torch.stack([x.float() for x in inputs]).sum(0)[rank * part : (rank + 1) * part]
    error = float(torch.linalg.vector_norm(out.float() - expected) / torch.linalg.vector_norm(expected))
    return error if error == error else float("inf")


def _worker(rank: int, world: int, out: str, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29511")
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", rank=rank, world_size=world, device_id=torch.device("cuda", rank))
    rows = []
    for op in OPS:
        for size in SIZES:
            elements = size // 2  # bf16
            error = _check(op, rank, world, elements)
            buffer = torch.randn(elements, device="cuda", dtype=torch.bfloat16)
            gathered = torch.empty(elements, device="cuda", dtype=torch.bfloat16)
            for _ in range(WARMUP):
                _call(op, buffer, gathered, world)
            times = []
            for _ in range(REPEATS):
                dist.barrier()
                torch.cuda.synchronize()
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                for _ in range(CALLS):
                    _call(op, buffer, gathered, world)
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end) / 1e3 / CALLS)
            slowest = torch.tensor(times, device="cuda", dtype=torch.float64)
            dist.all_reduce(slowest, op=dist.ReduceOp.MAX)  # per repeat, the slowest rank's time
            worst_error = torch.tensor([error], device="cuda", dtype=torch.float64)
            dist.all_reduce(worst_error, op=dist.ReduceOp.MAX)
            seconds = statistics.median(slowest.tolist())
            scale = 2 * (world - 1) / world if op == "all_reduce" else (world - 1) / world
            rows.append((op, size, seconds, size / seconds, size / seconds * scale, float(worst_error.item())))
            if rank == 0:
                print(f"{op:>14} {size:>11} B: {seconds * 1e6:9.1f} us, bus {size / seconds * scale / 1e9:7.1f} GB/s, "
                      f"err {float(worst_error.item()):.1e}", flush=True)  # fmt: skip
            del buffer, gathered
    if rank == 0:
        queue.put(rows)
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    world = torch.cuda.device_count()
    if world < 2:
        raise SystemExit("error: collectives need at least 2 GPUs")
    device = torch.cuda.get_device_name(0)
    queue: mp.Queue = mp.get_context("spawn").Queue()  # type: ignore[type-arg]
    mp.spawn(_worker, args=(world, str(args.out), queue), nprocs=world, join=True)
    rows = queue.get()
    date = datetime.date.today().isoformat()
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["device", "gpus", "date", "op", "dtype", "bytes", "seconds", "algbw_bytes_per_s",
                         "busbw_bytes_per_s", "rel_error"])  # fmt: skip
        for op, size, seconds, algbw, busbw, error in rows:
            writer.writerow([device, world, date, op, "bf16", size, f"{seconds:.6g}", f"{algbw:.6g}", f"{busbw:.6g}",
                             f"{error:.3g}"])  # fmt: skip
    print(f"wrote {len(rows)} rows to {args.out}")


if __name__ == "__main__":
    main()
