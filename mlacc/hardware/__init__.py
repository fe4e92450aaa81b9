"""Hardware descriptions: TOML files and bundled presets, loaded into the `hw` dialect's target attribute."""

from mlacc.hardware.loader import (
    DEFAULT_HARDWARE,
    HardwareError,
    UnknownHardware,
    load_hardware,
    preset_description,
    preset_names,
    preset_path,
)

__all__ = [
    "DEFAULT_HARDWARE",
    "HardwareError",
    "UnknownHardware",
    "load_hardware",
    "preset_description",
    "preset_names",
    "preset_path",
]
