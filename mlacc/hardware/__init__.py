"""Hardware descriptions: TOML files and bundled presets, loaded into the `hw` dialect's target attribute."""

from mlacc.hardware.loader import (
    DEFAULT_HARDWARE,
    HardwareError,
    HardwareFile,
    UnknownHardware,
    load_hardware,
    preset_description,
    preset_names,
    preset_path,
    read_hardware,
)

__all__ = [
    "DEFAULT_HARDWARE",
    "HardwareError",
    "HardwareFile",
    "UnknownHardware",
    "load_hardware",
    "preset_description",
    "preset_names",
    "preset_path",
    "read_hardware",
]
