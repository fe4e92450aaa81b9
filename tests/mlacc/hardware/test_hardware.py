"""Hardware presets and files: every preset loads, cites a source per constant, and matches its datasheet."""

from __future__ import annotations

import dataclasses
import json
import re
from io import StringIO
from pathlib import Path

import pytest
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser
from xdsl.printer import Printer

from costmodel import Machine
from dialects.hw import attach_target, module_target
from dialects.hw_calibration import BY_KEY, CONSTANTS
from mlacc import cli
from mlacc.hardware import UnknownHardware, load_hardware, loader, preset_names, preset_path
from mlacc.pipeline import make_context
from tests.conftest import TINY_TOML

REQUIRED_PRESETS = {"h100", "h200", "h20", "a100", "tpu_like", "edge_npu", "multicore"}
H100 = preset_path("h100").read_text()


def test_the_required_presets_ship():
    assert REQUIRED_PRESETS <= set(preset_names())


@pytest.mark.parametrize("name", preset_names())
def test_every_numeric_constant_of_a_preset_cites_its_source(name: str):
    for number, line in enumerate(preset_path(name).read_text().splitlines(), 1):
        if re.match(r"^\s*[A-Za-z0-9_]+\s*=\s*[-+0-9.]", line):
            assert "#" in line.split("=", 1)[1], f"{name}.toml:{number}: no source comment: {line.strip()}"


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_loads_and_round_trips_as_ir(name: str):
    target = load_hardware(name)
    assert target.target_name.data == name
    module = ModuleOp([])
    attach_target(module, target)
    text = StringIO()
    Printer(stream=text).print_op(module)
    reparsed = Parser(make_context(), text.getvalue()).parse_module()
    assert module_target(reparsed) == target
    # The readable keyword form, not xDSL's positional dump, and printing the parsed module again is a fixed point.
    assert f'#hw.target<"{name}", description = ' in text.getvalue()
    assert "#builtin.int" not in text.getvalue() and ": f64" not in text.getvalue()
    again = StringIO()
    Printer(stream=again).print_op(reparsed)
    assert again.getvalue() == text.getvalue()


@pytest.mark.parametrize(
    "name, bf16_tflops, dram_tb_per_s",
    [("h100", 989.4, 3.35), ("h200", 989.4, 4.8), ("a100", 312, 2.039), ("h20", 148, 4.0), ("tpu_like", 197, 0.819)],
)
def test_peak_rates_match_the_datasheets(name: str, bf16_tflops: float, dram_tb_per_s: float):
    target = load_hardware(name)
    assert target.peak_flops_per_second("bf16") / 1e12 == pytest.approx(bf16_tflops, rel=0.005)
    dram = target.dram
    assert dram.read_bandwidth * dram.count.data * target.frequency / 1e12 == pytest.approx(dram_tb_per_s, rel=0.005)


def test_h20_is_bandwidth_rich_and_compute_poor():
    ridge = {n: json.loads(_show(n))["ridge_flop_per_byte"]["bf16"] for n in ("h100", "h20", "edge_npu")}
    assert ridge["h20"] < ridge["h100"] / 5  # 37 vs 295 FLOP/B (REFERENCE.md 3.1)


def _show(name: str) -> str:
    out = StringIO()
    import contextlib

    with contextlib.redirect_stdout(out):
        assert cli.main(["hw", "show", name, "--format", "json"]) == 0
    return out.getvalue()


def test_hw_show_json_shape_is_stable():
    shown = json.loads(_show("h100"))
    assert list(shown) == [
        "name",
        "description",
        "frequency_hz",
        "peak_flops_per_second",
        "compute",
        "memory",
        "mac_energy_pj",
        "cores",
        "efficiency",
        "ridge_flop_per_byte",
        "calibrated",
        "static_power_watts",
        "kernels",
    ]
    assert shown["kernels"]["attention_decode_latent"] == "flashmla"
    assert [m["name"] for m in shown["memory"]] == ["smem", "l2", "hbm"]
    assert shown["memory"][-1]["capacity_bytes"] == 80_000_000_000
    assert shown["ridge_flop_per_byte"]["bf16"] == pytest.approx(295, rel=0.01)


def test_multicore_preset_has_cores():
    target = load_hardware("multicore")
    assert target.core_count() > 1


PROFILED = (  # H100 and a kernel profile after it: the file's own lines keep their numbers
    H100
    + """
[profiles.slow]
description = "a stack whose attention streams at half the rate"
kernels = { attention_decode_latent = "other-mla" }
[profiles.slow.efficiency]
attention_memory = 0.4
"""
)


BAD_FILES = [
    # (edit of h100.toml, expected "LINE:COL: error: MESSAGE")
    (
        ("frequency_hz = 1.83e9", 'frequency_hz = "fast"'),
        "11:1: error: 'frequency_hz' in the hardware file must be a number, got 'fast'",
    ),
    (("array_cols = 256", "array_colz = 256"), "17:1: error: unknown field 'array_colz' in [[compute]] #1"),
    (
        ("count = 132                #", "count = 0                  #"),
        "15:1: error: 'count' in [[compute]] #1 must be positive, got 0",
    ),
    (('name = "l2"', 'name = "l2'), "35:11: error: Illegal character"),
    (("\nfp32 = 4.6 ", "\nfp64 = 4.6 "), "60:1: error: unknown dtype 'fp64' in [energy].mac_pj"),
    (
        ("read_energy_pj_per_byte = 24.37 ", "# "),
        "34:1: error: missing field 'read_energy_pj_per_byte' in [[memory]] 'l2'",
    ),
    (("calibrated = true ", 'calibrated = "yes" '), "6:1: error: 'calibrated' must be true or false, got 'yes'"),
    (
        ("static_power_watts = 116.4", "static_power_watts = -3"),
        "53:1: error: 'static_power_watts' in [energy] must be non-negative, got -3",
    ),
    (
        ("attention_compute = 0.576", "attention_compute = 1.5"),
        "62:1: error: [efficiency] compute and memory are fractions of peak: at most 1",
    ),
    (
        ("memory_power = 0.85 ", "# "),
        "62:1: error: [efficiency] models the step clock with all of attention_clock_hz, clock_power_exponent, "
        "clock_top_hz, gemm_clock_hz, memory_power: missing memory_power",
    ),
    (
        ("attention_program_keys = 160", "attention_stream_programs = 190\nattention_program_keys = 160"),
        "62:1: error: [efficiency] models the decode kernel's programs in flight with both of "
        "attention_programs_per_unit, attention_stream_programs: missing attention_programs_per_unit",
    ),
    (
        ("attention_program_keys = 160", "attention_programs_per_unit = -3\nattention_program_keys = 160"),
        "77:1: error: 'attention_programs_per_unit' in [efficiency] must be positive, got -3",
    ),
    (
        ("split_k_latency_cycles = 4598", "split_k_latency_cycles = -1"),
        "69:1: error: 'split_k_latency_cycles' in [efficiency] must be positive, got -1",
    ),
    (
        ("memory_write = 0.752", "memory_write = 1.2"),
        "62:1: error: [efficiency] compute and memory are fractions of peak: at most 1",
    ),
    (
        ("memory_write = 0.752", "memory_write = 0"),
        "66:1: error: 'memory_write' in [efficiency] must be positive, got 0",
    ),
    (
        ('elementwise = "triton"', 'elementwise = "triton"\nsoftmax = "x"'),
        "122:1: error: unknown field 'softmax' in [kernels] (expected: attention_decode_heads, "
        "attention_decode_latent, attention_prefill, attention_prefill_latent, elementwise, gemm, "
        "moe_gemm, moe_routing)",
    ),
    (('gemm = "cublaslt"', "gemm = 3"), "116:1: error: 'gemm' in [kernels] must be a library name, got 3"),
    (
        ("attention_memory = 0.4", "attention_memroy = 0.4"),
        "164:1: error: unknown field 'attention_memroy' in [profiles.slow.efficiency]",
    ),
]


@pytest.mark.parametrize("edit, expected", BAD_FILES, ids=[e[1].split("error: ")[1][:30] for e in BAD_FILES])
def test_bad_hardware_files_get_one_located_line(
    tmp_path: Path, edit: tuple[str, str], expected: str, capsys: pytest.CaptureFixture[str]
):
    old, new = edit
    assert old in PROFILED
    path = tmp_path / "chip.toml"
    path.write_text(PROFILED.replace(old, new, 1))
    assert cli.main(["hw", "show", str(path)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"{path}:{expected}")


def test_unknown_preset_names_the_presets_and_the_closest():
    with pytest.raises(UnknownHardware, match=r"unknown hardware 'h900' \(presets: .*h100.*\); did you mean 'h200'\?"):
        load_hardware("h900")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        # Found by tests/test_fuzz.py: these loaded, and NaN or inf then ran through every estimate.
        (
            ("read_bandwidth_bytes_per_cycle = 8 ", "read_bandwidth_bytes_per_cycle = nan "),
            "'read_bandwidth_bytes_per_cycle' in [[memory]] 'dram' must be a finite number, got nan",
        ),
        (("frequency_hz = 1e9", "frequency_hz = inf"), "'frequency_hz' in the hardware file must be a finite number"),
        (("count = 1 ", "count = 1180591620717411303424 "), "'count' in [[compute]] #1 is too large"),
        (('name = "dram"', 'name = "sram"'), "two [[memory]] tables are named 'sram': names must differ"),
    ],
)
def test_non_finite_huge_and_duplicate_fields_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: tuple[str, str], message: str
):
    tiny = TINY_TOML.read_text()
    old, new = edit
    assert old in tiny
    path = tmp_path / "chip.toml"
    path.write_text(tiny.replace(old, new, 1))
    assert cli.main(["hw", "show", str(path)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert message in line


def test_duplicate_unit_names_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    tiny = TINY_TOML.read_text()
    unit = tiny[tiny.index("[[compute]]") : tiny.index("[[memory]]")]
    path = tmp_path / "chip.toml"
    path.write_text(tiny.replace(unit, unit + unit, 1))
    assert cli.main(["hw", "show", str(path)]) == 1
    assert "two [[compute]] tables are named 'array'" in capsys.readouterr().err


def test_the_attention_energy_ratio_is_not_a_fraction_of_peak():
    """`attention_mac_energy_ratio` is pJ over pJ (measured 3.75 on H100 for our Triton kernel), so the at-most-1
    rule of the efficiency fractions must not refuse it."""
    assert Machine.of(load_hardware("h100:triton")).attention_mac_energy_ratio == pytest.approx(3.75)


def test_every_calibration_constant_is_declared_once_and_read_through_its_declaration():
    """dialects/hw_calibration.py is the one list of [efficiency] keys: the loader accepts exactly those, each is a
    `Machine` field, and a file that leaves them all out gets every declared default (chains followed)."""
    assert loader._EFFICIENCY == set(BY_KEY)
    assert {c.field for c in CONSTANTS} <= {f.name for f in dataclasses.fields(Machine)}
    assert all(c.unit and c.meaning for c in CONSTANTS)
    bare = Machine.of(load_hardware(str(TINY_TOML)))
    for c in CONSTANTS:
        default = c.default
        while isinstance(default, str):
            default = BY_KEY[default].default
        assert getattr(bare, c.field) == default, c.key


def test_a_kernel_profile_lays_its_kernels_and_constants_over_the_chips(tmp_path: Path):
    """`--hw PATH:PROFILE` is the chip with the profile's libraries and constants; the rest is the file's."""
    path = tmp_path / "chip.toml"
    path.write_text(PROFILED)
    base, slow = load_hardware(str(path)), load_hardware(f"{path}:slow")
    assert slow.target_name.data == "h100:slow"
    assert slow.kernel_libraries() == {**base.kernel_libraries(), "attention_decode_latent": "other-mla"}
    assert Machine.of(slow).attention_memory_efficiency == 0.4
    assert Machine.of(slow).compute_efficiency == Machine.of(base).compute_efficiency


def test_an_unknown_kernel_profile_is_a_usage_error_naming_the_profiles(tmp_path: Path, capsys):
    path = tmp_path / "chip.toml"
    path.write_text(PROFILED)
    assert cli.main(["hw", "show", f"{path}:slo"]) == 2
    assert capsys.readouterr().err == (
        "error: hardware 'h100' has no kernel profile 'slo' (profiles: triton, slow); did you mean 'slow'?\n"
    )


def test_a_profile_s_constants_are_checked_as_the_file_s_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """A profile's efficiency values are checked with the file's table under them, selected or not: an
    out-of-range rate in `[profiles.triton.efficiency]` is refused in one located line."""
    path = tmp_path / "chip.toml"
    path.write_text(PROFILED.replace("attention_compute = 0.306", "attention_compute = 1.5", 1))
    assert cli.main(["hw", "show", str(path)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(
        "error: profile 'triton': 'attention_compute' in [efficiency] is a fraction of peak: at most 1, got 1.5"
    )


def test_a_start_and_end_of_zero_keys_is_a_measured_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """SDPA's EFFICIENT kernel shows no unoverlapped start and end (`attention_latent_program_keys = 0` in h100.toml),
    so the loader takes 0 for the program keys, where it used to refuse it as not positive; below 0 is still an
    error."""
    assert Machine.of(load_hardware("h100")).attention_latent_program_keys == 0
    path = tmp_path / "chip.toml"
    path.write_text(PROFILED.replace("attention_program_keys = 160", "attention_program_keys = -1", 1))
    assert cli.main(["hw", "show", str(path)]) == 1
    assert "'attention_program_keys' in [efficiency] must be non-negative, got -1" in capsys.readouterr().err
