"""Outputs are written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from mlacc.diagnostics import InputError


def write_whole(path: str, text: str) -> None:
    """Writes `text` to `path` through a temporary file renamed into place, so a failure leaves no partial file."""

    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)

    write_whole_with(path, write)


def write_whole_with(path: str, write: Callable[[str], None]) -> None:
    """Has `write` fill a temporary file next to `path` (a writer that wants a path, such as Parquet's), then
    renames it into place; a failure leaves no partial file."""
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        # Said here, before the temporary file, whose hidden name would only puzzle.
        what = "is not a folder" if folder.exists() else "does not exist"
        raise InputError(f"cannot write '{path}': folder '{folder}' {what}")
    if target.is_dir():
        raise InputError(f"cannot write '{path}': it is a folder")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
