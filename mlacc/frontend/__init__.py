"""Stage 1: the DSL frontend (text -> syntax tree -> `attn` IR)."""

from xdsl.dialects.builtin import ModuleOp

from mlacc.frontend.irgen import build_module
from mlacc.frontend.parser import parse_program


def parse_dsl(text: str, filename: str) -> ModuleOp:
    """DSL text -> verified `attn` module; raises xDSL ParseError with a place in `filename`."""
    return build_module(parse_program(text, filename))
