"""The op model: what the cost model knows of one op (`OpSpec`, its GEMM view `Gemm`), where its tensors live
(`Placement`, as level indices `LevelIndices`), the tiling chosen for it (`Tiling`), and what it costs
(`Estimate`, or `Estimates` over many design points)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import prod

import numpy as np

from costmodel.attention import FlashShape
from costmodel.machine import Machine, Num


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
    attention: FlashShape | None = None
    """For a member of a flash-fused attention (scores, their sum, softmax, weighted values: one kernel), what
    the attention kernel model reads of it (costmodel/attention.py); None for an op that is a kernel of its own."""
    density: Num = 1.0
    """The fraction of the op a causal mask leaves to compute: masked blocks are skipped, as flash kernels do."""
    launch: bool = True
    """Whether the op starts a kernel of its own (pays the fixed per-op latency): one per flash group."""
    grouped: bool = False
    """A grouped expert GEMM: its weight is the slice of a MoE layer's stacked experts that receive tokens, each
    expert (the batch class) multiplying its own rows, in one kernel of the `moe_gemm` library."""
    routing_scores: Num = 0
    """For a MoE layer's routing (`la.dispatch`), the router scores its top-k reads: tokens x experts."""
    group_limited: bool = False
    """For a MoE layer's routing, whether it is group-limited (it picks the tokens' expert groups first)."""

    @property
    def macs(self) -> Num:
        return self.gemm.macs * self.density if self.gemm else 0

    @property
    def flash(self) -> bool:
        """Part of a flash-fused attention kernel."""
        return self.attention is not None

    @property
    def op_class(self) -> str:
        """Which class of kernel runs the op (dialects/hw_calibration.py `OP_CLASSES`): the key under which a GPU
        preset names its library (`Machine.kernels`)."""
        if self.attention is not None:
            return self.attention.op_class
        if self.grouped:
            return "moe_gemm"
        if self.kind in ("dispatch", "combine"):
            return "moe_routing"
        return "gemm" if self.gemm is not None else "elementwise"

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
            routing_scores=at(self.routing_scores),
            attention=self.attention.take(index) if self.attention else None,
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
class LevelIndices:
    """A `Placement` as level indices (0 = innermost), one per design point: the form the arithmetic reads."""

    operands: tuple[np.ndarray, ...]
    result: np.ndarray

    @staticmethod
    def of(machine: Machine, placement: Placement) -> LevelIndices:
        names = [level.name for level in machine.levels]
        return LevelIndices(
            tuple(np.array([names.index(home)]) for home in placement.operands),
            np.array([names.index(placement.result)]),
        )

    def take(self, index: np.ndarray) -> LevelIndices:
        return LevelIndices(tuple(home[index] for home in self.operands), self.result[index])


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


INNER = {"m": 0, "n": 1, "k": 2}
"""The innermost loop of a tiling order, as the vectorised model numbers it."""
ORDER_FOR_INNER = ("nkm", "mkn", "mnk")
