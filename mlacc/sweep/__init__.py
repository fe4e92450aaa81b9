"""`mlacc sweep`: design-space sweeps over workloads, schemes and (hypothetical) hardware.

axes: the command line's value lists and ranges; space: the design points they span;
evaluate: points -> rows (op tables: optable, fast, fast_rows; else the IR pipeline);
tables: rows -> CSV, JSON lines or Parquet; run: chunks, worker processes and the progress
bar; cluster: reaching the Dask cluster of `--executor dask`.
"""
