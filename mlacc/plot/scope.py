"""What a picture is asked for and what it drew: the request of `mlacc plot`, the rows it may use, and the
figure with what was fixed to draw it (for the title and the summary line)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlacc.diagnostics import InputError, UsageError
from mlacc.plot.chips import ChipCatalogue
from mlacc.plot.style import describe
from mlacc.plot.table import SweepTable, fix_inputs

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class PlotRequest:
    kind: str
    where: str | None = None
    """`batch=32,phase=decode`: the rows to draw from."""
    x: str | None = None
    y: str | None = None
    hardware_files: tuple[str, ...] = ()
    """TOML files of chips that rows name and that are no preset."""
    dtype: str = "bf16"
    """The layer's dtype, whose peak rate the roofline draws (rows do not say it)."""


@dataclass
class Scope:
    """The rows a picture may use (after `--where`) and the request; `fix` settles the rest."""

    table: SweepTable
    request: PlotRequest
    chips: ChipCatalogue
    chosen: list[tuple[str, Any]] = field(default_factory=lambda: [])
    """What `--where` fixed, typed as the rows hold it."""

    def axis(self, option: str, given: str | None, prefer: tuple[str, ...], exclude: tuple[str, ...] = ()) -> str:
        """The column on an axis: the one given, which must be a numeric input that varies, else the first of
        `prefer` (then any other) that varies."""
        swept = [c for c in self.table.inputs if c not in exclude and self.table.varies(c) and _numeric(self.table, c)]
        if given is not None:
            if given not in swept:
                if given not in self.table.inputs:
                    why = "is no input column"
                elif not _numeric(self.table, given):
                    why = "is not a number"
                else:
                    why = "does not vary in the rows chosen"
                raise UsageError(f"{option} {given}: {why} (axes that vary: {', '.join(swept) or 'none'})")
            return given
        if not swept:
            raise InputError(
                f"{self.table.path}: --kind {self.request.kind} needs another swept axis, and the rows chosen vary "
                f"in no other (sweep --batch, --context or a --set field over several values)"
            )
        return min(swept, key=lambda c: prefer.index(c) if c in prefer else len(prefer))

    def picture(
        self, fig: Figure, table: SweepTable, defaulted: list[tuple[str, Any]], what: str, axes: tuple[str, ...] = ()
    ) -> Picture:
        """The figure as a `Picture`, titled `what` for the layers drawn, and on a second line the point it shows: the
        workload's phase, batch and tokens off its `axes`, and whatever else was fixed."""
        point = [(c, table.values(c)[0]) for c in POINT_COLUMNS if c not in axes and len(table.values(c)) == 1]
        point = [(c, v) for c, v in point if (c, v) not in (("new_tokens", 1), ("context", 0))]
        point += [(c, v) for c, v in self.chosen + defaulted if c not in (*POINT_COLUMNS, "layer")]
        layers = ", ".join(str(layer) for layer in table.values("layer"))
        fig.suptitle(f"{what}, {layers}" + (f"\n{describe(point)}" if point else ""))
        return Picture(fig, [str(chip) for chip in table.values("chip")], self.chosen, defaulted)

    def fix(self, free: tuple[str, ...]) -> tuple[SweepTable, list[tuple[str, Any]]]:
        """The rows with every input but `free` fixed (at its first value where it still varies), and what was
        fixed that way."""
        return fix_inputs(self.table, free)


def _numeric(table: SweepTable, column: str) -> bool:
    values = table.values(column)
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


@dataclass
class Picture:
    """A drawn figure, the chips of its panels, and the inputs fixed to draw it."""

    figure: Figure
    panels: list[str]
    chosen: list[tuple[str, Any]]
    defaulted: list[tuple[str, Any]]

    def summary(self, kind: str, path: str) -> str:
        line = f"wrote {path}: --kind {kind}, {len(self.panels)} panel(s): {', '.join(self.panels)}"
        if self.chosen:
            line += f"; --where {describe(self.chosen)}"
        if self.defaulted:
            line += f"; fixed at the first value: {describe(self.defaulted)} (pick others with --where)"
        return line + "\n"


POINT_COLUMNS = ("phase", "batch", "context", "new_tokens")
"""Workload inputs a title names when they hold one value, whether or not anything fixed them."""
