"""One op on one machine: the GEMM view of a contraction, its tiling search, the bytes each memory level
moves, and the cycles that follow, priced in energy by energy.py (see the package docstring for the model)."""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil, prod
from typing import Any

import numpy as np

from passes.cost.energy import dynamic_energy_pj
from passes.cost.machine import Machine


@dataclass(frozen=True)
class Gemm:
    """A contraction as batch x (M x K) . (K x N): the index letters of each class and its extent."""

    letters: dict[str, str]
    extents: dict[str, int]

    @staticmethod
    def of(spec: str, sizes: dict[str, int]) -> Gemm:
        (lhs, rhs), out = spec.split("->")[0].split(","), spec.split("->")[1]
        classes = {
            "g": [x for x in out if x in lhs and x in rhs],
            "m": [x for x in out if x in lhs and x not in rhs],
            "n": [x for x in out if x in rhs and x not in lhs],
            "k": [x for x in dict.fromkeys(lhs + rhs) if x not in out],
        }
        return Gemm(
            {c: "".join(xs) for c, xs in classes.items()},
            {c: prod(sizes[x] for x in xs) for c, xs in classes.items()},
        )

    @property
    def macs(self) -> int:
        return prod(self.extents.values())


@dataclass(frozen=True)
class Tiling:
    """Tile extents of M, N, K at the tile level and the loop order over tiles (outermost first)."""

    m: int
    n: int
    k: int
    order: str


@dataclass(frozen=True)
class Placement:
    """Where each operand and the result live: a level name each (the tile level means "already on chip")."""

    operands: tuple[str, ...]
    result: str


@dataclass(frozen=True)
class OpSpec:
    """What the model needs of one `la` op."""

    name: str
    kind: str
    dtype: str
    element_bytes: int
    flops: int
    operand_bytes: tuple[int, ...]
    result_bytes: int
    gemm: Gemm | None = None
    flash: bool = False
    """Part of a flash-fused attention (scores, their sum, softmax, weighted values): one kernel."""
    density: float = 1.0
    """The fraction of the op a causal mask leaves to compute: masked blocks are skipped, as flash kernels do."""
    launch: bool = True
    """Whether the op starts a kernel of its own (pays the fixed per-op latency): one per flash group."""
    keys: int = 0
    """For a flash-group op, the keys each query attends over (the softmax's last axis)."""

    @property
    def macs(self) -> float:
        return self.gemm.macs * self.density if self.gemm else 0


@dataclass
class Estimate:
    """Cycles, bytes and energy of one op; `bound` is the term that sets `cycles`."""

    cycles: float
    bound: str
    compute_cycles: float
    level_cycles: dict[str, float]
    read_bytes: dict[str, float]
    write_bytes: dict[str, float]
    energy_pj: dict[str, float] = field(default_factory=lambda: {})
    utilisation: float = 1.0
    units: int = 1

    @property
    def total_energy_pj(self) -> float:
        return sum(self.energy_pj.values())

    def bytes(self) -> dict[str, float]:
        return {level: self.read_bytes.get(level, 0.0) + self.write_bytes.get(level, 0.0) for level in self.read_bytes}


def _candidates(extent: int) -> list[int]:
    sizes = {extent}
    size = 1
    while size < extent:
        sizes.add(size)
        size *= 2
    return sorted(sizes)


def _traffic(
    machine: Machine, placement: Placement, loads: tuple[float, ...], stores: tuple[float, float]
) -> tuple[dict[str, float], dict[str, float]]:
    """Bytes read and written per level: operands come down from where they live to the innermost level,
    results go up to where they live; every level in between carries the same bytes."""
    names = [level.name for level in machine.levels]
    reads = dict.fromkeys(names, 0.0)
    writes = dict.fromkeys(names, 0.0)
    tile = names[0]
    for home, moved in zip(placement.operands, loads, strict=True):
        depth = names.index(home)
        reads[home] += moved
        for inner in names[1:depth]:
            writes[inner] += moved
            reads[inner] += moved
        if depth > 0:
            writes[tile] += moved
    result_home = names.index(placement.result)
    spill_writes, spill_reads = stores
    writes[placement.result] += spill_writes
    reads[placement.result] += spill_reads
    for inner in names[1:result_home]:
        writes[inner] += spill_writes
        reads[inner] += spill_writes
    if result_home > 0:
        reads[tile] += spill_writes
        writes[tile] += spill_reads
    return reads, writes


def _streams(op: OpSpec, tm: np.ndarray, tn: np.ndarray, tk: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Bytes of A loaded, B loaded, C written and C read back, per candidate tiling."""
    assert op.gemm is not None
    m, n, k = (op.gemm.extents[c] for c in "mnk")
    tiles_m, tiles_n, tiles_k = np.ceil(m / tm), np.ceil(n / tn), np.ceil(k / tk)
    a_bytes, b_bytes = op.operand_bytes
    return np.stack(
        [
            a_bytes * np.where(inner == 1, 1, tiles_n),  # A: once if N is innermost, else once per N tile
            # B: once if M is innermost, else once per M tile; a causal mask skips the blocks it hides
            b_bytes * np.where(inner == 0, 1, tiles_m) * op.density,
            op.result_bytes * np.where(inner == 2, 1, tiles_k),  # C: partial sums when K is not innermost
            op.result_bytes * np.where(inner == 2, 0, tiles_k - 1),  # C read back
        ]
    )


def moved_bytes(op: OpSpec, tiling: Tiling | None) -> tuple[list[float], float]:
    """Bytes each operand moves from where it lives, and bytes the result moves to where it lives."""
    if op.gemm is None or tiling is None:
        return [float(b) for b in op.operand_bytes], float(op.result_bytes)
    one = np.array([1.0])
    inner = one * _INNER[tiling.order[-1]]
    a, b, c_writes, c_reads = _streams(op, one * tiling.m, one * tiling.n, one * tiling.k, inner)
    return [float(a[0]), float(b[0])], float(c_writes[0] + c_reads[0])


def _contraction_terms(
    machine: Machine,
    op: OpSpec,
    placement: Placement,
    tm: np.ndarray,
    tn: np.ndarray,
    tk: np.ndarray,
    inner: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised over candidate tilings: compute cycles, reads and writes per level, units used, utilisation.

    `inner` is the innermost loop of each candidate (0 = m, 1 = n, 2 = k); the order of the two
    outer loops does not change the traffic in this model.
    """
    assert op.gemm is not None
    g, m, n, k = (op.gemm.extents[c] for c in "gmnk")
    tiles_k = np.ceil(k / tk)
    a_bytes, b_bytes = op.operand_bytes
    streams = _streams(op, tm, tn, tk, inner)
    read_coeff, write_coeff = _linear_traffic(machine, placement)
    reads, writes = read_coeff @ streams, write_coeff @ streams
    if len(machine.levels) > 2:
        # Below the tile level, each unit re-reads its share through its output tile (see `unit_tile`).
        tall, wide = unit_tile(machine, op.element_bytes)
        inner_loads = min(
            a_bytes * ceil(n / wide) + b_bytes * ceil(m / tall), a_bytes * ceil(n / tall) + b_bytes * ceil(m / wide)
        ) * np.ones_like(tm)
        extra = np.maximum(0.0, inner_loads * op.density - streams[0] - streams[1])
        reads[len(machine.levels) - 2] += extra
        writes[0] += extra
    # The array reads each A element once per pass of its columns, each B element once per pass of its rows.
    reads[0] += op.macs * op.element_bytes * (1 / machine.cols + 1 / machine.rows)

    def fit(extent: float, width: int) -> float:
        return extent / (ceil(extent / width) * width)

    rows, cols = machine.rows, machine.cols
    # Any two of M, N, K can be unrolled over the array's rows and columns (K through an adder tree),
    # so a GEMV (M = 1) can still fill the array; the best such mapping is taken.
    extents = {"m": m, "n": n, "k": k}
    utilisation = max(fit(extents[x], rows) * fit(extents[y], cols) for x in "mnk" for y in "mnk" if x != y)
    blocks = max(ceil(m / rows) * ceil(n / cols), ceil(m / cols) * ceil(n / rows))
    # Array-sized output blocks run in parallel; with K not innermost, partial sums go up a level, so the
    # K tiles can run in parallel too (split-K).
    units = np.minimum(machine.units, g * blocks * np.where(inner == 2, 1, tiles_k))
    utilisation = np.full_like(tm, utilisation)
    rate = machine.peak_macs(op.dtype) * utilisation * compute_efficiency(machine, op)
    compute = op.macs / (units * rate)
    if op.flash:
        # A flash kernel runs one program per block of query rows (one array pass tall) and split of the keys
        # (see `flash_programs`), one program per unit at a time: it takes as many waves of programs as
        # the units need, the last one part-empty (320 programs on 132 SMs take 3 waves, not 2.4).
        row_blocks = g * np.ceil(m / rows)
        programs = flash_programs(machine.units, row_blocks, op.keys)
        units = np.full_like(tm, np.minimum(machine.units, programs))
        compute = np.full_like(tm, op.macs / programs * np.ceil(programs / machine.units)) / rate
        if placement.result != machine.array_level.name and machine.attention_split_cycles:
            # The member that writes the group's output: with the keys split, each split writes its rows in fp32
            # and a combine kernel reads them all back, one split after another (benchmarks/gpu/kernel_grid.py;
            # charged where the preset measured the combine).
            splits = programs / row_blocks
            partial = np.where(splits > 1, op.result_bytes * splits * 4 / op.element_bytes, 0.0)
            hbm = machine.dram.read_bandwidth * machine.attention_memory_efficiency
            compute = compute + np.where(splits > 1, partial / hbm + splits * machine.attention_split_cycles, 0.0)
            reads[-1] += partial
            writes[-1] += partial
    return compute, reads, writes, units, utilisation


def flash_programs(units: int, row_blocks: Any, keys: Any) -> Any:
    """Programs of a flash kernel: each block of query rows, its keys split (flash-decoding) when there are
    fewer row blocks than units, so that about two programs per unit run, each over at least
    FLASH_CHUNK_KEYS keys (benchmarks/gpu/flash_attention.py `default_splits`, as measured; FlashAttention's
    split heuristic has the same aim). Elementwise over arrays of row blocks and keys."""
    splits = np.maximum(1, np.minimum(np.ceil(2 * units / row_blocks), np.ceil(keys / FLASH_CHUNK_KEYS)))
    return row_blocks * np.where(row_blocks >= units, 1, splits)


def compute_efficiency(machine: Machine, op: OpSpec) -> Any:
    """The measured fraction of peak the op's kind of kernel reaches: a fused attention's, or a GEMM's, whose
    output tiles each stream K in slices and then spend `epilogue_slices` slices' time writing the tile out,
    so a shallow K (512, an MLA up-projection) reaches less of its mainloop rate than a deep one.

    A flash program likewise loads its query rows before its keys stream past and writes its output after,
    time worth `attention_program_keys` keys of its mainloop that nothing overlaps (measured: the latent
    decode kernel over batch x context x splits, and prefill over prompt length, benchmarks/gpu/kernel_grid.py),
    so programs over few keys (batch-1 decode split into many programs, short prompts) run below the
    kernel's rate over long ones, `attention_compute`. Keys per program: the keys each query sees (the
    causal mask's average) over the splits (`flash_programs`)."""
    if op.flash:
        if op.gemm is None or not machine.attention_program_keys:
            return machine.attention_compute_efficiency
        row_blocks = op.gemm.extents["g"] * np.ceil(op.gemm.extents["m"] / machine.rows)
        keys = op.keys * op.density * row_blocks / flash_programs(machine.units, row_blocks, op.keys)
        return machine.attention_compute_efficiency * keys / (keys + machine.attention_program_keys)
    if op.gemm is None or not machine.epilogue_slices:
        return machine.compute_efficiency
    slices = ceil(op.gemm.extents["k"] / SLICE_DEPTH)
    return machine.compute_efficiency * slices / (slices + machine.epilogue_slices)


FLASH_CHUNK_KEYS = 512
"""Fewest keys a flash-decoding split gives one program, so partial results cost less than the keys they
cover (benchmarks/gpu/flash_attention.py `default_splits`, as measured)."""

SLICE_DEPTH = 64
"""K extent of the operand slices a unit streams through the innermost level (a GPU SM's TMA/wgmma k-slice)."""


def unit_tile(machine: Machine, element_bytes: int) -> tuple[int, int]:
    """The output tile one unit keeps while K streams past: two array passes tall and one wide (two warpgroups
    of an SM, accumulators in registers), halved until its double-buffered k-slices fit the innermost level."""
    tall, wide = 2 * machine.rows, machine.cols
    while tall > 1 and 2 * (tall + wide) * SLICE_DEPTH * element_bytes > machine.levels[0].capacity:
        tall, wide = max(1, tall // 2), max(1, wide // 2)
    return tall, wide


def _linear_traffic(machine: Machine, placement: Placement) -> tuple[np.ndarray, np.ndarray]:
    """Per-level reads and writes as linear maps of (A loads, B loads, C writes, C re-reads)."""
    columns = []
    for basis in np.eye(4):
        reads, writes = _traffic(machine, placement, (basis[0], basis[1]), (basis[2], basis[3]))
        columns.append(([reads[lv.name] for lv in machine.levels], [writes[lv.name] for lv in machine.levels]))
    return np.array([c[0] for c in columns]).T, np.array([c[1] for c in columns]).T


def _level_cycles(
    machine: Machine, reads: np.ndarray, writes: np.ndarray, units: np.ndarray, flash: bool = False
) -> np.ndarray:
    """On-chip levels read and write through separate ports; the off-chip bus is shared by reads and writes
    and reaches the measured fraction of its peak (of a fused attention kernel's, for a flash group)."""
    cycles = []
    last = len(machine.levels) - 1
    off_chip = machine.attention_memory_efficiency if flash else machine.memory_efficiency
    for i, level in enumerate(machine.levels):
        instances = np.minimum(level.count, units) if i == 0 else level.count
        scale = instances * (off_chip if i == last else 1.0)
        if i == last:
            cycles.append(reads[i] / (level.read_bandwidth * scale) + writes[i] / (level.write_bandwidth * scale))
        else:
            cycles.append(
                np.maximum(reads[i] / (level.read_bandwidth * scale), writes[i] / (level.write_bandwidth * scale))
            )
    return np.array(cycles)


_INNER = {"m": 0, "n": 1, "k": 2}
ORDER_FOR_INNER = ("nkm", "mkn", "mnk")


def estimate_contraction(machine: Machine, op: OpSpec, placement: Placement, tiling: Tiling) -> Estimate:
    one = np.array([1.0])
    compute, reads, writes, units, utilisation = _contraction_terms(
        machine, op, placement, one * tiling.m, one * tiling.n, one * tiling.k, one * _INNER[tiling.order[-1]]
    )
    level_cycles = _level_cycles(machine, reads, writes, units, op.flash)
    energy = dynamic_energy_pj(machine, op.macs, op.dtype, reads, writes, op.flash)
    return _estimate(
        machine,
        op,
        float(compute[0]),
        reads[:, 0],
        writes[:, 0],
        level_cycles[:, 0],
        energy[:, 0],
        float(utilisation[0]),
        int(units[0]),
    )


def _estimate(
    machine: Machine,
    op: OpSpec,
    compute: float,
    reads: np.ndarray,
    writes: np.ndarray,
    level_cycles: np.ndarray,
    energy: np.ndarray,
    utilisation: float,
    units: int,
) -> Estimate:
    names = [lv.name for lv in machine.levels]
    terms = {"compute": compute, **{name: float(c) for name, c in zip(names, level_cycles, strict=True)}}
    bound = max(terms, key=lambda t: terms[t])
    latency = machine.contraction_latency if op.gemm is not None or op.flash else machine.op_latency
    return Estimate(
        cycles=terms[bound] + (latency if op.launch else 0.0),
        bound=bound,
        compute_cycles=compute,
        level_cycles={name: terms[name] for name in names},
        read_bytes={name: float(b) for name, b in zip(names, reads, strict=True)},
        write_bytes={name: float(b) for name, b in zip(names, writes, strict=True)},
        energy_pj={"mac": float(energy[0]), **{name: float(e) for name, e in zip(names, energy[1:], strict=True)}},
        utilisation=utilisation,
        units=units,
    )


def best_tiling(machine: Machine, op: OpSpec, placement: Placement) -> tuple[Tiling, Estimate]:
    """The capacity-feasible tiling with the fewest cycles (ties: least energy), searched exhaustively."""
    assert op.gemm is not None
    grid = np.array(
        [
            (tm, tn, tk, inner)
            for tm in _candidates(op.gemm.extents["m"])
            for tn in _candidates(op.gemm.extents["n"])
            for tk in _candidates(op.gemm.extents["k"])
            for inner in range(3)
        ],
        dtype=float,
    ).T
    tm, tn, tk, inner = grid
    feasible = op.element_bytes * (tm * tk + tk * tn + tm * tn) <= machine.tile_level.capacity
    if not feasible.any():
        raise ValueError(f"no tile of op '{op.name}' fits {machine.tile_level.name} ({machine.tile_level.capacity} B)")
    tm, tn, tk, inner = tm[feasible], tn[feasible], tk[feasible], inner[feasible]
    compute, reads, writes, units, _ = _contraction_terms(machine, op, placement, tm, tn, tk, inner)
    cycles = np.maximum(compute, _level_cycles(machine, reads, writes, units, op.flash).max(axis=0))
    energy = dynamic_energy_pj(machine, op.macs, op.dtype, reads, writes, op.flash).sum(axis=0)
    best = int(np.lexsort((energy, cycles))[0])
    tiling = Tiling(int(tm[best]), int(tn[best]), int(tk[best]), ORDER_FOR_INNER[int(inner[best])])
    return tiling, estimate_contraction(machine, op, placement, tiling)


def estimate_elementwise(machine: Machine, op: OpSpec, placement: Placement) -> Estimate:
    """Ops without a contraction: one FLOP per array column per cycle on every unit; data moved once."""
    reads_by, writes_by = _traffic(machine, placement, tuple(float(b) for b in op.operand_bytes), (op.result_bytes, 0))
    reads = np.array([[reads_by[lv.name]] for lv in machine.levels])
    writes = np.array([[writes_by[lv.name]] for lv in machine.levels])
    units = np.array([machine.units])
    compute = op.flops / (machine.units * machine.cols * compute_efficiency(machine, op))
    level_cycles = _level_cycles(machine, reads, writes, units, op.flash)
    if op.flash and machine.attention_measured:
        # Inside the fused kernel, on data its contractions hold on chip: the kernel's measured contraction
        # rate already includes this work and its on-chip traffic; only off-chip bytes can add time.
        compute = 0.0
        level_cycles[:-1] = 0.0
    energy = dynamic_energy_pj(machine, op.macs, op.dtype, reads, writes, op.flash)
    return _estimate(
        machine, op, compute, reads[:, 0], writes[:, 0], level_cycles[:, 0], energy[:, 0], 1.0, machine.units
    )


def estimate(machine: Machine, spec: OpSpec, placement: Placement, tiling: Tiling | None) -> Estimate:
    if spec.gemm is not None:
        assert tiling is not None
        return estimate_contraction(machine, spec, placement, tiling)
    return estimate_elementwise(machine, spec, placement)
