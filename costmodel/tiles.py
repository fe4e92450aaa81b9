"""The tile search: per contraction and design point, the capacity-feasible tiling with the fewest cycles
(ties: least energy), found among few candidates (those no other tiling beats in every cost), vectorised over
workloads and chips."""

from __future__ import annotations

import numpy as np

from costmodel.energy import dynamic_energy_pj
from costmodel.estimate import contraction_compute, estimate_contraction, level_cycles
from costmodel.machine import Machine
from costmodel.op import ORDER_FOR_INNER, Estimate, LevelIndices, OpSpec, Placement, Tiling, column
from costmodel.traffic import Work, contraction_work


def _slots(extent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tile extents a search tries for an index of `extent` (a column): powers of two below it, then the
    extent itself, in that order, one column per slot; and which slots each point has."""
    count = int(np.max(extent) - 1).bit_length() + 1
    powers = 2.0 ** np.arange(count)
    previous = np.concatenate([[0.0], powers[:-1]])
    return np.minimum(powers, extent), (previous < extent) | (np.arange(count) == 0)


def _largest_fitting(sizes: np.ndarray, has: np.ndarray, fits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of `fits` (points x tries x slots of the free extent), the largest slot that fits, and
    whether any does."""
    ok = fits & has[:, None, :]
    last = ok.shape[2] - 1 - np.argmax(ok[:, :, ::-1], axis=2)
    largest = np.take_along_axis(np.broadcast_to(sizes[:, None, :], ok.shape), last[:, :, None], axis=2)[:, :, 0]
    return largest, np.asarray(ok.any(axis=2))


def tiling_candidates(machine: Machine, op: OpSpec) -> tuple[np.ndarray, ...]:
    """The tilings worth trying, per design point: (tm, tn, tk, inner, valid), each points x candidates.

    With K innermost, traffic and parallelism depend only on the M and N tile counts, so K tiles of 1 fit
    best and, for each M tile, the widest N tile that fits; with M innermost they depend on the N and K tile
    counts (not M: its tile is 1), so for each K tile the widest N tile; with N innermost, symmetrically.
    Cycles and energy never fall as a tile count rises, so the cheapest of these is the cheapest of every
    tiling that fits (tests/costmodel/test_cost.py checks this against the exhaustive search).
    """
    assert op.gemm is not None
    capacity, eb = machine.tile_level.capacity, op.element_bytes
    (m_sizes, m_has), (n_sizes, n_has), (k_sizes, k_has) = (_slots(column(op.gemm.extents[c])) for c in "mnk")
    points = max(len(m_sizes), len(n_sizes), len(k_sizes))
    m_sizes, m_has, n_sizes, n_has, k_sizes, k_has = (
        np.broadcast_to(x, (points, x.shape[1])) for x in (m_sizes, m_has, n_sizes, n_has, k_sizes, k_has)
    )
    # K innermost: tk = 1, every tm, the widest tn that fits.
    tm = m_sizes[:, :, None]
    tn, any_n = _largest_fitting(n_sizes, n_has, eb * (tm + n_sizes[:, None, :] + tm * n_sizes[:, None, :]) <= capacity)
    k_inner = (m_sizes, tn, np.ones_like(m_sizes), np.full_like(m_sizes, 2.0), m_has & any_n)
    # M innermost: tm = 1, every tk, the widest tn that fits.
    tk = k_sizes[:, :, None]
    tn, any_n = _largest_fitting(n_sizes, n_has, eb * (tk + tk * n_sizes[:, None, :] + n_sizes[:, None, :]) <= capacity)
    m_inner = (np.ones_like(k_sizes), tn, k_sizes, np.zeros_like(k_sizes), k_has & any_n)
    # N innermost: tn = 1, every tk, the tallest tm that fits.
    tm, any_m = _largest_fitting(m_sizes, m_has, eb * (m_sizes[:, None, :] * tk + tk + m_sizes[:, None, :]) <= capacity)
    n_inner = (tm, np.ones_like(k_sizes), k_sizes, np.ones_like(k_sizes), k_has & any_m)
    return tuple(np.concatenate(parts, axis=1) for parts in zip(k_inner, m_inner, n_inner, strict=True))


def _undominated(machine: Machine, work: Work, valid: np.ndarray) -> np.ndarray:
    """Per workload, the columns of the candidates that some rates could make the best, in their order: a
    candidate goes when another needs no more of anything that costs time or energy (compute per unit over
    utilisation, bytes read and written at every level, fewer innermost instances busy) and is either
    cheaper in one of them or earlier. Cycles and energy never fall as any of these rises, so whatever the
    chip's rates the best candidate survives; a sweep then prices only the survivors at each design point."""
    instances = np.minimum(machine.levels[0].count, work.units)
    metrics = np.stack(
        [work.per_unit / work.utilisation, -instances, *work.reads, *work.writes], axis=-1
    )  # workloads x candidates x metrics
    varies = (metrics != metrics[:, :1, :]).any(axis=(0, 1))
    metrics = metrics[:, :, varies]
    no_more = (metrics[:, None, :, :] <= metrics[:, :, None, :]).all(axis=-1)  # [w, x, y]: y needs no more than x
    same = no_more & np.transpose(no_more, (0, 2, 1))
    count = metrics.shape[1]
    earlier = np.arange(count)[None, :] < np.arange(count)[:, None]  # [x, y]: y comes before x
    dominated = (valid[:, None, :] & no_more & (~same | earlier[None])).any(axis=2)
    keep = valid & ~dominated
    survivors = max(1, int(keep.sum(axis=1).max()))
    return np.argsort(~keep, axis=1, kind="stable")[:, :survivors]


def best_tilings(
    machine: Machine, op: OpSpec, homes: LevelIndices, workload: np.ndarray | None = None
) -> tuple[np.ndarray, ...]:
    """Per design point, the tiling with the fewest cycles (ties: least energy, then the first candidate):
    (tm, tn, tk, inner), one value per point. `op` and `homes` may hold one row per workload and `machine`
    one rate per design point, point i being of workload `workload[i]` (candidates and traffic depend on
    the workload only, so they are found once per workload)."""
    tm, tn, tk, inner, valid = tiling_candidates(machine, op)
    if not valid.any(axis=1).all():
        level = machine.tile_level
        raise ValueError(f"no tile of op '{op.name}' fits {level.name} ({level.capacity} B)")
    work = contraction_work(machine, op, homes, tm, tn, tk, inner)
    keep = _undominated(machine, work, valid)
    work, (tm, tn, tk, inner, valid) = (
        work.columns(keep),
        (np.take_along_axis(x, keep, axis=1) for x in (tm, tn, tk, inner, valid)),
    )
    if workload is not None:
        work, op = work.take(workload), op.take(workload)
        tm, tn, tk, inner, valid = (x[workload] for x in (tm, tn, tk, inner, valid))
    compute = contraction_compute(machine, op, work)
    cycles = compute
    for level in level_cycles(machine, work.reads, work.writes, work.units, op):
        cycles = np.maximum(cycles, level)
    energy = np.zeros_like(cycles)
    for part in dynamic_energy_pj(machine, column(op.macs), op.dtype, work.reads, work.writes, op.flash):
        energy = energy + part
    cycles = np.where(valid, cycles, np.inf)
    fastest = cycles == cycles.min(axis=1, keepdims=True)
    energy = np.where(fastest, energy, np.inf)
    best = np.argmax(energy == energy.min(axis=1, keepdims=True), axis=1)[:, None]
    return tuple(np.take_along_axis(x, best, axis=1)[:, 0] for x in (tm, tn, tk, inner))


def best_tiling(machine: Machine, op: OpSpec, placement: Placement) -> tuple[Tiling, Estimate]:
    """The capacity-feasible tiling with the fewest cycles (ties: least energy), and its estimate."""
    tm, tn, tk, inner = (float(x[0]) for x in best_tilings(machine, op, LevelIndices.of(machine, placement)))
    tiling = Tiling(int(tm), int(tn), int(tk), ORDER_FOR_INNER[int(inner)])
    return tiling, estimate_contraction(machine, op, placement, tiling)
