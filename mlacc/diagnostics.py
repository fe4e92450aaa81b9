"""One-line errors for every mlacc tool: `FILE:LINE:COL: error: MESSAGE`, or `error: MESSAGE`."""

from __future__ import annotations

import os
import sys

from xdsl.dialects.builtin import FileLineColLoc, ModuleOp
from xdsl.ir import Attribute, Operation
from xdsl.utils.exceptions import ParseError, VerifyException


class InputError(Exception):
    """Bad input that has no place in a file, such as an unreadable path (exit code 1)."""


class PlacedError(InputError):
    """Bad input that a source location explains, such as a layer too large to run."""

    def __init__(self, location: Attribute, message: str):
        self.place = _location_place(location)
        super().__init__(message)


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
    if isinstance(loc, FileLineColLoc):
        return f"{loc.filename.data}:{loc.line.data}:{loc.column.data}"
    return None


def verify_module(module: ModuleOp) -> None:
    """Like `module.verify()`, but the error names the failing op and its source place."""
    for op in module.walk():
        try:
            op.verify(verify_nested_ops=False)
        except VerifyException as e:
            raise LocatedVerifyException(op, str(e)) from None


def error_line(error: BaseException) -> str:
    """The one line a user sees for an error; never more than one line."""
    if isinstance(error, ParseError):
        loc = error.span.get_location()
        return f"{loc}: error: {_first_line(error.msg)}"
    place = getattr(error, "place", None)
    if isinstance(error, LocatedVerifyException | InputError) and place:
        return f"{place}: error: {_first_line(str(error))}"
    return f"error: {_first_line(str(error))}"


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
