"""A sweep's points -> rows through op tables: grouping, the tables' probes, `auto`'s choice, and the rows.

Points are grouped by what fixes an op table (layer, phase, new tokens, whether anything is cached,
tp x dp) and by the shape of their chip (`Machine.shape`: what decides the tiling candidates and the
row's columns); a group is evaluated at once, its batches, contexts and chips' rates as arrays. A point
whose chip has several cores, whose batch dp does not divide, whose layer's IR is not parametric, or
whose integers leave int64 (as the IR's attributes cannot hold them either), is left to the IR path
(None), which also raises the errors such points deserve; so are a whole model's points (a file with
MLP/MoE layers: its step sums every layer's) and points with an `ep`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from mlacc.sweep.space import (
    Chip,
    DesignPoint,
    SweepInput,
    chip_target,
    file_module,
    has_experts,
    layout_refusals,
    whole_model,
)

if TYPE_CHECKING:
    from xdsl.dialects import func

    from mlacc.sweep.fast import TableResult
    from mlacc.sweep.optable import OpTable

Row = dict[str, Any]
TableKey = tuple[int, str, int, bool, int, int]
"""(function index in the file, phase, new tokens, whether context > 0, tp, dp)."""


def _functions(sweep: SweepInput) -> list[func.FuncOp]:
    from xdsl.dialects import func

    return [f for f in file_module(sweep.path, sweep.text).ops if isinstance(f, func.FuncOp)]


@cache
def _tables(path: str, text: str, key: TableKey) -> dict[str, OpTable] | None:
    """Per scheme (one entry, '-', for a layer MLA schemes do not apply to), the op table of `key`; None
    when the IR is not parametric or the layout is refused."""
    from xdsl.dialects import func
    from xdsl.dialects.builtin import ModuleOp, StringAttr
    from xdsl.utils.exceptions import DiagnosticException, PassFailedException

    from mlacc.frontend.irgen import override_workloads
    from mlacc.pipeline import compile_to, make_context
    from mlacc.sweep.optable import NotParametric, op_tables
    from passes.absorb import SCHEMES, AbsorbPass
    from passes.shard import ShardError, ShardPass

    index, phase, new_tokens, cached, tp, dp = key
    template = _functions(SweepInput(path, text, ()))[index]
    lowered: dict[tuple[int, int], Any] = {}

    def lower(batch: int, context: int) -> Any:
        if (batch, context) not in lowered:
            module = ModuleOp([template.clone()])
            override_workloads(module, phase, batch * dp, context, new_tokens)
            lowered[(batch, context)] = compile_to(module, "la")
        return lowered[(batch, context)]

    def build(scheme: str) -> Callable[[int, int], list[func.FuncOp]]:
        def functions(batch: int, context: int) -> list[func.FuncOp]:
            module = lower(batch, context).clone()
            ctx = make_context()
            AbsorbPass(scheme=scheme).apply(ctx, module)  # type: ignore[arg-type]
            if tp * dp > 1:
                ShardPass(tp=tp, dp=dp).apply(ctx, module)
            return [f for f in module.ops if isinstance(f, func.FuncOp)]

        return functions

    try:
        kind = next(iter(lower(3, 1001 if cached else 0).ops)).attributes["attn.kind"]
        if not (isinstance(kind, StringAttr) and kind.data == "mla"):
            return {"-": op_tables(build("expand"), cached)[0]}
        return {scheme: op_tables(build(scheme), cached)[0] for scheme in SCHEMES}
    except (NotParametric, ShardError, DiagnosticException, PassFailedException, ValueError):
        # Whatever the probes' made-up workloads run into, the IR path meets (or not) at the point's own
        # workload, and reports it there with the point's numbers.
        return None


INT64 = 2**63
"""Integers of the op-table path are int64 (those of the IR's attributes are too)."""


def _capacity(chip: Chip) -> int:
    """The chip's off-chip bytes (all its DRAM), as `LayerResult.capacity_bytes`."""
    dram = chip_target(chip).dram
    return dram.capacity_bytes.data * dram.count.data


def _spans(key: TableKey, machine: Any) -> bool:
    """Whether the chip's node has the devices the layout's collectives span (`estimate_collective`'s check)."""
    return machine.devices > 1 and key[4] * key[5] <= machine.devices


def _layers(sweep: SweepInput, point: DesignPoint) -> Iterator[tuple[TableKey, int, int]]:
    """The op-table key, batch and context of each of the file's layers under the point's workload whose layout
    the point can run."""
    from mlacc.frontend.irgen import workload_fields

    refused = layout_refusals(sweep, point)
    for i, function in enumerate(_functions(sweep)):
        workload = function.body.block.first_op.workload  # type: ignore[union-attr]
        if workload.workload_name.data == point.workload and i not in refused:
            phase, batch, context, new = workload_fields(
                workload, point.phase, point.batch, point.context, point.new_tokens
            )
            yield (i, phase.value, new, context > 0, point.tp, point.dp), batch, context


def prepare(sweep: SweepInput, points: Sequence[DesignPoint]) -> None:
    """Probes the op tables `points` need (cached in this process), e.g. before forking workers."""
    if whole_model(sweep.path, sweep.text):
        return
    for point in points:
        for key, _, _ in _layers(sweep, point):
            _tables(sweep.path, sweep.text, key)
            if point.tp * point.dp > 1:
                _tables(sweep.path, sweep.text, (*key[:4], 1, 1))


def fast_layers(sweep: SweepInput, points: Sequence[DesignPoint]) -> list[list[tuple[int, list[Row]]] | None]:
    """Each point's rows layer by layer: (the index of the layer's function in the file, its rows), the layers in
    file order (None: leave the point to the IR path)."""
    from costmodel import Machine
    from mlacc.sweep.optable import NotParametric

    machines: dict[Chip, Machine] = {}
    per_point: list[list[tuple[tuple[Any, ...], int, int]] | None] = []
    whole = whole_model(sweep.path, sweep.text)
    for point in points:
        if whole or point.ep is not None:
            per_point.append(None)
            continue
        if point.chip not in machines:
            machines[point.chip] = Machine.of(chip_target(point.chip))
        machine = machines[point.chip]
        mine: list[tuple[tuple[Any, ...], int, int]] | None = []
        for key, batch, context in _layers(sweep, point):
            if (
                machine.cores > 1
                or batch % point.dp
                or max(batch, context, _capacity(point.chip)) >= INT64
                or _tables(sweep.path, sweep.text, key) is None
            ):
                mine = None  # the IR path's Python integers hold what int64 cannot
                break
            if point.tp * point.dp > 1 and (
                _tables(sweep.path, sweep.text, (*key[:4], 1, 1)) is None or not _spans(key, machine)
            ):
                mine = None  # the IR path says why this chip cannot run the layout
                break
            mine.append(((key, machine.shape()), batch, context))
        per_point.append(mine)
    # The points of one group (all of whose layers take this path) are evaluated at once.
    jobs: dict[tuple[Any, ...], list[tuple[int, int, int]]] = {}
    where: list[list[tuple[tuple[Any, ...], int]] | None] = []
    for p, layers in enumerate(per_point):
        if layers is None:
            where.append(None)
            continue
        places: list[tuple[tuple[Any, ...], int]] = []
        for group, batch, context in layers:
            members = jobs.setdefault(group, [])
            places.append((group, len(members)))
            members.append((p, batch, context))
        where.append(places)
    done: dict[tuple[Any, ...], list[list[Row]]] = {}
    for group, members in jobs.items():
        try:
            done[group] = _group_rows(sweep, group[0], [points[p] for p, _, _ in members], members, machines)
        except NotParametric:  # an integer beyond int64: the IR path reports the point's own
            pass
    out: list[list[tuple[int, list[Row]]] | None] = []
    for at in where:
        if at is None or any(group not in done for group, _ in at):
            out.append(None)
            continue
        out.append([(group[0][0], done[group][i]) for group, i in at])
    return out


def _group_rows(
    sweep: SweepInput,
    key: TableKey,
    points: list[DesignPoint],
    members: list[tuple[int, int, Any]],
    machines: dict[Chip, Any],
) -> list[list[Row]]:
    """The rows of one group's points, each point's schemes in `passes.SCHEMES` order."""
    from costmodel.machine import stack
    from mlacc.sweep.fast import evaluate_table, max_batch
    from passes.absorb import SCHEMES
    from passes.remarks import remark, warning

    new_tokens, tp, dp = key[2], key[4], key[5]
    index: dict[Chip, int] = {}
    for point in points:
        index.setdefault(point.chip, len(index))
    chips = list(index)
    which = np.array([index[point.chip] for point in points])
    machine = stack([machines[c] for c in chips], which)
    batch = np.array([b for _, b, _ in members], dtype=np.int64)
    context = np.array([c for _, _, c in members], dtype=np.int64)
    tables = _tables(sweep.path, sweep.text, key)
    assert tables is not None
    found: dict[tuple[object, ...], tuple[np.ndarray, ...]] = {}
    results = {s: evaluate_table(t, machine, batch // dp, context, new_tokens, found) for s, t in tables.items()}
    first = next(iter(tables.values()))
    capacity = np.array([_capacity(point.chip) for point in points], dtype=np.int64)
    # auto picks on one device, before sharding: among the schemes that fit, the fewest cycles (ties: energy).
    choice = np.zeros(len(points), dtype=int)
    if "-" in tables:
        remark(
            first.location, f"absorb: @{first.function} is a {first.kind} layer; MLA schemes do not apply, unchanged"
        )
    else:
        whole = results
        if tp * dp > 1:
            unsharded = _tables(sweep.path, sweep.text, (*key[:4], 1, 1))
            assert unsharded is not None
            found = {}
            whole = {s: evaluate_table(t, machine, batch, context, new_tokens, found) for s, t in unsharded.items()}
        fits = np.stack([whole[s].resident_bytes <= capacity for s in SCHEMES])
        cycles = np.stack([whole[s].cycles for s in SCHEMES])
        energy = np.stack([whole[s].plan_energy for s in SCHEMES])
        none_fit = ~fits.any(axis=0)
        allowed = fits | none_fit
        cycles = np.where(allowed, cycles, np.inf)
        energy = np.where(allowed & (cycles == cycles.min(axis=0)), energy, np.inf)
        choice = np.argmax(energy == energy.min(axis=0), axis=0)
        for i in np.flatnonzero(none_fit):
            name = chip_target(points[i].chip).target_name.data
            warning(first.location, f"absorb: no scheme of @{first.function} fits {name}; picking the fastest")
    schemes = list(tables)
    wanted = [s for s in schemes if s == "-" or sweep.schemes == ("auto",) or s in sweep.schemes]
    columns = {s: _columns(sweep, tables[s], results[s], machine, points, batch, context, new_tokens, key,
                           capacity, max_batch) for s in wanted}  # fmt: skip
    out: list[list[Row]] = []
    for i in range(len(points)):
        rows = []
        for s in wanted:
            chosen = s == "-" or schemes.index(s) == choice[i]
            if sweep.schemes == ("auto",) and not chosen:
                continue
            row = columns[s][i]
            row["auto_choice"] = bool(chosen)
            if "ops" in row:
                row["ops"] = row.pop("ops")  # the last column, as `result_row` puts it
            rows.append(row)
        out.append(rows)
    return out


def _columns(
    sweep: SweepInput,
    table: OpTable,
    result: TableResult,
    machine: Any,
    points: list[DesignPoint],
    batch: np.ndarray,
    context: np.ndarray,
    new_tokens: int,
    key: TableKey,
    capacity: np.ndarray,
    max_batch: Callable[..., np.ndarray],
) -> list[Row]:
    """One row per point (without `auto_choice`), in `result_row`'s column order."""
    from passes.shard import kv_head_replicas

    _, phase, _, _, tp, dp = key
    frequency = np.broadcast_to(np.asarray(machine.frequency, dtype=float), batch.shape)
    seconds = result.cycles / frequency
    totals = result.totals
    layers = table.layers or 1
    biggest = max_batch(layers, result, batch // dp, capacity, table.rest, tp, dp)
    fits = result.resident_bytes <= capacity
    lists = {
        "cycles": result.cycles.tolist(),
        "seconds": seconds.tolist(),
        "energy_pj": np.broadcast_to(totals.energy_pj, batch.shape).tolist(),
        **{f"energy_{c}_pj": np.broadcast_to(pj, batch.shape).tolist() for c, pj in totals.energy.items()},
        "flops": np.broadcast_to(totals.flops, batch.shape).tolist(),
        "dram_bytes": np.broadcast_to(totals.dram_bytes, batch.shape).astype(float).tolist(),
        "kv_cache_bytes": result.kv_cache_bytes.tolist(),
        "weight_bytes": np.broadcast_to(result.weight_bytes, batch.shape).tolist(),
        "bound": [result.terms[b] for b in totals.bound.tolist()],
    }
    targets = {chip: chip_target(chip) for chip in dict.fromkeys(point.chip for point in points)}
    count = len(points)

    def same(value: Any) -> list[Any]:
        return [value] * count

    columns: dict[str, list[Any]] = {
        "layer": same(table.layer),
        "workload": [point.workload for point in points],
        "phase": same(phase),
        "batch": batch.tolist(),
        "context": context.tolist(),
        "new_tokens": same(new_tokens),
        "scheme": same(table.scheme),
        "hardware": [targets[point.chip].target_name.data for point in points],
        **lists,
        "calibrated": [targets[point.chip].is_calibrated for point in points],
        "resident_bytes": result.resident_bytes.tolist(),
        "fits": fits.tolist(),
        "max_batch": biggest.tolist(),
        "clock_hz": result.clock_hz.tolist(),
    }
    if tp * dp > 1:
        columns["tp"], columns["dp"] = same(tp), same(dp)
        if has_experts(sweep.path, sweep.text):  # as compile's: the GPUs the experts spread over (ep = dp)
            columns["ep"] = same(dp)
        columns["max_batch_node"] = (biggest * dp).tolist()
        layer = _functions(sweep)[key[0]].body.block.first_op
        replicas = kv_head_replicas(layer.dim("kv_heads") if "kv_heads" in layer.DIMS else None, tp)  # type: ignore[union-attr]
        if replicas > 1:
            columns["kv_head_replicas"] = same(replicas)
    if table.layers is not None:
        columns["layers"] = same(table.layers)
    if tp * dp == 1:
        columns["tp"], columns["dp"] = same(tp), same(dp)
    if sweep.ops:
        columns["ops"] = _op_lists(result, frequency)
    names = list(columns)
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    for row in rows:
        if not row["clock_hz"]:  # as `LayerResult.json`: only where the preset models the clock
            del row["clock_hz"]
    return rows


def _op_lists(result: TableResult, frequency: np.ndarray) -> list[list[dict[str, Any]]]:
    """Each point's `ops` (OpResult.json of every task)."""
    columns = []
    for task, energy in zip(result.tasks, result.totals.task_energy, strict=True):
        cycles = np.broadcast_to(task.cycles, frequency.shape)
        columns.append(
            (
                task,
                np.broadcast_to(task.flops, frequency.shape).tolist(),
                {level: np.broadcast_to(b, frequency.shape).tolist() for level, b in task.bytes.items()},
                cycles.tolist(),
                (cycles / frequency).tolist(),
                np.broadcast_to(energy, frequency.shape).tolist(),
                [result.terms[b] for b in np.broadcast_to(task.bound, frequency.shape).tolist()],
            )
        )
    return [
        [
            {
                "name": task.name,
                "kind": task.kind,
                "flops": flops[i],
                "bytes": {level: values[i] for level, values in moved.items()},
                "cycles": cycles[i],
                "seconds": seconds[i],
                "energy_pj": energy[i],
                "bound": bounds[i],
                "kernel": task.kernel,
                "library": task.library,
            }
            for task, flops, moved, cycles, seconds, energy, bounds in columns
        ]
        for i in range(len(frequency))
    ]
