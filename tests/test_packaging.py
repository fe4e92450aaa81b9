"""The wheel works without the repository: built, installed (not editable) into a fresh venv, and run from there.

An editable install reads every file from the checkout, so it hides a data file the wheel leaves out (the
presets once were). This test builds the wheel from a copy of the sources, installs it with --no-deps into a
fresh venv that borrows only the dependencies of the venv running the tests (a .pth line naming its
site-packages; the .pth files there, and so the editable mlacc's finder, are not read through such a line),
and runs `mlacc --version`, `mlacc hw list` and a compile of a bundled example copied out of the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGES = sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests")
"""The repository's top-level packages (each directory with an __init__.py): the wheel must ship them all."""


def _run(argv: Sequence[str | Path], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(map(str, argv))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def test_the_wheel_installs_and_runs_without_the_repository(tmp_path: Path) -> None:
    # A copy of the sources: an in-tree build would leave build/ behind and could ship stale files from it.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INDEX"] = "1"  # nothing is downloaded: the build uses this venv's setuptools (the test extra's)

    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheels, src], src, env)
    [wheel] = wheels.glob("mlacc-*.whl")

    # Every file of the packages ships: the modules, and the data they read (presets, grammar, templates).
    shipped = set(zipfile.ZipFile(wheel).namelist())
    in_packages = {
        path.relative_to(src).as_posix()
        for package in PACKAGES
        for path in (src / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    missing = sorted(in_packages - shipped)
    assert not missing, (
        f"the wheel lacks {missing}: pyproject.toml's [tool.setuptools.packages.find] include must name every package, "
        "and [tool.setuptools.package-data] every data file"
    )
    assert "mlacc/hardware/presets/h100.toml" in shipped and "mlacc/frontend/grammar.lark" in shipped

    # A fresh venv (no pip of its own: the running pip installs into it), its dependencies borrowed by a .pth line.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env)
    python = _venv_python(venv)
    venv_paths = sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})
    borrowed = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    Path(venv_paths["purelib"], "_dev_dependencies.pth").write_text("\n".join(borrowed) + "\n", encoding="utf-8")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel], tmp_path, env)

    work = tmp_path / "work"  # a user's directory, far from the repository
    work.mkdir()
    where = _run([python, "-c", "import mlacc; print(mlacc.__file__)"], work, env).strip()
    assert Path(where).is_relative_to(venv), f"mlacc was imported from {where}, not from the wheel installed in {venv}"

    scripts = Path(venv_paths["scripts"])
    version = PYPROJECT["project"]["version"]
    assert _run([scripts / "mlacc", "--version"], work, env) == f"mlacc {version}\n"

    listed = _run([scripts / "mlacc", "hw", "list"], work, env)
    presets = sorted(p.stem for p in (ROOT / "mlacc/hardware/presets").glob("*.toml"))
    assert [line.split()[0] for line in listed.splitlines() if line.strip()] == presets

    example = shutil.copy2(ROOT / "examples/deepseek_v3.attn", work / "model.attn")
    report = _run([scripts / "mlacc", "compile", example, "--hw", "h100", "--workload", "decode"], work, env)
    assert "hardware: h100" in report and "deepseek_v3 (mla, bf16) x decode" in report


def test_version_flag_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    from mlacc import cli

    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"mlacc {metadata.version('mlacc')}\n"


def test_an_uninstalled_checkout_reads_its_version_from_pyproject(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlacc

    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    assert mlacc._version() == PYPROJECT["project"]["version"]
