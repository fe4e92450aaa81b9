"""Fuzz mlacc's inputs at scale (run on demand: python benchmarks/fuzz.py [-n 20000]).

Draws DSL files, Hugging Face config.json files and hardware TOML files from the hypothesis strategies of
tests/fuzz_strategies.py and runs `mlacc` on each in process (captured output,
SystemExit caught, address space capped at +2 GB), checking the property: each input
compiles, or gets exactly one `error:` line and exit 1; never exit 70, never a
traceback, never more than 10 s. Prints the rate, the outcomes, and every finding
(argv, problem, input) so that it can become a regression test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlacc import cli
from tests.fuzz_strategies import (
    DSL_COMMANDS,
    HardwareCase,
    Outcome,
    check_config,
    check_dsl,
    check_hardware,
    config_files,
    dsl_files,
    hardware_files,
    memory_limit,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-n", type=int, default=20000, help="inputs in all, a third each DSL, config.json and hardware (default 20000)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # numpy overflow warnings on absurd hardware numbers: the outcome is what counts
    findings: list[tuple[Outcome, str]] = []
    codes: Counter[str] = Counter()
    inputs: Counter[str] = Counter()  # counted as drawn: hypothesis may stop short of max_examples
    slowest: list[tuple[float, str]] = []
    folder = Path(tempfile.mkdtemp())

    def record(outcome: Outcome, text: str, what: str) -> None:
        codes[f"{what} exit {outcome.code}"] += 1
        slowest.append((outcome.seconds, " ".join(outcome.argv[:1] + outcome.argv[2:])))
        if (problem := outcome.problem()) is not None:
            findings.append((outcome, f"{problem}\n--- input ---\n{text}"))

    fuzz = settings(
        max_examples=args.n // 3,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )

    @fuzz
    @given(dsl_files(), st.sampled_from(DSL_COMMANDS))
    def dsl(text: str, command: tuple[str, ...]) -> None:
        inputs["dsl"] += 1
        record(check_dsl(cli.main, folder, text, command), text, "dsl")

    @fuzz
    @given(config_files())
    def config(text: str) -> None:
        inputs["config"] += 1
        record(check_config(cli.main, folder, text), text, "config")

    @fuzz
    @given(hardware_files())
    def hardware(case: HardwareCase) -> None:
        inputs["hardware"] += 1
        outcomes = check_hardware(cli.main, folder, case.text)
        for outcome in outcomes:
            record(outcome, case.text, "hw " + outcome.argv[0])
        if case.must_fail and outcomes[0].code != 1:
            findings.append((outcomes[0], f"a broken file loaded\n--- input ---\n{case.text}"))

    with memory_limit():
        for name, test in (("dsl", dsl), ("config", config), ("hardware", hardware)):
            start = time.perf_counter()
            before = sum(codes.values())
            test()
            seconds = time.perf_counter() - start
            runs = sum(codes.values()) - before
            print(
                f"{name}: {inputs[name]} inputs, {runs} runs in {seconds:.1f} s = {runs / seconds:.0f} runs/s, "
                f"{inputs[name] / seconds:.0f} inputs/s"
            )
    for outcome_kind, count in sorted(codes.items()):
        print(f"  {outcome_kind:<24} {count}")
    print("slowest runs:")
    for seconds, argv in sorted(slowest, reverse=True)[:3]:
        print(f"  {seconds:6.2f} s  {argv}")
    print(f"inputs: {inputs.total()}; findings: {len(findings)}")
    for outcome, detail in findings[:20]:
        print(f"- {' '.join(outcome.argv)}: {detail}")


if __name__ == "__main__":
    main()
