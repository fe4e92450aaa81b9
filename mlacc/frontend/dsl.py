"""DSL text -> `attn` IR, checked before xDSL's IR classes are imported."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp


def parse_dsl(text: str, filename: str) -> ModuleOp:
    """DSL text -> verified `attn` module; raises xDSL ParseError with a place in `filename`.

    The text is parsed and checked before irgen (and xDSL's IR classes) is imported, so a one-line error
    in a DSL file is reported at start-up speed."""
    from mlacc.frontend.check import check_program
    from mlacc.frontend.parser import parse_program

    program = check_program(parse_program(text, filename))
    from mlacc.frontend.irgen import emit_module

    return emit_module(program)
