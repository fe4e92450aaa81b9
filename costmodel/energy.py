"""Dynamic energy of one op: MACs x pJ/MAC plus, at every memory level, bytes read and written x pJ/B.

Kept apart from the tiling search (gemm) because it is the one formula that prices energy rather than
time: the search ranks tilings by it to break ties, and every `Estimate` reports it per level. It
reads only the machine and the traffic, so it serves one tiling or a whole grid of candidates. The
schedule-dependent energies (static power over a slot, bytes crossing cores) live in plan.
"""

from __future__ import annotations

import numpy as np

from costmodel.machine import Machine, Num
from costmodel.op import OpSpec


def kernel_energy_scale(machine: Machine, op: OpSpec) -> Num:
    """Board energy of the kernel that runs `op` over the energy its MACs and bytes are given: the measured draw of
    its op class's library (`gemm_energy`, `attention_decode_latent_energy`, ...), 1 where none was fit."""
    return getattr(machine, f"{op.op_class}_energy")


def dynamic_energy_pj(
    machine: Machine,
    macs: np.ndarray,
    dtype: str,
    reads: list[np.ndarray],
    writes: list[np.ndarray],
    flash: bool = False,
) -> list[np.ndarray]:
    """The MACs' energy, then each memory level's (innermost first), each shaped as `reads[i]` and `writes[i]`
    (design points x candidate tilings). The MACs of a fused attention kernel (`flash`) cost the machine's
    measured attention ratio times a GEMM's."""

    def column(value: Num) -> np.ndarray:
        return np.reshape(np.asarray(value, dtype=float), (-1, 1))

    ratio = column(machine.attention_mac_energy_ratio) if flash else 1.0
    # A finite but absurd energy in a hardware file may overflow: the op's energy is then infinite, as reported.
    with np.errstate(over="ignore", invalid="ignore"):
        mac_pj = column(machine.mac_energy.get(dtype, 0.0)) * ratio
        per_level = [
            reads[i] * column(lv.read_energy) + writes[i] * column(lv.write_energy)
            for i, lv in enumerate(machine.levels)
        ]
        return [np.zeros_like(reads[0]) + macs * mac_pj, *per_level]
