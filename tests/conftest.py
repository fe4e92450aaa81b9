"""Shared helpers: build IR from DSL text in-process, as the CLI does."""

from __future__ import annotations

from pathlib import Path

import pytest
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
