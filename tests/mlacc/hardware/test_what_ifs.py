"""What-if chips: `hw show --format toml` writes a preset as a file that loads back, and a chip whose constants
were changed from a calibrated preset's (`--set`, an edited copy of the file) is reported as not calibrated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlacc import cli
from mlacc.hardware import load_hardware, preset_names, preset_path
from tests.conftest import ROOT

V3 = str(ROOT / "examples" / "deepseek_v3.attn")
EDITED = "not calibrated: the calibrated preset 'h100' with fields changed"
NO_LONGER = "its measured constants no longer describe a measured chip"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def toml_of(capsys: pytest.CaptureFixture[str], tmp_path: Path, spec: str) -> Path:
    code, out, err = run(capsys, "hw", "show", spec, "--format", "toml")
    assert (code, err) == (0, "")
    path = tmp_path / f"{spec.replace(':', '_')}.toml"
    path.write_text(out)
    return path


@pytest.mark.parametrize("spec", [*preset_names(), "h100:triton"])
def test_hw_show_toml_loads_back_to_the_same_target(spec: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Every field round-trips (name, description, calibration, kernels and profiles included), so an unedited
    copy of a calibrated preset is still calibrated."""
    path = toml_of(capsys, tmp_path, spec)
    assert load_hardware(str(path)) == load_hardware(spec)


def test_an_edited_copy_of_a_calibrated_preset_is_not_calibrated(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """A copy that keeps the preset's name but changes a constant once kept `calibrated = true`; its reports now
    say it is not, in text and JSON. A copy left as it is stays calibrated (a verbatim `cp` of the preset too)."""
    path = toml_of(capsys, tmp_path, "h100")
    text = path.read_text()
    assert "read_bandwidth_bytes_per_cycle = 1830.6" in text
    edited = tmp_path / "faster_hbm.toml"
    edited.write_text(
        text.replace("read_bandwidth_bytes_per_cycle = 1830.6", "read_bandwidth_bytes_per_cycle = 3000.0")
    )
    copied = tmp_path / "copy.toml"
    copied.write_text(preset_path("h100").read_text())
    assert load_hardware(str(copied)).is_calibrated and load_hardware(str(path)).is_calibrated
    assert not load_hardware(str(edited)).is_calibrated
    code, out, _ = run(capsys, "compile", V3, "--hw", str(edited), "--workload", "decode", "-q")
    assert code == 0 and f"  {EDITED} (an edited copy of its file); {NO_LONGER}" in out.splitlines()
    code, out, _ = run(capsys, "compile", V3, "--hw", str(edited), "--workload", "decode", "-q", "--format", "json")
    report = json.loads(out)
    assert code == 0 and report["calibrated"] is False and not report["results"][0]["calibrated"]
    assert (
        f"  {EDITED} (an edited copy of its file); {NO_LONGER}"
        in run(capsys, "hw", "show", str(edited))[1].splitlines()
    )


def test_a_renamed_copy_is_a_chip_of_its_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Renamed, a file is no longer the preset: its `calibrated` is its author's word (a chip measured anew)."""
    text = toml_of(capsys, tmp_path, "h100").read_text()
    renamed = tmp_path / "mine.toml"
    renamed.write_text(text.replace('name = "h100"', 'name = "mine"').replace("= 1830.6", "= 3000.0"))
    assert load_hardware(str(renamed)).is_calibrated


@pytest.mark.parametrize("command", ["compile", "compare"])
def test_a_set_chip_is_not_calibrated(command: str, capsys: pytest.CaptureFixture[str]):
    """`--set` works on compile and compare (it was a sweep option only), and the what-if chip it makes is
    reported as not calibrated."""
    argv = (command, V3, "--hw", "h100", "--workload", "decode", "--set", "hbm.read_bandwidth_bytes_per_cycle=3000")
    code, out, err = run(capsys, *argv, "-q", "--format", "json")
    assert (code, err) == (0, "")
    results = json.loads(out)["results"]
    assert {r["hardware"] for r in results} == {"h100[hbm.read_bandwidth_bytes_per_cycle=3000]"}
    assert not any(r["calibrated"] for r in results)
    if command == "compile":
        text = run(capsys, *argv, "-q")[1]
        assert f"  {EDITED} (--set); {NO_LONGER}" in text.splitlines()


def test_set_on_compile_takes_one_value_and_compare_every_combination(capsys: pytest.CaptureFixture[str]):
    base = ("--hw", "h100", "--workload", "decode", "-q", "--set", "hbm.read_bandwidth_bytes_per_cycle=1830.6,3661.2")
    code, _, err = run(capsys, "compile", V3, *base)
    assert (code, err) == (2, "error: --set: compile takes one value per field; compare and sweep take several\n")
    code, out, _ = run(capsys, "compare", V3, *base, "--format", "json")
    assert code == 0 and json.loads(out)["hardware"] == [
        "h100[hbm.read_bandwidth_bytes_per_cycle=1830.6]",
        "h100[hbm.read_bandwidth_bytes_per_cycle=3661.2]",
    ]
    code, _, err = run(capsys, "compile", V3, "--set", "hbm.read_bandwith=1", "-q")
    assert (code, err) == (
        2,
        "error: --set: 'h100' has no field 'hbm.read_bandwith'; the closest is 'hbm.read_bandwidth_bytes_per_cycle'\n",
    )
