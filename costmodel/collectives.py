"""What a collective between the devices of a node costs: ring algorithms over the target's interconnect.

A group of n devices on a ring (NCCL's algorithm on one NVLink/NVSwitch node): an
all-reduce sends each device's B-byte buffer as a reduce-scatter then an
all-gather, 2 (n - 1) / n x B bytes out of every device; an all-gather (B = the
gathered result) and a reduce-scatter (B = the whole input) send (n - 1) / n x B.
An all-to-all (a MoE layer's dispatch and combine under expert parallelism) is no
ring: every device sends each other device its share of its B-byte buffer
directly (NCCL's point-to-point sends, through the NVSwitch), so it too sends
(n - 1) / n x B and keeps the rest (under uniform routing it receives as much).
time = collective latency + bytes sent / link bandwidth (per device, each way);
energy = bytes sent x the link's pJ per byte. The IR after `shard` is one
device's program, so these are one device's bytes, time and energy.
"""

from __future__ import annotations

from xdsl.ir import Operation
from xdsl.utils.exceptions import PassFailedException

from costmodel.machine import Machine, Num
from costmodel.op import Estimate
from dialects.mesh import COLLECTIVES, CollectiveOp

LINK = "interconnect"
"""The name collectives' bytes, cycles and energy go under (a task's `bytes` and `energy_pj`, a result's ops)."""


def is_collective(op: Operation) -> bool:
    return isinstance(op, COLLECTIVES)


def ring_factor(kind: str, devices: int) -> float:
    """Bytes each device sends per byte of the collective's buffer among `devices`: 2 (n - 1) / n for a ring
    all-reduce, (n - 1) / n for an all-gather, a reduce-scatter or an all-to-all (what leaves the device)."""
    if devices <= 1:
        return 0.0
    share = (devices - 1) / devices
    return 2 * share if kind == "all_reduce" else share


def collective_cycles(machine: Machine, kind: str, size: Num, devices: int) -> Num:
    """Latency + bytes sent / link bandwidth, in the machine's cycles; nothing for a group of one."""
    if devices <= 1:
        return 0.0
    return machine.collective_latency + size * ring_factor(kind, devices) / machine.link_bandwidth


def estimate_collective(machine: Machine, op: CollectiveOp) -> Estimate:
    devices = op.group_size()
    if devices is None:
        raise PassFailedException(f"{op.name}: its mesh @{op.mesh.root_reference.data} is not in the module")
    if devices > 1 and machine.devices <= 1:
        raise PassFailedException(
            f"hardware '{machine.name}' has no [interconnect] to run {op.name} over {devices} devices: use a node "
            "preset (h100x8, h200x8) or add [interconnect] to the TOML"
        )
    if devices > machine.devices:
        raise PassFailedException(
            f"{op.name} spans {devices} devices; hardware '{machine.name}' has {machine.devices} per node"
        )
    size = float(op.bytes.value.data)
    sent = size * ring_factor(op.KIND, devices)
    cycles = float(collective_cycles(machine, op.KIND, size, devices))
    return Estimate(
        cycles=cycles,
        bound=LINK,
        compute_cycles=0.0,
        level_cycles={LINK: cycles},
        read_bytes={LINK: sent},
        write_bytes={LINK: 0.0},
        energy_pj={LINK: float(sent * machine.link_energy)},
    )
