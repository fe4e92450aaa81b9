"""Design points -> rows: the one function (`evaluate`) a sweep calls to estimate its points.

Points on one-core chips are estimated many at a time from op tables (mlacc/sweep/fast_rows.py); the
others run the IR pipeline exactly as `mlacc compile` does (one `mlacc.pipeline.estimate` per point, every scheme
scheduled so that each row can say whether `auto` picks it). Both give the same rows
(tests/test_sweep_fast.py).

A row is one (point, layer, scheme): the scalar fields of `mlacc compile --format json`'s result, in
its order, with `energy_breakdown_pj` flattened into `energy_<component>_pj` columns, and
`auto_choice` (whether `absorb{scheme=auto}` picks this scheme; true for a layer MLA schemes do not
apply to). With `ops`, the result's `ops` list rides along as the row's `ops` field.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from mlacc.sweep.space import DesignPoint, SweepInput, chip_target

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp

    from mlacc.estimates import LayerResult

Row = dict[str, Any]


@cache
def file_module(path: str, text: str) -> ModuleOp:
    """The sweep's file as an `attn` module (DSL or config.json), built once per process; callers clone it."""
    from mlacc.frontend import parse_source

    return parse_source(text, path)


def point_module(sweep: SweepInput, point: DesignPoint) -> ModuleOp:
    """The `attn` module of one point: the file's layers under the point's workload, with its target."""
    from xdsl.dialects import func

    from dialects.attn import AttentionLayerOp
    from dialects.hw import attach_target
    from mlacc.frontend.irgen import override_workloads

    module = file_module(sweep.path, sweep.text).clone()
    for function in list(module.ops):
        assert isinstance(function, func.FuncOp)
        layer = function.body.block.first_op
        assert isinstance(layer, AttentionLayerOp)
        if layer.workload.workload_name.data != point.workload:
            function.detach()
            function.erase()
    override_workloads(module, point.phase, point.batch, point.context, point.new_tokens)
    attach_target(module, chip_target(point.chip))
    return module


def result_row(result: LayerResult, auto_choice: bool, ops: bool) -> Row:
    row: Row = {}
    for key, value in result.json().items():
        if key == "energy_breakdown_pj":
            row.update({f"energy_{component}_pj": pj for component, pj in value.items()})
        elif key == "ops" and ops:
            continue
        elif not isinstance(value, dict | list):
            row[key] = value
    row.setdefault("tp", result.tp)  # compile's JSON says tp and dp only when sharded; a sweep row always does
    row.setdefault("dp", result.dp)
    row["auto_choice"] = auto_choice
    if ops:
        row["ops"] = [op.json() for op in result.ops]
    return row


def _point_rows(sweep: SweepInput, point: DesignPoint) -> list[Row]:
    from mlacc.pipeline import estimate

    module = point_module(sweep, point)
    auto_only = sweep.schemes == ("auto",)
    rows: list[Row] = []
    for result in estimate(module, "auto" if auto_only else None, point.tp, point.dp):
        if auto_only or not result.alternatives:
            rows.append(result_row(result, True, sweep.ops))
            continue
        for alternative in result.alternatives:
            if alternative.scheme in sweep.schemes:
                rows.append(result_row(alternative, alternative.scheme == result.scheme, sweep.ops))
    return rows


def evaluate(sweep: SweepInput, points: Sequence[DesignPoint]) -> list[Row]:
    """The rows of `points`, in their order (for each point its layers in file order, each layer's schemes in
    the order of `passes.SCHEMES`): on one-core chips from op tables (mlacc/sweep/fast.py), else, or where
    a layer's IR is not parametric in batch and context, through the IR pipeline; both give the same rows."""
    from mlacc.sweep.fast_rows import fast_rows

    rows = fast_rows(sweep, points)
    out: list[Row] = []
    for point, point_rows in zip(points, rows, strict=True):
        out += point_rows if point_rows is not None else _point_rows(sweep, point)
    return out


def evaluate_quietly(sweep: SweepInput, points: Sequence[DesignPoint]) -> tuple[list[Row], list[str]]:
    """`evaluate` with what the passes print on stderr (remarks, warnings) returned as lines instead, for a
    worker process whose parent prints each line once."""
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rows = evaluate(sweep, points)
    return rows, err.getvalue().splitlines()
