"""Every command that README.md and docs/*.md show runs, and every repository file they name exists.

The docs' code blocks follow one convention (docs/design.md, "Docs"):
- ```sh: commands this test runs, in order, each expected to exit 0. A line that starts with `mlacc `, `mlacc-opt `
  or `cp ` is a command (a trailing `\\` continues it on the next line, ` # ...` ends it with a comment, `A | B` pipes
  A's output into B); other lines (`pip install`, `python benchmarks/...`) are shown, not run.
- ```shell: commands shown but not run (they need a GPU, a cluster, or minutes): their `mlacc` lines must still
  parse as `mlacc`'s command line.
- ```console: a session: each `$ mlacc ...` line runs, and every line shown after it (up to the next `$`; `...`
  skips) must be a line of what it prints, on stdout or stderr, whatever its exit code (but never 70, a crash).
- any other block (```text, ```mlir, ```toml) is output or a listing, not run.
The commands of one page run in one scratch directory that holds copies of examples/, tests/fixtures/,
benchmarks/results/ and mlacc/hardware/, and an empty docs/pictures/: `-o FILE` writes there, never into the
repository, and a later command of the page reads what an earlier one wrote. They run in process, through
`mlacc.cli.main` and `mlacc.opt.main`, as tests/mlacc/test_cli.py calls them.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlacc import cli, opt
from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

COPIED = ("examples", "tests/fixtures", "benchmarks/results", "mlacc/hardware")
"""What a page's scratch directory holds (copies, so a command's `-o` never writes into the repository)."""

TOP = ("examples", "benchmarks", "mlacc", "docs", "tests", "dialects", "passes", "costmodel", ".ci")
"""The repository's folders: a word that starts with one of them and a slash names a repository path."""

_PATH = re.compile(rf"(?<![\w./-])((?:{'|'.join(re.escape(t) for t in TOP)})/[\w.*/-]*[\w*])")
_DATED = re.compile(r"(?<![\w./-])([\w.-]+_\d{4}-\d{2}-\d{2}[\w.]*\.(?:csv|png))")
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass
class Block:
    page: Path
    lang: str
    line: int
    """The line of the block's opening fence, 1-based."""
    lines: list[str]


def blocks(page: Path) -> list[Block]:
    found: list[Block] = []
    current: Block | None = None
    for number, line in enumerate(page.read_text().splitlines(), 1):
        fence = _FENCE.match(line)
        if current is None and fence:
            current = Block(page, fence.group(1), number, [])
        elif current is not None and line.rstrip() == "```":
            found.append(current)
            current = None
        elif current is not None:
            current.lines.append(line)
    assert current is None, f"{page.name}: a code block opened at line {current.line} never closes"
    return found


def commands(block: Block) -> list[str]:
    """The `mlacc`/`mlacc-opt` command lines of a ```sh or ```shell block, continuations joined, comments cut."""
    out: list[str] = []
    pending = ""
    for line in block.lines:
        line = pending + line.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        line = re.sub(r"\s+#.*$", "", line)
        if line.startswith(("mlacc ", "mlacc-opt ", "cp ")):
            out.append(line)
    assert not pending, f"{block.page.name}:{block.line}: a command ends in a continuation"
    return out


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def run(command: str) -> Run:
    """Runs one command line (`A | B | ...` of mlacc commands, or `cp SOURCE TARGET`) in this process."""
    if command.startswith("cp "):
        _, source, target = shlex.split(command)
        shutil.copy(source, target)
        return Run(0, "", "")
    stdin = ""
    result = Run(0, "", "")
    for stage in command.split(" | "):
        argv = shlex.split(stage)
        main = {"mlacc": cli.main, "mlacc-opt": opt.main}[argv[0]]
        out, err = io.StringIO(), io.StringIO()
        saved = sys.stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()))
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(argv[1:])
                except SystemExit as e:  # argparse's usage errors
                    code = e.code if isinstance(e.code, int) else 2
        finally:
            sys.stdin = saved
        result = Run(code, out.getvalue(), result.stderr + err.getvalue())
        stdin = result.stdout
        if code != 0:
            break
    return result


def scratch(tmp_path: Path) -> Path:
    for name in COPIED:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    (tmp_path / "docs" / "pictures").mkdir(parents=True)
    return tmp_path


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_command_a_page_shows_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(scratch(tmp_path))
    monkeypatch.delenv("MLACC_TRACEBACK", raising=False)
    for block in blocks(page):
        where = f"{page.name}:{block.line}"
        if block.lang == "sh":
            for command in commands(block):
                result = run(command)
                assert result.code == 0, f"{where}: `{command}` exited {result.code}: {result.stderr.strip()}"
        elif block.lang == "shell":
            for command in commands(block):
                argv = shlex.split(command)
                if argv[0] != "mlacc":
                    continue  # only `mlacc`'s command line can be parsed without running it
                with contextlib.redirect_stderr(io.StringIO()) as err:
                    try:
                        cli.build_parser().parse_args(argv[1:])
                    except SystemExit:
                        pytest.fail(f"{where}: `{command}` does not parse: {err.getvalue().strip()}")
        elif block.lang == "console":
            for command, shown in sessions(block):
                result = run(command)
                assert result.code != 70, f"{where}: `{command}` crashed: {result.stderr.strip()}"
                printed = set((result.stdout + result.stderr).splitlines())
                for line in shown:
                    assert line in printed, (
                        f"{where}: `{command}` no longer prints:\n{line}\n(it printed:\n"
                        + (result.stdout + result.stderr)[:3000]
                    )


def sessions(block: Block) -> list[tuple[str, list[str]]]:
    """The `$ command` lines of a ```console block, each with the output lines shown after it."""
    found: list[tuple[str, list[str]]] = []
    for line in block.lines:
        if line.startswith("$ "):
            found.append((line[2:].strip(), []))
        elif found and line.strip() not in ("", "..."):
            found[-1][1].append(line)
    assert all(c.startswith(("mlacc ", "mlacc-opt ")) for c, _ in found), f"{block.page.name}:{block.line}"
    return found


def named_paths(page: Path) -> set[str]:
    text = page.read_text()
    return {m.rstrip(".") for m in _PATH.findall(text)}


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_file_a_page_names_exists(page: Path):
    missing = [p for p in sorted(named_paths(page)) if not (list(ROOT.glob(p)) if "*" in p else (ROOT / p).exists())]
    assert not missing, f"{page_id(page)} names files that do not exist: {missing}"
    results = ROOT / "benchmarks" / "results"
    dated = [n for n in sorted(set(_DATED.findall(page.read_text()))) if not (results / n).exists()]
    assert not dated, f"{page_id(page)} names measurements that benchmarks/results/ does not hold: {dated}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_link_of_a_page_resolves(page: Path):
    links = {t.split("#")[0] for t in _LINK.findall(page.read_text()) if not re.match(r"\w+:", t)}
    broken = sorted(t for t in links if t and not (page.parent / t).exists())
    assert not broken, f"{page_id(page)} links to files that do not exist: {broken}"


def test_the_hardware_page_lists_every_field_the_loader_takes():
    """docs/hardware.md names every key a hardware file may hold, the calibration constants included."""
    from dialects.hw import INTERCONNECT_FIELDS
    from dialects.hw_calibration import CONSTANTS

    page = (ROOT / "docs" / "hardware.md").read_text()
    keys = [c.key for c in CONSTANTS] + list(INTERCONNECT_FIELDS)
    keys += ["frequency_hz", "calibrated", "array_rows", "array_cols", "macs_per_cycle", "capacity_bytes"]
    keys += ["read_bandwidth_bytes_per_cycle", "write_bandwidth_bytes_per_cycle", "read_energy_pj_per_byte"]
    keys += ["write_energy_pj_per_byte", "static_power_watts", "mac_pj", "interconnect_bandwidth_bytes_per_cycle"]
    keys += ["interconnect_energy_pj_per_byte"]
    assert not [k for k in keys if not re.search(rf"[`.]{k}[`\]]", page)]


def test_the_docs_show_commands_and_the_conventions_are_used():
    """The test above is not vacuous: the README's tour and the docs run commands of both tools."""
    run_here = [c for page in PAGES for b in blocks(page) if b.lang == "sh" for c in commands(b)]
    assert any(c.startswith("mlacc-opt ") for c in run_here)
    assert {c.split()[1] for c in run_here if c.startswith("mlacc ")} >= {"compile", "compare", "sweep", "plot"}
    readme = [b.lang for b in blocks(ROOT / "README.md")]
    assert readme[0] == "sh", "the README's first block is its two set-up commands"
