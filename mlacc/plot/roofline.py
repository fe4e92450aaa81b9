"""`--kind roofline`: one panel per hardware, its roofline and every op of one design point placed on it.

An op sits at its arithmetic intensity (FLOPs over the DRAM bytes it moves) and the rate it attains
(FLOPs over its estimated time); the cost model never lets an op beat the roof. The point is the rows
left after `--where` and the first value of anything else; its scheme is the one `auto` picks there
unless `--where scheme=...` names one. An op that moves no DRAM bytes has no finite intensity and is
drawn at the right edge; ops without FLOPs (cache stores) or without time of their own (fused into
a neighbour) are counted in the panel's title, not drawn.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from mlacc.diagnostics import InputError
from mlacc.plot.chips import Roof
from mlacc.plot.scope import Picture, Scope
from mlacc.plot.style import panels, set_log_units
from mlacc.units import si

if TYPE_CHECKING:
    from matplotlib.axes import Axes

LABELLED_OPS = 3
"""The slowest ops of a panel are numbered and named in its legend."""

SAME_SPOT = 0.08
"""Ops closer than this fraction of the axes on both share a number (two numbers would overlap)."""

EDGE = 4.0
"""How far past the data the axes reach, as a factor, so that the ridge and the edge markers have room."""


def draw_roofline(scope: Scope) -> Picture:
    scope.table.require(("ops",), "roofline", ": rerun the sweep with --ops")
    table, defaulted = scope.fix(("chip", "scheme"))
    chips = table.values("chip")
    fig, axes = panels(len(chips), extra_width=2.2, extra_height=1.0)
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


def _number_slowest(
    ax: Axes, ops: list[dict[str, Any]], x_of: dict[str, float], decades: tuple[float, float]
) -> list[Any]:
    """Numbers the slowest ops on the panel and returns legend entries that name them: names written next to
    the points would collide, as ops often share a spot (a decode step's GEMVs all sit at one intensity)."""
    from matplotlib.lines import Line2D

    spots: dict[tuple[float, float], list[dict[str, Any]]] = {}
    for op in sorted(ops, key=lambda op: -op["seconds"])[:LABELLED_OPS]:
        x, y = x_of[op["name"]], op["flops"] / op["seconds"]
        near = [
            s
            for s in spots
            if abs(math.log10(s[0] / x)) < SAME_SPOT * decades[0] and abs(math.log10(s[1] / y)) < SAME_SPOT * decades[1]
        ]
        spots.setdefault(near[0] if near else (x, y), []).append(op)
    handles = []
    for number, (spot, group) in enumerate(spots.items(), 1):
        ax.annotate(str(number), spot, xytext=(7, -12), textcoords="offset points", fontsize=8, fontweight="bold")
        names = ", ".join(f"{op['name']} {si(op['seconds'], 's')}" for op in group)
        handles.append(Line2D([], [], color="black", marker=f"${number}$", linestyle="none", label=names))
    return handles


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
    bottom = min([op["flops"] / op["seconds"] for op in ops] + [roof.attainable(low)]) / EDGE
    top = roof.peak_flops_per_second * 2
    x_of = {op["name"]: intensity.get(op["name"], high / 1.5) for op in ops}
    numbered = _number_slowest(ax, ops, x_of, (math.log10(high / low), math.log10(top / bottom)))
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
    ax.set_ylim(bottom, top)
    set_log_units(ax, "FLOP/s")
    ax.set_xlabel(f"arithmetic intensity (FLOP per {roof.dram_name} byte)")
    ax.set_ylabel("attained rate (FLOP/s)")
    ax.grid(True, which="major", alpha=0.3)
    roofs, labels = ax.get_legend_handles_labels()
    ax.legend(
        handles=[*roofs, *numbered],
        labels=[*labels, *(h.get_label() for h in numbered)],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2),
        fontsize=7,
        frameon=False,
    )
    return len(row["ops"]) - len(ops)
