"""`mlacc hw show`: a target's fields and the rates derived from them, as text or in a stable JSON shape."""

from __future__ import annotations

import json
import re
from typing import Any

from dialects.hw import TargetAttr
from mlacc.units import si


def target_summary(target: TargetAttr) -> dict[str, Any]:
    """The JSON shape of `mlacc hw show --format json`; fields are only ever added, never renamed."""
    f = target.frequency
    dtypes = list(dict.fromkeys(d for unit in target.compute for d in unit.macs()))
    return (
        {
            "name": target.target_name.data,
            "description": target.description.data,
            "frequency_hz": f,
            "peak_flops_per_second": {d: target.peak_flops_per_second(d) for d in dtypes},
            "compute": [
                {
                    "name": u.unit_name.data,
                    "count": u.count.data,
                    "array_rows": u.array_rows.data,
                    "array_cols": u.array_cols.data,
                    "macs_per_cycle": u.macs(),
                }
                for u in target.compute
            ],
            "memory": [
                {
                    "name": m.level_name.data,
                    "capacity_bytes": m.capacity_bytes.data,
                    "count": m.count.data,
                    "read_bandwidth_bytes_per_cycle": m.read_bandwidth,
                    "write_bandwidth_bytes_per_cycle": m.write_bandwidth,
                    "read_bandwidth_bytes_per_second": m.read_bandwidth * m.count.data * f,
                    "write_bandwidth_bytes_per_second": m.write_bandwidth * m.count.data * f,
                    "read_energy_pj_per_byte": m.read_energy,
                    "write_energy_pj_per_byte": m.write_energy,
                }
                for m in target.memory
            ],
            "mac_energy_pj": target.mac_energy(),
            "cores": target.core_count(),
            "efficiency": {k: v.value.data for k, v in target.efficiency.data.items()},  # type: ignore[attr-defined]
            "ridge_flop_per_byte": {
                d: target.peak_flops_per_second(d) / (target.dram.read_bandwidth * target.dram.count.data * f)
                for d in dtypes
            },
            "calibrated": target.is_calibrated,
            "static_power_watts": target.static_power,
        }
        | ({"interconnect": target.interconnect_fields()} if target.interconnect.data else {})
        | ({"kernels": target.kernel_libraries()} if target.kernels.data else {})
    )


def provenance(target: TargetAttr) -> str:
    """One line saying whether a target's constants were measured on the chip or taken from the literature, or
    were changed from a calibrated preset's (a `--set` chip, an edited copy of the preset's file)."""
    from mlacc.hardware.loader import calibrated_preset

    if target.is_calibrated:
        return (
            "calibrated: efficiency, static power and energy constants measured on the chip "
            "(benchmarks/gpu/measure.py; each constant's source is in its preset file)"
        )
    name = target.target_name.data
    base = calibrated_preset(name)
    if base is not None:
        how = "--set" if "[" in name else "an edited copy of its file"
        return (
            f"not calibrated: the calibrated preset '{base}' with fields changed ({how}); its measured constants "
            "no longer describe a measured chip"
        )
    return "not calibrated: datasheet and literature constants (45 nm energies), not measured on the chip"


def format_target_json(target: TargetAttr) -> str:
    return json.dumps(target_summary(target), indent=2) + "\n"


def format_target_text(target: TargetAttr) -> str:
    s = target_summary(target)
    lines = [f"{s['name']}: {s['description']}", f"  clock {si(s['frequency_hz'], 'Hz')}, {s['cores']} core(s)"]
    for dtype, rate in s["peak_flops_per_second"].items():
        lines.append(f"  peak {dtype:<5} {si(rate, 'FLOP/s'):>14}   ridge {s['ridge_flop_per_byte'][dtype]:.0f} FLOP/B")
    for u in s["compute"]:
        lines.append(f"  compute {u['name']}: {u['count']} x {u['array_rows']}x{u['array_cols']} array")
    for m in s["memory"]:
        lines.append(
            f"  memory  {m['name']:<6} {m['count']} x {si(m['capacity_bytes'], 'B'):>9}  "
            f"read {si(m['read_bandwidth_bytes_per_second'], 'B/s'):>11}  "
            f"{m['read_energy_pj_per_byte']:g} pJ/B read, {m['write_energy_pj_per_byte']:g} pJ/B write"
        )
    lines.append("  MAC energy: " + ", ".join(f"{d} {e:g} pJ" for d, e in s["mac_energy_pj"].items()))
    lines.append(f"  static power: {s['static_power_watts']:g} W")
    if "interconnect" in s:
        link = s["interconnect"]
        lines.append(
            f"  interconnect: {int(link['devices'])} devices, "
            f"{si(link['link_bandwidth_bytes_per_cycle'] * s['frequency_hz'], 'B/s')} per device each way, "
            f"{si(link['collective_latency_cycles'] / s['frequency_hz'], 's')} per collective, "
            f"{link['energy_pj_per_byte']:g} pJ/B"
        )
    if "kernels" in s:
        lines.append("  kernels: " + ", ".join(f"{op_class} {library}" for op_class, library in s["kernels"].items()))
    if s["efficiency"]:
        lines.append("  efficiency: " + ", ".join(f"{k} {v:g}" for k, v in s["efficiency"].items()))
    lines.append(f"  {provenance(target)}")
    return "\n".join(lines) + "\n"


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # the shortest form that reads back as the same number
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are TOML's basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _toml_table(header: str, table: dict[str, Any], array: bool) -> list[str]:
    """A table's scalars under its header, then its sub-tables (after `[[a]]`, `[a.b]` belongs to that entry)."""
    lines = ["", f"[[{header}]]" if array else f"[{header}]"] if header else []
    lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items() if not _is_table(v)]
    for key, value in table.items():
        path = f"{header}.{_toml_key(key)}" if header else _toml_key(key)
        if isinstance(value, dict):
            lines += _toml_table(path, value, False)
        elif _is_table(value):
            for entry in value:
                lines += _toml_table(path, entry, True)
    return lines


def _is_table(value: Any) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
    )


def format_hardware_toml(spec: str, data: dict[str, Any]) -> str:
    """`mlacc hw show NAME --format toml`: a hardware file's data as TOML that loads back to the same target, to
    copy and edit. Keeping a calibrated preset's name keeps it calibrated only while its fields are unchanged."""
    head = [
        f"# mlacc hw show {spec} --format toml: edit and load with --hw FILE.toml. Each constant's source is in",
        "# mlacc/hardware/presets/ (for a preset); changing a field of a calibrated preset makes it not calibrated.",
    ]
    return "\n".join(head + _toml_table("", data, False)) + "\n"
