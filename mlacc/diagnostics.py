"""One-line errors for every mlacc tool: `FILE:LINE:COL: error: MESSAGE`, or `error: MESSAGE`.

Imported by every command before it knows what it will do, so it imports only
xDSL's light exception module at start-up; the IR classes it names are for the
type checker, or imported where a location is read.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from xdsl.utils.exceptions import ParseError, VerifyException

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp
    from xdsl.ir import Attribute, Operation


class InputError(Exception):
    """Bad input that has no place in a file, such as an unreadable path (exit code 1)."""


class PlacedError(InputError):
    """Bad input that a source location explains, such as a layer too large to run."""

    def __init__(self, location: Attribute, message: str):
        self.place = _location_place(location)
        super().__init__(message)


class RelayedError(InputError):
    """Bad input met in a worker process (`mlacc sweep --jobs`), relayed as the one line it printed there."""

    def __init__(self, line: str):
        self.line = line
        super().__init__(line)

    def __reduce__(self) -> tuple[type[RelayedError], tuple[str]]:
        return (RelayedError, (self.line,))


class UsageError(Exception):
    """Bad usage of a command line, such as an unknown workload name (exit code 2)."""


class LocatedVerifyException(VerifyException):
    """A verifier failure that knows which op failed and where that op came from."""

    def __init__(self, op: Operation, message: str):
        self.op_name = op.name
        self.place = _place(op)
        self.message = message
        super().__init__(f"'{op.name}' op {message}")


def _place(op: Operation) -> str | None:
    return _location_place(op.location)


def _location_place(loc: Attribute) -> str | None:
    from xdsl.dialects.builtin import FileLineColLoc

    if isinstance(loc, FileLineColLoc):
        return f"{loc.filename.data}:{loc.line.data}:{loc.column.data}"
    return None


def did_you_mean(given: str, choices: Iterable[str]) -> str:
    """`; did you mean 'h100'?` for the closest of `choices` to a mistyped `given`, else ''."""
    close = difflib.get_close_matches(given, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def verify_module(module: ModuleOp) -> None:
    """Like `module.verify()`, but the error names the failing op and its source place."""
    for op in module.walk():
        try:
            op.verify(verify_nested_ops=False)
        except VerifyException as e:
            raise LocatedVerifyException(op, str(e)) from None


def error_line(error: BaseException) -> str:
    """The one line a user sees for an error; never more than one line."""
    if isinstance(error, RelayedError):
        return error.line
    if isinstance(error, ParseError):
        loc = error.span.get_location()
        return f"{loc}: error: {_first_line(error.msg)}"
    place = getattr(error, "place", None)
    if isinstance(place, str) and place:  # located errors: verifiers, input, and passes that know the source
        return f"{place}: error: {_first_line(str(error))}"
    message = _first_line(str(error))
    if m := _I64_OVERFLOW.match(message):
        message = (
            f"a count of {m.group(1)} exceeds the 64-bit integers of mlacc's IR: "
            "the layer or workload is too large to estimate"
        )
    return f"error: {message}"


_I64_OVERFLOW = re.compile(r"Integer value (-?\d+) is out of range for type i64")
"""xDSL's words when a FLOP or byte count does not fit an `i64` attribute."""


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


INTERNAL_ERROR_EXIT = 70
"""EX_SOFTWARE: mlacc itself failed, whatever the input."""


def report_internal_error(error: Exception) -> int:
    """One line on stderr for a bug in mlacc; `MLACC_TRACEBACK=1` shows the traceback instead."""
    if os.environ.get("MLACC_TRACEBACK"):
        raise error
    message = _first_line(str(error)) if str(error).strip() else ""
    print(
        f"error: internal error ({type(error).__name__}{': ' + message if message else ''}); "
        "rerun with MLACC_TRACEBACK=1 and report it",
        file=sys.stderr,
    )
    return INTERNAL_ERROR_EXIT
