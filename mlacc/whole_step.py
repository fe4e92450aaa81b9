"""A model's whole decode or prefill step: its attention layers and the MLP/MoE layers between them, each timed.

A file that holds MLP or MoE layers (`mlp`, `moe`) alongside an attention layer is one model: every attention
layer with `layers = N` is followed, in each of its N blocks, by one of the file's feed-forward layers, whose own
`layers` add up to N (DeepSeek-V3: 3 dense MLP layers, then 58 MoE layers; the frontend checks the sum). The
step is then N attention steps plus each feed-forward layer's steps, one after another, so its time and energy
are the sums of each part's (one GPU's figures under tp x dp, all GPUs working at once), and its tokens are the
workload's: batch x new tokens. Not timed: the embeddings, the LM head and the norms between layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dialects.attn_rules import FFN_KINDS
from mlacc.units import si

STEP_SCOPE = "attention and MLP/MoE layers timed; embeddings, LM head and norms not timed"


class LayerFigures(Protocol):
    """What the step reads of one layer's result (mlacc/estimates.py `LayerResult`, which imports this module)."""

    @property
    def layer(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def workload(self) -> str: ...
    @property
    def layers(self) -> int | None: ...
    @property
    def batch(self) -> int: ...
    @property
    def new_tokens(self) -> int: ...
    @property
    def seconds(self) -> float: ...
    @property
    def energy_pj(self) -> float: ...
    @property
    def devices(self) -> int: ...


@dataclass(frozen=True)
class StepPart:
    """One kind of layer of the step: one layer's figures (one GPU's), `layers` times."""

    layer: str
    kind: str
    layers: int
    seconds: float
    energy_pj: float

    def json(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "kind": self.kind,
            "layers": self.layers,
            "seconds": self.seconds * self.layers,
            "energy_pj_per_gpu": self.energy_pj * self.layers,
        }


@dataclass(frozen=True)
class WholeStep:
    """The whole step of the model an attention layer heads, on one workload and layout."""

    parts: tuple[StepPart, ...]
    tokens: int
    """Tokens the step computes: the workload's batch x new tokens (every sequence, over all dp groups)."""
    gpus: int

    @property
    def seconds(self) -> float:
        return sum(p.seconds * p.layers for p in self.parts)

    @property
    def energy_pj_per_gpu(self) -> float:
        return sum(p.energy_pj * p.layers for p in self.parts)

    @property
    def energy_pj(self) -> float:
        """Every GPU's: each runs its part of every layer."""
        return self.energy_pj_per_gpu * self.gpus

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def tokens_per_second_per_gpu(self) -> float:
        return self.tokens_per_second / self.gpus

    def json(self) -> dict[str, Any]:
        return {
            "scope": STEP_SCOPE,
            "seconds": self.seconds,
            "energy_pj": self.energy_pj,
            "energy_pj_per_gpu": self.energy_pj_per_gpu,
            "tokens": self.tokens,
            "gpus": self.gpus,
            "tokens_per_second": self.tokens_per_second,
            "tokens_per_second_per_gpu": self.tokens_per_second_per_gpu,
            "parts": [p.json() for p in self.parts],
        }

    def lines(self) -> list[str]:
        """The step as the text report prints it, under its attention layer's table."""
        width = max(len(f"{p.layer} ({p.kind})") for p in self.parts)
        out = [
            f"  whole step ({STEP_SCOPE}):",
            f"    {'part':<{width}} {'layers':>6} {'latency':>10} {'energy/GPU':>10}",
        ]
        for p in self.parts:
            out.append(
                f"    {p.layer + ' (' + p.kind + ')':<{width}} {p.layers:>6} {si(p.seconds * p.layers, 's'):>10} "
                f"{si(p.energy_pj * p.layers * 1e-12, 'J'):>10}"
            )
        gpus = f"{self.gpus} GPU{'s' if self.gpus > 1 else ''}"
        tokens = f"{self.tokens} token{'s' if self.tokens > 1 else ''}"
        out.append(
            f"    step: {si(self.seconds, 's')}, {si(self.energy_pj * 1e-12, 'J')} on {gpus}; {tokens}: "
            f"{self.tokens_per_second:,.0f} tokens/s, {self.tokens_per_second_per_gpu:,.0f} tokens/s per GPU"
        )
        return out


def whole_steps(results: Sequence[LayerFigures]) -> dict[int, WholeStep]:
    """Index of an attention layer's result -> its model's whole step on that result's workload, for every attention
    layer with `layers = N` in a file that holds MLP/MoE layers with `layers` (none otherwise)."""
    ffn = [r for r in results if r.kind in FFN_KINDS and r.layers is not None]
    steps: dict[int, WholeStep] = {}
    for i, r in enumerate(results):
        if r.kind in FFN_KINDS or r.layers is None:
            continue
        partners = [f for f in ffn if f.workload == r.workload]
        if not partners:
            continue
        parts = [StepPart(p.layer, p.kind, p.layers or 1, p.seconds, p.energy_pj) for p in [r, *partners]]
        steps[i] = WholeStep(tuple(parts), r.batch * r.new_tokens, r.devices)
    return steps
