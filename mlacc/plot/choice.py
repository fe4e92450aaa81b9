"""`--kind choice`: the scheme `absorb{scheme=auto}` picks over two swept axes, one map per hardware.

Each cell is one design point, coloured (and, when the map is small enough to read, named) by the scheme
of its `auto_choice` row; a hatched cell is one where no scheme fits memory and auto took the fastest.
The axes default to the swept `--set` fields (bandwidth x compute), else context x batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlacc.diagnostics import InputError
from mlacc.plot.scope import Picture, Scope
from mlacc.plot.style import PANEL_SIZE, axis_label, panels, series_label, series_order, series_styles, value_text
from mlacc.plot.table import SweepTable

if TYPE_CHECKING:
    from matplotlib.axes import Axes


CELL_TEXT_POINTS = (6.0, 8.0)
"""Smallest and largest size of a scheme's name written in its cell; where even the smallest would not fit,
the colours and the legend say it alone."""

PLOT_WIDTH_POINTS = 0.75 * PANEL_SIZE[0] * 72
"""About how wide a panel's plotting area is (the rest holds tick labels and the axis label)."""

CHARACTER_WIDTH = 0.62
"""A bold sans-serif character's width, in font sizes."""

MAX_NAMED_ROWS = 16
"""Rows beyond which the cells are too low for a name."""

TICK_LABELS = 12
"""At most this many tick labels an axis; more are thinned to every n-th."""


@dataclass(frozen=True)
class ChoiceMap:
    """One hardware's map: the (x, y) points and, per point, the scheme auto picks and whether it fits."""

    x: str
    y: str
    xs: list[Any]
    ys: list[Any]
    cells: dict[tuple[Any, Any], tuple[str, bool]]


def choice_maps(scope: Scope) -> tuple[SweepTable, dict[Any, ChoiceMap], list[tuple[str, Any]]]:
    """The rows drawn; per chip, the scheme auto picks at every point of the two axes; the inputs fixed to get
    there."""
    scope.table.require(("auto_choice",), "choice")
    x = scope.axis("--x", scope.request.x, prefer=(*scope.table.set_fields, "context", "batch"))
    y = scope.axis("--y", scope.request.y, prefer=(*scope.table.set_fields, "batch", "context"), exclude=(x,))
    table, defaulted = scope.fix(("chip", "scheme", x, y))
    picked = table.having("auto_choice", True)
    if not picked.rows:
        raise InputError(f"{table.path}: no row is auto's choice (auto_choice is false in every row chosen)")
    layers_vary = table.varies("layer")
    maps = {chip: _choice_map(picked.having("chip", chip), x, y, layers_vary) for chip in table.values("chip")}
    return picked, maps, defaulted


def _choice_map(table: SweepTable, x: str, y: str, layers_vary: bool) -> ChoiceMap:
    cells = {(r[x], r[y]): (series_label(r, layers_vary), bool(r.get("fits", True))) for r in table.rows}
    return ChoiceMap(x, y, table.values(x), table.values(y), cells)


def draw_choice(scope: Scope) -> Picture:
    table, maps, defaulted = choice_maps(scope)
    schemes = series_order(scheme for m in maps.values() for scheme, _ in m.cells.values())
    styles = series_styles(schemes)
    fig, axes = panels(len(maps), extra_width=1.8)
    for ax, (chip, choice) in zip(axes, maps.items(), strict=True):
        _draw_map(ax, choice, {s: styles[s]["color"] for s in schemes})
        ax.set_title(str(chip))
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=styles[s]["color"], label=s) for s in schemes]
    if not all(fits for m in maps.values() for _, fits in m.cells.values()):
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="///", label="none fits: the fastest"))
    fig.legend(handles=handles, loc="outside right upper", title="auto picks")
    first = next(iter(maps.values()))
    return scope.picture(fig, table, defaulted, "Scheme auto picks", (first.x, first.y))


def _draw_map(ax: Axes, choice: ChoiceMap, colours: dict[str, Any]) -> None:
    from matplotlib.patches import Rectangle

    longest = max(len(scheme) for scheme, _ in choice.cells.values())
    size = min(CELL_TEXT_POINTS[1], PLOT_WIDTH_POINTS / len(choice.xs) / (CHARACTER_WIDTH * longest))
    for (x, y), (scheme, fits) in choice.cells.items():
        i, j = choice.xs.index(x), choice.ys.index(y)
        ax.add_patch(
            Rectangle(
                (i - 0.5, j - 0.5),
                1,
                1,
                facecolor=colours[scheme],
                edgecolor="white",
                linewidth=1.0,
                hatch=None if fits else "///",
            )
        )
        if size >= CELL_TEXT_POINTS[0] and len(choice.ys) <= MAX_NAMED_ROWS:
            ax.text(i, j, scheme, ha="center", va="center", fontsize=size, color="white", fontweight="bold")
    ax.set(xlim=(-0.5, len(choice.xs) - 0.5), ylim=(-0.5, len(choice.ys) - 0.5))
    for values, column, set_ticks, set_labels, set_label in (
        (choice.xs, choice.x, ax.set_xticks, ax.set_xticklabels, ax.set_xlabel),
        (choice.ys, choice.y, ax.set_yticks, ax.set_yticklabels, ax.set_ylabel),
    ):
        every = -(-len(values) // TICK_LABELS)
        positions = list(range(0, len(values), every))
        set_ticks(positions)
        set_labels([value_text(column, values[p]) for p in positions])
        set_label(axis_label(column))
