"""The traffic model: bytes each memory level reads and writes for one op at a tiling (the re-reads its loop
order implies, the re-reads below the tile level), the units it keeps busy and their array's utilisation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.attention import programs_and_waves, split_partials
from costmodel.gemm_library import unit_tile
from costmodel.machine import Machine
from costmodel.op import INNER, LevelIndices, OpSpec, Tiling, column


def level_traffic(
    machine: Machine,
    homes: LevelIndices,
    loads: tuple[np.ndarray, ...],
    stores: tuple[np.ndarray, np.ndarray],
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Bytes read and written per level: operands come down from where they live to the innermost level,
    results go up to where they live; every level in between carries the same bytes."""
    reads: list[np.ndarray] = []
    writes: list[np.ndarray] = []
    spill_writes, spill_reads = stores
    result = column(homes.result)
    for level in range(len(machine.levels)):
        read, write = np.zeros_like(spill_writes), np.zeros_like(spill_writes)
        for home, moved in zip(homes.operands, loads, strict=True):
            depth = column(home)
            between = (level >= 1) & (level < depth)
            read = read + moved * ((level == depth) | between)
            write = write + moved * (between | ((level == 0) & (depth > 0)))
        between = (level >= 1) & (level < result)
        write = write + spill_writes * ((level == result) | between) + spill_reads * ((level == 0) & (result > 0))
        read = read + spill_reads * (level == result) + spill_writes * (between | ((level == 0) & (result > 0)))
        reads.append(read)
        writes.append(write)
    return reads, writes


def _streams(op: OpSpec, tm: np.ndarray, tn: np.ndarray, tk: np.ndarray, inner: np.ndarray) -> list[np.ndarray]:
    """Bytes of A loaded, B loaded, C written and C read back, per candidate tiling."""
    assert op.gemm is not None
    m, n, k = (column(op.gemm.extents[c]) for c in "mnk")
    tiles_m, tiles_n, tiles_k = np.ceil(m / tm), np.ceil(n / tn), np.ceil(k / tk)
    a_bytes, b_bytes = (column(b) for b in op.operand_bytes)
    result = column(op.result_bytes)
    return [
        a_bytes * np.where(inner == 1, 1, tiles_n),  # A: once if N is innermost, else once per N tile
        # B: once if M is innermost, else once per M tile; a causal mask skips the blocks it hides
        b_bytes * np.where(inner == 0, 1, tiles_m) * column(op.density),
        result * np.where(inner == 2, 1, tiles_k),  # C: partial sums when K is not innermost
        result * np.where(inner == 2, 0, tiles_k - 1),  # C read back
    ]


def moved_bytes(op: OpSpec, tiling: Tiling | None) -> tuple[list[float], float]:
    """Bytes each operand moves from where it lives, and bytes the result moves to where it lives."""
    if op.gemm is None or tiling is None:
        return [float(b) for b in op.operand_bytes], float(op.result_bytes)
    one = np.ones((1, 1))
    a, b, c_writes, c_reads = _streams(
        op, one * tiling.m, one * tiling.n, one * tiling.k, one * INNER[tiling.order[-1]]
    )
    return [float(a[0, 0]), float(b[0, 0])], float(c_writes[0, 0] + c_reads[0, 0])


@dataclass
class Work:
    """What candidate tilings cost before any rate: bytes read and written per level, units busy, the
    array's utilisation, and the MACs of the busiest unit (rows: workloads, columns: candidates)."""

    reads: list[np.ndarray]
    writes: list[np.ndarray]
    units: np.ndarray
    utilisation: np.ndarray
    per_unit: np.ndarray
    partial: np.ndarray | None = None
    """Bytes of fp32 partial results a split flash kernel's combine reads (written and read off chip)."""
    splits: np.ndarray | None = None
    """Splits of the keys each row block's combine merges."""

    def columns(self, keep: np.ndarray) -> Work:
        """The candidates `keep` names, per row."""

        def pick(x: np.ndarray) -> np.ndarray:
            return np.take_along_axis(np.broadcast_to(x, (len(keep), x.shape[1])), keep, axis=1)

        return Work(
            [pick(r) for r in self.reads],
            [pick(w) for w in self.writes],
            pick(self.units),
            pick(self.utilisation),
            pick(self.per_unit),
            None if self.partial is None else pick(self.partial),
            None if self.splits is None else pick(self.splits),
        )

    def take(self, index: np.ndarray) -> Work:
        """The rows of design points from the rows of their workloads."""
        return Work(
            [r[index] for r in self.reads],
            [w[index] for w in self.writes],
            self.units[index],
            self.utilisation[index],
            self.per_unit[index],
            None if self.partial is None else self.partial[index],
            None if self.splits is None else self.splits[index],
        )


def contraction_work(
    machine: Machine,
    op: OpSpec,
    homes: LevelIndices,
    tm: np.ndarray,
    tn: np.ndarray,
    tk: np.ndarray,
    inner: np.ndarray,
) -> Work:
    """Vectorised over workloads (rows) and candidate tilings (columns); reads only the machine's shape
    (units, array, levels and their capacities), not its rates, so a sweep runs it once per workload.

    `inner` is the innermost loop of each candidate (0 = m, 1 = n, 2 = k); the order of the two
    outer loops does not change the traffic in this model.
    """
    assert op.gemm is not None
    g, m, n, k = (column(op.gemm.extents[c]) for c in "gmnk")
    tiles_k = np.ceil(k / tk)
    a_bytes, b_bytes = (column(b) for b in op.operand_bytes)
    density = column(op.density)
    a_loads, b_loads, c_writes, c_reads = _streams(op, tm, tn, tk, inner)
    reads, writes = level_traffic(machine, homes, (a_loads, b_loads), (c_writes, c_reads))
    tile_level = len(machine.levels) - 2
    if tile_level > 0:
        # Below the tile level, each unit re-reads its share through its output tile (see `unit_tile`): the
        # operands that come down through the tile level (not those a flash kernel already holds below it).
        tall, wide = unit_tile(machine, op.element_bytes)
        through = [column(home) >= tile_level for home in homes.operands]
        a_bytes, b_bytes = a_bytes * through[0], b_bytes * through[1]
        a_loads, b_loads = a_loads * through[0], b_loads * through[1]
        inner_loads = np.minimum(
            a_bytes * np.ceil(n / wide) + b_bytes * np.ceil(m / tall),
            a_bytes * np.ceil(n / tall) + b_bytes * np.ceil(m / wide),
        )
        extra = np.maximum(0.0, inner_loads * density - a_loads - b_loads)
        reads[tile_level] = reads[tile_level] + extra
        writes[0] = writes[0] + extra
    macs = column(op.macs)
    # The array reads each A element once per pass of its columns, each B element once per pass of its rows.
    reads[0] = reads[0] + macs * op.element_bytes * (1 / machine.cols + 1 / machine.rows)

    rows, cols = machine.rows, machine.cols

    def fit(extent: np.ndarray, width: int) -> np.ndarray:
        return extent / (np.ceil(extent / width) * width)

    # Any two of M, N, K can be unrolled over the array's rows and columns (K through an adder tree),
    # so a GEMV (M = 1) can still fill the array; the best such mapping is taken.
    extents = {"m": m, "n": n, "k": k}
    utilisation = np.zeros_like(m)
    for x in "mnk":
        for y in "mnk":
            if x != y:
                utilisation = np.maximum(utilisation, fit(extents[x], rows) * fit(extents[y], cols))
    blocks = np.maximum(np.ceil(m / rows) * np.ceil(n / cols), np.ceil(m / cols) * np.ceil(n / rows))
    # Array-sized output blocks run in parallel; with K not innermost, partial sums go up a level, so the
    # K tiles can run in parallel too (split-K).
    units = np.minimum(machine.units, g * blocks * np.where(inner == 2, 1, tiles_k))
    utilisation = utilisation * np.ones_like(tm)
    per_unit = macs / units
    if op.attention is not None:
        row_blocks, programs, units, per_unit = programs_and_waves(machine, g, m, column(op.attention.keys), macs)
        units, per_unit = units * np.ones_like(tm), per_unit * np.ones_like(tm)
        if np.any(machine.attention_split_cycles):  # the same for every point: part of `Machine.shape`
            splits = programs / row_blocks
            partial = split_partials(splits, column(op.result_bytes), op.element_bytes, column(homes.result) != 0)
            reads[-1] = reads[-1] + partial
            writes[-1] = writes[-1] + partial
            return Work(
                reads, writes, units, utilisation, per_unit, partial * np.ones_like(tm), splits * np.ones_like(tm)
            )
    return Work(reads, writes, units, utilisation, per_unit)
