"""`mlacc plot`: pictures of a sweep's rows (matplotlib, PNG or SVG), one kind per module.

Every kind reads only the rows `mlacc sweep` writes (and, for the roofline and the capacity line, the
hardware they name), narrows them with `--where`, and fixes every other input that still varies at its
first value, saying so in the title and on stdout.
"""

from __future__ import annotations

from collections.abc import Callable

from mlacc.diagnostics import UsageError, did_you_mean
from mlacc.plot.scope import Picture, PlotRequest, Scope

KINDS = ("latency", "energy", "roofline", "choice", "breakdown", "capacity")


def _drawer(kind: str) -> Callable[[Scope], Picture]:
    if kind not in KINDS:
        raise UsageError(f"--kind: unknown kind '{kind}' (expected: {', '.join(KINDS)}){did_you_mean(kind, KINDS)}")
    if kind == "roofline":
        from mlacc.plot.roofline import draw_roofline

        return draw_roofline
    if kind == "choice":
        from mlacc.plot.choice import draw_choice

        return draw_choice
    if kind == "breakdown":
        from mlacc.plot.breakdown import draw_breakdown

        return draw_breakdown
    from mlacc.plot.curves import draw_curves

    return draw_curves


def draw(path: str, request: PlotRequest) -> Picture:
    """The picture `request` asks of the sweep file at `path`, not yet written."""
    from mlacc.plot.chips import ChipCatalogue
    from mlacc.plot.table import parse_where, read_sweep, select

    drawer = _drawer(request.kind)
    if request.y is not None and request.kind != "choice":
        raise UsageError("--y is for --kind choice (the map's second axis)")
    if request.x is not None and request.kind in ("roofline", "breakdown"):
        raise UsageError(f"--kind {request.kind} draws one point per panel: it takes --where, not --x")
    pairs = parse_where(request.where) if request.where else []
    table = select(read_sweep(path), pairs)
    chosen = [(column, table.values(column)[0]) for column, _ in pairs]
    return drawer(Scope(table, request, ChipCatalogue(list(request.hardware_files)), chosen))


def plot_sweep(path: str, request: PlotRequest, out: str) -> str:
    """Draws the picture and writes it to `out` (whole or not at all); returns the line that says what it drew."""
    from mlacc.plot.style import figure_format, save

    figure_format(out)  # a bad name is said before any drawing
    picture = draw(path, request)
    save(picture.figure, out)
    return picture.summary(request.kind, out)
