"""Sweep rows -> CSV, JSON lines or Parquet, chosen by the output's extension; written whole or not at all.

Every row gets every column: the union of the rows' keys in first-seen order (energy components differ
between chips), a missing one empty in CSV and null in JSON lines and Parquet. CSV writes booleans as
true/false and floats in Python's shortest round-trip form, so reading a CSV back gives the same
numbers. With `--ops` the `ops` column is the per-op list: a JSON array in JSON lines, a JSON string in
CSV and Parquet.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from mlacc.diagnostics import InputError, UsageError
from mlacc.output import write_whole, write_whole_with

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


def output_format(path: str) -> str:
    for suffix, name in FORMATS.items():
        if path.lower().endswith(suffix):
            return name
    raise UsageError(f"-o: cannot tell the format of '{path}': name it .csv, .jsonl or .parquet")


def columns(rows: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value)
    return "" if value is None else value


def format_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = columns(rows)
    writer.writerow(names)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in names])
    return out.getvalue()


def format_jsonl(rows: list[dict[str, Any]]) -> str:
    names = columns(rows)
    return "".join(json.dumps({name: row.get(name) for name in names}) + "\n" for row in rows)


def write_parquet(path: str, rows: list[dict[str, Any]]) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            "writing Parquet needs pyarrow: pip install 'mlacc[sweep]' (or write .csv or .jsonl)"
        ) from None
    names = columns(rows)
    table = pa.Table.from_pylist(
        [{name: json.dumps(v) if isinstance(v := row.get(name), list) else v for name in names} for row in rows]
    )
    write_whole_with(path, lambda tmp: pq.write_table(table, tmp))


def write_rows(path: str, rows: list[dict[str, Any]]) -> None:
    """Writes `rows` to `path` in the format its extension names."""
    kind = output_format(path)
    if kind == "parquet":
        write_parquet(path, rows)
    else:
        write_whole(path, format_csv(rows) if kind == "csv" else format_jsonl(rows))
