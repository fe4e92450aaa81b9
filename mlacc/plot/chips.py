"""The hardware behind a sweep row, for the pictures that need more than a row says: the roofline's peak rates
and the KV-cache picture's capacity line.

A row names its chip (`h100`, or `h100[hbm.read_bandwidth_bytes_per_cycle=1000]` when `--set` made it);
the chip is rebuilt from the preset, or from a TOML file given with `mlacc plot --hw`, with the same
overrides, and its rates are derived as the cost model derives them (costmodel/machine.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mlacc.diagnostics import InputError

if TYPE_CHECKING:
    from dialects.hw import TargetAttr
    from mlacc.hardware.loader import HardwareFile


@dataclass(frozen=True)
class Roof:
    """A chip's roofline for one dtype: peak compute and DRAM read bandwidth, and the fractions of them its
    preset says were measured (1 where it says none)."""

    hardware: str
    dtype: str
    peak_flops_per_second: float
    dram_name: str
    dram_bytes_per_second: float
    compute_efficiency: float
    memory_efficiency: float

    @property
    def ridge_flop_per_byte(self) -> float:
        """The arithmetic intensity where the bandwidth slope meets the compute peak."""
        return self.peak_flops_per_second / self.dram_bytes_per_second

    @property
    def measured(self) -> bool:
        return (self.compute_efficiency, self.memory_efficiency) != (1.0, 1.0)

    def attainable(self, flop_per_byte: float, attained: bool = False) -> float:
        """FLOP/s an op of this intensity can reach: under the peak roof, or under the measured one."""
        compute = self.peak_flops_per_second * (self.compute_efficiency if attained else 1.0)
        memory = self.dram_bytes_per_second * (self.memory_efficiency if attained else 1.0)
        return min(compute, flop_per_byte * memory)


class ChipCatalogue:
    """Targets by the names rows give them: presets, and the TOML files given with `--hw` (by their `name`)."""

    def __init__(self, files: list[str]):
        self.files = files

    @cached_property
    def _by_name(self) -> dict[str, HardwareFile]:
        from mlacc.hardware import read_hardware

        found: dict[str, HardwareFile] = {}
        for path in self.files:
            hardware = read_hardware(path)
            hardware.target()  # its own errors first, at their place in the file
            found[str(hardware.data.get("name"))] = hardware
        return found

    def target(self, row: dict[str, Any], set_fields: tuple[str, ...]) -> TargetAttr:
        """The row's chip: its base hardware with the row's `--set` overrides applied."""
        from mlacc.hardware import preset_names, read_hardware
        from mlacc.hardware.overrides import hypothetical_target

        base = str(row["chip"])
        if base in self._by_name:
            hardware = self._by_name[base]
        elif base in preset_names():
            hardware = read_hardware(base)
        else:
            raise InputError(f"rows name hardware '{base}', which is no preset: give its TOML file with --hw PATH.toml")
        overrides = tuple((field, row[field]) for field in set_fields if row.get(field) is not None)
        return hypothetical_target(hardware, overrides)

    def dram_capacity(self, row: dict[str, Any], set_fields: tuple[str, ...]) -> tuple[str, int]:
        """The name and bytes (all instances) of the row's chip's outermost memory, which `fits` is judged by."""
        dram = self.target(row, set_fields).dram
        return dram.level_name.data, dram.capacity_bytes.data * dram.count.data

    def roof(self, row: dict[str, Any], set_fields: tuple[str, ...], dtype: str) -> Roof:
        """The row's chip's roofline: units x MACs per cycle x 2 FLOP x clock, DRAM read bytes per cycle x
        instances x clock, and its measured compute and memory efficiency."""
        from costmodel import Machine

        machine = Machine.of(self.target(row, set_fields))
        if dtype not in machine.macs_per_cycle:
            raise InputError(f"hardware '{machine.name}' has no {dtype} MAC rate (--dtype picks the layer's dtype)")
        dram = machine.dram
        return Roof(
            hardware=machine.name,
            dtype=dtype,
            peak_flops_per_second=float(machine.units * machine.peak_macs(dtype) * 2 * machine.frequency),
            dram_name=dram.name,
            dram_bytes_per_second=float(dram.read_bandwidth * dram.count * machine.frequency),
            compute_efficiency=float(machine.compute_efficiency),
            memory_efficiency=float(machine.memory_efficiency),
        )
