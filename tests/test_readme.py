"""The README's two set-up commands stay the ones CI and users run."""

from __future__ import annotations

from tests.conftest import ROOT


def _readme_commands() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("```sh")
    end = lines.index("```", start)
    return lines[start + 1 : end]


def test_readme_starts_with_exactly_two_commands():
    assert (ROOT / "README.md").read_text().startswith("# mlacc\n\n```sh\n")
    main_job, tests = _readme_commands()
    assert main_job.endswith("mlacc compile examples/deepseek_v3.attn")
    assert "pytest" in tests and "lit" in tests and ".[test]" in tests


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _readme_commands()[1] in ci
