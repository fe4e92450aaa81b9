"""attn, la and hw IR: round trips through the printer and parser, and the verifiers' invariants."""

from __future__ import annotations

import math
import random

import pytest
from xdsl.dialects.builtin import FloatAttr, ModuleOp, StringAttr, TensorType, f32, f64
from xdsl.ir import Attribute
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import ParseError, VerifyException

from dialects import la
from dialects.attn import Phase, WorkloadAttr
from dialects.hw import ComputeUnitAttr, MemoryLevelAttr, TargetAttr, attach_target, module_target
from dialects.keywords import format_float
from dialects.mem import TilingAttr
from mlacc.frontend import parse_dsl
from mlacc.hardware import load_hardware
from mlacc.pipeline import compile_to, make_context
from passes.absorb import SCHEMES
from tests.conftest import EXAMPLES


def _print(module: ModuleOp, generic: bool = False) -> str:
    from io import StringIO

    out = StringIO()
    Printer(stream=out, print_generic_format=generic).print_op(module)
    return out.getvalue()


@pytest.mark.parametrize(
    "stage, scheme", [("attn", "auto"), ("la", "auto"), *(("absorbed", scheme) for scheme in SCHEMES)]
)
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_round_trip_custom_and_generic(example, stage: str, scheme: str):
    module = compile_to(parse_dsl(example.read_text(), str(example)), stage, scheme)
    text = _print(module)
    for printed in (text, _print(module, generic=True)):
        reparsed = Parser(make_context(), printed).parse_module()
        reparsed.verify()
        assert _print(reparsed) == text


def test_workload_verifier_rejects_impossible_values():
    with pytest.raises(VerifyException, match="batch must be positive"):
        WorkloadAttr("w", Phase.DECODE, 0, 8, 1)
    with pytest.raises(VerifyException, match="cached context of at least one token"):
        WorkloadAttr("w", Phase.DECODE, 1, 0, 1)
    assert WorkloadAttr("w", Phase.PREFILL, 1, 0, 8).total_tokens == 8


def _t(*shape: int) -> TensorType[Attribute]:
    return TensorType(f32, list(shape))


def test_einsum_counts_and_result_shape():
    a = la.WeightOp("A", _t(2, 3, 5)).result
    b = la.WeightOp("B", _t(5, 7)).result
    op = la.EinsumOp("ijk,kl->jil", a, b)
    assert op.result.type == _t(3, 2, 7)
    assert op.macs() == 2 * 3 * 5 * 7
    assert op.flops() == 2 * op.macs()
    assert op.operand_bytes() == (30 + 35) * 4 and op.result_bytes() == 42 * 4


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ij,jk", "exactly one '->'"),
        ("iJ,Jk->ik", "lowercase letters"),
        ("ii,ik->ik", "index repeated within 'ii'"),
        ("ij,jk->iz", "output index not found"),
        ("ijk,kl->il", "operand of rank 2 for index term 'ijk'"),
        ("ij,ik->jk", "index 'i' is 2 in one operand, 3 in another"),
    ],
)
def test_einsum_verifier(spec: str, message: str):
    a = la.WeightOp("A", _t(2, 3)).result
    b = la.WeightOp("B", _t(3, 4)).result
    op = la.EinsumOp("ij,jk->ik", a, b)
    op.properties["spec"] = StringAttr(spec)
    with pytest.raises(VerifyException, match=message):
        op.verify_()


def test_elementwise_counts():
    x = la.WeightOp("X", _t(2, 4, 6)).result
    assert la.SoftmaxOp(x, 0.5, causal=True).flops() == 5 * 48
    assert la.RopeOp(x, seq_dim=1, offset=3).flops() == 3 * 48
    assert la.RmsNormOp(x, la.WeightOp("g", _t(6)).result).flops() == 4 * 48
    assert la.AddOp(x, x).flops() == 48
    assert la.ConcatOp(x, x, dim=1).flops() == 0
    assert la.KvStoreOp(x, "key").operand_bytes() == 48 * 4


@pytest.mark.parametrize("stage", ["tiled", "placed", "sched"])
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_hardware_stages_round_trip(example, stage: str):
    module = parse_dsl(example.read_text(), str(example))
    attach_target(module, load_hardware("h100"))
    module = compile_to(module, stage, "recompute")
    text = _print(module)
    reparsed = Parser(make_context(), text).parse_module()
    reparsed.verify()
    assert _print(reparsed) == text


def test_tiling_attribute_rejects_bad_tiles_and_orders():
    with pytest.raises(VerifyException, match="permutation of 'mnk'"):
        TilingAttr("l2", 1, 1, 1, "mmk")
    with pytest.raises(VerifyException, match="tile extents must be positive"):
        TilingAttr("l2", 0, 1, 1, "mnk")


def _round_trip(target: TargetAttr) -> tuple[str, TargetAttr]:
    """The module line that carries `target`, and the target parsed back from it (printed again verbatim)."""
    module = ModuleOp([])
    attach_target(module, target)
    text = _print(module)
    reparsed = Parser(make_context(), text).parse_module()
    assert _print(reparsed) == text
    parsed = module_target(reparsed)
    assert parsed is not None
    return text.splitlines()[0], parsed


def _two_core_target(**options: object) -> TargetAttr:
    return TargetAttr(
        "duo",
        "",
        1.5e9,
        [ComputeUnitAttr("array", 2, 8, 16, {"bf16": 128, "int8": 512})],
        [MemoryLevelAttr("sram", 65536, 2, 32, 32, 0.5, 0.75), MemoryLevelAttr("dram", 2**30, 1, 16, 16, 80, 80)],
        {"bf16": 1.5, "int8": 0.25},
        **options,  # type: ignore[arg-type]
    )


def test_target_leaves_out_fields_that_hold_defaults():
    target = _two_core_target(cores={"count": 2})
    line, parsed = _round_trip(target)
    assert parsed == target
    assert line == (
        'builtin.module attributes {hw.target = #hw.target<"duo", frequency_hz = 1.5e9, '
        'compute = [#hw.compute<"array", count = 2, array = 8x16, macs_per_cycle = {bf16 = 128.0, int8 = 512.0}>], '
        'memory = [#hw.memory<"sram", capacity_bytes = 65536, count = 2, read_bytes_per_cycle = 32.0, '
        "write_bytes_per_cycle = 32.0, read_pj_per_byte = 0.5, write_pj_per_byte = 0.75>, "
        '#hw.memory<"dram", capacity_bytes = 1073741824, count = 1, read_bytes_per_cycle = 16.0, '
        "write_bytes_per_cycle = 16.0, read_pj_per_byte = 80.0, write_pj_per_byte = 80.0>], "
        "mac_pj = {bf16 = 1.5, int8 = 0.25}, cores = {count = 2.0}>} {"
    )


def test_target_prints_every_field_that_differs_from_its_default():
    target = _two_core_target(
        cores={"count": 2, "interconnect_bandwidth_bytes_per_cycle": 64},
        efficiency={"compute": 0.5, "op_latency_cycles": 100},
        static_power_watts=-0.0,  # equal to 0.0, but not the same bits: printed, so it parses back as itself
        calibrated=True,
        kernels={"gemm": "cublaslt", "attention_decode_latent": 'flash-mla "dense"'},
    )
    line, parsed = _round_trip(target)
    assert parsed == target
    assert line.endswith(
        "cores = {count = 2.0, interconnect_bandwidth_bytes_per_cycle = 64.0}, "
        "efficiency = {compute = 0.5, op_latency_cycles = 100.0}, "
        'static_power_watts = -0.0, calibrated, kernels = {gemm = "cublaslt", '
        'attention_decode_latent = "flash-mla \\22dense\\22"}>} {'
    )
    assert math.copysign(1.0, parsed.static_power) == -1.0


def _with_mac_energies(extra: dict[str, float]) -> TargetAttr:
    """A target whose `mac_pj` dictionary carries `extra` besides its dtypes' energies: a dictionary of floats that
    the verifier leaves as given, to see any float round-trip (efficiency constants are checked, dialects/hw.py)."""
    base = _two_core_target()
    return TargetAttr("duo", "", 1.5e9, list(base.compute), list(base.memory), {**base.mac_energy(), **extra})


@pytest.mark.parametrize(
    "value, text",
    [
        (1e9, "1.0e9"),
        (1.83e9, "1.83e9"),
        (80e9, "8.0e10"),
        (1830.6, "1830.6"),
        (12000.0, "12000.0"),
        (0.1, "0.1"),
        (0.30000000000000004, "0.30000000000000004"),
        (1e-5, "1.0e-5"),
        (-2.5, "-2.5"),
        (5e-324, "5.0e-324"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (math.nan, "nan"),
    ],
)
def test_floats_print_short_and_exact(value: float, text: str):
    assert format_float(value) == text
    _, parsed = _round_trip(_with_mac_energies({"x": value}))
    assert repr(parsed.mac_energy_pj.data["x"]) == repr(FloatAttr(value, f64))


def test_every_double_round_trips_bit_for_bit():
    rng = random.Random(9)
    values = [rng.uniform(-1e4, 1e4) for _ in range(200)] + [10 ** rng.uniform(-300, 300) for _ in range(200)]
    _, parsed = _round_trip(_with_mac_energies({f"e{i}": value for i, value in enumerate(values)}))
    assert [parsed.mac_energy_pj.data[f"e{i}"] for i in range(len(values))] == [
        FloatAttr(value, f64) for value in values
    ]


@pytest.mark.parametrize(
    "fields, message",
    [
        ("frequency_hz = 1.0e9, compute = [], memory = []", "#hw.target \"t\": missing field 'mac_pj'"),
        ("frequency_hz = 1.0e9, frequency_hz = 2.0e9", "field 'frequency_hz' given twice"),
        ("frequncy_hz = 1.0e9", r"unknown field 'frequncy_hz' \(did you mean 'frequency_hz'\?\)"),
        ("calibrated = yes", "Expected integer literal"),
        ("frequency_hz = 1" + "0" * 400, "number too large for a 64-bit float"),
        ("frequency_hz 1.0e9", "#hw.target \"t\": expected '=' after 'frequency_hz'"),
    ],
)
def test_malformed_targets_are_one_located_parse_error(fields: str, message: str):
    text = f'builtin.module attributes {{hw.target = #hw.target<"t", {fields}>}} {{\n}}'
    with pytest.raises(ParseError, match=message) as error:
        Parser(make_context(), text, "in.mlir").parse_module()
    assert "in.mlir:1:" in str(error.value)


def test_verifiers_still_judge_a_parsed_target_and_say_where():
    line, _ = _round_trip(_two_core_target(cores={"count": 2}))
    text = line.replace("cores = {count = 2.0}", "cores = {count = 4.0}") + "\n}"  # 2 arrays on 4 cores
    with pytest.raises(ParseError, match=r"(?s)in\.mlir:1:.*compute unit counts must be multiples of the 4 cores"):
        Parser(make_context(), text, "in.mlir").parse_module()
