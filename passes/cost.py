"""The cost model that tile, place, schedule (and sweeps) share: one op, one tiling, one machine.

Hardware: `Machine` is a plain view of a `#hw.target` (read once; sweeps reuse it).
Ops: `OpSpec` is the compact form of an `la` op that the model needs: for a
contraction its GEMM view (batch x M x N x K, which index letters form each),
for other ops their FLOPs; its operand and result bytes; and where each tensor
lives (`Placement`). An `Estimate` has cycles, bytes and energy per memory
level, and names its bound.

The model, per op (all counts whole-op; the README's "How the estimates are made"):
- A contraction is tiled at the innermost memory level: tiles (m, n, k) of the
  M, N, K extents must fit one instance of that level (A, B and C tiles), and
  a loop order over tiles decides the re-reads from the outer levels: A is
  read once if the N loop is innermost, else once per N tile; B likewise with
  M; C is written once if K is innermost, else it spills partial sums (TK
  writes, TK - 1 reads). Independent (batch x M x N) tiles spread over the
  compute units; a tile maps M and N onto the array's rows and columns (either
  way round), or K along one of them (spatial reduction), whichever fills it best.
- compute cycles = MACs / (units used x MACs/cycle/unit x spatial utilisation
  x measured efficiency); other ops run one FLOP per array column per cycle.
- measured efficiency factors, where a preset has them, scale the peak compute
  rate and bandwidths, and add a fixed latency per op;
- each level's cycles = its bytes / (bandwidth per instance x instances used):
  on-chip levels read and write through separate ports (the max of the two),
  the off-chip bus carries reads and writes one after the other (their sum);
  the op takes the max of compute and level cycles (transfers overlap compute,
  as double buffering allows), and that term is its bound.
- energy = MACs x pJ/MAC + sum over levels of bytes read and written x pJ/B.
Not modelled: caches' hit rates beyond the tiling's reuse, bank conflicts,
launch latency, clock throttling, vector-unit throughput separate from the array.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from math import ceil, prod

import networkx as nx
import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.utils.exceptions import PassFailedException

from dialects import la
from dialects.attn import dtype_name
from dialects.hw import TARGET_KEY, TargetAttr, module_target
from dialects.mem import TILING_KEY, TilingAttr


@dataclass(frozen=True)
class Level:
    name: str
    capacity: int
    count: int
    read_bandwidth: float
    write_bandwidth: float
    read_energy: float
    write_energy: float


@dataclass(frozen=True)
class Machine:
    """A `#hw.target` as plain numbers, so estimates do not touch IR."""

    name: str
    frequency: float
    unit_name: str
    units: int
    rows: int
    cols: int
    macs_per_cycle: dict[str, float]
    levels: tuple[Level, ...]
    mac_energy: dict[str, float]
    compute_efficiency: float = 1.0
    memory_efficiency: float = 1.0
    op_latency: float = 0.0
    cores: int = 1
    interconnect_bandwidth: float = 0.0
    interconnect_energy: float = 0.0

    @staticmethod
    def of(target: TargetAttr) -> Machine:
        """One kind of compute unit is modelled: the first (presets have one)."""
        unit = target.compute.data[0]
        efficiency = {k: v.value.data for k, v in target.efficiency.data.items()}  # type: ignore[attr-defined]
        cores = {k: v.value.data for k, v in target.cores.data.items()}  # type: ignore[attr-defined]
        return Machine(
            name=target.target_name.data,
            frequency=target.frequency,
            unit_name=unit.unit_name.data,
            units=unit.count.data,
            rows=unit.array_rows.data,
            cols=unit.array_cols.data,
            macs_per_cycle=unit.macs(),
            levels=tuple(
                Level(
                    m.level_name.data,
                    m.capacity_bytes.data,
                    m.count.data,
                    m.read_bandwidth,
                    m.write_bandwidth,
                    m.read_energy,
                    m.write_energy,
                )
                for m in target.memory
            ),
            mac_energy=target.mac_energy(),
            compute_efficiency=efficiency.get("compute", 1.0),
            memory_efficiency=efficiency.get("memory", 1.0),
            op_latency=efficiency.get("op_latency_cycles", 0.0),
            cores=target.core_count(),
            interconnect_bandwidth=cores.get("interconnect_bandwidth_bytes_per_cycle", 0.0),
            interconnect_energy=cores.get("interconnect_energy_pj_per_byte", 0.0),
        )

    def per_core(self) -> Machine:
        """One core of a multi-core chip: its share of the units and of each on-chip level's instances,
        and an even share of the off-chip bandwidth (cores running at once share the bus)."""
        last = len(self.levels) - 1
        levels = tuple(
            replace(lv, count=max(1, lv.count // self.cores))
            if i < last
            else replace(
                lv, read_bandwidth=lv.read_bandwidth / self.cores, write_bandwidth=lv.write_bandwidth / self.cores
            )
            for i, lv in enumerate(self.levels)
        )
        return replace(self, units=self.units // self.cores, levels=levels, cores=1)

    @property
    def tile_level(self) -> Level:
        """Where the tiles that decide off-chip traffic live: the outermost on-chip level."""
        return self.levels[-2]

    @property
    def array_level(self) -> Level:
        """The innermost level: it feeds the arrays and holds fused intermediates."""
        return self.levels[0]

    @property
    def dram(self) -> Level:
        return self.levels[-1]

    @property
    def on_chip_capacity(self) -> int:
        """Bytes that can stay on chip between ops: the largest on-chip level, all instances."""
        return max(level.capacity * level.count for level in self.levels[:-1])

    def peak_macs(self, dtype: str) -> float:
        if dtype not in self.macs_per_cycle:
            raise ValueError(f"hardware '{self.name}' has no {dtype} MAC rate")
        return self.macs_per_cycle[dtype]


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

    @property
    def macs(self) -> int:
        return self.gemm.macs if self.gemm else 0


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
            b_bytes * np.where(inner == 0, 1, tiles_m),  # B: once if M is innermost, else once per M tile
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
        # Below the tile level, each unit re-reads its share through square tiles that fit the innermost level.
        side = _square_tile(machine.levels[0].capacity, op.element_bytes)
        inner_loads = a_bytes * np.ceil(n / side) + b_bytes * np.ceil(m / side)
        extra = np.maximum(0.0, inner_loads - streams[0] - streams[1])
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
    compute = op.macs / (units * machine.peak_macs(op.dtype) * utilisation * machine.compute_efficiency)
    return compute, reads, writes, units, utilisation


def _square_tile(capacity: int, element_bytes: int) -> int:
    """The largest power-of-two side t with A, B and C tiles of t x t in `capacity`."""
    side = 1
    while 3 * (2 * side) ** 2 * element_bytes <= capacity:
        side *= 2
    return side


def _linear_traffic(machine: Machine, placement: Placement) -> tuple[np.ndarray, np.ndarray]:
    """Per-level reads and writes as linear maps of (A loads, B loads, C writes, C re-reads)."""
    columns = []
    for basis in np.eye(4):
        reads, writes = _traffic(machine, placement, (basis[0], basis[1]), (basis[2], basis[3]))
        columns.append(([reads[lv.name] for lv in machine.levels], [writes[lv.name] for lv in machine.levels]))
    return np.array([c[0] for c in columns]).T, np.array([c[1] for c in columns]).T


def _level_cycles(machine: Machine, reads: np.ndarray, writes: np.ndarray, units: np.ndarray) -> np.ndarray:
    """On-chip levels read and write through separate ports; the off-chip bus is shared by reads and writes."""
    cycles = []
    last = len(machine.levels) - 1
    for i, level in enumerate(machine.levels):
        instances = np.minimum(level.count, units) if i == 0 else level.count
        scale = instances * machine.memory_efficiency
        if i == last:
            cycles.append(reads[i] / (level.read_bandwidth * scale) + writes[i] / (level.write_bandwidth * scale))
        else:
            cycles.append(
                np.maximum(reads[i] / (level.read_bandwidth * scale), writes[i] / (level.write_bandwidth * scale))
            )
    return np.array(cycles)


def _energy(machine: Machine, op: OpSpec, reads: np.ndarray, writes: np.ndarray) -> np.ndarray:
    per_level = [reads[i] * lv.read_energy + writes[i] * lv.write_energy for i, lv in enumerate(machine.levels)]
    return np.array([np.full_like(reads[0], op.macs * machine.mac_energy.get(op.dtype, 0.0)), *per_level])


_INNER = {"m": 0, "n": 1, "k": 2}
ORDER_FOR_INNER = ("nkm", "mkn", "mnk")


def estimate_contraction(machine: Machine, op: OpSpec, placement: Placement, tiling: Tiling) -> Estimate:
    one = np.array([1.0])
    compute, reads, writes, units, utilisation = _contraction_terms(
        machine, op, placement, one * tiling.m, one * tiling.n, one * tiling.k, one * _INNER[tiling.order[-1]]
    )
    level_cycles = _level_cycles(machine, reads, writes, units)
    energy = _energy(machine, op, reads, writes)
    return _estimate(
        machine,
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
    return Estimate(
        cycles=terms[bound] + machine.op_latency,
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
    cycles = np.maximum(compute, _level_cycles(machine, reads, writes, units).max(axis=0))
    energy = _energy(machine, op, reads, writes).sum(axis=0)
    best = int(np.lexsort((energy, cycles))[0])
    tiling = Tiling(int(tm[best]), int(tn[best]), int(tk[best]), ORDER_FOR_INNER[int(inner[best])])
    return tiling, estimate_contraction(machine, op, placement, tiling)


def estimate_elementwise(machine: Machine, op: OpSpec, placement: Placement) -> Estimate:
    """Ops without a contraction: one FLOP per array column per cycle on every unit; data moved once."""
    reads_by, writes_by = _traffic(machine, placement, tuple(float(b) for b in op.operand_bytes), (op.result_bytes, 0))
    reads = np.array([[reads_by[lv.name]] for lv in machine.levels])
    writes = np.array([[writes_by[lv.name]] for lv in machine.levels])
    units = np.array([machine.units])
    compute = op.flops / (machine.units * machine.cols * machine.compute_efficiency)
    level_cycles = _level_cycles(machine, reads, writes, units)
    energy = _energy(machine, op, reads, writes)
    return _estimate(machine, compute, reads[:, 0], writes[:, 0], level_cycles[:, 0], energy[:, 0], 1.0, machine.units)


# ---- From `la` IR to the model's op table -------------------------------------------------------

VIEW_OPS = (la.WeightOp, la.PrecomposeOp, la.KvLoadOp, la.ConcatOp, la.BroadcastOp)
"""Ops that move nothing themselves: their consumers read the data from where it lives."""


def is_task(op: Operation) -> bool:
    """An op the schedule times: it computes, or it writes a KV cache."""
    return isinstance(op, la.LaOp) and not isinstance(op, VIEW_OPS)


def op_spec(op: la.LaOp) -> OpSpec:
    dtype_of = op.operands[0] if op.operands else op.results[0]
    element_type = la.tensor_type(dtype_of).element_type
    name = op.results[0].name_hint if op.results and op.results[0].name_hint else ""
    if isinstance(op, la.KvStoreOp):
        name = f"store {op.cache.data}"
    gemm = Gemm.of(op.spec.data, op.index_sizes()) if isinstance(op, la.EinsumOp) else None
    result_bytes = op.operand_bytes() if isinstance(op, la.KvStoreOp) else op.result_bytes()
    return OpSpec(
        name=name,
        kind=op.name.removeprefix("la."),
        dtype=dtype_name(element_type),
        element_bytes=la.element_bytes(element_type),
        flops=op.flops(),
        operand_bytes=tuple(la.tensor_bytes(v.type) for v in op.operands if not _is_gamma(op, v)),
        result_bytes=result_bytes,
        gemm=gemm,
    )


def _is_gamma(op: Operation, value: SSAValue) -> bool:
    """RMSNorm's scale vector is tiny and read once; it is not an operand stream."""
    return isinstance(op, la.RmsNormOp) and value == op.gamma


def task_operands(op: Operation) -> list[SSAValue]:
    return [v for v in op.operands if not _is_gamma(op, v)]


def fused_values(function: func.FuncOp) -> set[SSAValue]:
    """Flash-style fusion: attention scores and probabilities never leave the tile level.

    The softmax's input and output, and the partial scores summed into its input,
    are produced and consumed tile by tile, so they stay on chip whatever their size.
    """
    fused: set[SSAValue] = set()
    for op in function.body.walk():
        if isinstance(op, la.SoftmaxOp):
            fused |= {op.input, op.result}
            if isinstance(op.input.owner, la.AddOp):
                fused |= set(op.input.owner.operands)
    return fused


def assign_homes(function: func.FuncOp, machine: Machine) -> dict[SSAValue, str]:
    """The memory level each tensor lives in.

    Inputs, outputs, weights and KV caches live off chip; fused attention
    intermediates at the tile level; other intermediates in the outermost
    on-chip level while the live ones fit its capacity, else off chip (spilled).
    """
    dram, on_chip, tile = machine.dram.name, machine.tile_level.name, machine.array_level.name
    homes: dict[SSAValue, str] = dict.fromkeys(function.args, dram)
    returned = {v for op in function.body.walk() if isinstance(op, func.ReturnOp) for v in op.operands}
    fused = fused_values(function)
    ops = list(function.body.walk())
    position = {op: i for i, op in enumerate(ops)}
    last_use: dict[SSAValue, int] = {
        v: max((position[u.operation] for u in v.uses), default=i) for i, o in enumerate(ops) for v in o.results
    }
    live: dict[SSAValue, int] = {}
    for i, op in enumerate(ops):
        live = {v: b for v, b in live.items() if last_use[v] >= i}
        for result in op.results:
            if isinstance(op, la.WeightOp | la.PrecomposeOp | la.KvLoadOp):
                homes[result] = dram
            elif isinstance(op, la.ConcatOp):
                homes[result] = homes[op.lhs]
            elif isinstance(op, la.BroadcastOp):
                homes[result] = homes[op.input]
            elif result in returned:
                homes[result] = dram
            elif result in fused:
                homes[result] = tile
            elif sum(live.values()) + la.tensor_bytes(result.type) <= machine.on_chip_capacity:
                homes[result] = on_chip
                live[result] = la.tensor_bytes(result.type)
            else:
                homes[result] = dram
    return homes


def tiling_of(op: Operation) -> Tiling | None:
    """The tiling `tile` recorded on an op, if any."""
    attr = op.attributes.get(TILING_KEY)
    return Tiling(attr.m.data, attr.n.data, attr.k.data, attr.order.data) if isinstance(attr, TilingAttr) else None


def placement_of(op: Operation, homes: dict[SSAValue, str], machine: Machine) -> Placement:
    result = machine.dram.name if isinstance(op, la.KvStoreOp) else homes[op.results[0]]
    return Placement(tuple(homes[v] for v in task_operands(op)), result)


def estimate(machine: Machine, spec: OpSpec, placement: Placement, tiling: Tiling | None) -> Estimate:
    if spec.gemm is not None:
        assert tiling is not None
        return estimate_contraction(machine, spec, placement, tiling)
    return estimate_elementwise(machine, spec, placement)


def layer_functions(module: ModuleOp) -> Iterator[func.FuncOp]:
    return (op for op in module.ops if isinstance(op, func.FuncOp))


def machine_of_module(module: ModuleOp) -> Machine:
    """The hardware a pass works for: the module's `hw.target` attribute."""
    target = module_target(module)
    if target is None:
        raise PassFailedException(
            f"module has no '{TARGET_KEY}' attribute: compile with `mlacc compile --hw NAME|PATH`, or attach a "
            "#hw.target to the module"
        )
    return Machine.of(target)


def _task_sources(value: SSAValue) -> set[Operation]:
    """The tasks whose results `value` is made of (through views such as concat and broadcast)."""
    owner = value.owner
    if not isinstance(owner, Operation):
        return set()
    if is_task(owner):
        return {owner}
    return set().union(*(_task_sources(v) for v in owner.operands)) if owner.operands else set()


def dataflow_graph(function: func.FuncOp) -> nx.DiGraph:
    """Tasks and the data dependencies between them (through views)."""
    graph = nx.DiGraph()
    for op in function.body.walk():
        if is_task(op):
            graph.add_node(op)
            for operand in op.operands:
                for source in _task_sources(operand):
                    graph.add_edge(source, op)
    return graph


@dataclass(frozen=True)
class Slot:
    """Where and when one task runs: the cores it occupies, its cycles, and the bytes it received from other cores."""

    cores: tuple[int, ...]
    start: float
    end: float
    estimate: Estimate
    interconnect_bytes: float


def plan(
    function: func.FuncOp,
    machine: Machine,
    placements: dict[Operation, Placement],
    tilings: dict[Operation, Tiling | None],
) -> dict[Operation, Slot]:
    """Critical-path list scheduling of a layer's tasks onto the chip's cores.

    Ready tasks go in order of their longest path to the end of the layer. On a
    multi-core chip each task runs either on every core (split, as on a
    one-core chip) or on one core with that core's share of the units, on-chip
    memory and off-chip bandwidth, whichever finishes first. A result kept on
    chip and consumed on other cores crosses the interconnect (all of it between
    two single cores, (cores - 1) / cores of it between one core and all; none
    between two split tasks, which split alike); flash-fused attention stays
    where it was produced.
    """
    graph = dataflow_graph(function)
    fused = fused_values(function)
    count = machine.cores
    core = machine.per_core() if count > 1 else None
    full = {op: estimate(machine, op_spec(op), placements[op], tilings[op]) for op in graph}  # type: ignore[arg-type]
    single = (
        {op: estimate(core, op_spec(op), placements[op], tilings[op]) for op in graph}  # type: ignore[arg-type]
        if core
        else {}
    )
    priority = {op: full[op].cycles for op in graph}
    for op in reversed(list(nx.topological_sort(graph))):
        priority[op] += max((priority[s] for s in graph.successors(op)), default=0.0)
    everyone = tuple(range(count))
    options = [everyone, *((c,) for c in range(count))] if count > 1 else [everyone]
    free = [0.0] * count
    slots: dict[Operation, Slot] = {}
    waiting = {op: graph.in_degree(op) for op in graph}
    ready = [op for op in graph if waiting[op] == 0]
    while ready:
        ready.sort(key=lambda o: -priority[o])
        op = ready.pop(0)
        best: Slot | None = None
        for cores in options:
            preds = [(p, slots[p]) for p in graph.predecessors(op)]
            if any(set(p.results) & fused and slot.cores != cores for p, slot in preds):
                continue  # a fused pipeline stays on its cores
            arrive, received = 0.0, 0.0
            for p, slot in preds:
                moved = crossing_bytes(p, slot.cores, cores, count, placements[p], machine)
                received += moved
                link = machine.interconnect_bandwidth * len(cores)
                arrive = max(arrive, slot.end + (moved / link if moved else 0.0))
            est = full[op] if cores == everyone else single[op]
            start = max(arrive, *(free[c] for c in cores))
            if best is None or start + est.cycles < best.end - 1e-9:
                best = Slot(cores, start, start + est.cycles, est, received)
        assert best is not None
        slots[op] = best
        for c in best.cores:
            free[c] = best.end
        for succ in graph.successors(op):
            waiting[succ] -= 1
            if waiting[succ] == 0:
                ready.append(succ)
    return slots


def crossing_bytes(
    producer: Operation,
    source: tuple[int, ...],
    dest: tuple[int, ...],
    count: int,
    placement: Placement,
    machine: Machine,
) -> float:
    """Bytes of `producer`'s result that move between cores to reach a task on `dest`."""
    if not producer.results or placement.result == machine.dram.name or source == dest:
        return 0.0
    size = float(la.tensor_bytes(producer.results[0].type))
    if len(source) == len(dest) == count:
        return 0.0
    if len(source) == len(dest) == 1:
        return size
    return size * (count - 1) / count


def layer_cycles_and_energy(slots: dict[Operation, Slot], machine: Machine) -> tuple[float, float]:
    cycles = max((slot.end for slot in slots.values()), default=0.0)
    energy = sum(
        slot.estimate.total_energy_pj + slot.interconnect_bytes * machine.interconnect_energy for slot in slots.values()
    )
    return cycles, energy


def estimate_function(function: func.FuncOp, machine: Machine) -> tuple[float, float]:
    """Cycles and energy (pJ) of a layer function with every op at its best tiling, scheduled as `schedule`
    schedules it."""
    homes = assign_homes(function, machine)
    placements: dict[Operation, Placement] = {}
    tilings: dict[Operation, Tiling | None] = {}
    for op in function.body.walk():
        if is_task(op):
            spec, placements[op] = op_spec(op), placement_of(op, homes, machine)  # type: ignore[arg-type]
            tilings[op] = best_tiling(machine, spec, placements[op])[0] if spec.gemm is not None else None
    return layer_cycles_and_energy(plan(function, machine, placements, tilings), machine)
