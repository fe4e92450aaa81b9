"""Prints docs/validation.md's table of four runs from the committed measurements (no GPU needed):

    python benchmarks/validation_table.py

Rerun it after any change to the cost model or a GPU preset and paste its output over that table;
tests/costmodel/test_calibration.py fails while the page shows other figures.
"""

from __future__ import annotations

from pathlib import Path

from mlacc.validate import TABLE_RUNS, markdown_table, validate

RESULTS = Path(__file__).resolve().parent / "results"


def table() -> str:
    runs = [v for name in TABLE_RUNS for v in validate(str(RESULTS / name))]
    return markdown_table(runs, list(TABLE_RUNS.values()))


if __name__ == "__main__":
    print(table(), end="")
