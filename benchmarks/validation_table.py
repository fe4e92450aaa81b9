"""Prints the README's validation table from the committed measurements (no GPU needed):

    python benchmarks/validation_table.py

Rerun it after any change to the cost model or a GPU preset and paste its output over the README's table;
tests/test_calibration.py fails while the README shows other figures.
"""

from __future__ import annotations

from pathlib import Path

from mlacc.validate import markdown_table, validate

RESULTS = Path(__file__).resolve().parent / "results"
CSVS = ("h100_2026-11-24.csv", "h200_2026-11-24.csv")


def table() -> str:
    return markdown_table([v for name in CSVS for v in validate(str(RESULTS / name))])


if __name__ == "__main__":
    print(table(), end="")
