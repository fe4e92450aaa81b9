"""Stage 0 of the frontend: a Hugging Face `config.json` -> attention DSL text.

Why: users start from a model's published config, not from a hand-written
layer, and translating one by hand is where a null `q_lora_rank`, a missing
`head_dim` or a key/value head count goes wrong. The importer writes the DSL a
user would write (one layer with the model's dimensions, dtype and number of
layers, decode and prefill workloads to edit), so `mlacc import CONFIG.json`
and compiling the config directly are one and the same compile. Every error points into the
JSON: the place of the field at fault, the `{` of the config when a field is
missing, or json's own place for malformed JSON.

The fields that shape attention make the layer; the vocabulary, MLP and
experts make its `#attn.model` fields, so that capacity counts every weight.
With `--step` the MLP and MoE layers are written too, the MoE layer with
DeepSeek's group-limited routing (`n_group`, `topk_group`) where it has one.
Qwen3's q/k norms become `qk_norm = 1`. A field that changes cost but is
not modelled (a sliding window in use, MoE layers that are not every layer)
is named in one warning line at its place in the JSON; a field that changes no cost (RoPE
scaling, which moves RoPE's frequencies, not its work) is read silently.
Imports json and xDSL's light lexer only: the IR classes are imported when
`build` makes a module.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from xdsl.utils.exceptions import ParseError
from xdsl.utils.lexer import Input, Span

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp

MLA_FAMILIES = ("deepseek_v2", "deepseek_v3", "kimi_k2")
"""`model_type`s of multi-head latent attention, with DeepSeek's field names (Kimi-K2 is a DeepSeek-V3)."""

GQA_FAMILIES = ("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe")
"""`model_type`s of grouped-query attention (MHA and MQA as its end points), with Llama's field names."""

_ARCHITECTURES = {
    "DeepseekV2ForCausalLM": "deepseek_v2",
    "DeepseekV3ForCausalLM": "deepseek_v3",
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "MixtralForCausalLM": "mixtral",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen2MoeForCausalLM": "qwen2_moe",
    "Qwen3ForCausalLM": "qwen3",
    "Qwen3MoeForCausalLM": "qwen3_moe",
}
"""`architectures` entries that name a family when `model_type` does not."""

TORCH_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}
"""`torch_dtype` (or `dtype`, its newer name) -> DSL dtype."""

_MLA_FIELDS = (
    ("d_model", "hidden_size"),
    ("heads", "num_attention_heads"),
    ("q_rank", "q_lora_rank"),
    ("kv_rank", "kv_lora_rank"),
    ("qk_nope_dim", "qk_nope_head_dim"),
    ("qk_rope_dim", "qk_rope_head_dim"),
    ("v_dim", "v_head_dim"),
)

DECODE_CONTEXT = "4k"
PREFILL_TOKENS = "4k"
"""The workloads an import starts from, as in examples/*.attn: edit them, or override with --context etc."""


@dataclass(frozen=True)
class _Place:
    """Where a top-level field's value starts and ends in the JSON text."""

    value: int
    end: int


class _Field(NamedTuple):
    """One `key = value` line of the layer: from which config field, and the comment that says how."""

    dsl_key: str
    value: int
    origin: str
    comment: str


@dataclass
class ImportedConfig:
    """The DSL text of one config, with what is needed to point errors back into the JSON."""

    source: Input[str]
    dsl: str = ""
    object_start: int = 0
    places: dict[str, _Place] = field(default_factory=dict)
    origins: dict[int, str] = field(default_factory=dict)
    """DSL line number -> the config field its value came from."""
    warnings: list[tuple[str, str]] = field(default_factory=list)
    """(config field, message): what the config says that changes cost and is not modelled."""

    def error_at(self, key: str | None, message: str) -> ParseError:
        """An error at field `key`'s value, or at the config's `{` (a field missing, or none to blame)."""
        place = self.places.get(key) if key is not None else None
        if place is None:
            return ParseError(Span(self.object_start, self.object_start + 1, self.source), message)
        return ParseError(Span(place.value, place.end, self.source), message)

    def located(self, error: ParseError) -> ParseError:
        """A DSL error about the imported text, moved to the config field the faulty DSL line came from."""
        key = self.origins.get(error.span.get_location().line)
        message = error.msg.splitlines()[0] if error.msg else "invalid layer"
        return self.error_at(key, f"field '{key}': {message}" if key else message)

    def build(self) -> ModuleOp:
        """The `attn` module of the imported DSL; every error and op location points into the config."""
        from xdsl.dialects.builtin import FileLineColLoc, IntAttr, StringAttr

        from mlacc.frontend.dsl import parse_dsl

        try:
            module = parse_dsl(self.dsl, self.source.name)
        except ParseError as e:
            raise self.located(e) from None
        # The ops stand for the whole config: give them its `{`, not a line of text the user never saw.
        place = Span(self.object_start, self.object_start + 1, self.source).get_location()
        here = FileLineColLoc(StringAttr(place.file), IntAttr(place.line), IntAttr(place.col))
        for op in module.walk():
            if isinstance(op.location, FileLineColLoc):
                op.location = here
        from passes.remarks import warning

        for key, message in self.warnings:
            at = self.places.get(key)
            spot = Span(at.value, at.end, self.source).get_location() if at is not None else place
            warning(FileLineColLoc(StringAttr(spot.file), IntAttr(spot.line), IntAttr(spot.col)), message)
        return module


def import_config(text: str, path: str, step: bool = False) -> ImportedConfig:
    """Config JSON text -> DSL text; raises ParseError (placed in the JSON) on a config it cannot import. With
    `step`, the MLP and MoE layers are written as layers of their own too (docs/dsl.md, "A whole step")."""
    imported = ImportedConfig(Input(text, path))
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        end = min(e.pos + 1, len(text))
        raise ParseError(Span(e.pos, end, imported.source), f"malformed JSON: {e.msg}") from None
    except (RecursionError, ValueError) as e:  # nested too deeply; an integer of more digits than Python takes
        reason = "nested too deeply" if isinstance(e, RecursionError) else str(e).splitlines()[0]
        raise ParseError(Span(0, 0, imported.source), f"malformed JSON: {reason}") from None
    if not isinstance(config, dict):
        raise ParseError(Span(0, 1, imported.source), "a config.json holds one JSON object ({...})")
    imported.object_start, imported.places = _top_level_places(text)
    _Writer(imported, config, step).write(_family(imported, config))
    return imported


_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _top_level_places(text: str) -> tuple[int, dict[str, _Place]]:
    """Where the object starts and where each top-level key and its value are (text already parsed as an object)."""
    decoder = json.JSONDecoder()

    def skip(pos: int) -> int:
        match = _WHITESPACE.match(text, pos)
        assert match is not None
        return match.end()

    start = skip(0)
    places: dict[str, _Place] = {}
    pos = skip(start + 1)
    while text[pos] != "}":
        key, after_key = decoder.raw_decode(text, pos)
        value_start = skip(skip(after_key) + 1)  # past the ':'
        _, value_end = decoder.raw_decode(text, value_start)
        places[key] = _Place(value_start, value_end)
        pos = skip(value_end)
        pos = skip(pos + 1) if text[pos] == "," else pos
    return start, places


def _family(imported: ImportedConfig, config: dict[str, Any]) -> str:
    model_type = config.get("model_type")
    if model_type is not None and not isinstance(model_type, str):
        raise imported.error_at("model_type", f"field 'model_type' must be a string, got {_shown(model_type)}")
    if model_type in (*MLA_FAMILIES, *GQA_FAMILIES):
        return model_type
    architectures = config.get("architectures")
    if isinstance(architectures, list):
        for architecture in architectures:
            if isinstance(architecture, str) and architecture in _ARCHITECTURES:
                return _ARCHITECTURES[architecture]
    supported = f"(mlacc imports model_type: {', '.join((*MLA_FAMILIES, *GQA_FAMILIES))})"
    if model_type is not None:
        raise imported.error_at("model_type", f"unsupported model_type '{model_type}' {supported}")
    if architectures is not None:
        raise imported.error_at("architectures", f"unsupported architectures {_shown(architectures)} {supported}")
    raise imported.error_at(None, f"missing field 'model_type' {supported}")


def _shown(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _identifier(text: str) -> str:
    """A DSL name from a model name: `deepseek-ai/DeepSeek-V3` -> `deepseek_v3`."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", text.rstrip("/").rsplit("/", 1)[-1]).strip("_").lower()
    if not name:
        return "model"
    return f"m_{name}" if name[0].isdigit() or name in ("layer", "workload") else name


class _Writer:
    """Reads the attention fields of one config and writes its DSL, remembering which field each line came from."""

    def __init__(self, imported: ImportedConfig, config: dict[str, Any], step: bool = False):
        self.imported = imported
        self.config = config
        self.lines: list[str] = []
        self.step = step

    def int_field(self, key: str, family: str, minimum: int = 1) -> int:
        if key not in self.config:
            raise self.imported.error_at(None, f"missing field '{key}' (a {family} config gives it)")
        value = self.config[key]
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.imported.error_at(key, f"field '{key}' must be an integer, got {_shown(value)}")
        if value < minimum:
            least = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
            raise self.imported.error_at(key, f"field '{key}' must be {least}, got {value}")
        return value

    def line(self, text: str, origin: str | None = None) -> None:
        self.lines.append(text)
        if origin is not None:
            self.imported.origins[len(self.lines)] = origin

    def write(self, family: str) -> None:
        layers = self.int_field("num_hidden_layers", family)
        dtype, dtype_note, dtype_key = self.dtype()
        name = self.name()
        source = " ".join(Path(self.imported.source.name).name.split())  # a comment stays on its line
        if family in MLA_FAMILIES:
            kind, fields = "mla", self.mla_fields(family)
            what = "multi-head latent attention"
        else:
            kind, fields = self.gqa_fields(family)
            what = {"mha": "multi-head attention", "mqa": "multi-query attention"}.get(kind, "grouped-query attention")
        self.line(f"// {name}: {what}, {layers} layers (num_hidden_layers): reports give one layer and the model.")
        self.line(f"// Imported by `mlacc import` from {source} (model_type {family}); edit the workloads to taste.")
        for note in self.notes():
            self.line(f"// {note}")
        self.line(f"layer {name} : {kind} {{")
        fields.append(_Field("layers", layers, "num_hidden_layers", "num_hidden_layers"))
        fields += self.model_fields(family, layers)
        width = max(len(f.dsl_key) for f in fields)
        for f in fields:
            self.line(f"  {f.dsl_key:<{width}} = {f.value:<6} // {f.comment}", f.origin)
        self.line(f"  {'dtype':<{width}} = {dtype:<6} // {dtype_note}", dtype_key)
        mtp = self.optional_int("num_nextn_predict_layers", family)
        if mtp:
            uncomment = "uncomment to count the MTP modules' weights"
            self.line(f"  // {'mtp_layers':<{width - 3}} = {mtp:<6} // num_nextn_predict_layers: {uncomment}")
        self.line("}")
        if self.step:
            self.ffn_layers(name, fields, layers, dtype, family)
        self.line("")
        self.line("// One new token per sequence against a 4k-token cache.")
        self.line("workload decode {")
        self.line("  phase   = decode")
        self.line("  batch   = 1")
        self.line(f"  context = {DECODE_CONTEXT}")
        self.line("}")
        self.line("")
        self.line("// A 4k-token prompt with nothing cached yet.")
        self.line("workload prefill {")
        self.line("  phase      = prefill")
        self.line("  batch      = 1")
        self.line(f"  new_tokens = {PREFILL_TOKENS}")
        self.line("}")
        self.imported.dsl = "\n".join(self.lines) + "\n"

    def name(self) -> str:
        given = self.config.get("_name_or_path")
        if isinstance(given, str) and _identifier(given) != "model":
            return _identifier(given)
        stem = Path(self.imported.source.name).stem
        if stem.lower() != "config" and _identifier(stem) != "model":
            return _identifier(stem)
        return _identifier(str(self.config.get("model_type") or "model"))

    def dtype(self) -> tuple[str, str, str | None]:
        """The DSL dtype, the comment that says where it came from, and that field's name."""
        for key in ("torch_dtype", "dtype"):
            if key not in self.config:
                continue
            value = self.config[key]
            if not isinstance(value, str) or value not in TORCH_DTYPES:
                expected = ", ".join(TORCH_DTYPES)
                raise self.imported.error_at(key, f"unsupported {key} {_shown(value)} (expected one of: {expected})")
            return TORCH_DTYPES[value], f"{key} {value}", key
        return "bf16", "torch_dtype absent: bf16 assumed", None

    def notes(self) -> list[str]:
        """What the config says that the layer does not model, so that a reader of the DSL knows."""
        notes = []
        quantization = self.config.get("quantization_config")
        if isinstance(quantization, dict) and isinstance(quantization.get("quant_method"), str):
            method = " ".join(quantization["quant_method"].split())
            notes.append(
                f"Weights ship as {method} (quantization_config); dtype follows torch_dtype "
                "(dtype = fp8 would make every tensor 8-bit)."
            )
        window = self.config.get("sliding_window")
        if isinstance(window, int) and not isinstance(window, bool) and self.config.get("use_sliding_window", True):
            notes.append(f"sliding_window {window} is not modelled: attention spans the whole context.")
            self.imported.warnings.append(
                ("sliding_window", f"sliding_window {window} is not modelled: attention spans the whole context")
            )
        return notes

    def optional_int(self, key: str, family: str) -> int:
        """A count the config may leave out or null (0 then)."""
        return self.int_field(key, family, minimum=0) if self.config.get(key) is not None else 0

    def model_fields(self, family: str, layers: int) -> list[_Field]:
        """The rest of the model: vocabulary, the dense MLP's width, the experts (dialects/attn_rules.py
        `MODEL_FIELDS`). A config without a vocabulary describes attention alone: then none."""
        if self.config.get("vocab_size") is None:
            return []
        vocab = self.int_field("vocab_size", family)
        fields = [_Field("vocab", vocab, "vocab_size", "vocab_size")]
        if self.config.get("tie_word_embeddings") is True:
            fields.append(_Field("tie_embeddings", 1, "tie_word_embeddings", "tie_word_embeddings: one matrix"))
        experts_key = {"mixtral": "num_local_experts", "qwen2_moe": "num_experts", "qwen3_moe": "num_experts"}.get(
            family, "n_routed_experts"
        )
        experts = self.optional_int(experts_key, family)
        if not experts:
            return [
                *fields,
                _Field("mlp", self.int_field("intermediate_size", family), "intermediate_size", "intermediate_size"),
            ]
        width_key = "intermediate_size" if family == "mixtral" else "moe_intermediate_size"
        width = self.int_field(width_key, family)
        fields += [
            _Field("experts", experts, experts_key, experts_key),
            _Field("experts_per_token", self.int_field("num_experts_per_tok", family), "num_experts_per_tok",
                   "num_experts_per_tok"),
            _Field("expert_width", width, width_key, width_key),
        ]  # fmt: skip
        shared = self.optional_int("n_shared_experts", family)
        shared_width = self.optional_int("shared_expert_intermediate_size", family)
        if shared:
            fields.append(_Field("shared_experts", shared, "n_shared_experts", "n_shared_experts"))
        elif shared_width and shared_width % width == 0:
            comment = f"shared_expert_intermediate_size {shared_width} / {width_key}"
            fields.append(_Field("shared_experts", shared_width // width, "shared_expert_intermediate_size", comment))
        elif shared_width:
            self.imported.warnings.append(
                (
                    "shared_expert_intermediate_size",
                    "a shared expert of a width no multiple of the experts' is not modelled",
                )
            )
        dense = min(self.optional_int("first_k_dense_replace", family), layers)
        if dense:
            fields += [
                _Field("dense_layers", dense, "first_k_dense_replace", "first_k_dense_replace: dense MLP first"),
                _Field("mlp", self.int_field("intermediate_size", family), "intermediate_size", "intermediate_size"),
            ]
        for key in ("moe_layer_freq", "decoder_sparse_step"):
            if self.config.get(key, 1) != 1:
                self.imported.warnings.append((key, f"{key} is not modelled: every layer past the dense ones is MoE"))
        if self.config.get("mlp_only_layers"):
            self.imported.warnings.append(("mlp_only_layers", "mlp_only_layers is not modelled: every layer is MoE"))
        return fields

    def ffn_layers(self, name: str, fields: list[_Field], layers: int, dtype: str, family: str) -> None:
        """The model's MLP and MoE layers as layers of their own, one after each attention layer: the dense ones
        first (all of them without experts), then the MoE ones, from the attention layer's model fields and the
        config's routing groups."""
        given = {f.dsl_key: f for f in fields}
        if "vocab" not in given:
            return
        d_model = given["d_model"]
        dense = given["dense_layers"].value if "dense_layers" in given else 0 if "experts" in given else layers
        blocks: list[tuple[str, str, int, str, list[_Field]]] = []
        if dense:
            origin = "first_k_dense_replace" if "experts" in given else "num_hidden_layers"
            blocks.append((f"{name}_mlp", "mlp", dense, origin, [d_model, given["mlp"]._replace(dsl_key="width")]))
        if "experts" in given and layers > dense:
            shared = given.get("shared_experts") or _Field("shared_experts", 0, "", "no shared expert")
            moe = [given[key] for key in ("experts", "experts_per_token", "expert_width")]
            origin = "num_hidden_layers - first_k_dense_replace" if dense else "num_hidden_layers"
            groups = self.routing_groups(family)
            blocks.append((f"{name}_moe", "moe", layers - dense, origin, [d_model, *moe, shared, *groups]))
        for layer, kind, count, origin, block in blocks:
            self.line("")
            what = "MLP" if kind == "mlp" else "mixture of experts"
            self.line(f"// The {what} after attention in {count} layer{'s' if count > 1 else ''}.")
            self.line(f"layer {layer} : {kind} {{")
            width = max(len(f.dsl_key) for f in block)
            for f in block:
                self.line(f"  {f.dsl_key:<{width}} = {f.value:<6} // {f.comment}", f.origin or None)
            self.line(f"  {'layers':<{width}} = {count:<6} // {origin}", "num_hidden_layers")
            self.line(f"  {'dtype':<{width}} = {dtype}")
            self.line("}")

    def routing_groups(self, family: str) -> list[_Field]:
        """DeepSeek's group-limited routing (`n_group`, `topk_group`) as the MoE layer's `expert_groups` and
        `groups_per_token`; none where the experts are one group (V2-Lite, Kimi-K2) or the top-k is greedy, which
        ignores the groups, so that a model routed by plain top-k imports as it did."""
        groups = self.optional_int("n_group", family)
        if groups <= 1 or self.config.get("topk_method") == "greedy":
            return []
        return [
            _Field("expert_groups", groups, "n_group", "n_group"),
            _Field("groups_per_token", self.int_field("topk_group", family), "topk_group", "topk_group"),
        ]

    def mla_fields(self, family: str) -> list[_Field]:
        fields = []
        for dsl_key, key in _MLA_FIELDS:
            if key != "q_lora_rank":
                fields.append(_Field(dsl_key, self.int_field(key, family), key, key))
            elif key not in self.config:
                raise self.imported.error_at(
                    None, f"missing field '{key}' (a {family} config gives it; null = no query compression)"
                )
            elif self.config[key] is None:
                fields.append(_Field(dsl_key, 0, key, f"{key} null: no query compression"))
            else:
                fields.append(_Field(dsl_key, self.int_field(key, family, minimum=0), key, key))
        return fields

    def gqa_fields(self, family: str) -> tuple[str, list[_Field]]:
        d_model = self.int_field("hidden_size", family)
        heads = self.int_field("num_attention_heads", family)
        kv_heads = self.int_field("num_key_value_heads", family) if "num_key_value_heads" in self.config else None
        if self.config.get("head_dim") is not None:
            head_dim = _Field("head_dim", self.int_field("head_dim", family), "head_dim", "head_dim")
        elif d_model % heads:
            raise self.imported.error_at(
                "hidden_size",
                f"hidden_size ({d_model}) is not a multiple of num_attention_heads ({heads}): give head_dim",
            )
        else:
            head_dim = _Field("head_dim", d_model // heads, "hidden_size", "hidden_size / num_attention_heads")
        heads_comment = "num_attention_heads"
        if kv_heads is None or kv_heads == heads:
            kind = "mha"
            heads_comment += f" (num_key_value_heads {kv_heads or 'absent'}: keys and values per head)"
        elif kv_heads == 1:
            kind = "mqa"
            heads_comment += " (num_key_value_heads 1: one shared key/value head)"
        else:
            kind = "gqa"
        fields = [
            _Field("d_model", d_model, "hidden_size", "hidden_size"),
            _Field("heads", heads, "num_attention_heads", heads_comment),
        ]
        if kind == "gqa":
            fields.append(_Field("kv_heads", kv_heads or 0, "num_key_value_heads", "num_key_value_heads"))
        fields.append(head_dim)
        if family in ("qwen3", "qwen3_moe"):
            fields.append(_Field("qk_norm", 1, "model_type", f"{family}: an RMSNorm on every query and key head"))
        return kind, fields
