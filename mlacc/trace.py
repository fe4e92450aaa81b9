"""Schedules as Chrome/Perfetto trace events: what `mlacc compile --trace OUT.json` writes.

One process per layer x workload x scheme: the scheme the report shows first, then, for an MLA layer, every
other scheme `auto` weighed, each scheduled from time 0, so the timelines line up in ui.perfetto.dev and show
why one scheme wins (a longer weight stream, a compute-bound attention). Its tracks (threads):
- one per compute unit, or per core on a multi-core chip: each `sched.task` where it ran (a task split over
  all cores appears on every core's track, its args the whole task's);
- `interconnect (collectives)`: the collectives `shard` put between the devices of a node;
- one per memory level (per core and level on a multi-core chip): the level's transfers during each task,
  from the task's start for as long as the cost model keeps the level busy (its `Estimate.level_cycles`;
  transfers overlap compute, so the task's time is that of its bound);
and a counter per level with the bandwidth in use, summed over the tasks that run at once.

The sched IR records each task's bytes but not each level's busy time: that is recomputed here with the cost
model's own `estimate` from the tiling and placement the IR holds, on the machine (or the core) the task ran on.
Times are whole nanoseconds, so the end of one task is exactly the start of the next on the same track.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from xdsl.dialects import func
from xdsl.dialects.builtin import DictionaryAttr, ModuleOp
from xdsl.ir import Operation

from costmodel import Estimate, Machine, Placement, estimate, machine_of_module, op_spec
from costmodel import tiling_of as recorded_tiling
from dialects import la
from dialects.mem import PLACE_KEY, PlaceAttr
from dialects.mesh import CollectiveOp
from dialects.sched import TaskOp
from mlacc import __version__
from mlacc.estimates import LayerResult

ALL_CORES = "all cores"
"""The unit `schedule` gives a task split over every core of a multi-core chip (else `core N`)."""

COLLECTIVES_TRACK = "interconnect (collectives)"


@dataclass(frozen=True)
class Track:
    """A thread of the trace; `order` places it among its process's tracks (compute, collectives, memory)."""

    name: str
    order: tuple[int, int, int]


def _floats(attr: DictionaryAttr) -> dict[str, float]:
    return {k: v.value.data for k, v in attr.data.items()}  # type: ignore[attr-defined]


def _nanoseconds(cycles: float, machine: Machine) -> int:
    return round(float(cycles / machine.frequency) * 1e9)


def _task_cores(task: TaskOp, machine: Machine) -> list[int]:
    """The cores a task occupied, from the unit `schedule` wrote (a one-core chip's unit is core 0)."""
    unit = task.unit.data
    if machine.cores == 1 or unit == ALL_CORES:
        return list(range(machine.cores))
    return [int(unit.removeprefix("core "))]


def _compute_track(core: int, machine: Machine) -> Track:
    name = f"{machine.unit_name} x{machine.units} (compute)" if machine.cores == 1 else f"core {core} (compute)"
    return Track(name, (0, core, 0))


def _level_track(level: int, core: int, machine: Machine) -> Track:
    """Outermost level first: off-chip traffic is what most schedules wait on."""
    name = machine.levels[level].name
    if machine.cores > 1:
        name = f"core {core} {name}"
    return Track(f"{name} transfers", (2, len(machine.levels) - level, core))


def _task_estimate(task: TaskOp, op: Operation, machine: Machine) -> Estimate:
    """The cost model's estimate of the op a task times, on the machine or the one core it ran on."""
    assert isinstance(op, la.LaOp)
    place = op.attributes[PLACE_KEY]
    assert isinstance(place, PlaceAttr)
    placement = Placement(tuple(level.data for level in place.operands), place.result.data)
    on = machine if len(_task_cores(task, machine)) == machine.cores else machine.per_core()
    return estimate(on, op_spec(op), placement, recorded_tiling(op))


def _scheduled_tasks(function: func.FuncOp) -> Iterator[tuple[TaskOp, Operation]]:
    """Each `sched.task` with the op it times: `schedule` puts the task right after its op."""
    for task in function.body.walk():
        if isinstance(task, TaskOp):
            op = task.prev_op
            assert op is not None
            yield task, op


class _Process:
    """The events of one scheduled layer function: its tracks' slices and its levels' bandwidth counters."""

    def __init__(self, pid: int, machine: Machine):
        self.pid = pid
        self.machine = machine
        self.tracks: set[Track] = set()
        self.slices: list[tuple[Track, dict[str, Any]]] = []
        self.transfers: dict[str, list[tuple[int, int, float]]] = {}
        """Per level: (start ns, end ns, bytes per second) of each transfer slice."""

    def add_slice(
        self, track: Track, name: str, category: str, start_ns: int, end_ns: int, args: dict[str, Any]
    ) -> None:
        self.tracks.add(track)
        event = {"name": name, "cat": category, "ph": "X", "ts": start_ns / 1e3, "dur": (end_ns - start_ns) / 1e3}
        self.slices.append((track, {**event, "pid": self.pid, "args": args}))

    def add_task(self, task: TaskOp, op: Operation) -> None:
        machine = self.machine
        start_ns, end_ns = _nanoseconds(task.start.value.data, machine), _nanoseconds(task.end.value.data, machine)
        name = task.task.data
        args: dict[str, Any] = {
            "op": name,
            "kind": task.kind.data,
            "unit": task.unit.data,
            "units_used": task.units_used.value.data,
            "flops": task.flops.value.data,
            "bound": task.bound.data,
            "cycles": task.cycles,
            "bytes": _floats(task.bytes),
            "energy_pj": _floats(task.energy_pj),
        }
        if task.kernel is not None:
            args["kernel"] = task.kernel.data
        if isinstance(op, CollectiveOp):
            track = Track(COLLECTIVES_TRACK, (1, 0, 0))
            label = f"{task.kind.data} {name}"  # the value a collective produces says less than its kind
            self.add_slice(track, label, "collective", start_ns, end_ns, {**args, "devices": op.group_size()})
            return
        cores = _task_cores(task, machine)
        est = _task_estimate(task, op, machine)
        for core in cores:
            self.add_slice(_compute_track(core, machine), name, task.kind.data, start_ns, end_ns, args)
        moved = est.bytes()
        for index, level in enumerate(machine.levels):
            if not moved[level.name]:
                continue
            busy_end_ns = min(end_ns, _nanoseconds(task.start.value.data + est.level_cycles[level.name], machine))
            share = 1 / len(cores)
            transfer = {
                "op": name,
                "bytes": moved[level.name] * share,
                "read_bytes": est.read_bytes[level.name] * share,
                "write_bytes": est.write_bytes[level.name] * share,
                "busy_fraction": est.level_cycles[level.name] / task.cycles if task.cycles else 0.0,
                "bounds_task": task.bound.data == level.name,
            }
            for core in cores:
                self.add_slice(_level_track(index, core, machine), name, "transfer", start_ns, busy_end_ns, transfer)
            if busy_end_ns > start_ns:
                rate = moved[level.name] / ((busy_end_ns - start_ns) * 1e-9)
                self.transfers.setdefault(level.name, []).append((start_ns, busy_end_ns, rate))

    def events(self, name: str) -> list[dict[str, Any]]:
        """Metadata naming the process and its tracks in order, then the slices, then the counters."""
        ordered = sorted(self.tracks, key=lambda t: t.order)
        tids = {track: tid for tid, track in enumerate(ordered, start=1)}
        meta = [
            {"name": "process_name", "ph": "M", "pid": self.pid, "tid": 0, "args": {"name": name}},
            {"name": "process_sort_index", "ph": "M", "pid": self.pid, "tid": 0, "args": {"sort_index": self.pid}},
        ]
        for track, tid in tids.items():
            meta.append({"name": "thread_name", "ph": "M", "pid": self.pid, "tid": tid, "args": {"name": track.name}})
            meta.append(
                {"name": "thread_sort_index", "ph": "M", "pid": self.pid, "tid": tid, "args": {"sort_index": tid}}
            )
        slices = [{**event, "tid": tids[track]} for track, event in self.slices]
        return meta + slices + self._counters()

    def _counters(self) -> list[dict[str, Any]]:
        """Bandwidth in use per level, stepping where a transfer starts or ends."""
        events = []
        for level, transfers in self.transfers.items():
            for time_ns in sorted({t for start, end, _ in transfers for t in (start, end)}):
                in_use = sum(rate for start, end, rate in transfers if start <= time_ns < end)
                events.append(
                    {
                        "name": f"{level} bandwidth",
                        "ph": "C",
                        "ts": time_ns / 1e3,
                        "pid": self.pid,
                        "tid": 0,
                        "args": {"GB/s": in_use / 1e9},
                    }
                )
        return events


def _process_name(result: LayerResult, chosen: bool) -> str:
    what = (
        f"{result.layer} x {result.workload}: {result.scheme}"
        if result.kind == "mla"
        else f"{result.layer} ({result.kind}) x {result.workload}"
    )
    mark = " (chosen by auto)" if chosen else ""
    mesh = f", tp {result.tp} x dp {result.dp}" if result.devices > 1 else ""
    return f"{what}{mark} on {result.hardware}{mesh}"


def _runs(results: list[LayerResult]) -> Iterator[tuple[LayerResult, str]]:
    """Each result's schedule, then its alternatives' (not the chosen scheme's twin), each with its name."""
    for result in results:
        yield result, _process_name(result, bool(result.alternatives))
        for alternative in result.alternatives:
            if alternative.scheme != result.scheme:
                yield alternative, _process_name(alternative, False)


def trace_events(results: list[LayerResult]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for pid, (result, name) in enumerate(_runs(results), start=1):
        function = result.schedule
        assert function is not None, "results read from scheduled IR keep their function"
        module = function.parent_op()
        assert isinstance(module, ModuleOp)
        process = _Process(pid, machine_of_module(module))
        for task, op in _scheduled_tasks(function):
            process.add_task(task, op)
        events += process.events(name)
    return events


def format_trace(results: list[LayerResult]) -> str:
    """The Chrome trace-event JSON object (timestamps in microseconds) of every result's schedule."""
    trace = {
        "traceEvents": trace_events(results),
        "displayTimeUnit": "ns",
        "otherData": {"mlacc_version": __version__, "hardware": sorted({r.hardware for r in results})},
    }
    return json.dumps(trace, separators=(",", ":")) + "\n"
