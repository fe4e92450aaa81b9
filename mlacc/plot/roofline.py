"""`--kind roofline`: one panel per hardware, its roofline and every op of one design point placed on it.

An op sits at its arithmetic intensity (FLOPs over the DRAM bytes it moves) and the rate it attains
(FLOPs over its estimated time); the cost model never lets an op beat the roof. The point is the rows
left after `--where` and the first value of anything else; its scheme is the one `auto` picks there
unless `--where scheme=...` names one. An op that moves no DRAM bytes has no finite intensity and is
drawn at the right edge; ops without FLOPs (cache stores) or without time of their own (fused into
a neighbour) are counted in the panel's title, not drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlacc.diagnostics import InputError
from mlacc.plot.chips import Roof
from mlacc.plot.scope import Picture, Scope
from mlacc.plot.style import panels, set_log_units
from mlacc.report import si

if TYPE_CHECKING:
    from matplotlib.axes import Axes

LABELLED_OPS = 3
"""The slowest ops of a panel get their names written next to them; more would collide."""

EDGE = 4.0
"""How far past the data the axes reach, as a factor, so that the ridge and the edge markers have room."""


def draw_roofline(scope: Scope) -> Picture:
    scope.table.require(("ops",), "roofline", ": rerun the sweep with --ops")
    table, defaulted = scope.fix(("chip", "scheme"))
    chips = table.values("chip")
    fig, axes = panels(len(chips), extra_width=2.2)
    rows = [_chosen_row(table.having("chip", chip).rows, chip) for chip in chips]
    kinds = list(dict.fromkeys(op["kind"] for row in rows for op in _placed(row["ops"])))
    palette = dict(zip(kinds, _colours(len(kinds)), strict=True))
    picked = "" if "scheme" in dict(scope.chosen) else " (auto's pick)"
    for ax, chip, row in zip(axes, chips, rows, strict=True):
        roof = scope.chips.roof(row, table.set_fields, scope.request.dtype)
        skipped = _draw_panel(ax, row, roof, palette)
        unplaced = f"\n{skipped} ops not drawn (no FLOPs or no time)" if skipped else ""
        ax.set_title(f"{chip}: {row['scheme']}{picked}{unplaced}")
    from matplotlib.lines import Line2D

    handles: list[Any] = [
        Line2D([], [], color=colour, marker="o", linestyle="none", label=kind) for kind, colour in palette.items()
    ]
    handles.append(Line2D([], [], color="grey", marker=">", linestyle="none", label="no DRAM bytes (at edge)"))
    fig.legend(handles=handles, loc="outside right upper", title="op kind (area ∝ time)")
    return scope.picture(fig, table, defaulted, "Roofline of every op of one point")


def _chosen_row(rows: list[dict[str, Any]], chip: Any) -> dict[str, Any]:
    """The one row of a panel: the scheme `--where` left, else the one auto picks."""
    if len(rows) > 1:
        rows = [r for r in rows if r.get("auto_choice")]
    if len(rows) != 1 or not rows[0].get("ops"):
        raise InputError(f"no single row with ops for {chip} at this point: fix the scheme with --where scheme=...")
    return rows[0]


def _label_slowest(ax: Axes, ops: list[dict[str, Any]], x_of: dict[str, float]) -> None:
    """Names the slowest ops in a column at the top left, which stays empty (no op beats the bandwidth roof),
    with an arrow to each: ops of a batch-1 decode sit on nearly one spot, where names would collide."""
    slowest = sorted(ops, key=lambda op: -op["seconds"])[:LABELLED_OPS]
    for i, op in enumerate(slowest):
        ax.annotate(
            f"{op['name']} ({si(op['seconds'], 's')})",
            (x_of[op["name"]], op["flops"] / op["seconds"]),
            xytext=(0.03, 0.95 - 0.08 * i),
            textcoords="axes fraction",
            fontsize=7,
            va="top",
            arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.6, "shrinkB": 4},
        )


def _placed(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ops a roofline can place: those with FLOPs and time of their own."""
    return [op for op in ops if op["flops"] > 0 and op["seconds"] > 0]


def _colours(count: int) -> list[Any]:
    from mlacc.plot.style import pyplot

    palette = pyplot().get_cmap("tab10").colors
    return [palette[i % len(palette)] for i in range(count)]


def _draw_panel(ax: Axes, row: dict[str, Any], roof: Roof, palette: dict[str, Any]) -> int:
    """The roofs, the ridge and the ops of one row; returns how many ops could not be placed."""
    ops = _placed(row["ops"])
    intensity = {op["name"]: op["flops"] / op["bytes"][roof.dram_name] for op in ops if op["bytes"].get(roof.dram_name)}
    finite = [*intensity.values(), roof.ridge_flop_per_byte]
    low, high = min(finite) / EDGE, max(finite) * EDGE
    total = sum(op["seconds"] for op in ops)
    for op in ops:
        at_edge = op["name"] not in intensity
        ax.scatter(
            high / 1.5 if at_edge else intensity[op["name"]],
            op["flops"] / op["seconds"],
            s=15 + 400 * op["seconds"] / total,
            marker=">" if at_edge else "o",
            color=palette[op["kind"]],
            edgecolors="black",
            linewidths=0.5,
            alpha=0.85,
            zorder=3,
        )
    _label_slowest(ax, ops, {op["name"]: intensity.get(op["name"], high / 1.5) for op in ops})
    xs = [float(x) for x in np.geomspace(low, high, 200)]
    ax.plot(
        xs,
        [roof.attainable(x) for x in xs],
        color="black",
        linewidth=1.6,
        label=f"peak: {si(roof.peak_flops_per_second, 'FLOP/s')} {roof.dtype}, "
        f"{roof.dram_name} {si(roof.dram_bytes_per_second, 'B/s')}",
    )
    if roof.measured:
        efficiency = f"x{roof.compute_efficiency:.2f} compute, x{roof.memory_efficiency:.2f} memory"
        attained = [roof.attainable(x, attained=True) for x in xs]
        ax.plot(xs, attained, color="black", linestyle="--", linewidth=1.1, label=f"attained: {efficiency}")
    ax.axvline(
        roof.ridge_flop_per_byte,
        color="grey",
        linestyle=":",
        linewidth=1.2,
        label=f"ridge {roof.ridge_flop_per_byte:.0f} FLOP/B",
    )
    from matplotlib.ticker import FuncFormatter

    ax.set(xscale="log", yscale="log", xlim=(low, high))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    slowest_rate = min([op["flops"] / op["seconds"] for op in ops] + [roof.attainable(low)])
    ax.set_ylim(slowest_rate / EDGE, roof.peak_flops_per_second * 2)
    set_log_units(ax, "FLOP/s")
    ax.set_xlabel(f"arithmetic intensity (FLOP per {roof.dram_name} byte)")
    ax.set_ylabel("attained rate (FLOP/s)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=7, frameon=False)
    return len(row["ops"]) - len(ops)
