"""Design points -> rows: the one function (`evaluate`) a sweep calls to estimate its points.

Points on one-core chips are estimated many at a time from op tables (mlacc/sweep/fast_rows.py); the
others run the IR pipeline exactly as `mlacc compile` does (one `mlacc.pipeline.estimate` per point, every scheme
scheduled so that each row can say whether `auto` picks it). Both give the same rows
(tests/mlacc/sweep/test_sweep_fast.py).

A row is one (point, layer, scheme): the scalar fields of `mlacc compile --format json`'s result, in
its order, with `energy_breakdown_pj` flattened into `energy_<component>_pj` columns, and
`auto_choice` (whether `absorb{scheme=auto}` picks this scheme; true for a layer MLA schemes do not
apply to). With `ops`, the result's `ops` list rides along as the row's `ops` field. A file with MLP or
MoE layers is one model (mlacc/whole_step.py): its rows also say each layer's `kind`, and the rows of
an attention layer that heads the whole step carry it as `step_*` columns (`step_scope`,
`step_seconds`, ..., `step_tokens_per_second_per_gpu`, and `step_<part>_seconds` for each part), the
step with that row's scheme. Such files, and points with an `ep`, take the IR path.

`evaluate_results` gives the same estimates as `LayerResult`s (`row_result` reads a row back), for
`mlacc validate`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlacc.sweep.space import DesignPoint, SweepInput, chip_target, file_module, layout_refusals, whole_model

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp

    from mlacc.estimates import LayerResult
    from mlacc.whole_step import WholeStep

Row = dict[str, Any]


def point_module(sweep: SweepInput, point: DesignPoint) -> ModuleOp:
    """The `attn` module of one point: the file's layers under the point's workload, with its target; a layer
    whose layout is refused (`layout_refusals`) is left out."""
    from xdsl.dialects import func

    from dialects.attn import LayerOp
    from dialects.hw import attach_target
    from mlacc.frontend.irgen import override_workloads

    refused = layout_refusals(sweep, point)
    module = file_module(sweep.path, sweep.text).clone()
    for i, function in enumerate(list(module.ops)):
        assert isinstance(function, func.FuncOp)
        layer = function.body.block.first_op
        assert isinstance(layer, LayerOp)
        if layer.workload.workload_name.data != point.workload or i in refused:
            function.detach()
            function.erase()
    override_workloads(module, point.phase, point.batch, point.context, point.new_tokens)
    attach_target(module, chip_target(point.chip))
    return module


def result_row(
    result: LayerResult, auto_choice: bool, ops: bool, kind: bool = False, step: WholeStep | None = None
) -> Row:
    """A result's row; with `kind`, the layer's kind after its name (a whole model's rows); with `step`, the whole
    step the result's layer heads, as `step_*` columns."""
    row: Row = {}
    for key, value in result.json().items():
        if key == "energy_breakdown_pj":
            row.update({f"energy_{component}_pj": pj for component, pj in value.items()})
        elif key == "ops" and ops:
            continue
        elif not isinstance(value, dict | list):
            row[key] = value
        if key == "layer" and kind:
            row["kind"] = result.kind
    row.setdefault("tp", result.tp)  # compile's JSON says tp and dp only when sharded; a sweep row always does
    row.setdefault("dp", result.dp)
    if step is not None:
        row |= step_columns(step)
    row["auto_choice"] = auto_choice
    if ops:
        row["ops"] = [op.json() for op in result.ops]
    return row


def step_columns(step: WholeStep) -> Row:
    """A whole step's scalar fields as `step_*` columns, and each part's seconds (its layers together)."""
    columns: Row = {f"step_{key}": value for key, value in step.json().items() if not isinstance(value, list)}
    for part in step.parts:
        columns[f"step_{part.layer}_seconds"] = part.seconds * part.layers
    return columns


def skipped_row(sweep: SweepInput, point: DesignPoint, index: int, reason: str) -> Row:
    """The row of a layer the point's layout cannot run: its coordinates and why, in `skipped`."""
    from dialects.attn import LayerOp
    from mlacc.frontend.irgen import workload_fields

    function = list(file_module(sweep.path, sweep.text).ops)[index]
    layer = function.body.block.first_op  # type: ignore[attr-defined]
    assert isinstance(layer, LayerOp)
    phase, batch, context, new_tokens = workload_fields(
        layer.workload, point.phase, point.batch, point.context, point.new_tokens
    )
    row: Row = {"layer": layer.layer.data}
    if whole_model(sweep.path, sweep.text):
        row["kind"] = layer.kind
    row |= {
        "workload": point.workload,
        "phase": phase.value,
        "batch": batch,
        "context": context,
        "new_tokens": new_tokens,
        "hardware": chip_target(point.chip).target_name.data,
        "tp": point.tp,
        "dp": point.dp,
    }
    if point.ep is not None:
        row["ep"] = point.ep
    row["skipped"] = reason
    return row


def _point_rows(sweep: SweepInput, point: DesignPoint) -> list[tuple[int, list[Row]]]:
    """The IR path's rows of a point, layer by layer: (the index of the layer's function in the file, its rows)."""
    from xdsl.dialects import func

    from dialects.attn import LayerOp
    from mlacc.pipeline import estimate

    module = point_module(sweep, point)
    if not list(module.ops):  # every layer refused: nothing to estimate
        return []
    refused = layout_refusals(sweep, point)
    indices = [
        i
        for i, f in enumerate(file_module(sweep.path, sweep.text).ops)
        if isinstance(f, func.FuncOp)
        and isinstance(layer := f.body.block.first_op, LayerOp)
        and layer.workload.workload_name.data == point.workload
        and i not in refused
    ]
    auto_only = sweep.schemes == ("auto",)
    whole = whole_model(sweep.path, sweep.text)
    out: list[tuple[int, list[Row]]] = []
    results = estimate(module, "auto" if auto_only else None, point.tp, point.dp, ep=point.ep)
    for i, (index, result) in enumerate(zip(indices, results, strict=True)):
        rows: list[Row] = []
        if auto_only or not result.alternatives:
            rows.append(result_row(result, True, sweep.ops, whole, _step_with(results, i, result)))
        else:
            for alternative in result.alternatives:
                if alternative.scheme in sweep.schemes:
                    step = _step_with(results, i, alternative)
                    rows.append(result_row(alternative, alternative.scheme == result.scheme, sweep.ops, whole, step))
        out.append((index, rows))
    return out


def _step_with(results: list[LayerResult], index: int, result: LayerResult) -> WholeStep | None:
    """The whole step the layer at `index` heads (None where it heads none), with `result` (one of its schemes) in
    its place."""
    from dataclasses import replace

    from mlacc.whole_step import whole_steps

    if not results[index].step_ends:
        return None
    swapped = [replace(result, step_ends=r.step_ends) if i == index else r for i, r in enumerate(results)]
    return whole_steps(swapped).get(index)


def evaluate(sweep: SweepInput, points: Sequence[DesignPoint]) -> list[Row]:
    """The rows of `points`, in their order (for each point its layers in file order, each layer's schemes in
    the order of `passes.SCHEMES`): on one-core chips from op tables (mlacc/sweep/fast.py), else, or where
    a layer's IR is not parametric in batch and context, through the IR pipeline; both give the same rows. A
    layer whose layout the point cannot run is one row saying why (`skipped_row`)."""
    from mlacc.sweep.fast_rows import fast_layers

    out: list[Row] = []
    for point, layers in zip(points, fast_layers(sweep, points), strict=True):
        per_layer = dict(layers if layers is not None else _point_rows(sweep, point))
        for index, reason in layout_refusals(sweep, point).items():
            per_layer[index] = [skipped_row(sweep, point, index, reason)]
        out += [row for index in sorted(per_layer) for row in per_layer[index]]
    return out


def row_result(row: Row, kind: str, dtype: str, capacity_bytes: int, kernels: dict[str, str]) -> LayerResult:
    """The `LayerResult` a row (made with `ops`) says: `result_row` read back. A row leaves out the layer's kind
    and dtype and the chip's capacity and kernel libraries; every other field follows from its columns."""
    from mlacc.estimates import LayerResult, OpResult

    tokens = row["batch"] // row["dp"] * (row["context"] + row["new_tokens"])
    energy = {
        key.removeprefix("energy_").removesuffix("_pj"): pj
        for key, pj in row.items()
        if key.startswith("energy_") and key.endswith("_pj") and key != "energy_pj"
    }
    return LayerResult(
        layer=row["layer"],
        kind=kind,
        workload=row["workload"],
        phase=row["phase"],
        batch=row["batch"],
        context=row["context"],
        new_tokens=row["new_tokens"],
        dtype=dtype,
        scheme=row["scheme"],
        hardware=row["hardware"],
        cycles=row["cycles"],
        seconds=row["seconds"],
        energy_breakdown_pj=energy,
        flops=row["flops"],
        dram_bytes=row["dram_bytes"],
        kv_cache_bytes=row["kv_cache_bytes"],
        weight_bytes=row["weight_bytes"],
        bound=row["bound"],
        ops=[OpResult(**op) for op in row["ops"]],
        calibrated=row["calibrated"],
        resident_bytes=row["resident_bytes"],
        capacity_bytes=capacity_bytes,
        layers=row.get("layers"),
        kv_bytes_per_token=row["kv_cache_bytes"] // tokens,
        activation_bytes=row["resident_bytes"] - row["weight_bytes"] - row["kv_cache_bytes"],
        tp=row["tp"],
        dp=row["dp"],
        clock_hz=row.get("clock_hz"),
        kernels=kernels,
    )


def evaluate_results(sweep: SweepInput, points: Sequence[DesignPoint]) -> list[list[LayerResult]]:
    """Each point's results as `mlacc.pipeline.estimate(module, None, tp, dp)` gives them (an MLA layer's every
    scheme an alternative of the one `auto` picks; no `schedule`), from op tables where `evaluate` takes them,
    else through the IR pipeline. `sweep` must ask for every scheme and for ops."""
    from dataclasses import replace

    from xdsl.dialects import func

    from dialects.attn import LayerOp, dtype_name
    from mlacc.pipeline import estimate
    from mlacc.sweep.fast_rows import fast_layers
    from passes import SCHEMES

    assert sweep.schemes == SCHEMES and sweep.ops
    layer_ops = [f.body.block.first_op for f in file_module(sweep.path, sweep.text).ops if isinstance(f, func.FuncOp)]
    out: list[list[LayerResult]] = []
    for point, layers in zip(points, fast_layers(sweep, points), strict=True):
        if layers is None:
            out.append(estimate(point_module(sweep, point), None, point.tp, point.dp, ep=point.ep))
            continue
        target = chip_target(point.chip)
        dram, kernels = target.dram, target.kernel_libraries()
        capacity = dram.capacity_bytes.data * dram.count.data
        results = []
        for index, rows in layers:
            layer = layer_ops[index]
            assert isinstance(layer, LayerOp)
            each = [row_result(row, layer.kind, dtype_name(layer.element_type), capacity, kernels) for row in rows]
            if len(each) == 1:
                results.append(each[0])
                continue
            chosen = replace(next(r for r, row in zip(each, rows, strict=True) if row["auto_choice"]))
            chosen.alternatives = each
            results.append(chosen)
        out.append(results)
    return out


def evaluate_quietly(sweep: SweepInput, points: Sequence[DesignPoint]) -> tuple[list[Row], list[str]]:
    """`evaluate` with what the passes print on stderr (remarks, warnings) returned as lines instead, for a
    worker process whose parent prints each line once."""
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rows = evaluate(sweep, points)
    return rows, err.getvalue().splitlines()
