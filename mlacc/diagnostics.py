"""One-line errors for every mlacc tool: `FILE:LINE:COL: error: MESSAGE`, or `error: MESSAGE`."""

from __future__ import annotations

from xdsl.dialects.builtin import FileLineColLoc, ModuleOp
from xdsl.ir import Operation
from xdsl.utils.exceptions import ParseError, VerifyException


class InputError(Exception):
    """Bad input that has no place in a file, such as an unreadable path (exit code 1)."""


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
    loc = op.location
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
    if isinstance(error, LocatedVerifyException) and error.place is not None:
        return f"{error.place}: error: {_first_line(str(error))}"
    return f"error: {_first_line(str(error))}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"
