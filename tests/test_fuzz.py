"""Fuzzing the input languages (DSL, Hugging Face config.json, hardware TOML): every input compiles or gets one
`error:` line and exit 1 (never exit 70, never a traceback). tests/fuzz_strategies.py holds the strategies and the
property; benchmarks/fuzz.py runs it at scale."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialects.attn import LAYER_OPS
from mlacc import cli
from tests.fuzz_strategies import (
    DSL_COMMANDS,
    KINDS,
    HardwareCase,
    check_config,
    check_dsl,
    check_hardware,
    config_files,
    dsl_files,
    hardware_files,
    memory_limit,
)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def test_the_strategies_know_every_layer_kind_and_field():
    assert {kind: tuple(op.DIMS) for kind, op in LAYER_OPS.items()} == KINDS


@FUZZ
@given(dsl_files(), st.sampled_from(DSL_COMMANDS))
def test_every_dsl_file_compiles_or_fails_in_one_line(text: str, command: tuple[str, ...]):
    with tempfile.TemporaryDirectory() as folder, memory_limit():
        outcome = check_dsl(cli.main, Path(folder), text, command)
    assert outcome.problem() is None, (outcome.problem(), text)


@FUZZ
@given(config_files())
def test_every_config_imports_or_fails_in_one_line(text: str):
    with tempfile.TemporaryDirectory() as folder, memory_limit():
        outcome = check_config(cli.main, Path(folder), text)
    assert outcome.problem() is None, (outcome.problem(), text)
    assert outcome.code == 1 or outcome.out.count("\nlayer ") == 1, text


@FUZZ
@given(hardware_files())
def test_every_hardware_file_loads_or_fails_in_one_line(case: HardwareCase):
    with tempfile.TemporaryDirectory() as folder, memory_limit():
        outcomes = check_hardware(cli.main, Path(folder), case.text)
    for outcome in outcomes:
        assert outcome.problem() is None, (outcome.argv, outcome.problem(), case.text)
    if case.valid:  # it loads; a compile may still refuse it in one line (a level rescaled too small for any tile)
        assert [o.code for o in outcomes[:2]] == [0, 0], (outcomes[0].err, case.text)
    if case.must_fail:
        assert outcomes[0].code == 1, case.text
