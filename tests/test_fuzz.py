"""Fuzzing the input languages (DSL, Hugging Face config.json, hardware TOML): every input compiles or gets one
`error:` line and exit 1 (never exit 70, never a traceback). tests/fuzz_strategies.py holds the strategies and the
property; benchmarks/fuzz.py runs it at scale.

Counts are the ci profile's (tests/conftest.py; HYPOTHESIS_PROFILE=thorough draws ten times as many): 200 examples
where one costs a few hundredths of a second (a DSL file, a config.json, a hardware file's `hw show`), fewer where one
costs a compile on a fuzzed chip (some 0.3 s: `--scheme auto` estimates every scheme)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dialects.attn import LAYER_OPS
from mlacc import cli
from tests.conftest import SMALL_ATTN, TINY_TOML, examples
from tests.fuzz_strategies import (
    DSL_COMMANDS,
    KINDS,
    HardwareCase,
    Outcome,
    check_config,
    check_dsl,
    check_hardware,
    config_files,
    dsl_files,
    hardware_files,
    memory_limit,
    run_in_process,
)

FUZZ = settings(max_examples=examples(200))


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
    """`hw show`, as text and as JSON, of every drawn file; what a file that loads compiles to is the next test's."""
    with tempfile.TemporaryDirectory() as folder, memory_limit():
        outcomes = check_hardware(cli.main, Path(folder), case.text, compile_small=False)
    for outcome in outcomes:
        assert outcome.problem() is None, (outcome.argv, outcome.problem(), case.text)
    if case.valid:
        assert [o.code for o in outcomes] == [0, 0], (outcomes[0].err, case.text)
    if case.must_fail:
        assert outcomes[0].code == 1, case.text


_CHECKED: dict[str, list[Outcome]] = {}
"""check_hardware's outcomes by file text, in this process: hypothesis draws some files twice (a preset varied in
no way, or in ways that cancel), and mlacc's run of the same file is the same (its time limit included, as the
first run took it)."""


@settings(max_examples=examples(40))
@given(hardware_files().filter(lambda case: not case.must_fail))  # a must-fail file never loads: the test above
def test_every_hardware_file_that_loads_compiles_or_fails_in_one_line(case: HardwareCase):
    """`hw show` as above, then a small MLA layer compiled with `--scheme auto` on the file: rows, or one `error:`
    line and exit 1 (a level rescaled too small for any tile)."""
    if case.text not in _CHECKED:
        with tempfile.TemporaryDirectory() as folder, memory_limit():
            _CHECKED[case.text] = check_hardware(cli.main, Path(folder), case.text)
    outcomes = _CHECKED[case.text]
    for outcome in outcomes:
        assert outcome.problem() is None, (outcome.argv, outcome.problem(), case.text)
    if case.valid:  # it loads; a compile may still refuse it in one line
        assert [o.code for o in outcomes[:2]] == [0, 0], (outcomes[0].err, case.text)
        assert outcomes[2].argv[0] == "compile", case.text


SWEEP_FIELDS = (
    "frequency_hz",
    "sram.read_bandwidth_bytes_per_cycle",
    "sram.capacity_bytes",
    "dram.read_energy_pj_per_byte",
    "array.macs_per_cycle.fp32",
    "array.count",
    "energy.static_power_watts",
    "efficiency.compute",
    "dram.read_bandwith",
    "nonsense",
)
_NUMBER_TEXT = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "1k", "2.5", "-1", "1e400", "nan", "x", ""]),
)
_VALID_AXIS = st.lists(st.integers(1, 8).map(str), min_size=1, max_size=2).map(",".join)
_VALID_VALUE = st.floats(1e-3, 1e12).map(repr)
_AXIS_TEXT = st.one_of(
    _VALID_AXIS,
    _VALID_VALUE,
    st.lists(_NUMBER_TEXT, min_size=1, max_size=2).map(",".join),
    st.tuples(_NUMBER_TEXT, _NUMBER_TEXT, st.sampled_from([":x2", ":+3", ":x0", ":+0", ":x-1", ""])).map(
        lambda t: f"{t[0]}..{t[1]}{t[2]}"
    ),
    st.text(alphabet="0123456789.,:x+k-e", max_size=10),
)


@st.composite
def sweep_argvs(draw: st.DrawFn) -> list[str]:
    """`mlacc sweep` of a small layer on the tiny chip, with fuzzed axes and --set overrides."""
    argv = ["sweep", str(SMALL_ATTN), "--hw", str(TINY_TOML), "--scheme", "auto", "-q"]
    for option in draw(st.lists(st.sampled_from(["--batch", "--context", "--new-tokens", "--tp", "--dp"]), max_size=2)):
        argv += [option, draw(_AXIS_TEXT)]
    for _ in range(draw(st.integers(0, 2))):
        argv += ["--set", f"{draw(st.sampled_from(SWEEP_FIELDS))}={draw(_AXIS_TEXT)}"]
    return argv


@settings(max_examples=examples(100))
@given(sweep_argvs())
def test_every_sweep_runs_or_fails_in_one_line(argv: list[str]):
    """Fuzzed axes and hypothetical chips: rows, or one `error:` line with exit 1 (bad input) or 2 (bad usage);
    never exit 70, never a traceback."""
    with memory_limit():
        outcome = run_in_process(cli.main, argv)
    errors = [line for line in outcome.err.splitlines() if "error:" in line]
    assert outcome.code in (0, 1, 2), (outcome.code, outcome.err, argv)
    assert "Traceback" not in outcome.err, argv
    assert len(errors) == (0 if outcome.code == 0 else 1), (outcome.err, argv)
