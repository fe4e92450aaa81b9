"""Whole-model figures of a layer that says `layers = N`: the step's totals, the KV cache, and the largest batch.

A model's attention layers run one after another with the same shapes, so the
step's time, energy, FLOPs and traffic are N times one layer's, and the KV
cache of a sequence is N layers' worth. The step counts attention only (the
MLP or MoE between the layers is not timed): every total says so. Capacity:
the weights and KV caches of all N layers stay resident, the activations of
one layer at a time; both caches and activations grow linearly with the
batch, which gives the largest batch that fits at the workload's context in
closed form. Where the layer also says what the rest of the model is
(`#attn.model`: vocabulary, MLP, experts), every weight counts: the model's
parameters by part, its weights, one GPU's share of them under tensor
parallelism (as vLLM shards them; the routed experts under expert
parallelism, spread over the tp x dp GPUs), and the memory a serving engine
leaves for them (`memory_utilization`, vLLM's gpu_memory_utilization).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SCOPE = "attention only: MLP/MoE, embeddings and norms not modelled"
WHOLE_SCOPE = "step: attention only (MLP/MoE not timed); capacity: every weight of the model"

DEFAULT_MEMORY_UTILIZATION = 0.9
"""The share of a GPU's memory a serving engine takes for weights, caches and activations: vLLM's
gpu_memory_utilization default. Applied to whole models (a layer that says what the rest of the model is); an
attention-only layer keeps the whole memory unless told otherwise, so its figures are what they always were."""


@dataclass(frozen=True)
class ModelParams:
    """A whole model's parameters, by part (counts, not bytes)."""

    attention: int
    """Every attention layer's projections (and MLA's latent norms), as `lower-attn` lowers them."""
    mlp: int
    """The dense layers' MLPs."""
    routed_experts: int
    shared_experts: int
    router: int
    """The MoE layers' gates (one row per expert)."""
    norms: int
    """Two RMSNorms per layer and the final one."""
    embeddings: int
    lm_head: int
    """0 when tied to the embeddings."""
    mtp: int
    """Multi-token-prediction modules (a layer each, plus their projection and norms), when the model gives them."""

    @property
    def total(self) -> int:
        return sum(asdict(self).values())

    def per_gpu(self, tp: int, d_model: int, vocab: int, routed: tuple[int, int] | None = None) -> int:
        """One GPU's parameters under tensor parallelism over `tp` GPUs, attention left out (its share is the
        sharded IR's): the MLPs and experts split their width, the vocabulary-parallel embeddings and LM head
        their rows (as vLLM shards them), and the norms and router gates are replicated. Under expert
        parallelism `routed` is (every routed expert's parameters, the MoE layers' and the MTP modules', one
        GPU's share of them: `routed_per_gpu`); the rest splits over tp."""
        whole, mine = routed if routed is not None else (0, 0)
        split = -(-(self.mlp + self.routed_experts + self.shared_experts + self.mtp - whole) // tp) + mine
        rows = -(-vocab // tp) * d_model
        return split + rows * ((self.embeddings > 0) + (self.lm_head > 0)) + self.norms + self.router


def routed_per_gpu(
    model: dict[str, int], layers: int, d_model: int, tp: int, dp: int, ep: int | None
) -> tuple[int, int]:
    """(every routed expert's parameters, in the MoE layers and the MTP modules; the most one GPU holds of them)
    when a model's MoE layers run on tp x dp GPUs with their experts spread over `ep` of them (None: over the dp
    GPUs, passes/shard.py): ceil(experts / ep) experts on each GPU, each split in tp x dp / ep parts of its width
    (rounded up: a config read directly need not divide evenly)."""
    experts = model["experts"]
    if not experts:
        return 0, 0
    spread = ep or dp
    matrices = 3 if model["gated"] else 2
    modules = layers - model["dense_layers"] + model["mtp_layers"]
    width = model["expert_width"]
    whole = modules * experts * matrices * d_model * width
    mine = modules * -(-experts // spread) * matrices * d_model * -(-width // (tp * dp // spread))
    return whole, mine


def model_params(model: dict[str, int], layers: int, d_model: int, attention_per_layer: int) -> ModelParams:
    """The parameters of a model of `layers` layers of width `d_model` whose rest is `model` (dialects/attn_rules.py
    `MODEL_FIELDS`) and whose attention layer has `attention_per_layer` parameters."""
    matrices = 3 if model["gated"] else 2  # SwiGLU: gate, up, down; a plain MLP: up, down
    experts = model["experts"]
    moe_layers = layers - model["dense_layers"] if experts else 0
    expert = matrices * d_model * model["expert_width"]
    moe_ffn = (experts + model["shared_experts"]) * expert + experts * d_model
    ffn = moe_ffn if experts else matrices * d_model * model["mlp"]
    vocab = model["vocab"] * d_model
    # DeepSeek-V3's MTP module: a layer, the projection of [embedding; hidden] (2d x d) and three norms.
    module = attention_per_layer + ffn + 2 * d_model + 2 * d_model * d_model + 3 * d_model
    return ModelParams(
        attention=layers * attention_per_layer,
        mlp=(layers - moe_layers) * matrices * d_model * model["mlp"],
        routed_experts=moe_layers * experts * expert,
        shared_experts=moe_layers * model["shared_experts"] * expert,
        router=moe_layers * experts * d_model,
        norms=(2 * layers + 1) * d_model,
        embeddings=vocab,
        lm_head=0 if model["tie_embeddings"] else vocab,
        mtp=model["mtp_layers"] * module,
    )


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
    params: ModelParams | None = None
    """The whole model's parameters by part, where the layer says what the rest of the model is."""
    weight_bytes_per_gpu: int = 0
    memory_utilization: float = 1.0

    @property
    def usable_bytes(self) -> int:
        """The memory the serving engine takes for weights, caches and activations."""
        return int(self.capacity_bytes * self.memory_utilization)

    @property
    def fits(self) -> bool:
        return self.resident_bytes <= self.usable_bytes

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scope": SCOPE if self.params is None else WHOLE_SCOPE,
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
        if self.params is not None:
            out |= {
                "params": self.params.total,
                "params_by_part": asdict(self.params),
                "weight_bytes_per_gpu": self.weight_bytes_per_gpu,
                "memory_utilization": self.memory_utilization,
                "usable_bytes": self.usable_bytes,
            }
        return out


def max_batch(
    layers: int,
    weight_bytes: Any,
    kv_bytes_per_sequence: Any,
    activation_bytes_per_sequence: Any,
    capacity_bytes: Any,
    other_weight_bytes: Any = 0,
) -> Any:
    """The most sequences whose KV caches (all layers) and activations (one layer) fit beside all the weights:
    `layers` x `weight_bytes` of attention and `other_weight_bytes` of the rest of the model. Byte counts: Python
    integers (exact, however large), or numpy arrays over a sweep's design points."""
    free = capacity_bytes - layers * weight_bytes - other_weight_bytes
    per_sequence = layers * kv_bytes_per_sequence + activation_bytes_per_sequence
    if isinstance(free, int) and isinstance(per_sequence, int):
        return 0 if free <= 0 or per_sequence <= 0 else free // per_sequence
    import numpy as np

    divisor = np.where(per_sequence > 0, per_sequence, 1)
    return np.where((free <= 0) | (per_sequence <= 0), 0, np.floor_divide(free, divisor))


@dataclass(frozen=True)
class RestOfModel:
    """What a layer says of the rest of its model (`#attn.model`), with what its weights need of the layer."""

    fields: dict[str, int]
    attention_params: int
    """One attention layer's parameters, as `lower-attn` lowered it (`attn.params`)."""
    d_model: int
    element_bytes: int


def rest_bytes_per_gpu(rest: RestOfModel | None, layers: int, tp: int, dp: int = 1, ep: int | None = None) -> int:
    """The bytes one GPU holds of every weight but the attention layers' (0 where the layer says no more), under
    tp x dp with a MoE model's experts spread over `ep` GPUs (None: over dp; expert parallelism where that is
    more than one GPU)."""
    if rest is None:
        return 0
    params = model_params(rest.fields, layers, rest.d_model, rest.attention_params)
    parallel = (ep or dp) > 1
    routed = routed_per_gpu(rest.fields, layers, rest.d_model, tp, dp, ep) if parallel else None
    return params.per_gpu(tp, rest.d_model, rest.fields["vocab"], routed) * rest.element_bytes


def utilization_of(rest: RestOfModel | None, memory_utilization: float | None) -> float:
    """The share of memory a model's capacity counts: the one given, else the default for a whole model, else 1."""
    if memory_utilization is not None:
        return memory_utilization
    return DEFAULT_MEMORY_UTILIZATION if rest is not None else 1.0


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
    rest: RestOfModel | None = None,
    tp: int = 1,
    memory_utilization: float | None = None,
    dp: int = 1,
    ep: int | None = None,
) -> ModelTotals:
    """One layer's figures for one step -> the model's (`batch` sequences, caches after the step). With `rest`,
    every weight of the model counts, one GPU's share under tp x dp (the experts spread over `ep` GPUs; None: dp);
    `memory_utilization` (default: `DEFAULT_MEMORY_UTILIZATION` for a whole model, 1 for attention alone) is the
    share of `capacity_bytes` that holds them."""
    kv_per_sequence = kv_cache_bytes // batch
    activations_per_sequence = -(-activation_bytes // batch)
    params, whole_weights = None, weight_bytes * layers
    if rest is not None:
        # The model's weights as it ships; one GPU holds its attention layers' share (the scheme's, as sharded:
        # the IR's) and its share of the rest.
        params = model_params(rest.fields, layers, rest.d_model, rest.attention_params)
        whole_weights = params.total * rest.element_bytes
    other = rest_bytes_per_gpu(rest, layers, tp, dp, ep)
    utilization = utilization_of(rest, memory_utilization)
    usable = int(capacity_bytes * utilization)
    return ModelTotals(
        layers=layers,
        cycles=cycles * layers,
        seconds=seconds * layers,
        energy_pj=energy_pj * layers,
        flops=flops * layers,
        dram_bytes=dram_bytes * layers,
        weight_bytes=whole_weights,
        kv_bytes_per_token=kv_bytes_per_token * layers,
        kv_cache_bytes_per_sequence=kv_per_sequence * layers,
        kv_cache_bytes=kv_cache_bytes * layers,
        resident_bytes=(weight_bytes + kv_cache_bytes) * layers + other + activation_bytes,
        capacity_bytes=capacity_bytes,
        max_batch=max_batch(layers, weight_bytes, kv_per_sequence, activations_per_sequence, usable, other),
        params=params,
        weight_bytes_per_gpu=weight_bytes * layers + other,
        memory_utilization=utilization,
    )
