"""`--kind latency|energy|capacity`: a figure per sweep, one panel per hardware, one line per scheme against a
swept axis (the context by default), logarithmic where the axis spans a factor of 8 or more.

Every point shows whether its weights, KV cache and activations fit the chip's outermost memory: filled
markers fit, hollow ones do not. The capacity picture draws what that is judged on, the bytes resident after
the step (weights, KV cache, activations), against the memory's capacity (dashed), and the KV cache alone
(dotted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlacc.plot.scope import Picture, Scope
from mlacc.plot.style import (
    axis_label,
    panels,
    series_label,
    series_order,
    series_styles,
    set_log_units,
    set_value_axis,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes


@dataclass(frozen=True)
class Metric:
    column: str
    label: str
    """The y axis's label, with its unit."""
    scale: float
    """Unit of the column -> unit of the label."""
    title: str
    unit: str


METRICS = {
    "latency": Metric("seconds", "latency per step (s)", 1.0, "Latency", "s"),
    "energy": Metric("energy_pj", "energy per step (J)", 1e-12, "Energy", "J"),
    "capacity": Metric("resident_bytes", "bytes in memory after the step (B)", 1.0, "Memory use", "B"),
}

KV_STYLE = {"linestyle": ":", "linewidth": 1.8}
"""The KV cache's own lines in the capacity picture, under the solid lines of everything resident."""


def draw_curves(scope: Scope) -> Picture:
    kind = scope.request.kind
    metric = METRICS[kind]
    scope.table.require((metric.column, "fits", *(("kv_cache_bytes",) if kind == "capacity" else ())), kind)
    x = scope.axis("--x", scope.request.x, prefer=("context", "batch", "new_tokens"))
    table, defaulted = scope.fix(("chip", "layer", "scheme", x))
    chips = table.values("chip")
    layers_vary = table.varies("layer")
    series = _merge_equal_series(table.rows, layers_vary, lambda r: (r["chip"], r[x], r[metric.column], r["fits"]))
    caches = _merge_equal_series(table.rows, layers_vary, lambda r: (r["chip"], r[x], r["kv_cache_bytes"]))
    by_member = series_styles(series_order(series_label(row, layers_vary) for row in table.rows))
    styles = {label: by_member[members[0]] for label, members in (series | caches).items()}
    fig, axes = panels(len(chips), sharey=True)
    capacity_handle = None
    for ax, chip in zip(axes, chips, strict=True):
        rows = table.having("chip", chip).rows
        for label, members in series.items():
            line = _line(rows, members[0], x, layers_vary)
            _draw_series(ax, [r[x] for r in line], [r[metric.column] * metric.scale for r in line], line, styles[label])
        title = str(chip)
        if kind == "capacity":
            from mlacc.units import si

            for label, members in caches.items():
                line = _line(rows, members[0], x, layers_vary)
                ax.plot(
                    [r[x] for r in line], [r["kv_cache_bytes"] for r in line], color=styles[label]["color"], **KV_STYLE
                )
            level, capacity = scope.chips.dram_capacity(rows[0], table.set_fields)
            capacity_handle = ax.axhline(capacity, color="black", linestyle="--", linewidth=1.2)
            title += f" ({level} {si(capacity, 'B')})"
        ax.set_title(title)
        set_value_axis(ax, x, table.values(x))
        ax.grid(True, which="major", alpha=0.3)
    set_log_units(axes[0], metric.unit)
    axes[0].set_ylabel(metric.label)
    for ax in axes[1:]:
        ax.set_ylabel("")
    labels = list(series)
    handles = [_legend_line(styles[label]) for label in labels]
    if not all(row["fits"] for row in table.rows):
        handles.append(_legend_line({"color": "grey", "marker": "o"}, hollow=True))
        labels.append("does not fit memory")
    if capacity_handle is not None:
        from matplotlib.lines import Line2D

        handles += [Line2D([], [], color=styles[label]["color"], **KV_STYLE) for label in caches]
        labels += [f"KV cache: {label}" for label in caches]
        handles.append(capacity_handle)
        labels.append("memory capacity")
    fig.legend(handles, labels, loc="outside right upper", title="scheme")
    return scope.picture(fig, table, defaulted, f"{metric.title} vs {axis_label(x).split(' (')[0]}", (x,))


def _line(rows: list[dict[str, Any]], label: str, x: str, layers_vary: bool) -> list[dict[str, Any]]:
    return sorted((r for r in rows if series_label(r, layers_vary) == label), key=lambda r: r[x])


def _merge_equal_series(
    rows: list[dict[str, Any]], layers_vary: bool, point: Callable[[dict[str, Any]], tuple[Any, ...]]
) -> dict[str, list[str]]:
    """Series -> the series it stands for: those whose `point`s are equal everywhere (every MLA scheme but
    `cache-kv` caches the same latent) become one line, `recompute = reuse = expand`, instead of hiding each
    other."""
    points: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        points.setdefault(series_label(row, layers_vary), []).append(point(row))
    merged: dict[tuple[tuple[Any, ...], ...], list[str]] = {}
    for label in series_order(points):
        merged.setdefault(tuple(sorted(points[label], key=str)), []).append(label)
    return {" = ".join(members): members for members in merged.values()}


def _draw_series(ax: Axes, xs: list[Any], ys: list[float], rows: list[dict[str, Any]], style: dict[str, str]) -> None:
    """A line through the points, each marker filled where its row fits memory and hollow where it does not."""
    ax.plot(xs, ys, color=style["color"], linewidth=1.5)
    for fits in (True, False):
        chosen = [(x, y) for x, y, r in zip(xs, ys, rows, strict=True) if bool(r["fits"]) is fits]
        if chosen:
            ax.scatter(
                [x for x, _ in chosen],
                [y for _, y in chosen],
                marker=style["marker"],
                s=36,
                zorder=3,
                edgecolors=style["color"],
                facecolors=style["color"] if fits else "white",
                linewidths=1.3,
            )


def _legend_line(style: dict[str, str], hollow: bool = False) -> Any:
    from matplotlib.lines import Line2D

    color = style["color"]
    return Line2D(
        [],
        [],
        color=color,
        marker=style["marker"],
        markerfacecolor="white" if hollow else color,
        linestyle="none" if hollow else "-",
    )
