"""The `attn` dialect's shape rules as plain Python: the layer kinds and their dimensions, the dtype
and phase names, and the checks every `attn` op and workload must pass.

dialects/attn.py builds its ops and attributes from these tables and its verifiers call these
checks, so there is one source of truth; the DSL frontend (mlacc/frontend/check.py) runs the same
checks before xDSL's IR classes are imported, so a one-line error in a DSL file is reported at
start-up speed. Light on purpose: this module imports only xDSL's exception module and StrEnum.
"""

from __future__ import annotations

from collections.abc import Mapping

from xdsl.utils.exceptions import VerifyException
from xdsl.utils.str_enum import StrEnum


class ShapeError(VerifyException):
    """An impossible dimension; `field` names the DSL field that is at fault, `fallback` the one to blame where
    `field` was left to its default."""

    def __init__(self, field: str, message: str, fallback: str | None = None):
        super().__init__(message)
        self.field = field
        self.fallback = fallback


class Phase(StrEnum):
    PREFILL = "prefill"
    DECODE = "decode"


KIND_DIMS: dict[str, tuple[str, ...]] = {
    "mha": ("d_model", "heads", "head_dim"),
    "gqa": ("d_model", "heads", "kv_heads", "head_dim"),
    "mqa": ("d_model", "heads", "head_dim"),
    "mla": ("d_model", "heads", "q_rank", "kv_rank", "qk_nope_dim", "qk_rope_dim", "v_dim"),
    "mlp": ("d_model", "width"),
    "moe": ("d_model", "experts", "experts_per_token", "expert_width", "shared_experts"),
}
"""Layer kinds by DSL name, each with its integer dimensions in the order the DSL documents them."""

FFN_KINDS: tuple[str, ...] = ("mlp", "moe")
"""The kinds that are not attention: a dense MLP and a mixture of experts (no heads, no KV cache)."""

ROUTING_GROUPS: tuple[str, ...] = ("expert_groups", "groups_per_token")
"""A `moe` layer's optional group-limited routing (DeepSeek-V2/V3's `n_group` and `topk_group`): its experts fall
into `expert_groups` equal groups, each token picks the `groups_per_token` best groups and its top experts inside
them. Both default to 1 (one group: plain top-k); group-limited routing runs more routing kernels."""

ZERO_ALLOWED: dict[str, tuple[str, ...]] = {"mla": ("q_rank",), "moe": ("shared_experts",)}
"""Dimensions for which 0 means "absent" rather than impossible (MLA without query compression)."""

DTYPE_NAMES: tuple[str, ...] = ("fp32", "bf16", "fp16", "fp8", "int8")
"""The DSL's dtype names (dialects/attn.py maps each to its IR element type)."""

MODEL_FIELDS: tuple[str, ...] = (
    "vocab",
    "tie_embeddings",
    "mlp",
    "gated",
    "dense_layers",
    "experts",
    "experts_per_token",
    "shared_experts",
    "expert_width",
    "mtp_layers",
)
"""What the rest of a model is, beside its attention layers (`#attn.model`): the vocabulary (embeddings and LM
head, one matrix when `tie_embeddings`), the dense MLP's width (`mlp`, gated SwiGLU unless `gated` is 0), and a
mixture of experts (`experts` routed of `expert_width` each, `experts_per_token` of them per token, `shared_experts`
always on) in every layer after the first `dense_layers`; `mtp_layers` multi-token-prediction modules (DeepSeek-V3's
MTP), counted only when given. 0 means absent; `gated` and `tie_embeddings` are 0 or 1."""

MODEL_DEFAULTS: dict[str, int] = {"gated": 1}
"""Model fields whose default is not 0."""


def check_workload(phase: Phase, batch: int, context: int, new_tokens: int) -> None:
    """Raises ShapeError for a workload no step can run."""
    if batch <= 0:
        raise ShapeError("batch", f"batch must be positive, got {batch}")
    if context < 0:
        raise ShapeError("context", f"context must not be negative, got {context}")
    if new_tokens <= 0:
        raise ShapeError("new_tokens", f"new_tokens must be positive, got {new_tokens}")
    if phase == Phase.DECODE and context == 0:
        raise ShapeError("context", "a decode step needs a cached context of at least one token")


def check_positive(kind: str, dims: Mapping[str, int]) -> None:
    """Raises ShapeError for a dimension below 1 (below 0 where 0 means absent)."""
    zero_allowed = ZERO_ALLOWED.get(kind, ())
    for field in KIND_DIMS[kind]:
        if dims[field] < 0 or (dims[field] == 0 and field not in zero_allowed):
            zero = " (or 0 for none)" if field in zero_allowed else ""
            raise ShapeError(field, f"{field} must be positive{zero}, got {dims[field]}")


def check_layer_count(layers: int) -> None:
    """Raises ShapeError for a model with no layer of this kind (`layers = N`, when said, is at least 1)."""
    if layers < 1:
        raise ShapeError("layers", f"layers must be positive, got {layers}")


def check_relations(kind: str, dims: Mapping[str, int]) -> None:
    """Raises ShapeError for dimensions that are positive but do not fit together (kind by kind)."""
    if kind == "gqa":
        heads, kv_heads = dims["heads"], dims["kv_heads"]
        if kv_heads > heads:
            raise ShapeError("kv_heads", f"kv_heads ({kv_heads}) must not exceed heads ({heads})")
        if heads % kv_heads:
            raise ShapeError("kv_heads", f"heads ({heads}) must be divisible by kv_heads ({kv_heads})")
    if kind in ("mha", "gqa", "mqa") and dims["head_dim"] % 2:
        raise ShapeError("head_dim", f"head_dim must be even (RoPE rotates pairs), got {dims['head_dim']}")
    if kind == "mla":
        if dims["qk_rope_dim"] % 2:
            raise ShapeError("qk_rope_dim", f"qk_rope_dim must be even (RoPE rotates pairs), got {dims['qk_rope_dim']}")
        d_model, kv_rank, q_rank = dims["d_model"], dims["kv_rank"], dims["q_rank"]
        if kv_rank > d_model:
            raise ShapeError("kv_rank", f"kv_rank ({kv_rank}) must not exceed d_model ({d_model}): it compresses")
        if q_rank > d_model:
            raise ShapeError("q_rank", f"q_rank ({q_rank}) must not exceed d_model ({d_model}): it compresses")
    if kind == "moe" and dims["experts_per_token"] > dims["experts"]:
        raise ShapeError(
            "experts_per_token",
            f"experts_per_token ({dims['experts_per_token']}) must not exceed experts ({dims['experts']})",
        )


def check_routing_groups(dims: Mapping[str, int], expert_groups: int, groups_per_token: int) -> None:
    """Raises ShapeError for group-limited routing (`ROUTING_GROUPS`) that a `moe` layer's experts cannot take."""
    experts, per_token = dims["experts"], dims["experts_per_token"]
    for key, value in zip(ROUTING_GROUPS, (expert_groups, groups_per_token), strict=True):
        if value < 1:
            raise ShapeError(key, f"{key} must be positive, got {value}")
    if experts % expert_groups:
        equal = f"experts ({experts}) must be divisible by expert_groups ({expert_groups}): the groups are equal"
        raise ShapeError("expert_groups", equal)
    if groups_per_token > expert_groups:
        alone = ": without expert_groups the experts are one group" if expert_groups == 1 else ""
        too_many = f"groups_per_token ({groups_per_token}) must not exceed expert_groups ({expert_groups}){alone}"
        raise ShapeError("groups_per_token", too_many)
    reachable = groups_per_token * experts // expert_groups
    if per_token > reachable:
        raise ShapeError(
            "groups_per_token",
            f"groups_per_token ({groups_per_token}) of expert_groups ({expert_groups}) hold {reachable} of the "
            f"{experts} experts, fewer than experts_per_token ({per_token})",
            fallback="expert_groups",
        )


def check_model(fields: Mapping[str, int], layers: int | None) -> None:
    """Raises ShapeError for a whole-model description that does not hold together."""
    for key, value in fields.items():
        if value < 0:
            raise ShapeError(key, f"{key} must not be negative, got {value}")
    for key in ("gated", "tie_embeddings"):
        if fields[key] not in (0, 1):
            raise ShapeError(key, f"{key} is 0 or 1, got {fields[key]}")
    if layers is None:
        raise ShapeError("vocab", "a whole-model field needs `layers = N` (how many layers the model stacks)")
    if fields["vocab"] == 0:
        raise ShapeError("vocab", "a whole model needs `vocab` (the embeddings' and LM head's rows)")
    experts, dense = fields["experts"], fields["dense_layers"]
    if experts:
        for key in ("experts_per_token", "expert_width"):
            if fields[key] == 0:
                raise ShapeError(key, f"a mixture of experts needs `{key}`")
        if fields["experts_per_token"] > experts:
            raise ShapeError(
                "experts_per_token",
                f"experts_per_token ({fields['experts_per_token']}) must not exceed experts ({experts})",
            )
    else:
        for key in ("experts_per_token", "shared_experts", "expert_width", "dense_layers"):
            if fields[key]:
                raise ShapeError(key, f"{key} describes a mixture of experts: give `experts` too")
    if dense > layers:
        raise ShapeError("dense_layers", f"dense_layers ({dense}) must not exceed layers ({layers})")
    if fields["mlp"] == 0 and (not experts or dense):
        raise ShapeError("mlp", "dense layers need the MLP's width `mlp`")
