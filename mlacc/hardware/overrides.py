"""Hypothetical chips: a hardware description with some fields replaced (`--set FIELD=VALUES` of compile, compare
and sweep).

A field is named by its path in the TOML data: a top-level key (`frequency_hz`), a memory level's or a
compute unit's field by the level's or unit's name (`hbm.read_bandwidth_bytes_per_cycle`,
`sm.macs_per_cycle.bf16`), or a key of a table (`efficiency.compute`, `energy.static_power_watts`,
`energy.mac_pj.bf16`, `cores.count`, `interconnect.devices`). The edited data goes through the loader's checks
like any file's, so a hypothetical chip is exactly as valid as a written one; its name says what was changed:
`h100[hbm.read_bandwidth_bytes_per_cycle=1000]`, and it is not calibrated (it was never measured).
"""

from __future__ import annotations

import copy
import difflib
from typing import TYPE_CHECKING, Any

from mlacc.diagnostics import InputError, UsageError
from mlacc.hardware.loader import _CORES, _EFFICIENCY, _MEMORY, HardwareError, HardwareFile

if TYPE_CHECKING:
    from dialects.hw import TargetAttr

Override = tuple[str, int | float]
"""(field path, value)."""


def field_paths(data: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """Every field `--set` may name on this hardware -> its path of keys and list indices in the TOML data."""
    from dialects.attn import DTYPES
    from dialects.hw import INTERCONNECT_FIELDS

    paths: dict[str, tuple[Any, ...]] = {"frequency_hz": ("frequency_hz",)}
    for i, unit in enumerate(data.get("compute", [])):
        for key in ("count", "array_rows", "array_cols"):
            paths[f"{unit.get('name')}.{key}"] = ("compute", i, key)
        for dtype in DTYPES:
            paths[f"{unit.get('name')}.macs_per_cycle.{dtype}"] = ("compute", i, "macs_per_cycle", dtype)
    for i, level in enumerate(data.get("memory", [])):
        for key in sorted(_MEMORY - {"name"}):
            paths[f"{level.get('name')}.{key}"] = ("memory", i, key)
    for key in sorted(_EFFICIENCY):
        paths[f"efficiency.{key}"] = ("efficiency", key)
    paths["energy.static_power_watts"] = ("energy", "static_power_watts")
    for dtype in DTYPES:
        paths[f"energy.mac_pj.{dtype}"] = ("energy", "mac_pj", dtype)
    for key in sorted(_CORES):
        paths[f"cores.{key}"] = ("cores", key)
    for key in INTERCONNECT_FIELDS:
        paths[f"interconnect.{key}"] = ("interconnect", key)
    return paths


def check_fields(hardware: HardwareFile, names: list[str]) -> None:
    """A `UsageError` naming the first unknown field and the closest one this hardware has."""
    paths = field_paths(hardware.data)
    for name in names:
        if name not in paths:
            closest = max(paths, key=lambda p: difflib.SequenceMatcher(None, name, p).ratio())
            raise UsageError(f"--set: '{hardware.data.get('name')}' has no field '{name}'; the closest is '{closest}'")


def chip_name(base: str, overrides: tuple[Override, ...]) -> str:
    return f"{base}[{','.join(f'{field}={value}' for field, value in overrides)}]" if overrides else base


def apply_overrides(hardware: HardwareFile, overrides: tuple[Override, ...]) -> dict[str, Any]:
    """A copy of the hardware's TOML data with the fields replaced and the name saying so."""
    check_fields(hardware, [field for field, _ in overrides])
    paths = field_paths(hardware.data)
    data = copy.deepcopy(hardware.data)
    for field, value in overrides:
        *parents, key = paths[field]
        table: Any = data
        for part in parents:
            if isinstance(table, dict) and part not in table:
                table[part] = {}
            table = table[part]
        table[key] = value
    data["name"] = chip_name(str(hardware.data.get("name")), overrides)
    if overrides and data.get("calibrated") is True:
        data["calibrated"] = False  # a what-if chip was never measured, whichever field changed
    return data


def hypothetical_target(hardware: HardwareFile, overrides: tuple[Override, ...]) -> TargetAttr:
    """The verified target of the hardware with `overrides`; a value the loader rejects is an `InputError`
    that names the override (the file's own line would mislead)."""
    if not overrides:
        return hardware.target()
    data = apply_overrides(hardware, overrides)
    try:
        return hardware.target(data)
    except HardwareError as e:
        raise InputError(f"--set {', '.join(f'{f}={v}' for f, v in overrides)}: {e}") from None
