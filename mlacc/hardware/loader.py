"""TOML hardware description -> `#hw.target`, with errors that name the file, line and field.

The schema (every key carries its unit; see presets/h100.toml for a commented example):

    name, description, frequency_hz
    [[compute]]  name, count, array_rows, array_cols, [compute.macs_per_cycle] {dtype = MACs/cycle/unit}
    [[memory]]   name, capacity_bytes, count, read_/write_bandwidth_bytes_per_cycle,
                 read_/write_energy_pj_per_byte          (innermost first, off-chip last)
    calibrated   true when the efficiency and energy constants were measured on the chip (default false)
    [energy]     static_power_watts: power drawn whatever the chip computes (optional, default 0)
    [energy.mac_pj] {dtype = pJ per MAC}
    [cores]      count, interconnect_bandwidth_bytes_per_cycle, interconnect_energy_pj_per_byte  (optional; the
                 on-chip network between the cores of one chip)
    [interconnect]  devices, link_bandwidth_bytes_per_cycle, collective_latency_cycles, energy_pj_per_byte
                 (optional; the network between the chips of a node that `shard`'s collectives run over:
                 devices per node, each device's link bandwidth each way, the fixed time of one collective,
                 pJ per byte a device sends)
    [efficiency] the measured calibration constants, each optional: fractions of peak rates, fixed latencies,
                 the attention kernels' constants and the step clock's; dialects/hw_calibration.py declares
                 every key with its unit, meaning and default

`count` fields are totals on the chip. Unknown keys are errors, so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xdsl.utils.exceptions import VerifyException

from dialects.hw_calibration import BY_KEY, CONSTANTS, GROUPS, group_keys
from mlacc.diagnostics import InputError, UsageError, did_you_mean

if TYPE_CHECKING:
    from dialects.hw import TargetAttr

PRESETS = resources.files("mlacc.hardware") / "presets"

DEFAULT_HARDWARE = "h100"
"""The preset a compile uses without `--hw` (mlacc.estimates reports it as the default)."""


class HardwareError(InputError):
    """A bad hardware description; `place` is FILE:LINE:COL where the problem is."""

    def __init__(self, place: str, message: str):
        self.place = place
        super().__init__(message)


class UnknownHardware(UsageError):
    """A `--hw` name that is neither a preset nor a path (exit code 2, as any bad option)."""


@cache
def preset_names() -> list[str]:
    return sorted(p.name.removesuffix(".toml") for p in PRESETS.iterdir() if p.name.endswith(".toml"))


def preset_profiles(name: str) -> list[str]:
    """The kernel profiles a preset defines (`[profiles.NAME]`), read without building its target."""
    profiles = tomllib.loads(preset_path(name).read_text(encoding="utf-8")).get("profiles", {})
    return list(profiles) if isinstance(profiles, dict) else []


def preset_description(name: str) -> str:
    """A preset's one-line description and its kernel profiles, read without building its target (for `mlacc hw
    list`)."""
    data = tomllib.loads(preset_path(name).read_text(encoding="utf-8"))
    profiles = data.get("profiles", {})
    also = (
        f" (kernel profiles: {', '.join(f'{name}:{p}' for p in profiles)})"
        if isinstance(profiles, dict) and profiles
        else ""
    )
    return str(data.get("description", "")) + also


def preset_path(name: str) -> Path:
    return Path(str(PRESETS / f"{name}.toml"))


@dataclass
class _Source:
    """The text of a TOML file, to find the line of a table or key for an error."""

    path: str
    lines: list[str]

    def place(self, table: str | None, index: int | None = None, key: str | None = None) -> str:
        """FILE:LINE:COL of `key` in the `index`-th `[[table]]` (or `[table]`), else of the table header."""
        start, end = 0, len(self.lines)
        if table is not None:
            header = re.compile(rf"^\s*\[\[?\s*{re.escape(table)}\s*\]\]?")
            starts = [i for i, line in enumerate(self.lines) if header.match(line)]
            if index is not None and index < len(starts):
                start = starts[index]
            elif starts:
                start = starts[0]
            else:
                return f"{self.path}:1:1"
            following = [
                i
                for i, line in enumerate(self.lines)
                if i > start and re.match(r"^\s*\[", line) and not re.match(rf"^\s*\[\s*{re.escape(table)}\.", line)
            ]
            end = following[0] if following else len(self.lines)
        if key is not None:
            pattern = re.compile(rf"^(\s*){re.escape(key)}\s*=")
            for i in range(start, end):
                if m := pattern.match(self.lines[i]):
                    return f"{self.path}:{i + 1}:{len(m.group(1)) + 1}"
        return f"{self.path}:{start + 1}:1"


_INT64_MAX = 2**63 - 1
"""Counts end up in the IR's 64-bit integers."""

_TOP = {
    "name",
    "description",
    "frequency_hz",
    "calibrated",
    "compute",
    "memory",
    "energy",
    "cores",
    "efficiency",
    "interconnect",
    "kernels",
    "profiles",
}
_PROFILE = {"description", "kernels", "efficiency"}
_COMPUTE = {"name", "count", "array_rows", "array_cols", "macs_per_cycle"}
_MEMORY = {
    "name",
    "capacity_bytes",
    "count",
    "read_bandwidth_bytes_per_cycle",
    "write_bandwidth_bytes_per_cycle",
    "read_energy_pj_per_byte",
    "write_energy_pj_per_byte",
}
_CORES = {"count", "interconnect_bandwidth_bytes_per_cycle", "interconnect_energy_pj_per_byte"}
_EFFICIENCY = set(BY_KEY)
"""Every calibration constant (dialects/hw_calibration.py declares each with its unit, meaning and default)."""
_FRACTIONS = {c.key for c in CONSTANTS if c.fraction}
_TOGETHER = tuple((group_keys(group), what, quantifier) for group, (what, quantifier) in GROUPS.items())
"""Fields a model needs all of, or none: each group, what it models, and how the error counts them."""


def _positive(table: str, key: str) -> bool:
    """Whether a number of `table` must be above 0; an efficiency constant may be 0 where it says so."""
    return table != "efficiency" or not BY_KEY[key].zero


class _Reader:
    def __init__(self, source: _Source):
        self.source = source

    def fail(self, message: str, table: str | None = None, index: int | None = None, key: str | None = None):
        raise HardwareError(self.source.place(table, index, key), message)

    def fields(
        self,
        data: dict[str, Any],
        allowed: set[str],
        required: set[str],
        where: str,
        table: str | None,
        index: int | None,
    ) -> None:
        for key in data:
            if key not in allowed:
                self.fail(
                    f"unknown field '{key}' in {where} (expected: {', '.join(sorted(allowed))})", table, index, key
                )
        for key in sorted(required - set(data)):
            self.fail(f"missing field '{key}' in {where}", table, index)

    def number(
        self,
        data: dict[str, Any],
        key: str,
        where: str,
        table: str | None,
        index: int | None,
        integer: bool = False,
        positive: bool = True,
    ) -> Any:
        value = data[key]
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            kind = "an integer" if integer else "a number"
            self.fail(f"'{key}' in {where} must be {kind}, got {value!r}", table, index, key)
        if not math.isfinite(value):
            self.fail(f"'{key}' in {where} must be a finite number, got {value}", table, index, key)
        if integer and value > _INT64_MAX:
            self.fail(f"'{key}' in {where} is too large ({value}; at most {_INT64_MAX})", table, index, key)
        if (value <= 0) if positive else (value < 0):
            self.fail(
                f"'{key}' in {where} must be {'positive' if positive else 'non-negative'}, got {value}",
                table,
                index,
                key,
            )
        return value

    def dtype_table(self, data: Any, key: str, where: str, table: str, index: int | None) -> dict[str, float]:
        from dialects.attn import DTYPES

        if not isinstance(data, dict) or not data:
            self.fail(f"'{key}' in {where} must be a table of dtype = number", table, index, key)
        for dtype in data:
            if dtype not in DTYPES:
                self.fail(
                    f"unknown dtype '{dtype}' in {where}.{key} (expected: {', '.join(DTYPES)})",
                    f"{table}.{key}" if index is None else table,
                    index,
                    dtype,
                )
            self.number(
                data,
                dtype,
                f"{where}.{key}",
                f"{table}.{key}" if index is None else table,
                index,
                positive=key != "mac_pj",
            )
        return {k: float(v) for k, v in data.items()}

    def kernels(self, table: Any, where: str) -> dict[str, str]:
        """A `[kernels]` table: op class -> the name of the library that runs it."""
        from dialects.hw_calibration import OP_CLASSES

        if not isinstance(table, dict):
            self.fail(f"'{where}' must be a table of op class = library name", where)
        self.fields(table, set(OP_CLASSES), set(), f"[{where}]", where, None)
        for key, library in table.items():
            if not isinstance(library, str) or not library:
                self.fail(f"'{key}' in [{where}] must be a library name, got {library!r}", where, None, key)
        return dict(table)

    def list_of_tables(self, data: dict[str, Any], key: str, minimum: int) -> list[dict[str, Any]]:
        tables = data.get(key)
        if not isinstance(tables, list) or len(tables) < minimum or not all(isinstance(t, dict) for t in tables):
            self.fail(f"need at least {minimum} [[{key}]] table{'s' if minimum > 1 else ''}", key)
        seen: set[object] = set()
        for i, table in enumerate(tables):  # type: ignore[union-attr]
            name = table.get("name")
            if not isinstance(name, str) or not name:
                self.fail(f"'name' in [[{key}]] #{i + 1} must be a non-empty string", key, i, "name")
            if name in seen:
                self.fail(f"two [[{key}]] tables are named '{name}': names must differ", key, i, "name")
            seen.add(name)
        return tables  # type: ignore[return-value]

    def target(self, data: dict[str, Any]) -> TargetAttr:
        # The IR classes are imported here, not at the top, so that `mlacc hw list` never loads them.
        from dialects.hw import ComputeUnitAttr, MemoryLevelAttr, TargetAttr

        self.fields(
            data, _TOP, {"name", "frequency_hz", "compute", "memory", "energy"}, "the hardware file", None, None
        )
        if not isinstance(data["name"], str) or not data["name"]:
            self.fail("'name' must be a non-empty string", None, None, "name")
        frequency = self.number(data, "frequency_hz", "the hardware file", None, None)
        units = []
        for i, unit in enumerate(self.list_of_tables(data, "compute", 1)):
            where = f"[[compute]] #{i + 1}"
            self.fields(unit, _COMPUTE, _COMPUTE, where, "compute", i)
            count, rows, cols = (
                self.number(unit, k, where, "compute", i, integer=True) for k in ("count", "array_rows", "array_cols")
            )
            macs = self.dtype_table(unit["macs_per_cycle"], "macs_per_cycle", where, "compute", i)
            units.append(ComputeUnitAttr(str(unit["name"]), count, rows, cols, macs))
        levels = []
        for i, level in enumerate(self.list_of_tables(data, "memory", 2)):
            where = f"[[memory]] '{level.get('name', i + 1)}'"
            self.fields(level, _MEMORY, _MEMORY, where, "memory", i)
            capacity, count = (
                self.number(level, k, where, "memory", i, integer=True) for k in ("capacity_bytes", "count")
            )
            bandwidths = [
                self.number(level, f"{rw}_bandwidth_bytes_per_cycle", where, "memory", i) for rw in ("read", "write")
            ]
            energies = [
                self.number(level, f"{rw}_energy_pj_per_byte", where, "memory", i, positive=False)
                for rw in ("read", "write")
            ]
            levels.append(MemoryLevelAttr(str(level["name"]), capacity, count, *bandwidths, *energies))
        energy = data["energy"]
        if (
            not isinstance(energy, dict)
            or "mac_pj" not in energy
            or not set(energy) <= {"mac_pj", "static_power_watts"}
        ):
            self.fail("[energy] holds [energy.mac_pj] (dtype = pJ per MAC) and optionally static_power_watts", "energy")
        mac_energy = self.dtype_table(energy["mac_pj"], "mac_pj", "[energy]", "energy", None)
        static_power = (
            float(self.number(energy, "static_power_watts", "[energy]", "energy", None, positive=False))
            if "static_power_watts" in energy
            else 0.0
        )
        calibrated = data.get("calibrated", False)
        if not isinstance(calibrated, bool):
            self.fail(f"'calibrated' must be true or false, got {calibrated!r}", None, None, "calibrated")
        optional: dict[str, dict[str, float]] = {}
        for key, allowed in (("cores", _CORES), ("efficiency", _EFFICIENCY)):
            if key in data:
                table = data[key]
                if not isinstance(table, dict):
                    self.fail(f"'{key}' must be a table", key)
                self.fields(table, allowed, allowed if key == "cores" else set(), f"[{key}]", key, None)
                optional[key] = {
                    k: float(
                        self.number(table, k, f"[{key}]", key, None, integer=k == "count", positive=_positive(key, k))
                    )
                    for k in table
                }
                if key == "efficiency" and any(v > 1 for k, v in optional[key].items() if k in _FRACTIONS):
                    self.fail("[efficiency] compute and memory are fractions of peak: at most 1", key)
                for group, what, quantifier in _TOGETHER if key == "efficiency" else ():
                    given = group & set(table)
                    if given and given != group:
                        self.fail(
                            f"[efficiency] models {what} with {quantifier} of {', '.join(sorted(group))}: "
                            f"missing {', '.join(sorted(group - given))}",
                            key,
                        )
        from dialects.hw_calibration import problems

        kernels = self.kernels(data.get("kernels", {}), "kernels")
        for name, profile in data.get("profiles", {}).items() if isinstance(data.get("profiles"), dict) else ():
            table = f"profiles.{name}"
            if not isinstance(profile, dict):
                self.fail(f"profile '{name}' must be a table of {', '.join(sorted(_PROFILE))}", table)
            self.fields(profile, _PROFILE, set(), f"[{table}]", table, None)
            self.kernels(profile.get("kernels", {}), f"{table}.kernels")
            overlay = profile.get("efficiency", {})
            self.fields(overlay, _EFFICIENCY, set(), f"[{table}.efficiency]", table, None)
            numbers = {
                k: float(
                    self.number(overlay, k, f"[{table}.efficiency]", table, None, positive=_positive("efficiency", k))
                )
                for k in overlay
            }
            wrong = problems({**optional.get("efficiency", {}), **numbers})
            if wrong:
                self.fail(f"profile '{name}': {wrong[0]}", table)
        interconnect: dict[str, float] | None = None
        if "interconnect" in data:
            from dialects.hw import INTERCONNECT_FIELDS

            table = data["interconnect"]
            if not isinstance(table, dict):
                self.fail("'interconnect' must be a table", "interconnect")
            fields: set[str] = set(INTERCONNECT_FIELDS)
            self.fields(table, fields, fields, "[interconnect]", "interconnect", None)
            interconnect = {
                k: float(
                    self.number(
                        table,
                        k,
                        "[interconnect]",
                        "interconnect",
                        None,
                        integer=k == "devices",
                        positive=k in ("devices", "link_bandwidth_bytes_per_cycle"),
                    )
                )
                for k in INTERCONNECT_FIELDS
            }
        try:
            target = TargetAttr(
                data["name"],
                str(data.get("description", "")),
                frequency,
                units,
                levels,
                mac_energy,
                optional.get("cores"),
                optional.get("efficiency"),
                static_power,
                calibrated,
                interconnect,
                kernels,
            )
            target.verify()
        except VerifyException as e:
            self.fail(str(e), None)
        return target


@dataclass
class HardwareFile:
    """A hardware description read and parsed but not yet checked: the seam where `mlacc sweep --set` edits
    fields before the same checks as any file's run on them."""

    data: dict[str, Any]
    source: _Source

    def target(self, data: dict[str, Any] | None = None) -> TargetAttr:
        """The verified `#hw.target` of this file's data, or of `data` (an edited copy of it)."""
        return _Reader(self.source).target(self.data if data is None else data)

    def profiles(self) -> list[str]:
        profiles = self.data.get("profiles", {})
        return list(profiles) if isinstance(profiles, dict) else []

    def with_profile(self, profile: str) -> HardwareFile:
        """This hardware with the kernels and constants of `[profiles.PROFILE]` over its own, named NAME:PROFILE."""
        tables = self.data.get("profiles", {})
        if not isinstance(tables, dict) or profile not in tables or not isinstance(tables[profile], dict):
            known = ", ".join(self.profiles()) or "none"
            raise UnknownHardware(
                f"hardware '{self.data.get('name')}' has no kernel profile '{profile}' (profiles: {known})"
                f"{did_you_mean(profile, self.profiles())}"
            )
        chosen = tables[profile]
        data = dict(self.data)
        for key in ("kernels", "efficiency"):
            if isinstance(chosen.get(key), dict) and isinstance(data.get(key, {}), dict):
                data[key] = {**data.get(key, {}), **chosen[key]}
        data["name"] = f"{self.data.get('name')}:{profile}"
        what = chosen.get("description", f"the {profile} kernels")
        data["description"] = f"{self.data.get('description', '')}; kernel profile {profile}: {what}"
        return HardwareFile(data, self.source)


def read_hardware(spec: str) -> HardwareFile:
    """A preset name (`h100`) or a path to a TOML file, either with `:PROFILE` to run its ops on another kernel
    profile (`h100:triton`) -> its parsed TOML, the profile's kernels and constants laid over the file's,
    unchecked."""
    base, _, profile = spec.rpartition(":") if ":" in spec and not Path(spec).exists() else (spec, "", "")
    hardware = _read_file(base)
    return hardware.with_profile(profile) if profile else hardware


def _read_file(spec: str) -> HardwareFile:
    if spec in preset_names():
        path = preset_path(spec)
    elif spec.endswith(".toml") or "/" in spec or Path(spec).exists():
        path = Path(spec)
    else:
        raise UnknownHardware(
            f"unknown hardware '{spec}' (presets: {', '.join(preset_names())}; or a .toml path)"
            f"{did_you_mean(spec, preset_names())}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise HardwareError("", f"cannot read hardware file '{spec}': {e.strerror or e}") from None
    source = _Source(spec if path == Path(spec) else str(path), text.splitlines())
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        where = f"{source.path}:{m.group(1)}:{m.group(2)}" if m else f"{source.path}:1:1"
        raise HardwareError(where, re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))) from None
    return HardwareFile(data if spec in preset_names() else _unless_edited(data), source)


def calibrated_preset(name: str) -> str | None:
    """The bundled calibrated preset a hardware name says it is (`h100`, `h100:triton`, a `--set` chip
    `h100[...]`), or None."""
    base = re.split(r"[:\[]", name, maxsplit=1)[0]
    if base not in preset_names():
        return None
    return base if tomllib.loads(preset_path(base).read_text(encoding="utf-8")).get("calibrated") is True else None


def _unless_edited(data: dict[str, Any]) -> dict[str, Any]:
    """A file that keeps a calibrated preset's name (`mlacc hw show NAME --format toml` writes it so) is
    calibrated only while every field but its description equals the preset's: a changed constant no longer
    describes the measured chip. Renamed, a file is a chip of its own, whose `calibrated` is its author's word."""
    name = data.get("name")
    if data.get("calibrated") is not True or not isinstance(name, str) or calibrated_preset(name) is None:
        return data
    try:
        reference = read_hardware(name).data
    except UsageError:  # a profile the preset lacks: not that preset
        return data
    if {k: v for k, v in data.items() if k != "description"} == {
        k: v for k, v in reference.items() if k != "description"
    }:
        return data
    return {**data, "calibrated": False}


def load_hardware(spec: str) -> TargetAttr:
    """A preset name (`h100`) or a path to a TOML file -> a verified `#hw.target`."""
    return read_hardware(spec).target()
