"""The calibration of a hardware target, declared once: its constants (the `[efficiency]` table of a hardware file
and the `efficiency` dictionary of `#hw.target`) and the op classes its `[kernels]` table names a library for.

Each constant has its key, the `Machine` field the cost model reads it as, its unit, its meaning, and its default:
a number, or the key whose value it takes where the file leaves it out (the attention kernel's rates default to
the GEMM's). The loader (mlacc/hardware/loader.py) checks a file's table against it, the `hw.target` verifier
checks parsed IR against it, and `Machine.of` (costmodel/machine.py) reads every constant through it, so a new
constant is one entry here and one use in the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Constant:
    key: str
    """The key in `[efficiency]` and in `#hw.target<..., efficiency = {...}>`."""
    field: str
    """The `Machine` field (costmodel/machine.py) that carries it."""
    unit: str
    meaning: str
    default: float | str
    """The value where the file leaves the key out: a number, or the key whose value it takes."""
    fraction: bool = False
    """A fraction of a peak rate: in (0, 1]."""
    group: str = ""
    """A model that needs every constant of its group or none (`GROUPS`)."""
    zero: bool = False
    """0 is a measured value too (a kernel with no unoverlapped start and end); every other constant is positive."""


CONSTANTS: tuple[Constant, ...] = (
    Constant("compute", "compute_efficiency", "fraction of peak",
             "a GEMM's mainloop rate / the dtype's peak MAC rate", 1.0, fraction=True),
    Constant("epilogue_slices", "epilogue_slices", "K slices of 64",
             "time a GEMM's output tile takes to write out, in K slices of its mainloop (0: hidden)", 0.0),
    Constant("memory", "memory_efficiency", "fraction of peak",
             "off-chip read rate of a GEMM's operands / the datasheet bandwidth", 1.0, fraction=True),
    Constant("memory_write", "memory_write_efficiency", "fraction of peak",
             "off-chip rate of a GEMM's output stores / the datasheet bandwidth", "memory", fraction=True),
    Constant("join_memory", "join_memory", "fraction of peak",
             "off-chip rate of the generic concatenation that joins a part broadcast over heads or read strided "
             "(torch.cat's CatArrayBatchedCopy: expand's RoPE key beside each head's keys) / the datasheet "
             "bandwidth", "memory", fraction=True),
    Constant("join_split_memory", "join_split_memory", "fraction of peak",
             "the same for a join of 2^31 elements or more, which torch writes by elementwise copies of each part "
             "(its concatenation kernel indexes in 32 bits)", "join_memory", fraction=True),
    Constant("op_latency_cycles", "op_latency", "cycles",
             "fixed time of a small kernel (a norm, a RoPE, a cache store) in a step: its run and the launch gap "
             "after it", 0.0),
    Constant("contraction_latency_cycles", "contraction_latency", "cycles",
             "fixed time of a GEMM or fused attention kernel (prologue, epilogue, launch)", "op_latency_cycles"),
    Constant("split_k_latency_cycles", "split_k_latency", "cycles",
             "what a GEMM the library splits along K adds: the kernel that sums its partial results "
             "(costmodel/gemm_library.py `library_splits_k`)", 0.0),
    Constant("moe_gemm_compute", "moe_gemm_compute", "fraction of peak",
             "a grouped expert GEMM's mainloop rate / peak: every expert that receives tokens multiplies its own "
             "rows, in one kernel (a MoE layer's `[kernels] moe_gemm` library)", "compute", fraction=True),
    Constant("moe_gemm_memory", "moe_gemm_memory", "fraction of peak",
             "off-chip rate of a grouped expert GEMM's operands (the experts' weights, streamed) / the datasheet "
             "bandwidth", "memory", fraction=True),
    Constant("moe_gemm_latency_cycles", "moe_gemm_latency", "cycles",
             "fixed time of a grouped expert GEMM (its launch, and any set-up kernel the library runs before it)",
             "contraction_latency_cycles"),
    Constant("moe_gemm_overlap", "moe_gemm_overlap", "exponent",
             "how a grouped expert GEMM's mainloop and weight stream overlap near the ridge (few rows per expert): "
             "its time is (mainloop^p + stream^p)^(1/p) (0: their maximum)", 0.0, zero=True),
    Constant("moe_routing_kernels", "moe_routing_kernels", "kernels",
             "kernels a MoE layer's routing runs (`la.dispatch`: the router's scores, their top-k, the sort of the "
             "rows by expert, the gather), each at `op_latency_cycles`", 1.0),
    Constant("moe_group_routing_kernels", "moe_group_routing_kernels", "kernels",
             "the kernels group-limited routing adds (DeepSeek's expert groups: the groups' scores and top groups, "
             "masked, before the top-k)", 0.0, zero=True),
    Constant("moe_routing_score_cycles", "moe_routing_score_cycles", "cycles",
             "time the routing's top-k and sort add per router score (tokens x experts)", 0.0, zero=True),
    Constant("moe_combine_kernels", "moe_combine_kernels", "kernels",
             "kernels a MoE layer's combine runs (`la.combine`: the expert rows scattered back to token order, "
             "weighed and summed), each at `op_latency_cycles`", 1.0),
    Constant("moe_combine_memory", "moe_combine_memory", "fraction of peak",
             "rate of the combine's scatter of expert rows back to token order, its bytes read and written "
             "wherever they live (an indexed copy), / the datasheet off-chip bandwidth", 1.0, fraction=True),
    Constant("attention_compute", "attention_compute_efficiency", "fraction of peak",
             "a causal (prefill) flash program's mainloop rate / peak (the latent and MHA kernels)", "compute",
             fraction=True),
    Constant("attention_two_part_compute", "attention_two_part_compute", "fraction of peak",
             "the same for the per-head kernel whose keys come in two parts (DeepSeek's 128 + 64 RoPE)",
             "attention_compute", fraction=True),
    Constant("attention_decode_compute", "attention_decode_compute", "fraction of peak",
             "a flash-decoding program's mainloop rate / peak: the kernel split along the keys",
             "attention_compute", fraction=True),
    Constant("attention_decode_unsplit_compute", "attention_decode_unsplit_compute", "fraction of peak",
             "the same for the decode kernel run unsplit (enough row blocks to fill the units)",
             "attention_compute", fraction=True),
    Constant("attention_memory", "attention_memory_efficiency", "fraction of peak",
             "a fused attention kernel's off-chip rate / the datasheet bandwidth", "memory", fraction=True),
    Constant("attention_two_part_memory", "attention_two_part_memory", "fraction of peak",
             "the same where each program reads its keys in two parts", "attention_memory", fraction=True),
    Constant("attention_programs_per_unit", "attention_programs_per_unit", "programs",
             "programs of a per-head decode kernel (MHA's, cache-kv's, expand's) each unit holds at once "
             "(0: not measured)", 0.0, group="in-flight"),
    Constant("attention_two_part_programs_per_unit", "attention_two_part_programs_per_unit", "programs",
             "the same for the per-head kernels whose keys come in two parts (larger tiles, fewer resident)",
             "attention_programs_per_unit"),
    Constant("attention_stream_programs", "attention_stream_programs", "programs",
             "programs in flight a per-head decode kernel needs to stream at its full off-chip rate; fewer stream "
             "proportionally less", 0.0, group="in-flight"),
    Constant("attention_two_part_stream_programs", "attention_two_part_stream_programs", "programs",
             "the same for the per-head kernels whose keys come in two parts", "attention_stream_programs"),
    Constant("attention_decode_latency_cycles", "attention_decode_latency", "cycles",
             "fixed time of a per-head fused decode kernel (one query token a head; its launch, and a library's "
             "own split and combine where it runs them)", "contraction_latency_cycles"),
    Constant("attention_program_keys", "attention_program_keys", "keys",
             "a flash program's unoverlapped start and end (query rows in, output out), in keys of its mainloop",
             0.0, zero=True),
    Constant("attention_split_cycles", "attention_split_cycles", "cycles",
             "the combine of a split (flash-decoding) kernel, per split, beyond reading the partials", 0.0),
    Constant("attention_latent_compute", "attention_latent_compute", "fraction of peak",
             "FlashMLA's decode mainloop rate / peak, over its blocks of 64 query rows x 64 latent keys "
             "(costmodel/flashmla.py; where [kernels] names flashmla without it, the generic flash model)", 0.0,
             fraction=True),
    Constant("attention_latent_memory", "attention_latent_memory", "fraction of peak",
             "FlashMLA's read rate of the latent cache (and its combine's of the partials) / the datasheet "
             "bandwidth", "attention_memory", fraction=True),
    Constant("attention_latent_overlap", "attention_latent_overlap", "exponent",
             "how FlashMLA's mainloop and cache read overlap: its time is (mainloop^p + read^p)^(1/p) (0: their "
             "maximum)", 0.0),
    Constant("attention_latent_prefill_compute", "attention_latent_prefill_compute", "fraction of peak",
             "a causal prefill program's mainloop rate / peak where the attention runs over the latent (MLA "
             "recompute, reuse)", "attention_compute", fraction=True),
    Constant("attention_latent_program_keys", "attention_latent_program_keys", "keys",
             "the same start and end for such a causal program over the latent (its own compiled kernel)",
             "attention_program_keys", zero=True),
    Constant("attention_mac_energy_ratio", "attention_mac_energy_ratio", "ratio",
             "pJ per MAC of a fused attention kernel over a GEMM's", 1.0),
    Constant("busy_power_watts", "busy_power", "W",
             "power the board draws beyond `static_power_watts` while a step's kernels run (its clocks and voltage "
             "up: the busy floor over the idle reading), fit with the energy scales below on calibration steps", 0.0,
             zero=True),
    *(
        Constant(f"{op_class}_energy", f"{op_class}_energy", "ratio",
                 f"board energy of the {what} kernels a step runs over the energy the model gives their MACs and "
                 f"bytes (a library's own draw: fit on a chip's calibration steps; 1: as the GEMM and copy fits "
                 f"give it)", 1.0)
        for op_class, what in (
            ("gemm", "GEMM"),
            ("attention_prefill", "prefill attention"),
            ("attention_prefill_latent", "latent prefill attention"),
            ("attention_decode_heads", "per-head decode attention"),
            ("attention_decode_latent", "latent decode attention"),
            ("elementwise", "small (norm, RoPE, cache store)"),
            ("join", "concatenation (the copies that join a fused kernel's parts)"),
        )
    ),
    Constant("moe_gemm_energy", "moe_gemm_energy", "ratio",
             "board energy of the grouped expert GEMMs over the energy the model gives their MACs and bytes (as "
             "`gemm_energy`)", "gemm_energy"),
    Constant("moe_routing_energy", "moe_routing_energy", "ratio",
             "board energy of a MoE layer's routing and combine kernels over the energy the model gives their "
             "bytes (as `elementwise_energy`)", "elementwise_energy"),
    Constant("clock_top_hz", "clock_top", "Hz",
             "the highest SM clock a step may hold under the power limit (0: the clock is not modelled)", 0.0,
             group="clock"),
    Constant("gemm_clock_hz", "gemm_clock", "Hz",
             "the clock GEMMs replayed back to back hold, at which `compute` was measured", 0.0, group="clock"),
    Constant("attention_clock_hz", "attention_clock", "Hz",
             "the clock causal flash kernels hold, at which `attention_compute` was measured", 0.0, group="clock"),
    Constant("clock_power_exponent", "clock_power_exponent", "exponent",
             "a clock-bound kernel draws (f / its own clock) ** exponent of the power limit", 1.0, group="clock"),
    Constant("memory_power", "memory_power", "fraction of the power limit",
             "the share of the power limit a memory-bound kernel draws, at any clock", 1.0, group="clock"),
)  # fmt: skip

BY_KEY: dict[str, Constant] = {c.key: c for c in CONSTANTS}

GROUPS: dict[str, tuple[str, str]] = {
    "in-flight": ("the decode kernel's programs in flight", "both"),
    "clock": ("the step clock", "all"),
}
"""Per group: what its constants model together, and how an error counts them."""


def group_keys(group: str) -> set[str]:
    return {c.key for c in CONSTANTS if c.group == group}


def resolved(efficiency: Mapping[str, float]) -> dict[str, float]:
    """Every constant's value (by `Machine` field) from a target's efficiency table, defaults followed."""

    def value(key: str) -> float:
        if key in efficiency:
            return efficiency[key]
        default = BY_KEY[key].default
        return value(default) if isinstance(default, str) else default

    return {c.field: value(c.key) for c in CONSTANTS}


def problems(efficiency: Mapping[str, float]) -> list[str]:
    """What is wrong with an efficiency table, one message per problem (none for a valid table)."""
    out = []
    for key, number in efficiency.items():
        constant = BY_KEY.get(key)
        if constant is None:
            out.append(f"unknown efficiency constant '{key}' (expected: {', '.join(sorted(BY_KEY))})")
        elif constant.zero and not number >= 0:
            out.append(f"'{key}' in [efficiency] must be zero or positive, got {number:g}")
        elif not constant.zero and not number > 0:
            out.append(f"'{key}' in [efficiency] must be positive, got {number:g}")
        elif constant.fraction and number > 1:
            out.append(f"'{key}' in [efficiency] is a fraction of peak: at most 1, got {number:g}")
    for group, (what, quantifier) in GROUPS.items():
        keys = group_keys(group)
        given = keys & set(efficiency)
        if given and given != keys:
            out.append(
                f"[efficiency] models {what} with {quantifier} of {', '.join(sorted(keys))}: "
                f"missing {', '.join(sorted(keys - given))}"
            )
    return out


OP_CLASSES: dict[str, str] = {
    "gemm": "a contraction that is a kernel of its own (projections, per-head batched products)",
    "attention_prefill": "a fused attention kernel of a prefill step over per-head keys (causal, many queries)",
    "attention_prefill_latent": "a fused attention kernel of a prefill step over the shared latent (MLA recompute, "
    "reuse)",
    "attention_decode_heads": "a fused decode attention kernel over per-head keys (MHA, GQA, expand, cache-kv)",
    "attention_decode_latent": "a fused decode attention kernel of every head over one shared latent cache (MLA "
    "recompute, reuse)",
    "elementwise": "a small kernel of its own: a norm, a RoPE, a cache store, an add",
    "moe_gemm": "a grouped GEMM of a MoE layer: every expert that receives tokens multiplies its own rows",
    "moe_routing": "a MoE layer's routing (`la.dispatch`: top-k, sort, gather) and combine (`la.combine`)",
}
"""The op classes a GPU preset's `[kernels]` table names a library for: which kernel runs each op."""
