"""What benchmarks/cpu/calibrate.py and validate.py (and their tests) share: this machine as lscpu and /sys describe
it, an IREE module compiled for it and timed with its inputs already on the device, and the CSV both write.

Timing runs on IREE's `local-sync` driver: every dispatch on the calling thread, one core. The machine has two
cores shared with other work, so a two-thread run would time the other work as much as ours; the `host` preset
models the one core a module runs on (mlacc/hardware/presets/host.toml). For the same reason a sample is the
calling thread's CPU time (`CLOCK`), not the wall clock's: with more runnable threads than cores (a load average
of 4 on 2 cores) the scheduler takes the core away from a call for as long as it runs it, and a wall clock counts
that time as the call's. The wall clock's median is kept beside it (`wall_seconds`). What the thread's CPU time
still counts is what other work does to the caches and the memory bus it shares.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlacc.iree_backend import FLAGS

if TYPE_CHECKING:
    from mlacc.verify import LayerCase

DRIVER = "local-sync"
"""IREE's synchronous CPU driver: a call returns when its dispatches are done, all run on this thread."""

ALLOCATORS = ["caching"]
"""The device keeps freed buffers for the next call, as a serving engine's allocator does. Without it every call
maps its outputs afresh and pays the kernel's page faults: a 128 MiB x + 1 took 88 ms instead of 15."""

FIELDS = (
    "device grid kind model scheme phase batch context new_tokens m n k heads "
    "seconds spread repeats wall_seconds joules bytes flops load status note"
).split()
"""benchmarks/gpu/measure.py's columns (those `mlacc validate` reads among them) less its board's (idle_watts, and
rel_error: `mlacc verify --backend iree` checks the results), with `spread` ((slowest - fastest) / median of the
repeats), `repeats`, `wall_seconds` (the median of the same samples on the wall clock) and `load` (the 1-minute
load average when the row was timed); `seconds` is the thread's CPU time (`CLOCK`); `joules` stays empty (the guest
has no energy counters)."""

CLOCK = time.thread_time
"""What a sample is timed by: the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), user and system, which
counts a call while it runs on a core and not while the scheduler gives that core to other work."""

SAMPLE_SECONDS = 0.05
"""Calls are timed in batches of at least this long, so the timer's resolution and Python's noise stay small."""

ROTATE_BYTES = 96 << 20
"""Three times this machine's 32 MiB L3 (/sys/devices/system/cpu/cpu0/cache/index3): inputs rotated over at least
this much come from DRAM. A 7 MiB weight read by a one-row GEMM streams at 13.4 GB/s when the same copy is called
back to back (from L3) and at 8.0 GB/s rotated over 14 copies."""


@dataclass(frozen=True)
class Cache:
    level: int
    kind: str
    bytes: int
    shared_by: int
    """CPUs sharing one instance."""


def caches(cpu: int = 0) -> list[Cache]:
    """The caches of CPU `cpu`, innermost first, from /sys/devices/system/cpu/cpuN/cache (what lscpu reads)."""
    out = []
    for index in sorted(Path(f"/sys/devices/system/cpu/cpu{cpu}/cache").glob("index*")):
        field = {name: (index / name).read_text().strip() for name in ("level", "type", "size", "shared_cpu_list")}
        size, units = field["size"], {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
        shared = sum(_cpu_count(part) for part in field["shared_cpu_list"].split(","))
        out.append(Cache(int(field["level"]), field["type"], int(size[:-1]) * units[size[-1]], shared))
    return out


def _cpu_count(span: str) -> int:
    first, _, last = span.partition("-")
    return int(last or first) - int(first) + 1


def cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo."""
    fields: dict[str, str] = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def memory_bytes() -> int:
    """MemTotal of /proc/meminfo."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/meminfo has no MemTotal")


def device_name() -> str:
    """The machine as rows name it: CPU model, CPUs and clock."""
    info = cpuinfo()
    return f"{info['model name']} ({os.cpu_count()} CPUs, {float(info['cpu MHz']):.0f} MHz)"


def load_average() -> float:
    return os.getloadavg()[0]


def describe_run(command: str) -> str:
    """What a result file's first note says: the machine, the date, the software and the command."""
    simd = sorted(flag for flag in cpuinfo()["flags"].split() if flag in ("avx", "avx2", "fma", "avx512f"))
    levels = ", ".join(f"L{c.level}{c.kind[0].lower()} {c.bytes >> 10} KiB/{c.shared_by} CPU" for c in caches())
    return (
        f"{device_name()}, {' '.join(simd)}; {levels}; {memory_bytes() / 1e9:.1f} GB; {platform.platform()}; "
        f"iree-base-compiler {version('iree-base-compiler')}, iree-base-runtime {version('iree-base-runtime')}, "
        f"driver {DRIVER}, {'+'.join(ALLOCATORS)} allocator, seconds on the thread's CPU clock; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}; command: {command}"
    )


class Module:
    """An MLIR module compiled by iree-compile for this CPU (mlacc.iree_backend's flags), loaded on `DRIVER` with
    `ALLOCATORS`."""

    def __init__(self, text: str):
        import iree.compiler
        import iree.runtime

        binary = iree.compiler.compile_str(text, target_backends=["llvm-cpu"], extra_args=list(FLAGS))
        assert isinstance(binary, bytes)
        allocators: Any = ALLOCATORS  # the binding's stub types the list as allocator objects; it takes their names
        device = iree.runtime.get_driver(DRIVER).create_default_device(allocators=allocators)
        self.config: Any = iree.runtime.Config(device=device)
        context = iree.runtime.SystemContext(config=self.config)
        context.add_vm_module(iree.runtime.VmModule.copy_buffer(context.instance, binary))
        self.functions: Any = context.modules.module

    def on_device(self, array: np.ndarray) -> Any:
        """`array` in a device buffer, so a timed call does not copy it in."""
        import iree.runtime

        return iree.runtime.asdevicearray(self.config.device, array)

    def timer(self, name: str, arrays: Sequence[np.ndarray]) -> Callable[[], object]:
        """A call of function `name` on `arrays`, uploaded once (a kernel meant to run from the caches)."""
        function = self.functions[name]
        args = [self.on_device(a) for a in arrays]
        return lambda: function(*args)

    def rotating_timer(self, name: str, draw: Callable[[], Sequence[np.ndarray]]) -> Callable[[], object]:
        """Calls of function `name` that cycle over enough sets of inputs drawn by `draw` (uploaded once) that
        together they exceed `ROTATE_BYTES`: each call reads its inputs from DRAM, as a layer of a whole model
        does, and not from the caches its previous call filled."""
        function = self.functions[name]
        first = list(draw())
        copies = max(1, math.ceil(ROTATE_BYTES / sum(a.nbytes for a in first)))
        sets = [[self.on_device(a) for a in arrays] for arrays in [first, *(draw() for _ in range(copies - 1))]]
        turn = itertools.cycle(sets)
        return lambda: function(*next(turn))


@dataclass(frozen=True)
class Timing:
    seconds: float
    """The median of the repeats, on `CLOCK`."""
    spread: float
    """(slowest - fastest) / median of the repeats."""
    repeats: int
    load: float
    wall: float | None = None
    """The median of the same repeats on the wall clock."""

    @staticmethod
    def of(samples: Sequence[float], wall: Sequence[float] | None = None) -> Timing:
        median = statistics.median(samples)
        walls = statistics.median(wall) if wall else None
        return Timing(median, (max(samples) - min(samples)) / median, len(samples), load_average(), walls)


def calls_per_sample(call: Callable[[], object]) -> int:
    """How many back-to-back calls make a sample of at least `SAMPLE_SECONDS` (after one warm-up call)."""
    call()
    start = CLOCK()
    call()
    return max(1, math.ceil(SAMPLE_SECONDS / max(CLOCK() - start, 1e-6)))


def sample(call: Callable[[], object], calls: int) -> tuple[float, float]:
    """Seconds per call over `calls` back-to-back calls: on `CLOCK`, and on the wall clock."""
    start, wall = CLOCK(), time.perf_counter()
    for _ in range(calls):
        call()
    return (CLOCK() - start) / calls, (time.perf_counter() - wall) / calls


def time_interleaved(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, Timing]:
    """Each call's median and spread over `repeats` samples, taken round-robin so that a change in the machine's
    load reaches every call alike."""
    batch = {key: calls_per_sample(call) for key, call in calls.items()}
    samples: dict[str, list[tuple[float, float]]] = {key: [] for key in calls}
    for _ in range(repeats):
        for key, call in calls.items():
            samples[key].append(sample(call, batch[key]))
    return {key: Timing.of([c for c, _ in values], [w for _, w in values]) for key, values in samples.items()}


class ResultFile:
    """A result CSV in `FIELDS`, flushed row by row; its first row is a `run` row whose note describes the run."""

    def __init__(self, path: str, device: str, command: str):
        self.file = open(path, "w", newline="", encoding="utf-8")
        self.writer: csv.DictWriter[str] = csv.DictWriter(self.file, FIELDS)
        self.writer.writeheader()
        self.device = device
        self.row(grid="run", kind="run", note=describe_run(command))

    def row(self, **fields: object) -> None:
        values = {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in fields.items()}
        self.writer.writerow({"device": self.device, "status": "ok", **values})
        self.file.flush()

    def timing(self, timing: Timing, **fields: object) -> None:
        wall = {"wall_seconds": timing.wall} if timing.wall is not None else {}
        self.row(seconds=timing.seconds, spread=timing.spread, repeats=timing.repeats, load=timing.load, **wall,
                 **fields)  # fmt: skip

    def close(self) -> None:
        self.file.close()


def read_rows(path: str | Path, kinds: Iterable[str]) -> list[dict[str, str]]:
    """The rows of a result CSV whose kind is one of `kinds`."""
    wanted = set(kinds)
    with open(path, newline="", encoding="utf-8") as f:
        return [row for row in csv.DictReader(f) if row["kind"] in wanted]


def layer_text(case: LayerCase, model: str) -> str:
    """A DSL file of `case`'s layer in fp32 (the dtype IREE runs on this CPU), for `mlacc validate --layers`: the
    bundled example `model` shrunk as `mlacc verify --shrink` shrinks it. Its one workload is a placeholder that
    every measured point replaces."""
    dims = "\n".join(f"  {key} = {value}" for key, value in case.dims.items())
    norm = "\n  qk_norm = 1" if case.qk_norm else ""
    return (
        f"// examples/{model}.attn shrunk {case.shrink}x as `mlacc verify --shrink {case.shrink}` shrinks it, "
        "in fp32:\n"
        "// the layer benchmarks/cpu/validate.py times on IREE (written by it; do not edit).\n"
        f"layer {case.layer} : {case.kind} {{\n{dims}{norm}\n  dtype = fp32\n}}\n\n"
        "workload decode {\n  phase = decode\n  batch = 1\n  context = 1k\n}\n"
    )
