"""`mlacc compile --trace`: the schedule as Chrome trace events, checked against the report it was drawn from."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from xdsl.dialects.builtin import StringAttr

from dialects.hw import attach_target
from dialects.sched import TaskOp
from mlacc import cli
from mlacc.estimates import layer_result
from mlacc.frontend import parse_dsl
from mlacc.hardware import load_hardware
from mlacc.pipeline import compile_to
from mlacc.trace import COLLECTIVES_TRACK, trace_events
from tests.conftest import ROOT

V3 = str(ROOT / "examples" / "deepseek_v3.attn")
Event = dict[str, Any]


def _compile(folder: Path, *options: str) -> tuple[list[Event], list[Event]]:
    """The JSON report's results and the trace's events of one compile."""
    report, trace = folder / "report.json", folder / "trace.json"
    argv = ["compile", V3, "--format", "json", "-q", "-o", str(report), "--trace", str(trace), *options]
    assert cli.main(argv) == 0
    return json.loads(report.read_text())["results"], json.loads(trace.read_text())["traceEvents"]


@pytest.fixture(
    scope="module", params=[("h100",), ("multicore",), ("h200x8", "--tp", "2"), ("h200x8", "--dp", "2", "--batch", "2")]
)
def compiled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    hw, *options = request.param
    results, events = _compile(tmp_path_factory.mktemp(hw), "--hw", hw, *options)
    return hw, results, events


def _names(events: list[Event], kind: str) -> dict[Any, str]:
    """pid -> process name, or (pid, tid) -> thread name."""
    return {
        (e["pid"] if kind == "process_name" else (e["pid"], e["tid"])): e["args"]["name"]
        for e in events
        if e["ph"] == "M" and e["name"] == kind
    }


def _slices(events: list[Event]) -> dict[tuple[int, int], list[Event]]:
    tracks: dict[tuple[int, int], list[Event]] = defaultdict(list)
    for e in events:
        if e["ph"] == "X":
            tracks[e["pid"], e["tid"]].append(e)
    return tracks


def _ns(microseconds: float) -> int:
    return round(microseconds * 1e3)


def _schedules(results: list[Event]) -> dict[str, Event]:
    """'layer x workload: scheme' -> that schedule's figures (the chosen scheme and every alternative)."""
    return {
        f"{r['layer']} x {r['workload']}: {alt['scheme']}": alt
        for r in results
        for alt in [r, *r.get("alternatives", [])]
    }


def _schedule_of(process: str, results: list[Event]) -> Event:
    return _schedules(results)[process.split(" on ")[0].removesuffix(" (chosen by auto)")]


def test_every_event_is_complete_and_named(compiled):
    _, _, events = compiled
    processes, threads = _names(events, "process_name"), _names(events, "thread_name")
    for e in events:
        assert e["ph"] in ("M", "X", "C")
        assert e["pid"] in processes
        if e["ph"] == "X":
            assert {"name", "ph", "ts", "dur", "pid", "tid", "args"} <= e.keys()
            assert e["ts"] >= 0 and e["dur"] >= 0
            assert (e["pid"], e["tid"]) in threads
    assert {m["args"]["sort_index"] for m in events if m["name"] == "thread_sort_index"} == {t for _, t in threads}


def test_one_process_per_scheme_with_the_reports_latency(compiled):
    _, results, events = compiled
    processes = _names(events, "process_name")
    assert sorted(_schedule_of(name, results)["scheme"] for name in processes.values()) == sorted(
        s["scheme"] for s in _schedules(results).values()
    )
    ends: dict[int, int] = defaultdict(int)
    for e in events:
        if e["ph"] == "X":
            ends[e["pid"]] = max(ends[e["pid"]], _ns(e["ts"] + e["dur"]))
    for pid, name in processes.items():
        assert ends[pid] == pytest.approx(_schedule_of(name, results)["seconds"] * 1e9, abs=1)


def test_the_ops_of_one_fused_attention_kernel_say_so(compiled):
    _, results, events = compiled
    processes, checked = _names(events, "process_name"), 0
    listed = {f"{r['layer']} x {r['workload']}: {r['scheme']}": r["ops"] for r in results}  # the reports' schemes
    for e in events:
        if e["ph"] != "X" or e["cat"] == "transfer":
            continue
        ops = listed.get(processes[e["pid"]].split(" on ")[0].removesuffix(" (chosen by auto)"))
        if ops is not None:
            fused = {op["name"] for op in ops if op["kernel"] == "flash"}
            assert {"scores_nope", "probs"} <= fused
            assert (e["args"].get("kernel") == "flash") == (e["args"]["op"] in fused)
            checked += 1
    assert checked


def test_slices_on_a_track_do_not_overlap(compiled):
    _, _, events = compiled
    for track in _slices(events).values():
        track.sort(key=lambda e: e["ts"])
        for before, after in itertools.pairwise(track):
            assert _ns(before["ts"]) + _ns(before["dur"]) <= _ns(after["ts"])


def test_transfers_sum_to_the_reports_dram_bytes_and_lie_inside_their_task(compiled):
    hw, results, events = compiled
    dram = load_hardware(hw).dram.level_name.data
    threads, processes = _names(events, "thread_name"), _names(events, "process_name")
    moved: dict[int, float] = defaultdict(float)
    tasks = {(e["pid"], e["name"], e["ts"]): e for e in events if e["ph"] == "X" and e["cat"] != "transfer"}
    for (pid, tid), track in _slices(events).items():
        for e in track:
            if e["cat"] == "transfer":
                task = tasks[pid, e["name"], e["ts"]]
                assert e["dur"] <= task["dur"] + 1e-3
                if threads[pid, tid].endswith(f"{dram} transfers"):
                    moved[pid] += e["args"]["bytes"]
    for pid, name in processes.items():
        assert moved[pid] == pytest.approx(_schedule_of(name, results)["dram_bytes"], rel=1e-9)


def test_bandwidth_counter_integrates_to_the_dram_bytes(compiled):
    hw, results, events = compiled
    dram = load_hardware(hw).dram.level_name.data
    threads = _names(events, "thread_name")
    for pid, name in _names(events, "process_name").items():
        samples = [e for e in events if e["ph"] == "C" and e["pid"] == pid and e["name"] == f"{dram} bandwidth"]
        samples.sort(key=lambda e: e["ts"])
        assert samples[-1]["args"]["GB/s"] == pytest.approx(0, abs=1e-6)  # nothing in flight after the last task
        integral = sum(
            a["args"]["GB/s"] * 1e9 * (_ns(b["ts"]) - _ns(a["ts"])) * 1e-9 for a, b in itertools.pairwise(samples)
        )
        # a transfer shorter than half a nanosecond (a KV-cache store's few bytes) has no time to draw a rate in
        instant = sum(
            e["args"]["bytes"]
            for e in events
            if e["ph"] == "X"
            and e["pid"] == pid
            and e["dur"] == 0
            and threads[pid, e["tid"]].endswith(f"{dram} transfers")
        )
        assert integral + instant == pytest.approx(_schedule_of(name, results)["dram_bytes"], rel=1e-9)


def test_collectives_are_on_the_interconnect_track(compiled):
    hw, results, events = compiled
    threads = _names(events, "thread_name")
    collectives = [e for e in events if e["ph"] == "X" and e["cat"] == "collective"]
    assert all(threads[e["pid"], e["tid"]] == COLLECTIVES_TRACK for e in collectives)
    if hw != "h200x8":
        assert not collectives
        return
    for pid in _names(events, "process_name"):
        assert any(e["pid"] == pid for e in collectives)  # every scheme's sharded layer has its collectives
    chosen = {f"{op['kind']} {op['name']}" for op in results[0]["ops"] if "interconnect" in op["bytes"]}
    assert chosen == {e["name"] for e in collectives if e["pid"] == 1}
    assert all(e["args"]["bytes"]["interconnect"] > 0 and e["args"]["devices"] == 2 for e in collectives)


def test_multicore_has_a_compute_track_per_core_and_splits_transfers_among_them(compiled):
    hw, _, events = compiled
    threads = _names(events, "thread_name")
    per_process: dict[int, list[str]] = defaultdict(list)
    for (pid, _), name in sorted(threads.items()):
        per_process[pid].append(name)
    for names in per_process.values():
        compute = [n for n in names if n.endswith("(compute)")]
        if hw == "multicore":
            assert compute == [f"core {c} (compute)" for c in range(4)]
            assert {n for n in names if n.endswith("transfers")} == {
                f"core {c} {level} transfers" for c in range(4) for level in ("sram", "dram")
            }
        else:
            assert compute == ["sm x132 (compute)"]
            assert names[-3:] == ["hbm transfers", "l2 transfers", "smem transfers"]  # outermost first


def test_trace_takes_no_emit_and_failures_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    trace = tmp_path / "trace.json"
    assert cli.main(["compile", V3, "--emit", "la", "--trace", str(trace)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert cli.main(["compile", V3, "--trace", str(tmp_path / "absent" / "trace.json")]) == 1
    assert capsys.readouterr().err.startswith("error: cannot write")
    bad = tmp_path / "bad.attn"
    bad.write_text("layer m : mha { d_model = 64 heads = 4 }\n")
    assert cli.main(["compile", str(bad), "--trace", str(trace)]) == 1
    assert not trace.exists() and list(tmp_path.iterdir()) == [bad]


def test_a_task_on_one_core_is_drawn_on_that_core_alone():
    """The quad-core preset splits every op of the bundled layers over all its cores; `schedule` may also put
    an op on one core (`unit = "core N"`), as here by hand, where it takes its whole traffic."""
    target = load_hardware("multicore")
    module = parse_dsl(
        "layer m : mha { d_model = 64 heads = 4 head_dim = 16 }\nworkload w { phase = decode context = 8 }", "m.attn"
    )
    attach_target(module, target)
    module = compile_to(module, "sched", "recompute")
    (function,) = module.ops
    task = next(op for op in function.walk() if isinstance(op, TaskOp))
    task.properties["unit"] = StringAttr("core 2")
    events = trace_events([layer_result(function, target)])  # type: ignore[arg-type]
    assert _names(events, "process_name") == {1: "m (mha) x w on multicore"}  # no MLA scheme to name
    threads = _names(events, "thread_name")
    drawn = {threads[e["pid"], e["tid"]]: e for e in events if e["ph"] == "X" and e["name"] == task.task.data}
    assert set(drawn) == {"core 2 (compute)", "core 2 sram transfers", "core 2 dram transfers"}
    assert drawn["core 2 dram transfers"]["args"]["bytes"] == task.bytes.data["dram"].value.data  # type: ignore[attr-defined]
