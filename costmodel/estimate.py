"""One op's estimate: compute cycles at the measured rate of its kind of kernel, each memory level's cycles
from its traffic, the slowest of them plus the kernel's fixed time, and its dynamic energy (see the package
docstring for the model)."""

from __future__ import annotations

import numpy as np

from costmodel.attention import JOINS_PARTS, combine_cycles, off_chip_efficiency
from costmodel.attention import compute_efficiency as attention_efficiency
from costmodel.energy import dynamic_energy_pj, kernel_energy_scale
from costmodel.flashmla import kernel_cycles, soft_maximum
from costmodel.gemm_library import compute_efficiency as gemm_efficiency
from costmodel.gemm_library import library_splits_k
from costmodel.machine import Machine, Num
from costmodel.op import INNER, Estimate, Estimates, LevelIndices, OpSpec, Placement, Tiling, column
from costmodel.traffic import Work, contraction_work, level_traffic


def compute_efficiency(machine: Machine, op: OpSpec) -> Num:
    """The measured fraction of peak the op's kind of kernel reaches: a fused attention's
    (costmodel/attention.py) or the GEMM library's (costmodel/gemm_library.py)."""
    if op.attention is not None:
        if op.gemm is None:
            return machine.attention_compute_efficiency
        return attention_efficiency(machine, op.gemm.extents["g"], op.gemm.extents["m"], op.attention, op.density)
    if op.grouped and op.gemm is not None:
        return gemm_efficiency(machine, op.gemm.extents["k"], machine.moe_gemm_compute)
    return gemm_efficiency(machine, op.gemm.extents["k"] if op.gemm is not None else None)


def contraction_compute(machine: Machine, op: OpSpec, work: Work) -> np.ndarray:
    """Compute cycles: the busiest unit's MACs at the array's peak x utilisation x measured efficiency, and a
    split kernel's combine where the preset measured it."""
    rate = column(machine.peak_macs(op.dtype)) * work.utilisation * column(compute_efficiency(machine, op))
    compute = work.per_unit / rate
    if work.partial is not None and work.splits is not None:
        compute = compute + combine_cycles(machine, work.partial, work.splits)
    return compute


def level_cycles(
    machine: Machine, reads: list[np.ndarray], writes: list[np.ndarray], units: np.ndarray, op: OpSpec
) -> list[np.ndarray]:
    """On-chip levels read and write through separate ports; the off-chip bus is shared by reads and writes
    and reaches the measured fraction of its peak: a GEMM's operand reads `memory`'s and its output stores
    `memory_write`'s; a flash group's, the fused attention kernel's (`attention.off_chip_efficiency`)."""
    cycles = []
    last = len(machine.levels) - 1
    off_chip = machine.moe_gemm_memory if op.grouped else machine.memory_efficiency
    if op.attention is not None:
        g, m = (op.gemm.extents["g"], op.gemm.extents["m"]) if op.gemm is not None else (None, None)
        off_chip = off_chip_efficiency(machine, g, m, op.attention, op.density)
    # A GEMM writes its output tiles after their mainloops have read their operands, at the measured write rate
    # (a fill writes as fast, benchmarks/results/h200_streams_2026-12-01.csv). A copy-like op interleaves its
    # reads and writes (a 256 MiB copy moves 4.1 TB/s, more than a fill or a sum alone) and a fused kernel's
    # rates were measured on whole kernels: both keep one rate.
    gemm_stores = op.gemm is not None and not op.flash
    off_chip_write = machine.memory_write_efficiency if gemm_stores else off_chip
    for i, level in enumerate(machine.levels):
        instances = np.minimum(level.count, units) if i == 0 else level.count
        scale = instances * (column(off_chip) if i == last else 1.0)
        read_bw, write_bw = column(level.read_bandwidth), column(level.write_bandwidth)
        if i == last:
            write_scale = instances * column(off_chip_write)
            cycles.append(reads[i] / (read_bw * scale) + writes[i] / (write_bw * write_scale))
        else:
            cycles.append(np.maximum(reads[i] / (read_bw * scale), writes[i] / (write_bw * scale)))
    return cycles


def _estimates(
    machine: Machine,
    op: OpSpec,
    compute: np.ndarray,
    reads: list[np.ndarray],
    writes: list[np.ndarray],
    units: np.ndarray,
    utilisation: np.ndarray,
    level_cycles: list[np.ndarray],
) -> Estimates:
    """The op's cycles (the slowest of compute and every level, plus the kernel's fixed time) and energy,
    from per-point columns of its terms."""
    terms = np.concatenate([compute, *level_cycles], axis=1)
    bound = np.argmax(terms, axis=1)  # the first of equal terms, as `max` over (compute, levels) picks it
    latency = fixed_cycles(machine, op)
    scale = column(kernel_energy_scale(machine, op))
    energy = [part * scale for part in dynamic_energy_pj(machine, column(op.macs), op.dtype, reads, writes, op.flash)]
    cycles = np.take_along_axis(terms, bound[:, None], axis=1)[:, 0]
    if op.grouped:  # near the ridge the mainloop and the weight stream overlap only in part (`moe_gemm_overlap`)
        cycles = np.maximum(cycles, soft_maximum(compute[:, 0], level_cycles[-1][:, 0], machine.moe_gemm_overlap))
    if op.kind == "combine":  # a scatter of rows back to token order: its own rate, wherever the rows are
        moved = sum(column(b)[:, 0] for b in op.operand_bytes) + column(op.result_bytes)[:, 0]
        scatter = moved / (np.asarray(machine.dram.read_bandwidth, dtype=float) * machine.moe_combine_memory)
        cycles = np.maximum(cycles, scatter)
    if uses_flashmla(machine, op):
        cycles, compute, level_cycles, bound = flashmla_share(machine, op, len(level_cycles), len(compute))
        latency = np.asarray(latency) + machine.op_latency  # its combine is a second kernel
    if op.launch and op.attention is not None and machine.library(op.op_class) in JOINS_PARTS:
        # The copies that join the group's query (and keys) parts into the one tensor each the library takes: per
        # head, two contiguous parts join at a copy's rate; a part broadcast over heads (expand's RoPE key) or read
        # strided (the latent kernel's absorbed query) takes the generic concatenation, at `join_memory`. The
        # kernel then reads the broadcast part as every head's keys hold it.
        shape = op.attention
        query, keys = column(shape.query_concat_bytes)[:, 0], column(shape.key_concat_bytes)[:, 0]
        bandwidth = np.asarray(machine.dram.read_bandwidth, dtype=float)

        def generic_join(moved: np.ndarray) -> np.ndarray:
            """Cycles of the generic concatenation moving `moved` bytes (read and written, so half are joined)."""
            split = moved / 2 / op.element_bytes >= JOIN_SPLIT_ELEMENTS
            return moved / (bandwidth * np.where(split, machine.join_split_memory, machine.join_memory))

        query_join = query / (bandwidth * machine.memory_efficiency) if shape.per_head else generic_join(query)
        copy = query_join + generic_join(keys)
        broadcast = column(shape.key_broadcast_bytes)
        read = broadcast[:, 0] / (bandwidth * machine.attention_two_part_memory)
        latency = np.asarray(latency) + copy + read + shape.concatenations * np.asarray(machine.op_latency)
        dram = machine.dram
        joined = column(shape.query_concat_bytes) + column(shape.key_concat_bytes)
        moved = joined / 2 * (column(dram.read_energy) + column(dram.write_energy))
        moved = moved * column(machine.join_energy) + broadcast * column(dram.read_energy) * scale
        energy = [*energy[:-1], energy[-1] + moved]
    return Estimates(
        cycles=cycles + (column(latency)[:, 0] if op.launch else 0.0),
        bound=bound,
        compute_cycles=compute[:, 0],
        level_cycles=np.concatenate(level_cycles, axis=1).T,
        reads=np.concatenate(reads, axis=1).T,
        writes=np.concatenate(writes, axis=1).T,
        energy=np.concatenate(energy, axis=1).T,
        utilisation=utilisation[:, 0],
        units=units[:, 0],
    )


def fixed_cycles(machine: Machine, op: OpSpec) -> Num:
    """The fixed time of the kernel(s) that run the op, beside its compute and traffic: a small op's, a GEMM's (and
    the kernel that sums a split GEMM's parts), a per-head decode kernel's, a grouped expert GEMM's, or a MoE
    routing's and combine's several small kernels (the routing's top-k and sorts also growing with its scores)."""
    if op.grouped:
        return machine.moe_gemm_latency  # a grouped GEMM library does not split K
    if op.kind == "dispatch":
        kernels = machine.moe_routing_kernels + (machine.moe_group_routing_kernels if op.group_limited else 0)
        scores = column(op.routing_scores)[:, 0] * np.asarray(machine.moe_routing_score_cycles)
        return np.asarray(kernels) * machine.op_latency + scores
    if op.kind == "combine":
        return np.asarray(machine.moe_combine_kernels) * machine.op_latency
    if op.attention is not None and op.attention.op_class == "attention_decode_heads":
        return machine.attention_decode_latency
    if op.gemm is not None and not op.flash:
        split = np.where(library_splits_k(machine.units, op.gemm), machine.split_k_latency, 0.0)
        return np.asarray(machine.contraction_latency) + split
    return machine.contraction_latency if op.flash else machine.op_latency


JOIN_SPLIT_ELEMENTS = 2**31
"""Joined elements from which torch's concatenation, which indexes in 32 bits, writes each part by elementwise
copies instead (at `join_split_memory`; profiled in expand's decode steps, benchmarks/results/
h100_production_profile_2026-12-07.csv)."""


def uses_flashmla(machine: Machine, op: OpSpec) -> bool:
    """Whether FlashMLA's model runs the op's flash group: the latent decode kernel where the preset names it and
    measured its mainloop (else the generic flash model of costmodel/attention.py)."""
    return (
        op.attention is not None
        and op.attention.op_class == "attention_decode_latent"
        and machine.library("attention_decode_latent") == "flashmla"
        and bool(np.all(np.asarray(machine.attention_latent_compute) > 0))
    )


def flashmla_share(
    machine: Machine, op: OpSpec, levels: int, points: int
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    """The op's share of a FlashMLA call (costmodel/flashmla.py), by its share of the group's MACs (the softmax and
    the sum take none): its cycles, compute cycles, each level's cycles (the cache read off chip) and its bound."""
    shape = op.attention
    assert shape is not None
    if op.gemm is None:  # the softmax and the score sum: no share of the kernel (and no need to replay it)
        zeros = np.zeros(points)
        return zeros, zeros[:, None], [zeros[:, None] for _ in range(levels)], np.zeros(points, dtype=int)
    mainloop, read, combine = kernel_cycles(
        machine,
        op.dtype,
        shape.key_read_bytes,
        shape.batch,
        shape.rows,
        shape.keys,
        np.asarray(shape.key_bytes) // op.element_bytes,
        shape.value_width,
    )
    whole = soft_maximum(mainloop, read, machine.attention_latent_overlap) + combine
    share = np.asarray(op.gemm.macs, dtype=float) / np.maximum(np.asarray(shape.group_macs, dtype=float), 1.0)
    whole, mainloop, read, share = (
        np.broadcast_to(np.asarray(x, dtype=float).reshape(-1), (points,)) for x in (whole, mainloop, read, share)
    )
    per_level = [np.zeros((points, 1)) for _ in range(levels - 1)] + [(share * read)[:, None]]
    bound = np.where(mainloop >= read, 0, levels)
    return share * whole, (share * mainloop)[:, None], per_level, bound


def contraction_estimates(
    machine: Machine, op: OpSpec, homes: LevelIndices, tm: Num, tn: Num, tk: Num, inner: Num
) -> Estimates:
    """The contraction at one tiling per design point (tile extents and innermost loop, one per point)."""
    tm, tn, tk, inner = (column(x) for x in (tm, tn, tk, inner))
    work = contraction_work(machine, op, homes, tm, tn, tk, inner)
    compute = contraction_compute(machine, op, work)
    per_level = level_cycles(machine, work.reads, work.writes, work.units, op)
    return _estimates(machine, op, compute, work.reads, work.writes, work.units, work.utilisation, per_level)


def estimate_contraction(machine: Machine, op: OpSpec, placement: Placement, tiling: Tiling) -> Estimate:
    estimates = contraction_estimates(
        machine, op, LevelIndices.of(machine, placement), tiling.m, tiling.n, tiling.k, INNER[tiling.order[-1]]
    )
    return estimates.point(machine)


def elementwise_estimates(machine: Machine, op: OpSpec, homes: LevelIndices) -> Estimates:
    """Ops without a contraction: one FLOP per array column per cycle on every unit; data moved once."""
    result = column(op.result_bytes)
    loads = tuple(column(b) for b in op.operand_bytes)
    reads, writes = level_traffic(machine, homes, loads, (result, np.zeros_like(result)))
    units = np.full_like(result, machine.units)
    compute = column(op.flops) / (machine.units * machine.cols * column(compute_efficiency(machine, op)))
    per_level = level_cycles(machine, reads, writes, units, op)
    if op.flash and machine.attention_measured:
        # Inside the fused kernel, on data its contractions hold on chip: the kernel's measured contraction
        # rate already includes this work and its on-chip traffic; only off-chip bytes can add time.
        compute = np.zeros_like(compute)
        per_level = [*(np.zeros_like(c) for c in per_level[:-1]), per_level[-1]]
    return _estimates(machine, op, compute, reads, writes, units, np.ones_like(result), per_level)


def estimate_elementwise(machine: Machine, op: OpSpec, placement: Placement) -> Estimate:
    return elementwise_estimates(machine, op, LevelIndices.of(machine, placement)).point(machine)


def op_estimates(machine: Machine, op: OpSpec, homes: LevelIndices, tiling: tuple[Num, ...] | None) -> Estimates:
    """One op at every design point: a contraction at its tiling (tm, tn, tk, inner), any other op as is."""
    if op.gemm is not None:
        assert tiling is not None
        return contraction_estimates(machine, op, homes, *tiling)
    return elementwise_estimates(machine, op, homes)


def estimate(machine: Machine, spec: OpSpec, placement: Placement, tiling: Tiling | None) -> Estimate:
    if spec.gemm is not None:
        assert tiling is not None
        return estimate_contraction(machine, spec, placement, tiling)
    return estimate_elementwise(machine, spec, placement)
