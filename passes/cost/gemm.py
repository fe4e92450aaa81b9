"""One op on one machine: the GEMM view of a contraction, its tiling search, the bytes each memory level
moves, and the cycles that follow, priced in energy by energy.py (see the package docstring for the model)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import prod

import numpy as np

from passes.cost.energy import dynamic_energy_pj
from passes.cost.machine import Machine, Num


@dataclass(frozen=True)
class Gemm:
    """A contraction as batch x (M x K) . (K x N): the index letters of each class and its extent."""

    letters: dict[str, str]
    extents: dict[str, Num]

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
    def macs(self) -> Num:
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
    flops: Num
    operand_bytes: tuple[Num, ...]
    result_bytes: Num
    gemm: Gemm | None = None
    flash: bool = False
    """Part of a flash-fused attention (scores, their sum, softmax, weighted values): one kernel."""
    density: Num = 1.0
    """The fraction of the op a causal mask leaves to compute: masked blocks are skipped, as flash kernels do."""
    launch: bool = True
    """Whether the op starts a kernel of its own (pays the fixed per-op latency): one per flash group."""
    keys: Num = 0
    """For a flash-group op, the keys each query attends over (the softmax's last axis)."""
    two_part_keys: bool = False
    """For a flash-group op: the scores are summed from two contractions over keys of the same programs
    (DeepSeek's 128-wide keys and their 64-wide RoPE part, per head or shared), so each program streams its keys
    in two parts, at the fused kernel's measured two-part rate (`attention_two_part_memory`)."""
    two_part_heads: bool = False
    """For a flash-group op: each program holds one head's query rows and its scores are summed from two
    contractions (DeepSeek's 128-wide keys and their RoPE part, per head or shared), the per-head kernel that
    is compiled apart from MHA's and the latent one: its causal programs run at `attention_two_part_compute`."""

    @property
    def macs(self) -> Num:
        return self.gemm.macs * self.density if self.gemm else 0

    @property
    def kernel(self) -> str | None:
        """The fused kernel the op runs inside ('flash'), or None where it is a kernel of its own."""
        return "flash" if self.flash else None

    def take(self, index: np.ndarray) -> OpSpec:
        """The op at design points from its values per workload (point i is of workload `index[i]`)."""

        def at(value: Num) -> Num:
            return np.asarray(value)[index] if np.ndim(value) else value

        gemm = Gemm(self.gemm.letters, {c: at(e) for c, e in self.gemm.extents.items()}) if self.gemm else None
        return replace(
            self,
            flops=at(self.flops),
            operand_bytes=tuple(at(b) for b in self.operand_bytes),
            result_bytes=at(self.result_bytes),
            gemm=gemm,
            density=at(self.density),
            keys=at(self.keys),
        )


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


def column(value: Num) -> np.ndarray:
    """A per-point quantity (a number, or one value per design point) as a column against candidate tilings."""
    return np.reshape(np.asarray(value, dtype=float), (-1, 1))


@dataclass(frozen=True)
class Homes:
    """A `Placement` as level indices (0 = innermost), one per design point: the form the arithmetic reads."""

    operands: tuple[np.ndarray, ...]
    result: np.ndarray

    @staticmethod
    def of(machine: Machine, placement: Placement) -> Homes:
        names = [level.name for level in machine.levels]
        return Homes(
            tuple(np.array([names.index(home)]) for home in placement.operands),
            np.array([names.index(placement.result)]),
        )

    def take(self, index: np.ndarray) -> Homes:
        return Homes(tuple(home[index] for home in self.operands), self.result[index])


@dataclass
class Estimates:
    """`Estimate`s of one op at many design points (arrays over points; levels innermost first)."""

    cycles: np.ndarray
    bound: np.ndarray
    """Index of the bounding term: 0 = compute, 1 + i = memory level i."""
    compute_cycles: np.ndarray
    level_cycles: np.ndarray
    reads: np.ndarray
    writes: np.ndarray
    energy: np.ndarray
    """Rows: the MACs', then each level's pJ."""
    utilisation: np.ndarray
    units: np.ndarray

    def point(self, machine: Machine, i: int = 0) -> Estimate:
        names = [lv.name for lv in machine.levels]
        terms = ["compute", *names]
        return Estimate(
            cycles=float(self.cycles[i]),
            bound=terms[int(self.bound[i])],
            compute_cycles=float(self.compute_cycles[i]),
            level_cycles={name: float(self.level_cycles[j, i]) for j, name in enumerate(names)},
            read_bytes={name: float(self.reads[j, i]) for j, name in enumerate(names)},
            write_bytes={name: float(self.writes[j, i]) for j, name in enumerate(names)},
            energy_pj={
                "mac": float(self.energy[0, i]),
                **{n: float(self.energy[j + 1, i]) for j, n in enumerate(names)},
            },
            utilisation=float(self.utilisation[i]),
            units=int(self.units[i]),
        )


def _traffic(
    machine: Machine,
    homes: Homes,
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
        op, one * tiling.m, one * tiling.n, one * tiling.k, one * _INNER[tiling.order[-1]]
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
    homes: Homes,
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
    reads, writes = _traffic(machine, homes, (a_loads, b_loads), (c_writes, c_reads))
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
    if op.flash:
        # A flash kernel runs one program per block of query rows (one array pass tall) and split of the keys
        # (see `flash_splits`), one program per unit at a time: the busiest unit runs whole waves of programs,
        # the last one part-empty (320 programs on 132 SMs take 3 waves, not 2.4); `compute_efficiency`
        # turns that into a decode kernel's schedule of long splits and short last ones.
        row_blocks = g * np.ceil(m / rows)
        programs = flash_programs(machine.units, row_blocks, column(op.keys))
        units = np.minimum(machine.units, programs) * np.ones_like(tm)
        per_unit = (macs / programs * np.ceil(programs / machine.units)) * np.ones_like(tm)
        if np.any(machine.attention_split_cycles):  # the same for every point: part of `Machine.shape`
            # The member that writes the group's output: with the keys split, each split writes its rows in fp32
            # and a combine kernel reads them all back, one split after another (benchmarks/gpu/kernel_grid.py;
            # charged where the preset measured the combine).
            splits = programs / row_blocks
            writes_output = column(homes.result) != 0
            partial = np.where(
                (splits > 1) & writes_output, column(op.result_bytes) * splits * 4 / op.element_bytes, 0.0
            )
            reads[-1] = reads[-1] + partial
            writes[-1] = writes[-1] + partial
            return Work(
                reads, writes, units, utilisation, per_unit, partial * np.ones_like(tm), splits * np.ones_like(tm)
            )
    return Work(reads, writes, units, utilisation, per_unit)


def contraction_compute(machine: Machine, op: OpSpec, work: Work) -> np.ndarray:
    """Compute cycles: the busiest unit's MACs at the array's peak x utilisation x measured efficiency, and a
    split kernel's combine (reading the partials, a fixed time per split) where the preset measured it."""
    rate = column(machine.peak_macs(op.dtype)) * work.utilisation * column(compute_efficiency(machine, op))
    compute = work.per_unit / rate
    if work.partial is not None and work.splits is not None:
        hbm = column(machine.dram.read_bandwidth) * column(machine.attention_memory_efficiency)
        combine = work.partial / hbm + work.splits * column(machine.attention_split_cycles)
        compute = compute + np.where(work.partial > 0, combine, 0.0)
    return compute


def flash_splits(units: int, row_blocks: Num, keys: Num) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How a flash kernel splits its keys (flash-decoding) when there are fewer row blocks than units: about
    two programs per unit, each over at least FLASH_CHUNK_KEYS keys (benchmarks/gpu/flash_attention.py
    `default_splits`, as measured; FlashAttention's split heuristic has the same aim), each split whole key
    blocks, so the last holds what is left (4097 keys in 9 splits: eight of 512 and one of a single key).
    Returns (splits, keys of a split, keys of the last one), elementwise over arrays of row blocks and keys."""
    blocks = np.asarray(row_blocks, dtype=float)
    keys = np.asarray(keys, dtype=float)
    wanted = np.maximum(1, np.minimum(np.ceil(2 * units / blocks), np.ceil(keys / FLASH_CHUNK_KEYS)))
    key_blocks = np.maximum(1, np.ceil(keys / FLASH_KEY_BLOCK))
    per_split = np.ceil(key_blocks / np.where(blocks >= units, 1, wanted))
    splits = np.ceil(key_blocks / per_split)
    split_keys = np.minimum(per_split * FLASH_KEY_BLOCK, keys)
    return splits, split_keys, keys - (splits - 1) * split_keys


def flash_row_blocks(machine: Machine, gemm: Gemm) -> np.ndarray:
    """Blocks of query rows a flash kernel launches: each batch (and head, where heads are batched apart)
    times its query rows in array passes."""
    return gemm.extents["g"] * np.ceil(np.asarray(gemm.extents["m"], dtype=float) / machine.rows)


def flash_programs(units: int, row_blocks: Num, keys: Num) -> np.ndarray:
    """Programs of a flash kernel: each block of query rows times its splits of the keys (`flash_splits`)."""
    return np.asarray(row_blocks, dtype=float) * flash_splits(units, row_blocks, keys)[0]


def in_flight_share(programs: Num, slots: Num, needed: Num) -> np.ndarray:
    """The share of its full off-chip rate a kernel of equal `programs` reaches when `slots` of them run at
    once and `needed` must be in flight for the full rate (fewer stream proportionally less): whole rounds of
    `slots`, then the rest. 384 programs in 264 slots needing 190: a full round, then 120 at 120 / 190 of the
    rate, 0.85 in all; 256 programs stream at the full rate. Elementwise; 1 where `needed` is 0."""
    programs, slots, needed = (np.asarray(x, dtype=float) for x in (programs, slots, needed))
    with np.errstate(divide="ignore", invalid="ignore"):
        slots = np.maximum(slots, 1.0)
        rounds = np.floor(programs / slots)
        rest = programs - rounds * slots

        def rate(n: np.ndarray) -> np.ndarray:
            return np.minimum(1.0, n / np.maximum(needed, 1e-30))

        time = rounds * slots / rate(slots) + np.where(rest > 0, rest / rate(np.maximum(rest, 1e-30)), 0.0)
        return np.where((needed > 0) & (programs > 0), programs / time, 1.0)


def list_makespan(units: int, long: Num, long_time: Num, short: Num, short_time: Num) -> np.ndarray:
    """When the last of `long` programs of `long_time` and then `short` ones of `short_time` ends, each
    program starting on the first unit free, in launch order (a GPU's block scheduler). Elementwise.

    After the whole rounds of long programs, `busy` units run one long program more while the others
    start short ones back to back; once the busy units are free too, every unit takes short ones, the
    free units `phase` into a short program: the last short program starts at the S-th of those slots."""
    long, long_time, short, short_time = (np.asarray(x, dtype=float) for x in (long, long_time, short, short_time))
    rounds = np.floor(long / units)
    busy = long - rounds * units
    early, late = rounds * long_time, (rounds + 1) * long_time
    free = units - busy
    alone = np.where(busy > 0, np.ceil(long_time / short_time), np.inf)  # slots each free unit has before `late`
    before = free * alone  # short programs started before the busy units are free
    phase = alone * short_time - long_time  # how far into a short program the free units are at `late`
    last_alone = early + (np.ceil(short / np.maximum(free, 1)) - 1) * short_time
    after = np.maximum(short - before, 1) - 1  # index of the last short program among those from `late` on
    rounds_after, place = np.floor(after / units), np.mod(after, units)
    last_after = late + rounds_after * short_time + np.where(place < busy, 0.0, phase)
    start = np.where(short <= before, last_alone, last_after)
    return np.maximum(np.where(busy > 0, late, early), np.where(short > 0, start + short_time, 0.0))


def compute_efficiency(machine: Machine, op: OpSpec) -> Num:
    """The measured fraction of peak the op's kind of kernel reaches: a fused attention's, or a GEMM's, whose
    output tiles each stream K in slices and then spend `epilogue_slices` slices' time writing the tile out,
    so a shallow K (512, an MLA up-projection) reaches less of its mainloop rate than a deep one.

    A flash program's mainloop runs at its compiled kernel's rate: a causal (prefill) program's
    `attention_compute` (the latent and MHA kernels) or `attention_two_part_compute` (the per-head kernel
    whose keys come in two parts), a flash-decoding program's `attention_decode_compute`, or
    `attention_decode_unsplit_compute` where the decode kernel runs unsplit (each measured apart,
    benchmarks/gpu/kernel_grid.py). It loads its query rows before its keys stream past and writes its output
    after, time worth `attention_program_keys` keys of its mainloop that nothing overlaps (measured on the
    latent decode kernel over batch x context x splits), so programs over few keys (batch-1 decode split
    into many programs, short prompts) run below the rate of long ones. A causal program is charged the
    keys each query sees on average; a decode kernel its busiest unit's list of programs, the splits' keys
    and then the short last splits' (`flash_splits`, `list_makespan`)."""
    if op.flash:
        if op.gemm is None:
            return machine.attention_compute_efficiency
        row_blocks = flash_row_blocks(machine, op.gemm)
        splits, split_keys, last_keys = flash_splits(machine.units, row_blocks, op.keys)
        programs = row_blocks * splits
        start_end = np.asarray(machine.attention_program_keys, dtype=float)
        # `contraction_work` gives the busiest unit whole waves of programs over the average keys; a causal
        # (prefill) program is charged that, a decode program the kernel's schedule: the splits' keys and
        # then the short last splits (`list_makespan`), each with its start and end.
        average = op.keys * op.density * row_blocks / programs
        waves = np.ceil(programs / machine.units) * average
        busiest = list_makespan(
            machine.units, programs - row_blocks, split_keys + start_end, row_blocks, last_keys + start_end
        )
        causal_rate = machine.attention_two_part_compute if op.two_part_heads else machine.attention_compute_efficiency
        prefill = causal_rate * average / (average + start_end)
        decode = (
            np.where(splits > 1, machine.attention_decode_compute, machine.attention_decode_unsplit_compute)
            * waves
            / busiest
        )
        return np.where(np.asarray(op.density) == 1, decode, prefill)
    if op.gemm is None:
        return machine.compute_efficiency
    slices = np.ceil(np.asarray(op.gemm.extents["k"], dtype=float) / SLICE_DEPTH)
    epilogue = np.asarray(machine.epilogue_slices, dtype=float)
    deep = machine.compute_efficiency * slices / (slices + epilogue)
    return np.where(epilogue == 0, machine.compute_efficiency, deep)


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


FLASH_CHUNK_KEYS = 512
"""Fewest keys a flash-decoding split gives one program, so partial results cost less than the keys they
cover (benchmarks/gpu/flash_attention.py `default_splits`, as measured)."""

FLASH_KEY_BLOCK = 64
"""Keys a flash program loads at a time (benchmarks/gpu/flash_attention.py `block_n`): splits hold whole blocks."""

SLICE_DEPTH = 64
"""K extent of the operand slices a unit streams through the innermost level (a GPU SM's TMA/wgmma k-slice)."""


def unit_tile(machine: Machine, element_bytes: int) -> tuple[int, int]:
    """The output tile one unit keeps while K streams past: two array passes tall and one wide (two warpgroups
    of an SM, accumulators in registers), halved until its double-buffered k-slices fit the innermost level."""
    tall, wide = 2 * machine.rows, machine.cols
    while tall > 1 and 2 * (tall + wide) * SLICE_DEPTH * element_bytes > machine.levels[0].capacity:
        tall, wide = max(1, tall // 2), max(1, wide // 2)
    return tall, wide


def _level_cycles(
    machine: Machine, reads: list[np.ndarray], writes: list[np.ndarray], units: np.ndarray, op: OpSpec
) -> list[np.ndarray]:
    """On-chip levels read and write through separate ports; the off-chip bus is shared by reads and writes
    and reaches the measured fraction of its peak (a GEMM's output stores `memory_write`'s; for a flash group,
    the fused attention kernel's, its own where each program's keys come in two parts). A per-head decode kernel
    (MHA's, cache-kv's, expand's) streams at its rate only with `attention_stream_programs` programs in flight
    (`in_flight_share`), of which each unit holds a few at once (fewer where its keys come in two parts)."""
    cycles = []
    last = len(machine.levels) - 1
    off_chip = machine.memory_efficiency
    decode = np.asarray(op.density) == 1
    if op.flash and op.two_part_keys:
        off_chip = machine.attention_two_part_memory
    elif op.flash:
        off_chip = machine.attention_memory_efficiency
    per_head = op.flash and (op.two_part_heads or not op.two_part_keys)  # not the latent kernel
    if per_head and op.gemm is not None and np.any(np.asarray(machine.attention_stream_programs) > 0):
        programs = flash_programs(machine.units, flash_row_blocks(machine, op.gemm), op.keys)
        per_unit = (
            machine.attention_two_part_programs_per_unit if op.two_part_heads else machine.attention_programs_per_unit
        )
        slots = machine.units * np.asarray(per_unit, dtype=float)
        share = in_flight_share(programs, slots, np.asarray(machine.attention_stream_programs, dtype=float))
        off_chip = off_chip * np.where(decode, share, 1.0)
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


_INNER = {"m": 0, "n": 1, "k": 2}
ORDER_FOR_INNER = ("nkm", "mkn", "mnk")


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
    latency = machine.contraction_latency if op.gemm is not None or op.flash else machine.op_latency
    if op.gemm is not None and not op.flash:
        latency = np.asarray(latency) + np.where(library_splits_k(machine.units, op.gemm), machine.split_k_latency, 0.0)
    energy = dynamic_energy_pj(machine, column(op.macs), op.dtype, reads, writes, op.flash)
    cycles = np.take_along_axis(terms, bound[:, None], axis=1)[:, 0]
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


def contraction_estimates(
    machine: Machine, op: OpSpec, homes: Homes, tm: Num, tn: Num, tk: Num, inner: Num
) -> Estimates:
    """The contraction at one tiling per design point (tile extents and innermost loop, one per point)."""
    tm, tn, tk, inner = (column(x) for x in (tm, tn, tk, inner))
    work = contraction_work(machine, op, homes, tm, tn, tk, inner)
    compute = contraction_compute(machine, op, work)
    level_cycles = _level_cycles(machine, work.reads, work.writes, work.units, op)
    return _estimates(machine, op, compute, work.reads, work.writes, work.units, work.utilisation, level_cycles)


def estimate_contraction(machine: Machine, op: OpSpec, placement: Placement, tiling: Tiling) -> Estimate:
    estimates = contraction_estimates(
        machine, op, Homes.of(machine, placement), tiling.m, tiling.n, tiling.k, _INNER[tiling.order[-1]]
    )
    return estimates.point(machine)


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
    tiling that fits (tests/test_cost.py checks this against the exhaustive search).
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
    machine: Machine, op: OpSpec, homes: Homes, workload: np.ndarray | None = None
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
    for level in _level_cycles(machine, work.reads, work.writes, work.units, op):
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
    tm, tn, tk, inner = (float(x[0]) for x in best_tilings(machine, op, Homes.of(machine, placement)))
    tiling = Tiling(int(tm), int(tn), int(tk), ORDER_FOR_INNER[int(inner)])
    return tiling, estimate_contraction(machine, op, placement, tiling)


def elementwise_estimates(machine: Machine, op: OpSpec, homes: Homes) -> Estimates:
    """Ops without a contraction: one FLOP per array column per cycle on every unit; data moved once."""
    result = column(op.result_bytes)
    loads = tuple(column(b) for b in op.operand_bytes)
    reads, writes = _traffic(machine, homes, loads, (result, np.zeros_like(result)))
    units = np.full_like(result, machine.units)
    compute = column(op.flops) / (machine.units * machine.cols * column(compute_efficiency(machine, op)))
    level_cycles = _level_cycles(machine, reads, writes, units, op)
    if op.flash and machine.attention_measured:
        # Inside the fused kernel, on data its contractions hold on chip: the kernel's measured contraction
        # rate already includes this work and its on-chip traffic; only off-chip bytes can add time.
        compute = np.zeros_like(compute)
        level_cycles = [*(np.zeros_like(c) for c in level_cycles[:-1]), level_cycles[-1]]
    return _estimates(machine, op, compute, reads, writes, units, np.ones_like(result), level_cycles)


def estimate_elementwise(machine: Machine, op: OpSpec, placement: Placement) -> Estimate:
    return elementwise_estimates(machine, op, Homes.of(machine, placement)).point(machine)


def op_estimates(machine: Machine, op: OpSpec, homes: Homes, tiling: tuple[Num, ...] | None) -> Estimates:
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
