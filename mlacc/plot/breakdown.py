"""`--kind breakdown`: where a step's energy goes, one stacked bar per scheme, one panel per hardware.

The components are the rows' `energy_<component>_pj` columns (MACs, each memory level, static power, the
interconnect when sharded), those that are zero in every row left out. The point is the rows left after
`--where` and the first value of anything else; the scheme auto picks there is marked under its bar.
"""

from __future__ import annotations

import re
from typing import Any

from mlacc.diagnostics import InputError
from mlacc.plot.scope import Picture, Scope
from mlacc.plot.style import panels, pyplot, series_label, series_order
from mlacc.units import si

COMPONENT = re.compile(r"energy_(?P<component>.+)_pj")

PJ = 1e-12
"""Joules per picojoule."""


def components(columns: list[str], rows: list[dict[str, Any]]) -> list[str]:
    """The energy components the rows charge anything to, in the order of their columns."""
    found = [m.group("component") for c in columns if (m := COMPONENT.fullmatch(c))]
    return [c for c in found if any(row.get(f"energy_{c}_pj") for row in rows)]


def draw_breakdown(scope: Scope) -> Picture:
    table, defaulted = scope.fix(("chip", "layer", "scheme"))
    parts = components(table.columns, table.rows)
    if not parts:
        raise InputError(f"{table.path} has no energy_<component>_pj columns, which --kind breakdown draws")
    layers_vary = table.varies("layer")
    colours = pyplot().get_cmap("Set2").colors
    chips = table.values("chip")
    fig, axes = panels(len(chips), sharey=True)
    for ax, chip in zip(axes, chips, strict=True):
        rows = {series_label(r, layers_vary): r for r in table.having("chip", chip).rows}
        labels = series_order(rows)
        bottoms = [0.0] * len(labels)
        for index, part in enumerate(parts):
            heights = [(rows[label].get(f"energy_{part}_pj") or 0.0) * PJ for label in labels]
            ax.bar(labels, heights, bottom=bottoms, color=colours[index % len(colours)], label=part, width=0.6)
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
        for position, total in enumerate(bottoms):
            ax.text(position, total, si(total, "J"), ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels([f"{label}\n(auto)" if rows[label].get("auto_choice") else label for label in labels])
        ax.set_title(str(chip))
        ax.margins(y=0.12)
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    from matplotlib.ticker import EngFormatter

    axes[0].yaxis.set_major_formatter(EngFormatter(unit="J"))
    axes[0].set_ylabel("energy per step (J)")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles[::-1], names[::-1], loc="outside right upper", title="energy component")
    return scope.picture(fig, table, defaulted, "Energy per step by component")
