"""Sweep rows as `mlacc plot` reads them back: a CSV, JSON lines or Parquet table written by `mlacc sweep`.

A row's inputs are what a sweep varies: the workload fields, the scheme and the hardware. A hypothetical
chip's name (`h100[hbm.read_bandwidth_bytes_per_cycle=1000]`, from `--set`) is split into its base
hardware, the `chip` column, and one column per `--set` field, so that a swept field is an axis like the
batch or the context. Everything else in a row (latency, energy, bytes, fits) is an output.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, replace
from typing import Any

from mlacc.diagnostics import InputError, UsageError, did_you_mean
from mlacc.sweep.evaluate import Row
from mlacc.sweep.tables import FORMATS

WORKLOAD_COLUMNS = ("layer", "workload", "phase", "batch", "context", "new_tokens", "tp", "dp")
"""Inputs of a row besides the chip, its `--set` fields and the scheme, in the order they are fixed."""

NEEDED = ("layer", "scheme", "hardware")
"""Columns every picture needs, whatever its kind."""

_CHIP_NAME = re.compile(r"(?P<base>[^\[\]]+)\[(?P<sets>[^\[\]]*)\]")


@dataclass(frozen=True)
class SweepTable:
    """The rows of one sweep file, with `chip` and the `--set` field columns derived from each row's hardware."""

    path: str
    rows: list[Row]
    set_fields: tuple[str, ...]

    @property
    def inputs(self) -> tuple[str, ...]:
        return ("chip", *self.set_fields, *WORKLOAD_COLUMNS, "scheme")

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(column for row in self.rows for column in row))

    def values(self, column: str) -> list[Any]:
        """The column's distinct values: numbers ascending, anything else in the order the rows give it."""
        found = list(dict.fromkeys(v for row in self.rows if (v := row.get(column)) is not None))
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in found):
            return sorted(found)
        return found

    def varies(self, column: str) -> bool:
        return len(self.values(column)) > 1

    def having(self, column: str, value: Any) -> SweepTable:
        return replace(self, rows=[row for row in self.rows if row.get(column) == value])

    def require(self, columns: tuple[str, ...], kind: str, remedy: str = "") -> None:
        """An `InputError` naming the first of `columns` the rows lack, and what `kind` needs it for."""
        present = set(self.columns)
        for column in columns:
            if column not in present:
                raise InputError(f"{self.path} has no '{column}' column, which --kind {kind} needs{remedy}")


def read_sweep(path: str) -> SweepTable:
    """The rows of a sweep file, typed as `mlacc sweep` wrote them (CSV cells parsed back to numbers and booleans,
    `ops` decoded from JSON)."""
    suffix = next((s for s in FORMATS if path.lower().endswith(s)), None)
    if suffix is None:
        raise UsageError(f"cannot tell the format of '{path}': mlacc plot reads a sweep's .csv, .jsonl or .parquet")
    try:
        rows = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}[FORMATS[suffix]](path)
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise InputError(f"cannot read '{path}': {reason}") from None
    if not rows:
        raise InputError(f"{path} holds no rows")
    for number, row in enumerate(rows, 1):
        if isinstance(row.get("ops"), str):
            try:
                row["ops"] = json.loads(row["ops"])
            except json.JSONDecodeError:
                raise InputError(f"{path}: row {number}: its ops cell is not JSON") from None
    table = SweepTable(path, rows, ())
    for column in NEEDED:
        if column not in table.columns:
            raise InputError(f"{path} does not look like `mlacc sweep` rows: it has no '{column}' column")
    return _split_chip_names(table)


def _cell(text: str) -> Any:
    """A CSV cell as `mlacc sweep` wrote it: empty is missing, true/false booleans, numbers in Python's form."""
    if text == "":
        return None
    if text in ("true", "false"):
        return text == "true"
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    return text


def _read_csv(path: str) -> list[Row]:
    with open(path, encoding="utf-8", newline="") as f:
        try:
            return [{k: _cell(v) for k, v in row.items()} for row in csv.DictReader(f)]
        except csv.Error as e:
            raise InputError(f"cannot read '{path}': {e}") from None


def _read_jsonl(path: str) -> list[Row]:
    rows: list[Row] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if not isinstance(row, dict):
                raise InputError(f"cannot read '{path}': line {number} is not a JSON object")
            rows.append(row)
    return rows


def _read_parquet(path: str) -> list[Row]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError("reading Parquet needs pyarrow: pip install 'mlacc[sweep]' (or plot .csv, .jsonl)") from None
    try:
        return pq.read_table(path).to_pylist()
    except pa.ArrowException as e:
        raise InputError(f"cannot read '{path}': {str(e).strip().splitlines()[0]}") from None


def _split_chip_names(table: SweepTable) -> SweepTable:
    """Adds `chip` (the hardware a row's chip was made from) and a column per `--set` field in its name."""
    from mlacc.sweep.axes import parse_number

    fields: dict[str, None] = {}
    for row in table.rows:
        name = str(row["hardware"])
        match = _CHIP_NAME.fullmatch(name)
        row["chip"] = match.group("base") if match else name
        for setting in match.group("sets").split(",") if match else []:
            field, _, value = setting.partition("=")
            row[field] = parse_number(value, f"hardware '{name}'")
            fields[field] = None
    return replace(table, set_fields=tuple(fields))


def parse_where(text: str) -> list[tuple[str, str]]:
    """`batch=32,phase=decode` -> [(column, value text)]; a comma inside a chip's [...] does not split."""
    pairs: list[tuple[str, str]] = []
    for item in re.split(r",(?![^\[]*\])", text):
        column, sep, value = item.partition("=")
        if not sep or not column.strip() or not value.strip():
            raise UsageError(f"--where: expected COLUMN=VALUE such as batch=32, got '{item.strip()}'")
        pairs.append((column.strip(), value.strip()))
    return pairs


def select(table: SweepTable, pairs: list[tuple[str, str]]) -> SweepTable:
    """The rows whose columns hold the given values (a token count may be written 32k, a boolean true/false)."""
    from mlacc.sweep.axes import parse_number

    for column, text in pairs:
        values = table.values(column)
        if column not in table.columns:
            raise UsageError(
                f"--where: the rows have no column '{column}'{did_you_mean(column, table.columns)}"
                f" (inputs: {', '.join(c for c in table.inputs if c in table.columns)})"
            )
        wanted: Any = text
        if values and all(isinstance(v, bool) for v in values):
            wanted = {"true": True, "false": False}.get(text.lower(), text)
        elif values and all(isinstance(v, int | float) for v in values):
            wanted = parse_number(text, f"--where {column}")
        chosen = table.having(column, wanted)
        if not chosen.rows:
            shown = ", ".join(str(v) for v in values[:12]) + (", ..." if len(values) > 12 else "")
            raise UsageError(f"--where {column}={text} matches no row (rows left have {column}: {shown})")
        table = chosen
    return table


def fix_inputs(table: SweepTable, free: tuple[str, ...]) -> tuple[SweepTable, list[tuple[str, Any]]]:
    """Fixes every input that still varies and is not `free` (a picture's axes, panels and series) at its first
    value, so that each drawn point is one row; returns the rows left and the (column, value) pairs fixed."""
    fixed: list[tuple[str, Any]] = []
    for column in table.inputs:
        if column not in free and table.varies(column):
            value = table.values(column)[0]
            fixed.append((column, value))
            table = table.having(column, value)
    return table, fixed
