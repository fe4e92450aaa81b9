"""Stage 1: the DSL frontend (text -> syntax tree -> `attn` IR).

`parser` needs only lark and `check` only the plain-Python shape rules, so a
syntax or semantic error is reported before xDSL's IR classes are imported;
`irgen` (which needs them) is imported when a module is built. `hf_config`
turns a Hugging Face config.json into DSL text first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp


def is_config_path(path: str) -> bool:
    """Whether a command's input is a Hugging Face config (chosen by the `.json` extension) rather than DSL."""
    return path.lower().endswith(".json")


def parse_dsl(text: str, filename: str) -> ModuleOp:
    """DSL text -> verified `attn` module; raises xDSL ParseError with a place in `filename`."""
    from mlacc.frontend.irgen import build_module
    from mlacc.frontend.parser import parse_program

    return build_module(parse_program(text, filename))
