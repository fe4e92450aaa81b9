"""`--verbose`: wall time per pass, wherever the pass is applied from, printed on stderr.

A report applies passes in several places (the pipeline up to `la`, then
absorb, tile, place and schedule once per scheme), so the timer wraps the
`apply` of every registered pass class for the duration of a command rather
than hooking one `PassPipeline`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from passes import get_all_passes


@dataclass
class PassTimes:
    """Per pass name: how many times it ran and its total wall time in seconds (in first-run order)."""

    runs: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.runs[name] = self.runs.get(name, 0) + 1
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def format(self, total: float) -> str:
        width = max((len(n) for n in self.runs), default=4)
        lines = [f"pass timing (wall): {total * 1e3:.1f} ms in all"]
        for name, runs in self.runs.items():
            plural = "s" if runs > 1 else " "
            lines.append(f"  {name:<{width}}  {runs:>3} run{plural}  {self.seconds[name] * 1e3:9.1f} ms")
        rest = total - sum(self.seconds.values())
        lines.append(f"  {'other':<{width}}  {'':>3}      {rest * 1e3:9.1f} ms (parsing, verifying, reporting)")
        return "\n".join(lines) + "\n"


def _timed(apply: Callable[..., None], name: str, times: PassTimes) -> Callable[..., None]:
    def timed_apply(self: Any, ctx: Any, op: Any) -> None:
        start = time.perf_counter()
        try:
            apply(self, ctx, op)
        finally:
            times.add(name, time.perf_counter() - start)

    return timed_apply


@contextmanager
def pass_timer(enabled: bool, extra: tuple[type[Any], ...] = ()) -> Iterator[PassTimes]:
    """Times every registered pass (and the `extra` pass classes) while the block runs; prints the table when
    `enabled`. Passes nest (absorb{auto} applies none, but a future pass might): each is charged its own wall."""
    times = PassTimes()
    if not enabled:
        yield times
        return
    classes = [factory() for factory in get_all_passes().values()] + list(extra)
    saved = {cls: cls.__dict__["apply"] for cls in classes if "apply" in cls.__dict__}
    for cls, apply in saved.items():
        cls.apply = _timed(apply, cls.name, times)
    start = time.perf_counter()
    try:
        yield times
    finally:
        for cls, apply in saved.items():
            cls.apply = apply
        print(times.format(time.perf_counter() - start), end="", file=sys.stderr)
