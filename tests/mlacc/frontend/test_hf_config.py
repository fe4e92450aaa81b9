"""Hugging Face config.json import: `mlacc import`, configs read directly by compile, and errors placed in the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlacc import cli
from mlacc.frontend.hf_config import import_config
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "hf"
CONFIGS = sorted(FIXTURES.glob("*.json"))

EXPECTED = {
    "deepseek_v3.json": (
        "deepseek_v3 : mla",
        {"d_model": 7168, "heads": 128, "q_rank": 1536, "kv_rank": 512, "qk_nope_dim": 128, "qk_rope_dim": 64},
    ),
    "deepseek_v2_lite.json": (
        "deepseek_v2_lite : mla",
        {"d_model": 2048, "heads": 16, "q_rank": 0, "kv_rank": 512, "qk_nope_dim": 128, "v_dim": 128},
    ),
    "kimi_k2.json": ("kimi_k2_instruct : mla", {"d_model": 7168, "heads": 64, "q_rank": 1536, "kv_rank": 512}),
    "llama3_70b.json": ("llama3_70b : gqa", {"d_model": 8192, "heads": 64, "kv_heads": 8, "head_dim": 128}),
    "qwen2_5_72b.json": ("qwen2_5_72b : gqa", {"d_model": 8192, "heads": 64, "kv_heads": 8, "head_dim": 128}),
}


def _fields(dsl: str) -> dict[str, str]:
    """`key = value` of the layer block, comments dropped."""
    start = dsl.index("\nlayer ") + 1
    block = dsl[start : dsl.index("}", start)]
    pairs = (line.split("//")[0].split("=") for line in block.splitlines()[1:] if line.split("//")[0].strip())
    return {key.strip(): value.strip() for key, value in pairs}


def _json_report(capsys: pytest.CaptureFixture[str], path: Path | str, *options: str) -> dict:
    assert cli.main(["compile", str(path), "--format", "json", "-q", *options]) == 0
    return json.loads(capsys.readouterr().out)


def test_every_fixture_is_known():
    assert [p.name for p in CONFIGS] == sorted(EXPECTED)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_import_maps_the_attention_fields(config: Path):
    dsl = import_config(config.read_text(), str(config)).dsl
    header, dims = EXPECTED[config.name]
    assert f"layer {header} {{" in dsl
    fields = _fields(dsl)
    assert {k: int(fields[k]) for k in dims} == dims
    assert fields["dtype"] == "bf16"
    layers = {"deepseek_v3": 61, "deepseek_v2_lite": 27, "kimi_k2": 61, "llama3_70b": 80, "qwen2_5_72b": 80}
    assert fields["layers"] == str(layers[config.stem])


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_compile_reads_a_config_and_import_round_trips(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    direct = _json_report(capsys, config)
    assert [(r["workload"], r["phase"]) for r in direct["results"]] == [("decode", "decode"), ("prefill", "prefill")]
    dsl = tmp_path / f"{config.stem}.attn"
    assert cli.main(["import", str(config), "-o", str(dsl)]) == 0
    assert capsys.readouterr().out == ""
    assert _json_report(capsys, dsl) == direct


def _one_layer(report: dict) -> dict:
    """A report without the whole-model fields that `layers = N` adds (and the max batch they change)."""
    model_keys = ("layers", "model", "max_batch")
    for result in report["results"]:
        for row in (result, *result.get("alternatives", ())):
            for key in model_keys:
                row.pop(key, None)
    return report


def test_deepseek_v3_config_is_the_example_layer(capsys: pytest.CaptureFixture[str]):
    from_config = _json_report(capsys, FIXTURES / "deepseek_v3.json", "--hw", "h200")
    assert from_config["results"][0]["layers"] == 61
    from_config = _one_layer(from_config)
    assert from_config == _one_layer(_json_report(capsys, ROOT / "examples" / "deepseek_v3.attn", "--hw", "h200"))
    assert from_config["results"][0]["kv_cache_bytes"] == (512 + 64) * 2 * (4096 + 1)  # the cache after the step


def test_import_prints_to_stdout_and_compare_reads_a_config(capsys: pytest.CaptureFixture[str]):
    config = FIXTURES / "llama3_70b.json"
    assert cli.main(["import", str(config)]) == 0
    assert capsys.readouterr().out == import_config(config.read_text(), str(config)).dsl
    assert cli.main(["compare", str(config), "--hw", "h100,h20", "--workload", "decode", "-q"]) == 0
    assert "llama3_70b" in capsys.readouterr().out


def _config(tmp_path: Path, text: str, name: str = "config.json") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _llama(**changes: object) -> dict[str, object]:
    config = json.loads((FIXTURES / "llama3_70b.json").read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    return config


def _dsl(tmp_path: Path, config: dict[str, object], name: str = "llama3_70b.json") -> str:
    path = _config(tmp_path, json.dumps(config, indent=2), name)
    return import_config(Path(path).read_text(), path).dsl


def test_kv_heads_choose_mha_gqa_or_mqa(tmp_path: Path):
    assert "layer llama3_70b : mha {" in _dsl(tmp_path, _llama(num_key_value_heads=None))
    assert "layer llama3_70b : mha {" in _dsl(tmp_path, _llama(num_key_value_heads=64))
    mqa = _dsl(tmp_path, _llama(num_key_value_heads=1))
    assert "layer llama3_70b : mqa {" in mqa and "kv_heads" not in _fields(mqa)


def test_head_dim_given_or_derived(tmp_path: Path):
    # Mistral-Nemo style: 32 heads of 128 on a 5120-wide model, so head_dim is not hidden / heads.
    nemo = _dsl(tmp_path, _llama(model_type="mistral", hidden_size=5120, num_attention_heads=32, head_dim=128))
    assert _fields(nemo)["head_dim"] == "128" and "// head_dim" in nemo
    derived = _dsl(tmp_path, _llama(head_dim=None))
    assert "head_dim = 128    // hidden_size / num_attention_heads" in derived


def test_dtype_name_and_family_fallbacks(tmp_path: Path):
    config = _llama(torch_dtype=None, dtype="float16", model_type="llama_custom", _name_or_path="/models/My Model-7B/")
    dsl = _dsl(tmp_path, config, "config.json")
    assert "layer my_model_7b : gqa {" in dsl  # the family from `architectures`, the name from `_name_or_path`
    assert _fields(dsl)["dtype"] == "fp16" and "// dtype float16" in dsl
    assert "layer llama : gqa {" in _dsl(tmp_path, _llama(torch_dtype=None), "config.json")  # no name: model_type
    assert "torch_dtype absent: bf16 assumed" in _dsl(tmp_path, _llama(torch_dtype=None), "config.json")
    assert "layer m_3b : gqa {" in _dsl(tmp_path, _llama(), "3b.json")  # the file stem, made a DSL name


def test_window_and_quantization_are_noted_not_modelled(tmp_path: Path):
    assert "sliding_window 4096 is not modelled" in _dsl(tmp_path, _llama(model_type="mistral", sliding_window=4096))
    assert "sliding_window" not in _dsl(tmp_path, _llama(sliding_window=4096, use_sliding_window=False))
    v3 = FIXTURES / "deepseek_v3.json"
    assert "Weights ship as fp8 (quantization_config)" in import_config(v3.read_text(), str(v3)).dsl


def _error(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, command: str = "compile") -> str:
    path = _config(tmp_path, text, "bad.json")
    out = tmp_path / "out.attn"
    argv = [command, path, "-o", str(out)] if command == "import" else [command, path]
    assert cli.main(argv) == 1
    assert not out.exists()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "Traceback" not in captured.err
    return captured.err.removeprefix(f"{path}:").rstrip("\n")


def _place(text: str, key: str) -> str:
    """`LINE:COL` of top-level field `key`'s value in `text` (written by json.dumps)."""
    start = text.index(f'\n  "{key}": ') + len(f'\n  "{key}": ')
    line = text.count("\n", 0, start) + 1
    return f"{line}:{start - (text.rfind(chr(10), 0, start) + 1) + 1}"


@pytest.mark.parametrize("command", ["compile", "import"])
def test_unsupported_family_is_placed_at_model_type(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str):
    text = '{\n  "architectures": ["GPT2LMHeadModel"],\n  "model_type": "gpt2",\n  "n_embd": 768\n}\n'
    assert _error(tmp_path, capsys, text, command) == (
        "3:17: error: unsupported model_type 'gpt2' (mlacc imports model_type: deepseek_v2, deepseek_v3, kimi_k2, "
        "llama, mistral, mixtral, qwen2, qwen2_moe, qwen3, qwen3_moe)"
    )


@pytest.mark.parametrize("command", ["compile", "import"])
def test_missing_field_is_named_at_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str):
    config = json.loads((FIXTURES / "deepseek_v3.json").read_text())
    del config["kv_lora_rank"]
    text = "\n" + json.dumps(config, indent=2)
    assert _error(tmp_path, capsys, text, command) == (
        "2:1: error: missing field 'kv_lora_rank' (a deepseek_v3 config gives it)"
    )
    del config["q_lora_rank"]
    assert "missing field 'q_lora_rank' (a deepseek_v3 config gives it; null = no query compression)" in _error(
        tmp_path, capsys, json.dumps(config)
    )


@pytest.mark.parametrize("command", ["compile", "import"])
def test_wrong_type_is_placed_at_the_value(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str):
    text = json.dumps(_llama(num_attention_heads="64"), indent=2)
    assert _error(tmp_path, capsys, text, command) == (
        _place(text, "num_attention_heads") + ": error: field 'num_attention_heads' must be an integer, got \"64\""
    )
    text = json.dumps(_llama(hidden_size=8192.0), indent=2)
    assert _error(tmp_path, capsys, text, command) == (
        f"{_place(text, 'hidden_size')}: error: field 'hidden_size' must be an integer, got 8192.0"
    )
    text = json.dumps(_llama(num_key_value_heads=-8), indent=2)
    assert _error(tmp_path, capsys, text, command).endswith(
        "field 'num_key_value_heads' must be a positive integer, got -8"
    )
    text = json.dumps(_llama(torch_dtype="float64"), indent=2)
    assert _error(tmp_path, capsys, text, command) == (
        _place(text, "torch_dtype") + ': error: unsupported torch_dtype "float64" '
        "(expected one of: bfloat16, float16, float32)"
    )


@pytest.mark.parametrize("command", ["compile", "import"])
def test_malformed_json_is_placed_where_json_says(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str):
    text = '{\n  "model_type": "llama",\n  "hidden_size": 4096\n  "num_attention_heads": 32\n}\n'
    with pytest.raises(json.JSONDecodeError) as decode:
        json.loads(text)
    assert _error(tmp_path, capsys, text, command) == (
        f"{decode.value.lineno}:{decode.value.colno}: error: malformed JSON: Expecting ',' delimiter"
    )
    assert _error(tmp_path, capsys, "", command) == "1:1: error: malformed JSON: Expecting value"
    assert _error(tmp_path, capsys, "[1, 2]", command) == "1:1: error: a config.json holds one JSON object ({...})"


def test_impossible_layer_is_placed_at_the_field_that_makes_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    text = json.dumps(_llama(num_key_value_heads=7), indent=2)
    assert _error(tmp_path, capsys, text, "import") == (
        f"{_place(text, 'num_key_value_heads')}: error: field 'num_key_value_heads': "
        "heads (64) must be divisible by kv_heads (7)"
    )
    config = json.loads((FIXTURES / "deepseek_v3.json").read_text())
    config["kv_lora_rank"] = 8192
    text = json.dumps(config, indent=2)
    assert _error(tmp_path, capsys, text) == (
        f"{_place(text, 'kv_lora_rank')}: error: field 'kv_lora_rank': kv_rank (8192) must not exceed d_model (7168): "
        "it compresses"
    )
    text = json.dumps(_llama(hidden_size=8000, num_attention_heads=48), indent=2)
    assert _error(tmp_path, capsys, text) == (
        f"{_place(text, 'hidden_size')}: error: hidden_size (8000) is not a multiple of num_attention_heads (48): "
        "give head_dim"
    )


def test_ops_and_remarks_point_into_the_config(capsys: pytest.CaptureFixture[str]):
    config = FIXTURES / "llama3_70b.json"
    assert cli.main(["compile", str(config), "--workload", "decode"]) == 0
    assert capsys.readouterr().err.startswith(f"{config}:1:1: remark: absorb: @llama3_70b.decode is a gqa layer")
    assert cli.main(["compile", str(config), "--emit", "attn", "--workload", "decode"]) == 0
    assert "attn.gqa" in capsys.readouterr().out


def _stderr_of_compile(tmp_path: Path, capsys: pytest.CaptureFixture[str], config: dict[str, object]) -> str:
    path = _config(tmp_path, json.dumps(config, indent=2), "model.json")
    assert cli.main(["compile", path, "--workload", "decode", "-q", "--format", "json"]) == 0
    return capsys.readouterr().err


def test_a_field_that_changes_cost_unmodelled_is_one_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """A sliding window in use is named once, at its place in the JSON; one not in use, and RoPE scaling (which
    changes frequencies, not work), say nothing."""
    err = _stderr_of_compile(tmp_path, capsys, _llama(model_type="mistral", sliding_window=4096))
    text = (tmp_path / "model.json").read_text()
    line = text[: text.index('"sliding_window"')].count("\n") + 1
    message = "warning: sliding_window 4096 is not modelled: attention spans the whole context"
    assert err == f"{tmp_path / 'model.json'}:{line}:21: {message}\n"
    assert _stderr_of_compile(tmp_path, capsys, _llama(sliding_window=4096, use_sliding_window=False)) == ""
    yarn = {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8192}
    assert _stderr_of_compile(tmp_path, capsys, _llama(rope_scaling=yarn)) == ""
    qwen = FIXTURES / "qwen2_5_72b.json"  # sliding_window 131072 with use_sliding_window false, YaRN rope_scaling
    assert cli.main(["compile", str(qwen), "--workload", "decode", "-q", "--format", "json"]) == 0
    assert capsys.readouterr().err == ""


# Qwen3-32B's published config.json (attention, MLP and vocabulary fields).
QWEN3 = {
    "architectures": ["Qwen3ForCausalLM"],
    "model_type": "qwen3",
    "hidden_size": 5120,
    "intermediate_size": 25600,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "num_hidden_layers": 64,
    "vocab_size": 151936,
    "tie_word_embeddings": False,
    "sliding_window": None,
    "use_sliding_window": False,
    "torch_dtype": "bfloat16",
}


def test_qwen3_imports_with_its_qk_norms(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    dsl = _dsl(tmp_path, QWEN3, "qwen3_32b.json")
    assert "layer qwen3_32b : gqa {" in dsl and _fields(dsl)["qk_norm"] == "1"
    assert _stderr_of_compile(tmp_path, capsys, QWEN3) == ""
    path = _config(tmp_path, json.dumps(QWEN3), "qwen3_32b.json")
    result = _json_report(capsys, path, "--workload", "decode")["results"][0]
    assert {"query_normed", "key_normed"} <= {op["name"] for op in result["ops"]}  # two RMSNorms a layer, timed
    assert result["model"]["params"] == pytest.approx(32.8e9, rel=0.015)  # Qwen3-32B's model card
    # The numpy interpreter runs the norms too: the IR agrees with the formulas that normalise each head.
    assert cli.main(["verify", path, "--shrink", "32", "--workload", "decode"]) == 0
    assert "qk_norm; batch" in capsys.readouterr().out


def _moe_block(dsl: str) -> dict[str, str]:
    """`key = value` of the MoE layer that `--step` writes."""
    return _fields(dsl[dsl.index("\n// The mixture of experts") :])


@pytest.mark.parametrize(
    ("config", "groups"),
    [("deepseek_v3", {"expert_groups": "8", "groups_per_token": "4"}), ("deepseek_v2_lite", {}), ("kimi_k2", {})],
)
def test_import_step_carries_group_limited_routing_to_the_moe_layer_only(config: str, groups: dict[str, str]):
    """n_group > 1 (DeepSeek-V3: 8 groups, topk_group 4) makes the MoE layer's expert_groups and groups_per_token;
    one group (V2-Lite, Kimi-K2) writes neither, and the import without --step, which has no MoE layer, is as it
    was."""
    path = FIXTURES / f"{config}.json"
    moe = _moe_block(import_config(path.read_text(), str(path), step=True).dsl)
    assert {key: moe[key] for key in ("expert_groups", "groups_per_token") if key in moe} == groups
    assert "groups" not in import_config(path.read_text(), str(path)).dsl


def test_imported_routing_groups_reach_the_dispatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    written = tmp_path / "v3.attn"
    assert cli.main(["import", str(FIXTURES / "deepseek_v3.json"), "--step", "-o", str(written)]) == 0
    assert cli.main(["compile", str(written), "--emit", "la", "--workload", "decode", "-q"]) == 0
    (dispatch,) = [line for line in capsys.readouterr().out.splitlines() if "la.dispatch" in line]
    assert "la.dispatch %x, %router_logits expert_groups = 8 groups_per_token = 4 :" in dispatch


def test_greedy_top_k_ignores_the_groups(tmp_path: Path):
    config = json.loads((FIXTURES / "deepseek_v3.json").read_text()) | {"topk_method": "greedy"}
    dsl = import_config(json.dumps(config), str(tmp_path / "greedy.json"), step=True).dsl
    assert "expert_groups" not in _moe_block(dsl)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("n_group", 7, "field 'n_group': experts (256) must be divisible by expert_groups (7): the groups are equal"),
        ("topk_group", 9, "field 'topk_group': groups_per_token (9) must not exceed expert_groups (8)"),
        ("topk_group", 0, "field 'topk_group' must be a positive integer, got 0"),
    ],
)
def test_impossible_routing_groups_are_placed_at_their_config_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, value: int, message: str
):
    config = json.loads((FIXTURES / "deepseek_v3.json").read_text()) | {key: value}
    text = json.dumps(config, indent=2)
    path = _config(tmp_path, text, "bad.json")
    assert cli.main(["import", path, "--step", "-o", str(tmp_path / "out.attn")]) == 1
    assert capsys.readouterr().err == f"{path}:{_place(text, key)}: error: {message}\n"
    assert not (tmp_path / "out.attn").exists()
