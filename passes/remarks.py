"""Remarks and warnings that passes print on stderr: each once per (place, message).

A pipeline may run a pass many times on the same function (the report runs
`absorb` under every scheme), and a user wants to read a remark once. A command
opens a `session` so that its remarks are counted afresh and `-q` can silence
them; outside any session remarks are still printed once per process.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from xdsl.ir import Attribute

Severity = Literal["remark", "warning"]


@dataclass
class _Session:
    quiet: bool = False
    """Silence remarks; warnings are still printed."""
    seen: set[tuple[Severity, str, str]] = field(default_factory=set)


_current = _Session()


def place_of(location: Attribute) -> str:
    """`FILE:LINE:COL` of a source location, '' where the IR has none."""
    # Imported here: a command opens a session before it knows whether it will build IR.
    from xdsl.dialects.builtin import FileLineColLoc

    if isinstance(location, FileLineColLoc):
        return f"{location.filename.data}:{location.line.data}:{location.column.data}"
    return ""


def emit(severity: Severity, location: Attribute, message: str) -> None:
    """Prints `PLACE: SEVERITY: MESSAGE` on stderr unless this session printed it already."""
    place = place_of(location)
    key = (severity, place, message)
    if key in _current.seen:
        return
    _current.seen.add(key)
    if _current.quiet and severity == "remark":
        return
    print(f"{place + ': ' if place else ''}{severity}: {message}", file=sys.stderr)


def remark(location: Attribute, message: str) -> None:
    emit("remark", location, message)


def warning(location: Attribute, message: str) -> None:
    emit("warning", location, message)


@contextmanager
def session(quiet: bool = False) -> Iterator[None]:
    """Remarks printed inside are deduplicated among themselves; `quiet` silences them."""
    global _current
    outer, _current = _current, _Session(quiet=quiet)
    try:
        yield
    finally:
        _current = outer
