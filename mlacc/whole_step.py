"""A model's whole decode or prefill step: its attention layers and the MLP/MoE layers between them, each timed.

A file that holds MLP or MoE layers (`mlp`, `moe`) alongside an attention layer is one model: every attention
layer with `layers = N` is followed, in each of its N blocks, by one of the file's feed-forward layers, whose own
`layers` add up to N (DeepSeek-V3: 3 dense MLP layers, then 58 MoE layers; the frontend checks the sum). The
step is then N attention steps plus each feed-forward layer's steps, one after another, so its time and energy
are the sums of each part's (one GPU's figures under tp x dp, all GPUs working at once), and its tokens are the
workload's: batch x new tokens.

The parts around the layers are timed too, through the same passes and cost model (`model_ends`): they are built
as `la` functions of their own and sharded, tiled, placed and scheduled like the layers.
- `norms` (kind `rmsnorm`, N times): each layer's post-attention RMSNorm and the next layer's input RMSNorm (after
  the last layer, the final norm), over every token of the step: memory-bound elementwise kernels.
- `embedding`: the embedding lookup, the rows of the step's tokens read from the table (the function's argument)
  by the first layer's input RMSNorm (one kernel where serving engines run two: the lookup's own write and
  re-read of the rows and its launch are not counted); under tp vLLM's vocabulary-parallel embedding all-reduces
  the rows first.
- `lm_head` (where the model gives `vocab`): the logits GEMM, d_model x vocab, on the tokens whose next token is
  sampled: the last of each sequence in prefill (as serving engines compute), every new token in decode (one,
  or a speculative step's drafted tokens, each checked); under tp vLLM's ParallelLMHead computes 1/tp of the
  vocabulary and all-gathers the logits.
Residual adds (fused into the norms by serving engines) and sampling are not timed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from dialects.attn_rules import FFN_KINDS
from mlacc.units import si

if TYPE_CHECKING:
    from xdsl.dialects import func
    from xdsl.dialects.builtin import ModuleOp

STEP_SCOPE = "attention, MLP/MoE layers, norms, embedding lookup and LM head timed"
"""What a whole step times, where the model gives its vocabulary."""
NO_HEAD_SCOPE = (
    "attention, MLP/MoE layers, norms and embedding lookup timed; LM head not timed (the layer gives no vocab)"
)
"""What a whole step times where the attention layer does not say `vocab`."""


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
    @property
    def step_ends(self) -> Sequence[LayerFigures]: ...


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
    scope: str = STEP_SCOPE

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
            "scope": self.scope,
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
            f"  whole step ({self.scope}):",
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
        ends = list(r.step_ends)
        parts = [StepPart(p.layer, p.kind, p.layers or 1, p.seconds, p.energy_pj) for p in [r, *partners, *ends]]
        scope = STEP_SCOPE if any(e.kind == "lm_head" for e in ends) else NO_HEAD_SCOPE
        steps[i] = WholeStep(tuple(parts), r.batch * r.new_tokens, r.devices, scope)
    return steps


def step_heads(functions: Sequence[func.FuncOp]) -> list[func.FuncOp]:
    """The lowered attention functions that head a whole step: `layers = N`, in a file whose MLP/MoE layers of
    the same workload say `layers` too (as `whole_steps` pairs their results)."""
    from xdsl.dialects.builtin import StringAttr

    def kind(f: func.FuncOp) -> str:
        attr = f.attributes.get("attn.kind")
        return attr.data if isinstance(attr, StringAttr) else ""

    def workload(f: func.FuncOp) -> str:
        return f.attributes["attn.workload"].workload_name.data  # type: ignore[attr-defined]

    stacked = [f for f in functions if "attn.layers" in f.attributes]
    ffn = {workload(f) for f in stacked if kind(f) in FFN_KINDS}
    return [f for f in stacked if kind(f) not in FFN_KINDS and workload(f) in ffn]


def model_ends(head: func.FuncOp) -> list[func.FuncOp]:
    """The `la` functions of the parts of a step around its layers (the module docstring), for the lowered attention
    function `head`: its workload, hidden size and dtype, `layers`, and the vocabulary of its `#attn.model`."""
    from xdsl.dialects import func
    from xdsl.dialects.builtin import FunctionType, IntegerAttr, StringAttr, TensorType, i64
    from xdsl.ir import Block, Region, SSAValue

    from dialects import la
    from dialects.attn import ModelAttr, WorkloadAttr

    workload = head.attributes["attn.workload"]
    layers = head.attributes["attn.layers"]
    assert isinstance(workload, WorkloadAttr) and isinstance(layers, IntegerAttr)
    (hidden,) = head.function_type.inputs.data
    assert isinstance(hidden, TensorType)
    batch, tokens, width = hidden.get_shape()
    element = hidden.element_type
    model = head.attributes.get("attn.model")
    vocab = model.field("vocab") if isinstance(model, ModelAttr) else 0
    layer = head.attributes["attn.layer"]
    assert isinstance(layer, StringAttr)

    def build(part: str, kind: str, count: int, shape: list[int], body: Any) -> func.FuncOp:
        block = Block(arg_types=[TensorType(element, shape)])
        block.args[0].name_hint = "rows" if kind == "embedding" else "x"
        ops: list[Any] = []

        def add(op: Any, name: str) -> SSAValue:
            op.location = head.location
            ops.append(op)
            op.results[0].name_hint = name
            return op.results[0]

        out = body(block.args[0], add)
        block.add_ops([*ops, func.ReturnOp(out)])
        function = func.FuncOp(
            f"{layer.data}_{part}.{workload.workload_name.data}",
            FunctionType.from_lists([block.args[0].type], [out.type]),
            Region(block),
        )
        function.location = head.location
        function.attributes.update(
            {
                "attn.layer": StringAttr(part),
                "attn.kind": StringAttr(kind),
                "attn.workload": workload,
                "attn.layers": IntegerAttr(count, i64),
            }
        )
        return function

    def norm(x: SSAValue, add: Any, gamma: str, name: str) -> SSAValue:
        weight = add(la.WeightOp(gamma, TensorType(element, [width])), gamma)
        return add(la.RmsNormOp(x, weight), name)

    def norms(x: SSAValue, add: Any) -> SSAValue:
        attended = norm(x, add, "post_attention_norm", "ffn_input")
        return norm(attended, add, "input_norm", "next_input")

    def embedding(rows: SSAValue, add: Any) -> SSAValue:
        return norm(rows, add, "input_norm", "first_input")

    def lm_head(x: SSAValue, add: Any) -> SSAValue:
        name = "W_embed" if isinstance(model, ModelAttr) and model.field("tie_embeddings") else "W_lm_head"
        weight = add(la.WeightOp(name, TensorType(element, [width, vocab])), name)
        return add(la.EinsumOp("bsd,dw->bsw", x, weight), "logits")

    sampled = tokens if workload.phase.data.value == "decode" else 1
    ends = [
        build("norms", "rmsnorm", layers.value.data, [batch, tokens, width], norms),
        build("embedding", "embedding", 1, [batch, tokens, width], embedding),
    ]
    if vocab:
        ends.append(build("lm_head", "lm_head", 1, [batch, sampled, width], lm_head))
    return ends


def ends_module(lowered: ModuleOp) -> tuple[ModuleOp, list[tuple[func.FuncOp, list[func.FuncOp]]]] | None:
    """An `la` module (with `lowered`'s hardware) of the parts around the layers of every step `lowered` holds,
    and which step each belongs to (the head's function in `lowered`, its parts' functions); None without a step."""
    from xdsl.dialects import func
    from xdsl.dialects.builtin import ModuleOp

    heads = step_heads([f for f in lowered.ops if isinstance(f, func.FuncOp)])
    if not heads:
        return None
    pairs = [(head, model_ends(head)) for head in heads]
    module = ModuleOp([f for _, ends in pairs for f in ends])
    module.attributes.update(lowered.attributes)
    return module, pairs
