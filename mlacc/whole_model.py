"""Whole-model figures of a layer that says `layers = N`: the step's totals, the KV cache, and the largest batch.

A model's attention layers run one after another with the same shapes, so the
step's time, energy, FLOPs and traffic are N times one layer's, and the KV
cache of a sequence is N layers' worth. Only attention is counted (the MLP or
MoE, embeddings and norms between the layers are not modelled): every total
says so. Capacity: the weights and KV caches of all N layers stay resident,
the activations of one layer at a time; both caches and activations grow
linearly with the batch, which gives the largest batch that fits at the
workload's context in closed form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SCOPE = "attention only: MLP/MoE, embeddings and norms not modelled"


@dataclass(frozen=True)
class ModelTotals:
    layers: int
    cycles: float
    seconds: float
    energy_pj: float
    flops: int
    dram_bytes: float
    weight_bytes: int
    kv_bytes_per_token: int
    kv_cache_bytes_per_sequence: int
    kv_cache_bytes: int
    resident_bytes: int
    capacity_bytes: int
    max_batch: int

    @property
    def fits(self) -> bool:
        return self.resident_bytes <= self.capacity_bytes

    def json(self) -> dict[str, Any]:
        return {
            "scope": SCOPE,
            "layers": self.layers,
            "cycles": self.cycles,
            "seconds": self.seconds,
            "energy_pj": self.energy_pj,
            "flops": self.flops,
            "dram_bytes": self.dram_bytes,
            "weight_bytes": self.weight_bytes,
            "kv_bytes_per_token": self.kv_bytes_per_token,
            "kv_cache_bytes_per_sequence": self.kv_cache_bytes_per_sequence,
            "kv_cache_bytes": self.kv_cache_bytes,
            "resident_bytes": self.resident_bytes,
            "fits": self.fits,
            "max_batch": self.max_batch,
        }


def max_batch(
    layers: int, weight_bytes: Any, kv_bytes_per_sequence: Any, activation_bytes_per_sequence: Any, capacity_bytes: Any
) -> Any:
    """The most sequences whose KV caches (all layers) and activations (one layer) fit beside all the weights.
    Byte counts: Python integers (exact, however large), or numpy arrays over a sweep's design points."""
    free = capacity_bytes - layers * weight_bytes
    per_sequence = layers * kv_bytes_per_sequence + activation_bytes_per_sequence
    if isinstance(free, int) and isinstance(per_sequence, int):
        return 0 if free <= 0 or per_sequence <= 0 else free // per_sequence
    import numpy as np

    divisor = np.where(per_sequence > 0, per_sequence, 1)
    return np.where((free <= 0) | (per_sequence <= 0), 0, np.floor_divide(free, divisor))


def model_totals(
    layers: int,
    *,
    batch: int,
    cycles: float,
    seconds: float,
    energy_pj: float,
    flops: int,
    dram_bytes: float,
    weight_bytes: int,
    kv_bytes_per_token: int,
    kv_cache_bytes: int,
    activation_bytes: int,
    capacity_bytes: int,
) -> ModelTotals:
    """One layer's figures for one step -> the model's (`batch` sequences, caches after the step)."""
    kv_per_sequence = kv_cache_bytes // batch
    activations_per_sequence = -(-activation_bytes // batch)
    return ModelTotals(
        layers=layers,
        cycles=cycles * layers,
        seconds=seconds * layers,
        energy_pj=energy_pj * layers,
        flops=flops * layers,
        dram_bytes=dram_bytes * layers,
        weight_bytes=weight_bytes * layers,
        kv_bytes_per_token=kv_bytes_per_token * layers,
        kv_cache_bytes_per_sequence=kv_per_sequence * layers,
        kv_cache_bytes=kv_cache_bytes * layers,
        resident_bytes=(weight_bytes + kv_cache_bytes) * layers + activation_bytes,
        capacity_bytes=capacity_bytes,
        max_batch=max_batch(layers, weight_bytes, kv_per_sequence, activations_per_sequence, capacity_bytes),
    )
