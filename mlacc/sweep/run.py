"""Running a sweep: its points in chunks, in this process or across local worker processes, with a progress bar.

`--jobs N` hands chunks of points to N processes (concurrent.futures); the rows are put back in the
order of the points, so they are the same as one process's whatever finishes first. Workers return
what the passes printed on stderr, and this process prints each line once (as one process would).
The bar (rich: points, points/s, time left) is drawn only when stderr is a terminal and not with -q.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from mlacc.diagnostics import InputError, RelayedError, error_line
from mlacc.sweep.evaluate import Row, evaluate, evaluate_quietly
from mlacc.sweep.space import DesignPoint, SweepInput

MAX_CHUNK = 16
"""Points per task handed to a worker: enough to amortise the hand-over, few enough to balance the load."""


def chunks(points: Sequence[DesignPoint], jobs: int) -> list[Sequence[DesignPoint]]:
    size = max(1, min(MAX_CHUNK, math.ceil(len(points) / (jobs * 4))))
    return [points[i : i + size] for i in range(0, len(points), size)]


def _worker(sweep: SweepInput, points: Sequence[DesignPoint], quiet: bool) -> tuple[list[Row], list[str]]:
    from xdsl.utils.exceptions import DiagnosticException, ParseError

    from passes.remarks import session

    try:
        with session(quiet=quiet):
            return evaluate_quietly(sweep, points)
    except (ParseError, DiagnosticException, InputError, ValueError) as e:
        raise RelayedError(error_line(e)) from None


@contextmanager
def progress_bar(total: int, show: bool) -> Iterator[Callable[[int], None]]:
    """A callback that advances a bar of `total` points; a no-op when not `show`n or rich is missing."""
    if not show:
        yield lambda _: None
        return
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    except ImportError:  # the bar is a comfort, not a reason to fail a sweep
        yield lambda _: None
        return
    columns = (
        TextColumn("sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("points"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("sweep", total=total, rate="")

        def advance(n: int) -> None:
            progress.advance(task, n)
            speed = progress.tasks[0].speed
            progress.update(task, rate=f"{speed:.1f} points/s" if speed else "")

        yield advance


def run_sweep(sweep: SweepInput, points: Sequence[DesignPoint], jobs: int = 1, quiet: bool = False) -> list[Row]:
    """The rows of every point, in point order, evaluated by `jobs` processes."""
    show = not quiet and sys.stderr.isatty()
    parts = chunks(points, jobs)
    with progress_bar(len(points), show) as advance:
        if jobs == 1:
            rows: list[Row] = []
            for part in parts:
                rows += evaluate(sweep, part)
                advance(len(part))
            return rows
        from concurrent.futures import ProcessPoolExecutor, as_completed

        results: dict[int, list[Row]] = {}
        printed: set[str] = set()
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(_worker, sweep, part, quiet): i for i, part in enumerate(parts)}
            try:
                for future in as_completed(futures):
                    i = futures[future]
                    results[i], lines = future.result()
                    for line in lines:
                        if line not in printed:
                            printed.add(line)
                            print(line, file=sys.stderr)
                    advance(len(parts[i]))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return [row for i in range(len(parts)) for row in results[i]]
