"""What every `mlacc plot` picture shares: its panels, a colour and marker per scheme, axis labels with units,
token counts written as the DSL writes them, and the file written whole or not at all."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mlacc.diagnostics import UsageError
from passes import SCHEMES

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FIGURE_FORMATS = {".png": "png", ".svg": "svg"}

PANEL_SIZE = (4.6, 3.6)
"""Inches per panel: room for tick labels of SI values and a title of a chip with `--set` fields."""

MAX_COLUMNS = 3

AXIS_LABELS = {
    "context": "context (tokens in the KV cache)",
    "batch": "batch (sequences)",
    "new_tokens": "new tokens per step",
    "tp": "tensor-parallel GPUs (tp)",
    "dp": "data-parallel GPUs (dp)",
}

TOKEN_COLUMNS = ("context", "new_tokens")
"""Columns whose values read best as the DSL writes token counts (4k, 128k)."""

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")


def figure_format(path: str) -> str:
    for suffix, name in FIGURE_FORMATS.items():
        if path.lower().endswith(suffix):
            return name
    raise UsageError(f"-o: cannot tell the picture format of '{path}': name it .png or .svg")


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display needed), imported when a picture is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def panels(
    count: int, sharey: bool = False, extra_width: float = 1.6, extra_height: float = 0.0
) -> tuple[Figure, list[Axes]]:
    """A figure of `count` panels, at most three a row, laid out so that no text overlaps; `extra_width`
    inches on the right hold the figure's legend, `extra_height` a row's legends under its panels."""
    columns = min(count, MAX_COLUMNS)
    rows = math.ceil(count / columns)
    width, height = PANEL_SIZE
    fig, grid = pyplot().subplots(
        rows,
        columns,
        figsize=(width * columns + extra_width, (height + extra_height) * rows + 0.6),
        squeeze=False,
        sharey=sharey,
        layout="constrained",
    )
    axes = list(grid.flat)
    for unused in axes[count:]:
        fig.delaxes(unused)
    return fig, axes[:count]


def series_label(row: dict[str, Any], layers_vary: bool) -> str:
    """A row's line in a picture: its scheme, its layer for a layer no scheme applies to (`-`), or both."""
    if row["scheme"] == "-":
        return str(row["layer"])
    return f"{row['layer']} {row['scheme']}" if layers_vary else str(row["scheme"])


def series_order(labels: Iterable[str]) -> list[str]:
    """Schemes in the order `mlacc compile` reports them, then anything else (baseline layers) as given."""
    found = list(dict.fromkeys(labels))

    def rank(label: str) -> tuple[int, int]:
        scheme = label.rsplit(" ", 1)[-1]
        return (SCHEMES.index(scheme) if scheme in SCHEMES else len(SCHEMES), found.index(label))

    return sorted(found, key=rank)


def series_styles(labels: list[str]) -> dict[str, dict[str, str]]:
    """A colour per scheme, the same in every picture (a baseline layer gets one of its own), and a marker per
    series, which tells apart the same scheme of two layers and lines in grey print."""
    palette = pyplot().get_cmap("tab10").colors
    styles: dict[str, dict[str, str]] = {}
    others = len(SCHEMES)
    for position, label in enumerate(labels):
        scheme = label.rsplit(" ", 1)[-1]
        if scheme in SCHEMES:
            colour = SCHEMES.index(scheme)
        else:
            colour = others
            others += 1
        styles[label] = {"color": palette[colour % len(palette)], "marker": _MARKERS[position % len(_MARKERS)]}
    return styles


def axis_label(column: str) -> str:
    """A label with its unit: the known workload columns in words, a `--set` field by its name (which carries its
    unit: `read_bandwidth_bytes_per_cycle`)."""
    return AXIS_LABELS.get(column, f"{column} (--set)" if "." in column else column)


def value_text(column: str, value: Any) -> str:
    """A value as a tick or a title shows it: token counts as 4k, 128k, 1M; other numbers in short form."""
    if column in TOKEN_COLUMNS and isinstance(value, int):
        for factor, suffix in ((1024**2, "M"), (1024, "k")):
            if value >= factor and value % factor == 0:
                return f"{value // factor}{suffix}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def describe(pairs: list[tuple[str, Any]]) -> str:
    return ", ".join(f"{column} {value_text(column, value)}" for column, value in pairs)


def set_value_axis(ax: Axes, column: str, values: list[Any]) -> None:
    """An x axis over a swept column: logarithmic where the values span a factor of 8 or more (base 2 when
    every one is a power of two), with a tick at each value when there are few enough to read."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    if all(v > 0 for v in values) and max(values) / min(values) >= 8:
        powers_of_two = all(float(v).is_integer() and int(v) & (int(v) - 1) == 0 for v in values)
        ax.set_xscale("log", base=2 if powers_of_two else 10)
    if len(values) <= 10:
        ax.xaxis.set_major_locator(FixedLocator([float(v) for v in values]))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: value_text(column, _as_number(v))))
    ax.set_xlabel(axis_label(column))


def set_log_units(ax: Axes, unit: str) -> None:
    """A logarithmic y axis whose ticks say their unit with an SI prefix (200 µs, 10 GB); within two decades the
    2x and 5x ticks are labelled too, so that a narrow range still reads."""
    from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(EngFormatter(unit=unit))
    low, high = ax.get_ylim()
    if high / low < 100:
        ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.yaxis.set_minor_formatter(EngFormatter(unit=unit))
    else:
        ax.yaxis.set_minor_formatter(NullFormatter())


def _as_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def save(fig: Figure, path: str) -> None:
    """Writes the figure whole or not at all, in the format the extension names (SVG without a date, so the
    same rows give the same file)."""
    from mlacc.output import write_whole_with

    picture_format = figure_format(path)
    metadata = {"Date": None} if picture_format == "svg" else {}
    plt = pyplot()
    try:
        with plt.rc_context({"svg.hashsalt": "mlacc"}):  # SVG ids from a fixed salt, not a random one
            write_whole_with(path, lambda tmp: fig.savefig(tmp, format=picture_format, dpi=150, metadata=metadata))
    finally:
        plt.close(fig)
