"""Prints the README's validation table from the committed measurements (no GPU needed):

    python benchmarks/validation_table.py

Rerun it after any change to the cost model or a GPU preset and paste its output over the README's table;
tests/test_calibration.py fails while the README shows other figures.
"""

from __future__ import annotations

from pathlib import Path

from mlacc.validate import markdown_table, validate

RESULTS = Path(__file__).resolve().parent / "results"
CSVS = {
    "h100_2026-11-24.csv": "H100",
    "h200_cublaslt_2026-12-01.csv": "H200, cuBLASLt",
    "h200_head16_validation_2026-12-01.csv": "H200, cuBLAS",
    "h200_head16_tuned_2026-12-01.csv": "H200, tuned GEMMs",
}
"""Each committed validation run the table shows, and its column label (cuBLASLt: measure.py --blas cublaslt;
tuned GEMMs: measure.py --tuned-gemms; the others torch's default, cuBLAS)."""


def table() -> str:
    return markdown_table([v for name in CSVS for v in validate(str(RESULTS / name))], list(CSVS.values()))


if __name__ == "__main__":
    print(table(), end="")
