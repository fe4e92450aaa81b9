"""The machine view of a `#hw.target`: plain numbers the estimates read, so they never touch IR."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TypeAlias

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.exceptions import PassFailedException

from dialects.hw import TARGET_KEY, TargetAttr, module_target
from dialects.hw_calibration import CONSTANTS, resolved

Num: TypeAlias = int | float | np.ndarray
"""A count or rate: one number, or (in a sweep) one per design point."""


@dataclass(frozen=True)
class Level:
    name: str
    capacity: Num
    count: int
    read_bandwidth: Num
    write_bandwidth: Num
    read_energy: Num
    write_energy: Num


@dataclass(frozen=True)
class Machine:
    """A `#hw.target` as plain numbers, so estimates do not touch IR."""

    name: str
    frequency: Num
    unit_name: str
    units: int
    rows: int
    cols: int
    macs_per_cycle: Mapping[str, Num]
    levels: tuple[Level, ...]
    mac_energy: Mapping[str, Num]
    # The calibration constants, one field each: dialects/hw_calibration.py declares each (its key, unit,
    # meaning and default) and `of` reads them all through it.
    compute_efficiency: Num
    epilogue_slices: Num
    memory_efficiency: Num
    memory_write_efficiency: Num
    join_memory: Num
    join_split_memory: Num
    op_latency: Num
    contraction_latency: Num
    split_k_latency: Num
    moe_gemm_compute: Num
    moe_gemm_memory: Num
    moe_gemm_latency: Num
    moe_gemm_overlap: Num
    moe_routing_kernels: Num
    moe_group_routing_kernels: Num
    moe_routing_score_cycles: Num
    moe_combine_kernels: Num
    moe_combine_memory: Num
    attention_compute_efficiency: Num
    attention_two_part_compute: Num
    attention_decode_compute: Num
    attention_decode_unsplit_compute: Num
    attention_memory_efficiency: Num
    attention_two_part_memory: Num
    attention_programs_per_unit: Num
    attention_two_part_programs_per_unit: Num
    attention_stream_programs: Num
    attention_two_part_stream_programs: Num
    attention_decode_latency: Num
    attention_program_keys: Num
    attention_split_cycles: Num
    attention_latent_compute: Num
    attention_latent_memory: Num
    attention_latent_overlap: Num
    attention_latent_prefill_compute: Num
    attention_latent_program_keys: Num
    attention_mac_energy_ratio: Num
    busy_power: Num
    gemm_energy: Num
    attention_prefill_energy: Num
    attention_prefill_latent_energy: Num
    attention_decode_heads_energy: Num
    attention_decode_latent_energy: Num
    elementwise_energy: Num
    join_energy: Num
    moe_gemm_energy: Num
    moe_routing_energy: Num
    clock_top: Num
    gemm_clock: Num
    attention_clock: Num
    clock_power_exponent: Num
    memory_power: Num
    attention_measured: bool = False
    """Whether `attention_compute` was measured on whole fused kernels: their contractions' rate then already
    pays for the softmax and sums inside them."""
    static_power: Num = 0.0
    """Watts drawn whatever the chip computes, charged for the time a step takes."""
    cores: int = 1
    interconnect_bandwidth: Num = 0.0
    interconnect_energy: Num = 0.0
    devices: int = 1
    """Chips in the node that collectives may span ([interconnect]); 1 for a lone chip."""
    link_bandwidth: Num = 0.0
    """Bytes per cycle each device sends over the node's interconnect."""
    collective_latency: Num = 0.0
    """Fixed cycles of one collective."""
    link_energy: Num = 0.0
    """pJ per byte a device sends over the node's interconnect."""
    kernels: Mapping[str, str] = field(default_factory=lambda: {})
    """Op class -> the library that runs it (a GPU preset's `[kernels]`); empty where the preset names none."""

    def library(self, op_class: str) -> str | None:
        """The library that runs an op of `op_class`, where the preset names one."""
        return self.kernels.get(op_class)

    @staticmethod
    def of(target: TargetAttr) -> Machine:
        """One kind of compute unit is modelled: the first (presets have one)."""
        unit = target.compute.data[0]
        efficiency = {k: v.value.data for k, v in target.efficiency.data.items()}  # type: ignore[attr-defined]
        cores = {k: v.value.data for k, v in target.cores.data.items()}  # type: ignore[attr-defined]
        link = target.interconnect_fields()
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
            **resolved(efficiency),
            attention_measured="attention_compute" in efficiency,
            static_power=target.static_power,
            cores=target.core_count(),
            interconnect_bandwidth=cores.get("interconnect_bandwidth_bytes_per_cycle", 0.0),
            interconnect_energy=cores.get("interconnect_energy_pj_per_byte", 0.0),
            devices=int(link.get("devices", 1)),
            link_bandwidth=link.get("link_bandwidth_bytes_per_cycle", 0.0),
            collective_latency=link.get("collective_latency_cycles", 0.0),
            link_energy=link.get("energy_pj_per_byte", 0.0),
            kernels=target.kernel_libraries(),
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
    def on_chip_capacity(self) -> float:
        """Bytes that can stay on chip between ops: the largest on-chip level, all instances."""
        return max(float(level.capacity) * level.count for level in self.levels[:-1])

    def peak_macs(self, dtype: str) -> Num:
        if dtype not in self.macs_per_cycle:
            raise ValueError(f"hardware '{self.name}' has no {dtype} MAC rate")
        return self.macs_per_cycle[dtype]

    def shape(self) -> tuple[object, ...]:
        """What decides the tiling search's candidates and the rows' columns: the machines of a sweep that
        share it differ only in rates, energies, latencies and off-chip capacity (`stack` holds those
        per design point)."""
        return (
            self.unit_name,
            self.units,
            self.rows,
            self.cols,
            tuple(self.macs_per_cycle),
            tuple(self.mac_energy),
            tuple((lv.name, lv.count, lv.capacity) for lv in self.levels[:-1]),
            (self.dram.name, self.dram.count),
            self.attention_measured,
            self.cores,
            self.devices,
            bool(self.static_power),
            bool(self.attention_split_cycles),
            bool(self.attention_latent_compute),  # whether FlashMLA's own model runs (costmodel/estimate.py)
            tuple(sorted(self.kernels.items())),
        )


_STACKED = (
    "frequency",
    *(c.field for c in CONSTANTS),
    "static_power",
    "interconnect_bandwidth",
    "interconnect_energy",
    "link_bandwidth",
    "collective_latency",
    "link_energy",
)


def stack(machines: list[Machine], which: np.ndarray) -> Machine:
    """One machine whose rates, energies, latencies and off-chip capacity are arrays over design points (point
    i runs on `machines[which[i]]`), for a sweep's vectorised estimates; all must share `shape()`."""
    first = machines[0]

    def column(values: list[Num]) -> np.ndarray:
        return np.asarray(values, dtype=float)[which]

    levels = tuple(
        replace(
            level,
            capacity=column([m.levels[i].capacity for m in machines]) if i == len(first.levels) - 1 else level.capacity,
            read_bandwidth=column([m.levels[i].read_bandwidth for m in machines]),
            write_bandwidth=column([m.levels[i].write_bandwidth for m in machines]),
            read_energy=column([m.levels[i].read_energy for m in machines]),
            write_energy=column([m.levels[i].write_energy for m in machines]),
        )
        for i, level in enumerate(first.levels)
    )
    return replace(
        first,
        name="",
        levels=levels,
        macs_per_cycle={d: column([m.macs_per_cycle[d] for m in machines]) for d in first.macs_per_cycle},
        mac_energy={d: column([m.mac_energy[d] for m in machines]) for d in first.mac_energy},
        **{f: column([getattr(m, f) for m in machines]) for f in _STACKED},
    )


def machine_of_module(module: ModuleOp) -> Machine:
    """The hardware a pass works for: the module's `hw.target` attribute."""
    target = module_target(module)
    if target is None:
        raise PassFailedException(
            f"module has no '{TARGET_KEY}' attribute: compile with `mlacc compile --hw NAME|PATH`, or attach a "
            "#hw.target to the module"
        )
    return Machine.of(target)
