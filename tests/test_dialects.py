"""attn and la IR: round trips through the printer and parser, and the verifiers' invariants."""

from __future__ import annotations

import pytest
from xdsl.dialects.builtin import ModuleOp, StringAttr, TensorType, f32
from xdsl.ir import Attribute
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from dialects import la
from dialects.attn import Phase, WorkloadAttr
from dialects.hw import attach_target
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
