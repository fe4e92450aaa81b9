"""The GEMM library's behaviour (cuBLAS/cuBLASLt on a GPU): the output tile each unit keeps, how its mainloop
rate falls for shallow K (the tile's write-out), and when it splits K into a second kernel."""

from __future__ import annotations

import numpy as np

from costmodel.machine import Machine, Num
from costmodel.op import Gemm

LIBRARY_TILE = 128
"""Output tile edge by which `library_splits_k` counts a GEMM's tiles (cuBLAS's Hopper kernels: 64-256)."""

SPLIT_K_DEPTH = 192
"""K per output tile from which the library splits K (see `library_splits_k`): between the deepest unsplit
GEMM profiled (112 per tile) and the shallowest split one (292)."""


def library_splits_k(units: int, gemm: Gemm) -> np.ndarray:
    """Whether a GEMM library splits the GEMM along K and sums the partial results in a second kernel: when
    its output has fewer tiles than there are `units` and each tile's K is deep, at least SPLIT_K_DEPTH per
    tile. What cuBLAS did in every step profiled (benchmarks/results/h200_profile_*_2026-11-30.csv): it split
    the down-projections (K = 7168 onto 64-1536 columns, 597-7168 per tile) and the output projections
    (K = 16384-65536 onto 7168, 292-1170) at batch 1-128 and the RoPE key's in a 2048-token prefill (448); not
    the projections onto 8192-65536 columns (at most 56), the per-head batched ones, nor a prefill's
    down-projections of 64 tiles (112). Elementwise over design points."""
    g, m, n, k = (np.asarray(gemm.extents[c], dtype=float) for c in "gmnk")
    tiles = g * np.ceil(m / LIBRARY_TILE) * np.ceil(n / LIBRARY_TILE)
    return (tiles < units) & (k >= SPLIT_K_DEPTH * tiles)


SLICE_DEPTH = 64
"""K extent of the operand slices a unit streams through the innermost level (a GPU SM's TMA/wgmma k-slice)."""


def unit_tile(machine: Machine, element_bytes: int) -> tuple[int, int]:
    """The output tile one unit keeps while K streams past: two array passes tall and one wide (two warpgroups
    of an SM, accumulators in registers), halved until its double-buffered k-slices fit the innermost level."""
    tall, wide = 2 * machine.rows, machine.cols
    while tall > 1 and 2 * (tall + wide) * SLICE_DEPTH * element_bytes > machine.levels[0].capacity:
        tall, wide = max(1, tall // 2), max(1, wide // 2)
    return tall, wide


def compute_efficiency(machine: Machine, k: Num | None, mainloop: Num | None = None) -> Num:
    """The measured fraction of peak a GEMM reaches: its output tiles each stream K in slices and then spend
    `epilogue_slices` slices' time writing the tile out, so a shallow K (512, an MLA up-projection) reaches less
    of its mainloop rate (`mainloop`: `compute`, or a grouped expert GEMM's `moe_gemm_compute`) than a deep one.
    An op without a contraction (k None) runs at `compute` itself."""
    rate = machine.compute_efficiency if mainloop is None else mainloop
    if k is None:
        return rate
    slices = np.ceil(np.asarray(k, dtype=float) / SLICE_DEPTH)
    epilogue = np.asarray(machine.epilogue_slices, dtype=float)
    deep = rate * slices / (slices + epilogue)
    return np.where(epilogue == 0, rate, deep)
