"""Hardware descriptions: TOML files and bundled presets, loaded into the `hw` dialect's target attribute."""

from mlacc.hardware.loader import HardwareError, load_hardware, preset_names, preset_path

__all__ = ["HardwareError", "load_hardware", "preset_names", "preset_path"]
