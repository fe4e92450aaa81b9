"""Shared helpers: build IR from DSL text in-process, as the CLI does; the hypothesis profiles every property runs
under (docs/design.md, "Tests")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp

from mlacc.frontend import parse_dsl
from mlacc.pipeline import compile_to

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.attn"))
SMALL_ATTN = ROOT / "tests" / "filecheck" / "cli" / "Inputs" / "small.attn"
"""A small DSL file (one MLA and one GQA layer, one decode workload) that the FileCheck suite runs too."""
TINY_TOML = ROOT / "tests" / "filecheck" / "dialects" / "hw" / "Inputs" / "tiny.toml"
"""A hardware file small enough to work out by hand: 1 GHz, one 4x4 array, 1 KiB SRAM, 1 MiB DRAM."""

# Hypothesis profiles. `ci`, the default, is what the README's test command runs: derandomized and without an
# example database, so every run (a developer's, CI's) draws the same examples and a failure reproduces as it is;
# no deadline (a compile's time depends on the machine's load; the fuzz harness has its own 10 s limit). Each
# property states its own count through `examples()`, chosen for what one example costs. `thorough`
# (HYPOTHESIS_PROFILE=thorough, or pytest's --hypothesis-profile thorough) draws ten times as many, at random: for
# nightly runs and before a release; a failure prints the @reproduce_failure blob to pin it.
_COMMON = {"deadline": None, "database": None, "suppress_health_check": [HealthCheck.too_slow], "print_blob": True}
settings.register_profile("ci", max_examples=100, derandomize=True, **_COMMON)
settings.register_profile("thorough", max_examples=1000, derandomize=False, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def examples(ci: int) -> int:
    """A property's example count: `ci` under the ci profile, scaled by the profile loaded (ten times as many under
    `thorough`). Called where a test's @settings is written, after the profile is loaded."""
    return max(1, ci * settings.default.max_examples // settings.get_profile("ci").max_examples)


def lowered(text: str, name: str = "test.attn") -> ModuleOp:
    return compile_to(parse_dsl(text, name), "la")


def function(module: ModuleOp, name: str) -> func.FuncOp:
    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == name:
            return op
    raise KeyError(name)


@pytest.fixture(scope="session")
def deepseek_v3() -> ModuleOp:
    path = ROOT / "examples" / "deepseek_v3.attn"
    return lowered(path.read_text(), str(path))


@st.composite
def small_mla_files(
    draw: st.DrawFn,
    d_model: tuple[int, int] = (8, 40),
    q_rank: int = 40,
    kv_rank: int = 24,
    width: int = 12,
    new_tokens: int = 6,
) -> str:
    """A random small MLA layer (fp32) and one decode or (chunked) prefill workload: the file `mlacc verify`'s
    properties check every scheme on. The bounds keep it small: `q_rank`/`kv_rank` at most d_model (a rank compresses
    it), the head widths up to `width`, up to 7 cached tokens and `new_tokens` new ones."""
    low, high = d_model
    model = draw(st.integers(low, high))
    dims = {
        "d_model": model,
        "heads": draw(st.integers(1, 4)),
        "q_rank": draw(st.sampled_from([0, draw(st.integers(1, min(q_rank, model)))])),
        "kv_rank": draw(st.integers(1, min(kv_rank, model))),
        "qk_nope_dim": draw(st.integers(1, width)),
        "qk_rope_dim": 2 * draw(st.integers(1, 4)),
        "v_dim": draw(st.integers(1, width)),
    }
    phase = draw(st.sampled_from(["decode", "prefill"]))
    context = draw(st.integers(0 if phase == "prefill" else 1, 7))
    tokens = "" if phase == "decode" else f"new_tokens = {draw(st.integers(1, new_tokens))}"
    fields = " ".join(f"{k} = {v}" for k, v in dims.items())
    return (
        f"layer r : mla {{ {fields} dtype = fp32 }}\n"
        f"workload w {{ phase = {phase} batch = {draw(st.integers(1, 3))} context = {context} {tokens} }}\n"
    )
