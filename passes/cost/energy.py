"""Dynamic energy of one op: MACs x pJ/MAC plus, at every memory level, bytes read and written x pJ/B.

Kept apart from the tiling search (gemm) because it is the one formula that prices energy rather than
time: the search ranks tilings by it to break ties, and every `Estimate` reports it per level. It
reads only the machine and the traffic, so it serves one tiling or a whole grid of candidates. The
schedule-dependent energies (static power over a slot, bytes crossing cores) live in plan.
"""

from __future__ import annotations

import numpy as np

from passes.cost.machine import Machine


def dynamic_energy_pj(
    machine: Machine, macs: float, dtype: str, reads: np.ndarray, writes: np.ndarray, flash: bool = False
) -> np.ndarray:
    """Rows: the MACs' energy, then each memory level's (innermost first); columns: candidate tilings,
    as in `reads` and `writes` (bytes per level x candidate). The MACs of a fused attention kernel (`flash`)
    cost the machine's measured attention ratio times a GEMM's."""
    mac_pj = machine.mac_energy.get(dtype, 0.0) * (machine.attention_mac_energy_ratio if flash else 1.0)
    per_level = [reads[i] * lv.read_energy + writes[i] * lv.write_energy for i, lv in enumerate(machine.levels)]
    return np.array([np.full_like(reads[0], macs * mac_pj), *per_level])
