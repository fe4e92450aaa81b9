"""The `hw` dialect: the hardware a module is compiled for, as IR (`hw.target` on the module).

Like MLIR's target descriptions, the target is an attribute, so a pass test
carries its hardware with it and tile, place and schedule read it from the
module they are given. mlacc/hardware/ builds it from a TOML file or preset.

Units are in the names: MACs per cycle per unit and dtype, bytes, bytes per
cycle per instance of a memory level, picojoules per byte or per MAC. Memory
levels are ordered innermost first; the last is off-chip (DRAM/HBM).

The attributes print as keyword fields named like the TOML's (dialects/keywords.py), e.g.
`#hw.memory<"sram", capacity_bytes = 1024, count = 1, read_bytes_per_cycle = 64.0, ...>`;
a target leaves out the fields that hold their defaults (no cores, efficiency, static power, interconnect).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    Float64Type,
    FloatAttr,
    IntAttr,
    ModuleOp,
    StringAttr,
    f64,
)
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute
from xdsl.irdl import irdl_attr_definition
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from dialects.hw_calibration import OP_CLASSES, problems
from dialects.keywords import (
    float_field,
    format_float,
    int_field,
    list_field,
    numbers_field,
    parse_fields,
    parse_name,
    print_list,
    print_numbers,
    print_strings,
    shape_field,
    str_field,
    strings_field,
    verified,
)

TARGET_KEY = "hw.target"
"""The module attribute that holds the target."""

INTERCONNECT_FIELDS: tuple[str, ...] = (
    "devices",
    "link_bandwidth_bytes_per_cycle",
    "collective_latency_cycles",
    "energy_pj_per_byte",
)
"""The node's chip-to-chip network (`[interconnect]` in the TOML; `interconnect = {...}` in the IR)."""


def _float(value: float) -> FloatAttr[Float64Type]:
    return FloatAttr(float(value), f64)


def _numbers(attr: DictionaryAttr) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in attr.data.items():
        assert isinstance(value, FloatAttr)
        out[key] = value.value.data
    return out


@irdl_attr_definition
class ComputeUnitAttr(ParametrizedAttribute):
    """`count` identical compute units, each an `array_rows` x `array_cols` MAC array."""

    name = "hw.compute"

    unit_name: StringAttr
    count: IntAttr
    array_rows: IntAttr
    array_cols: IntAttr
    macs_per_cycle: DictionaryAttr

    def __init__(self, name: str, count: int, array_rows: int, array_cols: int, macs_per_cycle: dict[str, float]):
        super().__init__(
            StringAttr(name),
            IntAttr(count),
            IntAttr(array_rows),
            IntAttr(array_cols),
            DictionaryAttr({k: _float(v) for k, v in macs_per_cycle.items()}),
        )

    def macs(self) -> dict[str, float]:
        """MACs per cycle of one unit, per dtype."""
        return _numbers(self.macs_per_cycle)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            name, what, start = parse_name(parser, cls.name)
            fields = {"count": int_field, "array": shape_field, "macs_per_cycle": numbers_field}
            values = parse_fields(parser, what, start, fields, {})
        array = values["array"]  # one field, two parameters: rows and cols
        assert isinstance(array, ArrayAttr)
        return verified(parser, cls, (name, values["count"], *array.data, values["macs_per_cycle"]), start)

    def print_parameters(self, printer: Printer) -> None:
        """`<"sm", count = 132, array = 64x256, macs_per_cycle = {bf16 = 2048.0}>`."""
        with printer.in_angle_brackets():
            printer.print_string_literal(self.unit_name.data)
            printer.print_string(
                f", count = {self.count.data}, array = {self.array_rows.data}x{self.array_cols.data}, macs_per_cycle = "
            )
            print_numbers(printer, self.macs_per_cycle)

    def verify(self) -> None:
        if min(self.count.data, self.array_rows.data, self.array_cols.data) <= 0:
            raise VerifyException(f"compute unit '{self.unit_name.data}': count and array sizes must be positive")
        if not self.macs() or min(self.macs().values()) <= 0:
            raise VerifyException(f"compute unit '{self.unit_name.data}': MACs per cycle must be positive")


@irdl_attr_definition
class MemoryLevelAttr(ParametrizedAttribute):
    """`count` instances of one memory level; bandwidths are per instance."""

    name = "hw.memory"

    level_name: StringAttr
    capacity_bytes: IntAttr
    count: IntAttr
    read_bandwidth_bytes_per_cycle: FloatAttr[Float64Type]
    write_bandwidth_bytes_per_cycle: FloatAttr[Float64Type]
    read_energy_pj_per_byte: FloatAttr[Float64Type]
    write_energy_pj_per_byte: FloatAttr[Float64Type]

    def __init__(
        self,
        name: str,
        capacity_bytes: int,
        count: int,
        read_bandwidth: float,
        write_bandwidth: float,
        read_energy: float,
        write_energy: float,
    ):
        super().__init__(
            StringAttr(name),
            IntAttr(capacity_bytes),
            IntAttr(count),
            _float(read_bandwidth),
            _float(write_bandwidth),
            _float(read_energy),
            _float(write_energy),
        )

    _FIELDS: ClassVar[tuple[str, ...]] = (
        "capacity_bytes",
        "count",
        "read_bytes_per_cycle",
        "write_bytes_per_cycle",
        "read_pj_per_byte",
        "write_pj_per_byte",
    )
    """The keyword of each parameter after the name, in order: bandwidths per cycle, energies per byte."""

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            name, what, start = parse_name(parser, cls.name)
            fields = {key: int_field if i < 2 else float_field for i, key in enumerate(cls._FIELDS)}
            values = parse_fields(parser, what, start, fields, {})
        return verified(parser, cls, (name, *values.values()), start)

    def print_parameters(self, printer: Printer) -> None:
        """`<"smem", capacity_bytes = 233472, count = 132, read_bytes_per_cycle = 128.0, ...>`."""
        with printer.in_angle_brackets():
            printer.print_string_literal(self.level_name.data)
            printer.print_string(f", capacity_bytes = {self.capacity_bytes.data}, count = {self.count.data}")
            numbers = (self.read_bandwidth, self.write_bandwidth, self.read_energy, self.write_energy)
            for key, value in zip(self._FIELDS[2:], numbers, strict=True):
                printer.print_string(f", {key} = {format_float(value)}")

    @property
    def read_bandwidth(self) -> float:
        return self.read_bandwidth_bytes_per_cycle.value.data

    @property
    def write_bandwidth(self) -> float:
        return self.write_bandwidth_bytes_per_cycle.value.data

    @property
    def read_energy(self) -> float:
        return self.read_energy_pj_per_byte.value.data

    @property
    def write_energy(self) -> float:
        return self.write_energy_pj_per_byte.value.data

    def verify(self) -> None:
        if self.capacity_bytes.data <= 0 or self.count.data <= 0:
            raise VerifyException(f"memory level '{self.level_name.data}': capacity and count must be positive")
        if min(self.read_bandwidth, self.write_bandwidth) <= 0:
            raise VerifyException(f"memory level '{self.level_name.data}': bandwidths must be positive")
        if min(self.read_energy, self.write_energy) < 0:
            raise VerifyException(f"memory level '{self.level_name.data}': energies must not be negative")


@irdl_attr_definition
class TargetAttr(ParametrizedAttribute):
    """A whole chip: clock, compute units, memory levels (innermost first), MAC energies, optional cores."""

    name = "hw.target"

    target_name: StringAttr
    description: StringAttr
    frequency_hz: FloatAttr[Float64Type]
    compute: ArrayAttr[ComputeUnitAttr]
    memory: ArrayAttr[MemoryLevelAttr]
    mac_energy_pj: DictionaryAttr
    cores: DictionaryAttr
    """Empty for one core; else count, interconnect_bandwidth_bytes_per_cycle, interconnect_energy_pj_per_byte."""
    efficiency: DictionaryAttr
    """Measured fractions of peak (compute, memory) and fixed per-op latency; empty when none is known."""
    static_power_watts: FloatAttr[Float64Type]
    """Power drawn whatever the chip computes (idle and leakage), charged for the time a step takes; 0 if unknown."""
    calibrated: IntAttr
    """1 when the target's efficiency and energy constants were measured on the real chip, 0 for literature values."""
    interconnect: DictionaryAttr
    """Empty for a lone chip; else the node's chip-to-chip network that collectives run over: devices,
    link_bandwidth_bytes_per_cycle (per device, each way), collective_latency_cycles, energy_pj_per_byte."""
    kernels: DictionaryAttr
    """The kernel library that runs each op class (dialects/hw_calibration.py `OP_CLASSES`), whose measured
    constants `efficiency` holds; empty where the preset names none (accelerators without libraries)."""

    def __init__(
        self,
        name: str,
        description: str,
        frequency_hz: float,
        compute: list[ComputeUnitAttr],
        memory: list[MemoryLevelAttr],
        mac_energy_pj: dict[str, float],
        cores: dict[str, float] | None = None,
        efficiency: dict[str, float] | None = None,
        static_power_watts: float = 0.0,
        calibrated: bool = False,
        interconnect: dict[str, float] | None = None,
        kernels: dict[str, str] | None = None,
    ):
        super().__init__(
            StringAttr(name),
            StringAttr(description),
            _float(frequency_hz),
            ArrayAttr(compute),
            ArrayAttr(memory),
            DictionaryAttr({k: _float(v) for k, v in mac_energy_pj.items()}),
            DictionaryAttr({k: _float(v) for k, v in (cores or {}).items()}),
            DictionaryAttr({k: _float(v) for k, v in (efficiency or {}).items()}),
            _float(static_power_watts),
            IntAttr(int(calibrated)),
            DictionaryAttr({k: _float(v) for k, v in (interconnect or {}).items()}),
            DictionaryAttr({k: StringAttr(v) for k, v in (kernels or {}).items()}),
        )

    @property
    def frequency(self) -> float:
        return self.frequency_hz.value.data

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            name, what, start = parse_name(parser, cls.name)
            fields = {
                "description": str_field,
                "frequency_hz": float_field,
                "compute": list_field(ComputeUnitAttr),
                "memory": list_field(MemoryLevelAttr),
                "mac_pj": numbers_field,
                "cores": numbers_field,
                "efficiency": numbers_field,
                "static_power_watts": float_field,
                "calibrated": int_field,
                "interconnect": numbers_field,
                "kernels": strings_field,
            }
            defaults = {
                "description": StringAttr(""),
                "cores": DictionaryAttr({}),
                "efficiency": DictionaryAttr({}),
                "static_power_watts": _float(0.0),
                "calibrated": IntAttr(0),
                "interconnect": DictionaryAttr({}),
                "kernels": DictionaryAttr({}),
            }
            values = parse_fields(parser, what, start, fields, defaults, flags={"calibrated": IntAttr(1)})
        return verified(parser, cls, (name, *values.values()), start)

    def print_parameters(self, printer: Printer) -> None:
        """Keyword fields in the order of the parameters; those that hold their default are left out.

        `<"tiny", description = "...", frequency_hz = 1.0e9, compute = [...], memory = [...],
        mac_pj = {fp32 = 4.0}, cores = {...}, efficiency = {...}, static_power_watts = 80.0, calibrated,
        interconnect = {devices = 8.0, ...}>`
        """
        with printer.in_angle_brackets():
            printer.print_string_literal(self.target_name.data)
            if self.description.data:
                printer.print_string(", description = ")
                printer.print_string_literal(self.description.data)
            printer.print_string(f", frequency_hz = {format_float(self.frequency)}, compute = ")
            print_list(printer, self.compute)
            printer.print_string(", memory = ")
            print_list(printer, self.memory)
            printer.print_string(", mac_pj = ")
            print_numbers(printer, self.mac_energy_pj)
            for key, numbers in (("cores", self.cores), ("efficiency", self.efficiency)):
                if numbers.data:
                    printer.print_string(f", {key} = ")
                    print_numbers(printer, numbers)
            if format_float(self.static_power) != "0.0":  # -0.0 is printed, so it parses back as itself
                printer.print_string(f", static_power_watts = {format_float(self.static_power)}")
            if self.calibrated.data == 1:
                printer.print_string(", calibrated")
            elif self.calibrated.data:
                printer.print_string(f", calibrated = {self.calibrated.data}")
            if self.interconnect.data:
                printer.print_string(", interconnect = ")
                print_numbers(printer, self.interconnect)
            if self.kernels.data:
                printer.print_string(", kernels = ")
                print_strings(printer, self.kernels)

    @property
    def static_power(self) -> float:
        return self.static_power_watts.value.data

    @property
    def is_calibrated(self) -> bool:
        return bool(self.calibrated.data)

    def mac_energy(self) -> dict[str, float]:
        return _numbers(self.mac_energy_pj)

    def kernel_libraries(self) -> dict[str, str]:
        """Op class -> the library that runs it (empty where the preset names none)."""
        return {k: v.data for k, v in self.kernels.data.items() if isinstance(v, StringAttr)}

    def interconnect_fields(self) -> dict[str, float]:
        return _numbers(self.interconnect)

    def core_count(self) -> int:
        return int(_numbers(self.cores).get("count", 1))

    def peak_macs_per_cycle(self, dtype: str) -> float:
        """MACs per cycle of the whole chip for `dtype` (units that lack it contribute nothing)."""
        return sum(unit.count.data * unit.macs().get(dtype, 0.0) for unit in self.compute)

    def peak_flops_per_second(self, dtype: str) -> float:
        return 2 * self.peak_macs_per_cycle(dtype) * self.frequency

    @property
    def dram(self) -> MemoryLevelAttr:
        """The outermost (off-chip) level."""
        return self.memory.data[-1]

    def verify(self) -> None:
        if self.frequency <= 0:
            raise VerifyException(f"target '{self.target_name.data}': frequency must be positive")
        if self.static_power < 0:
            raise VerifyException(f"target '{self.target_name.data}': static power must not be negative")
        if not self.compute.data:
            raise VerifyException(f"target '{self.target_name.data}': no compute unit")
        if len(self.memory.data) < 2:
            raise VerifyException(f"target '{self.target_name.data}': needs an on-chip level and an off-chip level")
        dtypes = {dtype for unit in self.compute for dtype in unit.macs()}
        missing = sorted(dtypes - set(self.mac_energy()))
        if missing:
            raise VerifyException(f"target '{self.target_name.data}': no MAC energy for {', '.join(missing)}")
        unknown = sorted(set(self.kernels.data) - set(OP_CLASSES))
        if unknown:
            raise VerifyException(
                f"target '{self.target_name.data}': unknown op class '{unknown[0]}' in kernels "
                f"(expected: {', '.join(OP_CLASSES)})"
            )
        wrong = problems(_numbers(self.efficiency))
        if wrong:
            raise VerifyException(f"target '{self.target_name.data}': {wrong[0]}")
        link = self.interconnect_fields()
        if link:
            missing_link = sorted(set(INTERCONNECT_FIELDS) - set(link))
            unknown_link = sorted(set(link) - set(INTERCONNECT_FIELDS))
            if missing_link or unknown_link:
                raise VerifyException(
                    f"target '{self.target_name.data}': interconnect needs exactly {', '.join(INTERCONNECT_FIELDS)}"
                )
            if link["devices"] < 1 or link["devices"] != int(link["devices"]):
                raise VerifyException(
                    f"target '{self.target_name.data}': interconnect devices must be a positive integer"
                )
            if link["link_bandwidth_bytes_per_cycle"] <= 0:
                raise VerifyException(f"target '{self.target_name.data}': interconnect bandwidth must be positive")
            if link["collective_latency_cycles"] < 0 or link["energy_pj_per_byte"] < 0:
                raise VerifyException(
                    f"target '{self.target_name.data}': interconnect latency and energy must not be negative"
                )
        cores = self.core_count()
        if cores <= 0 or any(unit.count.data % cores for unit in self.compute):
            raise VerifyException(
                f"target '{self.target_name.data}': compute unit counts must be multiples of the {cores} cores"
            )


def module_target(module: ModuleOp) -> TargetAttr | None:
    """The target a module is compiled for, if it has one."""
    target = module.attributes.get(TARGET_KEY)
    return target if isinstance(target, TargetAttr) else None


def attach_target(module: ModuleOp, target: Attribute) -> None:
    module.attributes[TARGET_KEY] = target


Hw = Dialect("hw", [], [ComputeUnitAttr, MemoryLevelAttr, TargetAttr])
