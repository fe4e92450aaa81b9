"""Stage 1: the DSL frontend (text -> syntax tree -> `attn` IR).

`parser` needs only lark and `check` only the plain-Python shape rules, so a
syntax or semantic error is reported before xDSL's IR classes are imported;
`irgen` (which needs them) is imported when a module is built. `hf_config`
turns a Hugging Face config.json into DSL text first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlacc.frontend.dsl import parse_dsl

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp

__all__ = ["is_config_path", "parse_dsl", "parse_source"]


def is_config_path(path: str) -> bool:
    """Whether a command's input is a Hugging Face config (chosen by the `.json` extension) rather than DSL."""
    return path.lower().endswith(".json")


def parse_source(text: str, filename: str) -> ModuleOp:
    """A command's input -> verified `attn` module: a Hugging Face config.json (by extension) or DSL text."""
    if is_config_path(filename):
        from mlacc.frontend.hf_config import import_config

        return import_config(text, filename).build()
    return parse_dsl(text, filename)
