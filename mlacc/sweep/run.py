"""Running a sweep: its points in chunks, in this process, across local worker processes or on a Dask cluster.

`--jobs N` hands chunks of points to N processes (concurrent.futures); `--executor dask` hands them to
the workers of a Dask cluster (mlacc.sweep.cluster connects to it). Either way every chunk runs the
same function (`evaluate_chunk`), and the rows are put back in the order of the points, so they are
the same as one process's whatever finishes first. Workers return what the passes printed on stderr,
and this process prints each line once (as one process would). The bar (rich: points, points/s, time
left) is drawn only when stderr is a terminal and not with -q.
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

from mlacc.diagnostics import InputError, RelayedError, error_line
from mlacc.sweep.evaluate import Row, evaluate, evaluate_quietly
from mlacc.sweep.space import DesignPoint, SweepInput

Executor = Literal["local", "dask"]

TASKS_PER_WORKER = 2
"""Chunks per worker (or per process, for one): the last chunk's tail stays short. Few: the op-table
evaluator pays a fixed cost per (chunk, layer table, chip shape), so a chunk split in eight costs
nearly eight times one (benchmarks/sweep_speed.py)."""

MAX_CHUNK_POINTS: dict[Executor, int] = {"local": 4096, "dask": 16384}
"""The most points one call of `evaluate` gets, per executor. The vectorised evaluator's cost per point
falls as its chunk grows (hundreds to thousands of points), so chunks are large; a Dask task also pays a
round trip through the scheduler and the network, so it gets larger ones still."""


def chunk_size(executor: Executor, points: int, workers: int) -> int:
    """Points per chunk for `workers` workers of `executor`: `TASKS_PER_WORKER` chunks each, at most
    `MAX_CHUNK_POINTS[executor]` points, at least one."""
    return max(1, min(MAX_CHUNK_POINTS[executor], math.ceil(points / (workers * TASKS_PER_WORKER))))


def chunks(points: Sequence[DesignPoint], size: int) -> list[Sequence[DesignPoint]]:
    return [points[i : i + size] for i in range(0, len(points), size)]


ChunkResult = tuple[list[Row], list[str]]
"""A chunk's rows and the lines its evaluation printed on stderr."""

_one_chunk_at_a_time = threading.Lock()
"""A Dask worker runs tasks in threads, but the remark session and the stderr redirect are process-wide."""


def evaluate_chunk(sweep: SweepInput, points: Sequence[DesignPoint], quiet: bool) -> ChunkResult:
    """What a worker (a local process or a Dask worker) runs for one chunk; bad input is relayed as its line."""
    from xdsl.utils.exceptions import DiagnosticException, ParseError

    from passes.remarks import session

    try:
        with _one_chunk_at_a_time, session(quiet=quiet):
            return evaluate_quietly(sweep, points)
    except (ParseError, DiagnosticException, InputError, ValueError) as e:
        raise RelayedError(error_line(e)) from None


def in_point_order(
    finished: Iterable[tuple[int, ChunkResult]], parts: Sequence[Sequence[DesignPoint]], advance: Callable[[int], None]
) -> list[Row]:
    """The rows of chunks that finish in any order, put back in chunk order; each stderr line printed once."""
    results: dict[int, list[Row]] = {}
    printed: set[str] = set()
    for i, (rows, lines) in finished:
        results[i] = rows
        for line in lines:
            if line not in printed:
                printed.add(line)
                print(line, file=sys.stderr)
        advance(len(parts[i]))
    return [row for i in range(len(parts)) for row in results[i]]


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


def run_sweep(
    sweep: SweepInput, points: Sequence[DesignPoint], jobs: int = 1, quiet: bool = False, scheduler: str | None = None
) -> list[Row]:
    """The rows of every point, in point order, evaluated by `jobs` processes, or by the workers of the Dask
    cluster whose scheduler is at `scheduler`."""
    show = not quiet and sys.stderr.isatty()
    with progress_bar(len(points), show) as advance:
        if scheduler is not None:
            return _run_on_cluster(sweep, points, scheduler, quiet, advance)
        # One process without a bar to advance takes its points in as few chunks as it can: the op-table
        # evaluator pays a fixed cost per chunk.
        one_go = jobs == 1 and not show
        parts = chunks(points, MAX_CHUNK_POINTS["local"] if one_go else chunk_size("local", len(points), jobs))
        if jobs == 1:
            rows: list[Row] = []
            for part in parts:
                rows += evaluate(sweep, part)
                advance(len(part))
            return rows
        from concurrent.futures import ProcessPoolExecutor, as_completed

        from mlacc.sweep.fast_rows import prepare
        from passes.remarks import session

        # The op tables, probed once here so that forked workers inherit them; whatever fails here fails
        # again in the worker that evaluates the point, which reports it as it reports every error.
        with session(quiet=True), contextlib.suppress(Exception):
            prepare(sweep, points)
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(evaluate_chunk, sweep, part, quiet): i for i, part in enumerate(parts)}
            try:
                return in_point_order(((futures[f], f.result()) for f in as_completed(futures)), parts, advance)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise


def _run_on_cluster(
    sweep: SweepInput, points: Sequence[DesignPoint], scheduler: str, quiet: bool, advance: Callable[[int], None]
) -> list[Row]:
    """The chunks as tasks of the cluster's workers; the sweep's shared input is sent to each worker once.
    Closing the client on the way out, error or not, cancels whatever is still queued."""
    from mlacc.sweep.cluster import connect, worker_processes

    with connect(scheduler) as client:
        from distributed import as_completed

        parts = chunks(points, chunk_size("dask", len(points), worker_processes(client)))
        shared = client.scatter(sweep, broadcast=True)
        futures = {client.submit(evaluate_chunk, shared, part, quiet, pure=False): i for i, part in enumerate(parts)}
        finished = as_completed(futures, loop=client.loop)
        return in_point_order(((futures[f], f.result()) for f in finished), parts, advance)
