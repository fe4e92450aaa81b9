"""The DSL frontend: syntax, defaults, and one located error per kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from xdsl.dialects import func
from xdsl.utils.exceptions import ParseError

from dialects.attn import GqaOp, MlaOp, MoeOp, Phase
from mlacc import cli
from mlacc.diagnostics import error_line
from mlacc.frontend import parse_dsl
from mlacc.frontend.parser import parse_int

MLA = "layer m : mla { d_model = 64 heads = 4 q_rank = 32 kv_rank = 16 qk_nope_dim = 8 qk_rope_dim = 4 v_dim = 8 }\n"
DECODE = "workload w { phase = decode context = 16 }\n"


@pytest.mark.parametrize(
    ("text", "value"),
    [("4", 4), ("4k", 4096), ("4K", 4096), ("128K", 131072), ("1M", 1 << 20), ("32_768", 32768), ("2m", 2 << 20)],
)
def test_size_suffixes(text: str, value: int):
    assert parse_int(text) == value


def test_every_layer_meets_every_workload_in_file_order():
    text = (
        MLA
        + "layer g : gqa { d_model = 64, heads = 8, kv_heads = 2, head_dim = 8; dtype = fp16 }\n"
        + DECODE
        + "workload p { phase = prefill  new_tokens = 1k  batch = 2 }  # a prompt\n"
    )
    module = parse_dsl(text, "f.attn")
    names = [op.sym_name.data for op in module.ops if isinstance(op, func.FuncOp)]
    assert names == ["m.w", "m.p", "g.w", "g.p"]


def test_defaults():
    module = parse_dsl(MLA + DECODE + "workload p { phase = prefill new_tokens = 8 }", "f.attn")
    ops = [op for op in module.walk() if isinstance(op, MlaOp)]
    decode, prefill = (op.workload for op in ops)
    assert (decode.phase.data, decode.batch.data, decode.context.data, decode.new_tokens.data) == (
        Phase.DECODE,
        1,
        16,
        1,
    )
    assert (prefill.phase.data, prefill.context.data, prefill.new_tokens.data) == (Phase.PREFILL, 0, 8)
    assert str(ops[0].element_type) == "bf16"


def test_ops_carry_their_source_location():
    module = parse_dsl("\n\n" + MLA + DECODE, "model.attn")
    (op,) = [op for op in module.walk() if isinstance(op, MlaOp)]
    assert (op.location.filename.data, op.location.line.data, op.location.column.data) == ("model.attn", 3, 7)  # type: ignore[attr-defined]


def _error(text: str) -> str:
    with pytest.raises(ParseError) as info:
        parse_dsl(text, "bad.attn")
    return error_line(info.value)


def _at(text: str, anchor: str, occurrence: int = 1) -> str:
    """`line:col` of the `occurrence`-th `anchor` in `text`."""
    index = -1
    for _ in range(occurrence):
        index = text.index(anchor, index + 1)
    line = text.count("\n", 0, index) + 1
    return f"{line}:{index - (text.rfind(chr(10), 0, index) + 1) + 1}"


WRONG = MLA + "workload w { phase = decode context = 4 batch = 0 }"


@pytest.mark.parametrize(
    ("text", "anchor", "message"),
    [
        (MLA.replace("}", "") + DECODE, ("w {",), "expected '=', got 'w'"),
        ("layer m : mla { d_model = 64 ", None, "expected ',' or ';' or '}' or a name, got end of file"),
        ("layer m : mla { d_model = 6$4 }", ("$",), "unexpected character '$'"),
        (
            "workload w { context = 4kb }",
            ("4kb",),
            "malformed number '4kb' (a number is digits with an optional k, K, m or M suffix)",
        ),
        (
            "layer x : rnn { }\n" + DECODE,
            ("rnn",),
            "unknown layer kind 'rnn' (expected one of: mha, gqa, mqa, mla, mlp, moe)",
        ),
        (
            "layer x : mlp { d_model = 64 width = 128 heads = 2 }\n" + DECODE,
            ("heads",),
            "unknown field 'heads' for a mlp layer (expected one of: d_model, width, gated, layers, dtype)",
        ),
        (
            "layer x : mlp { d_model = 64 width = 128 gated = 2 }\n" + DECODE,
            ("2 }",),
            "gated is 0 or 1, got 2",
        ),
        (
            "layer x : moe { d_model = 64 experts = 4 experts_per_token = 8 expert_width = 16 shared_experts = 0 }\n"
            + DECODE,
            ("8",),
            "experts_per_token (8) must not exceed experts (4)",
        ),
        (
            "layer x : moe { d_model = 64 experts = 4 experts_per_token = 2 expert_width = 16 shared_experts = 0"
            " heads = 2 }\n" + DECODE,
            ("heads",),
            "unknown field 'heads' for a moe layer (expected one of: d_model, experts, experts_per_token, expert_width,"
            " shared_experts, expert_groups, groups_per_token, gated, layers, dtype)",
        ),
        (
            "layer x : moe { d_model = 64 experts = 4 experts_per_token = 2 shared_experts = 0 }\n" + DECODE,
            ("x :",),
            "'x' is missing field 'expert_width'",
        ),
        (
            MLA.replace("v_dim", "value_dim") + DECODE,
            ("value_dim",),
            "unknown field 'value_dim' for a mla layer (expected one of: d_model, heads, q_rank, kv_rank, qk_nope_dim,"
            " qk_rope_dim, v_dim, layers, dtype, kv_dtype, vocab, tie_embeddings, mlp, gated, dense_layers, experts,"
            " experts_per_token, shared_experts, expert_width, mtp_layers)",
        ),
        (MLA.replace("kv_rank = 16 ", "") + DECODE, ("m :",), "'m' is missing field 'kv_rank'"),
        (MLA.replace("heads = 4", "heads = 4 heads = 8") + DECODE, ("heads", 2), "field 'heads' given twice in 'm'"),
        (MLA + MLA + DECODE, ("m :", 2), "duplicate layer name 'm' (first defined on line 1)"),
        (MLA + DECODE + DECODE, ("w {", 2), "duplicate workload name 'w' (first defined on line 2)"),
        (MLA.replace("heads = 4", "heads = 0") + DECODE, ("0",), "heads must be positive, got 0"),
        (MLA.replace("heads = 4", "heads = many") + DECODE, ("many",), "field 'heads' must be a number, got 'many'"),
        (
            MLA.replace("qk_rope_dim = 4", "qk_rope_dim = 5") + DECODE,
            ("5 ",),
            "qk_rope_dim must be even (RoPE rotates pairs), got 5",
        ),
        (
            MLA.replace("kv_rank = 16", "kv_rank = 128") + DECODE,
            ("128",),
            "kv_rank (128) must not exceed d_model (64): it compresses",
        ),
        (
            MLA.replace("}", "dtype = int4 }") + DECODE,
            ("int4",),
            "unknown dtype 'int4' (expected one of: fp32, bf16, fp16, fp8, int8)",
        ),
        (MLA + "workload w { phase = train }", ("train",), "unknown phase 'train' (expected one of: prefill, decode)"),
        (MLA + "workload w { context = 4 }", ("w {",), "'w' is missing field 'phase' (one of: prefill, decode)"),
        (
            MLA + "workload w { phase = decode context = 0 }",
            ("0 }",),
            "a decode step needs a cached context of at least one token",
        ),
        (MLA + "workload w { phase = decode }", ("w {",), "'w' is missing field 'context'"),
        (MLA + "workload w { phase = prefill }", ("w {",), "'w' is missing field 'new_tokens'"),
        (WRONG, ("0 }",), "batch must be positive, got 0"),
        (
            MLA + "workload w { phase = decode context = 99999999999999999999 }",
            ("999",),
            "field 'context' is too large (99999999999999999999)",
        ),
        (MLA, ("layer",), "no workload defined (add a 'workload NAME { phase = decode ... }' block)"),
        (DECODE, ("workload",), "no layer defined (add a 'layer NAME : KIND { ... }' block)"),
    ],
)
def test_errors_point_at_their_place(text: str, anchor: tuple[str, int] | tuple[str] | None, message: str):
    place = _at(text, *anchor) if anchor else f"{text.count(chr(10)) + 1}:{len(text.split(chr(10))[-1]) + 1}"
    assert _error(text) == f"bad.attn:{place}: error: {message}"


def test_empty_file_is_an_error_at_its_start():
    assert _error("") == "bad.attn:1:1: error: no layer defined (add a 'layer NAME : KIND { ... }' block)"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("heads = 12 kv_heads = 5", "heads (12) must be divisible by kv_heads (5)"),
        ("heads = 4 kv_heads = 8", "kv_heads (8) must not exceed heads (4)"),
    ],
)
def test_gqa_head_grouping_errors_point_at_kv_heads(fields: str, message: str):
    text = f"layer g : gqa {{ d_model = 64 {fields} head_dim = 8 }}\n" + DECODE
    line = _error(text)
    assert line.endswith(f"error: {message}")
    assert line.startswith(f"bad.attn:1:{text.index('kv_heads =') + len('kv_heads = ') + 1}:")


def test_valid_gqa_builds():
    module = parse_dsl("layer g : gqa { d_model = 64 heads = 8 kv_heads = 2 head_dim = 8 }\n" + DECODE, "f.attn")
    assert [op.dim("kv_heads") for op in module.walk() if isinstance(op, GqaOp)] == [2]


MOE = (
    "layer e : moe {{ d_model = 64 experts = 16 experts_per_token = 4 expert_width = 32 "
    "shared_experts = 0 {groups} }}\n"
)


@pytest.mark.parametrize(
    ("groups", "field", "message"),
    [
        ("expert_groups = 3", "expert_groups",
         "experts (16) must be divisible by expert_groups (3): the groups are equal"),
        ("expert_groups = 0", "expert_groups", "expert_groups must be positive, got 0"),
        ("expert_groups = 4 groups_per_token = 0", "groups_per_token", "groups_per_token must be positive, got 0"),
        ("expert_groups = 4 groups_per_token = 5", "groups_per_token",
         "groups_per_token (5) must not exceed expert_groups (4)"),
        ("groups_per_token = 2", "groups_per_token",
         "groups_per_token (2) must not exceed expert_groups (1): without expert_groups the experts are one group"),
        ("expert_groups = 8 groups_per_token = 1", "groups_per_token",
         "groups_per_token (1) of expert_groups (8) hold 2 of the 16 experts, fewer than experts_per_token (4)"),
        # groups_per_token left at its default: the error points at the field the user gave
        ("expert_groups = 8", "expert_groups",
         "groups_per_token (1) of expert_groups (8) hold 2 of the 16 experts, fewer than experts_per_token (4)"),
    ],
)  # fmt: skip
def test_routing_group_errors_are_one_line_at_their_field_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], groups: str, field: str, message: str
):
    text = MOE.format(groups=groups) + DECODE
    path = tmp_path / "bad.attn"
    path.write_text(text)
    assert cli.main(["compile", str(path)]) == 1
    value = text.index(f"{field} = ") + len(f"{field} = ")
    assert capsys.readouterr().err == f"{path}:1:{value + 1}: error: {message}\n"


@pytest.mark.parametrize(
    ("groups", "expected"),
    [("expert_groups = 8 groups_per_token = 4", (8, 4)), ("", (1, 1)), ("expert_groups = 1", (1, 1))],
)
def test_routing_groups_reach_the_op_only_where_given(groups: str, expected: tuple[int, int]):
    (op,) = [op for op in parse_dsl(MOE.format(groups=groups) + DECODE, "f.attn").walk() if isinstance(op, MoeOp)]
    assert (op.expert_groups(), op.groups_per_token()) == expected
    assert ("expert_groups" in op.properties) == (expected != (1, 1))


def test_routing_groups_survive_workload_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "moe.attn"
    path.write_text(MOE.format(groups="expert_groups = 8 groups_per_token = 4") + DECODE)
    assert cli.main(["compile", str(path), "--batch", "3", "--emit", "la", "-q"]) == 0
    assert "la.dispatch %x, %router_logits expert_groups = 8 groups_per_token = 4 : tensor<3x1x64xbf16>" in (
        capsys.readouterr().out
    )
