"""DSL text -> syntax tree (mlacc/frontend/ast.py), with lark.

Syntax errors become xDSL `ParseError`s with a span into the file, so every
tool reports them as `FILE:LINE:COL: error: MESSAGE` and `mlacc-opt
--parsing-diagnostics` works on `.attn` files.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from xdsl.utils.exceptions import ParseError
from xdsl.utils.lexer import Input, Span

from mlacc.frontend.ast import Block, Field, Number, Program, Word

_SUFFIXES = {"k": 1024, "m": 1024 * 1024}

_TERMINAL_NAMES = {
    "NAME": "a name",
    "INT": "a number",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "COLON": "':'",
    "EQUAL": "'='",
    "COMMA": "','",
    "SEMICOLON": "';'",
    "LAYER": "'layer'",
    "WORKLOAD": "'workload'",
    "$END": "end of file",
}


@cache
def _lark() -> Lark:
    grammar = files("mlacc.frontend").joinpath("grammar.lark").read_text()
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def parse_int(text: str) -> int:
    """`4k` -> 4096, `128K` -> 131072, `1_000` -> 1000."""
    digits = text.replace("_", "")
    factor = _SUFFIXES.get(digits[-1].lower(), 1)
    if factor != 1:
        digits = digits[:-1]
    return int(digits) * factor


class _ToAst(Transformer[Token, list[Block]]):
    def __init__(self, source: Input[str]):
        super().__init__()
        self.source = source

    def _span(self, start: int, end: int) -> Span[str]:
        return Span(start, end, self.source)

    def _word(self, token: Token) -> Word:
        assert token.start_pos is not None and token.end_pos is not None
        return Word(self._span(token.start_pos, token.end_pos), str(token))

    def INT(self, token: Token) -> Number:
        assert token.start_pos is not None and token.end_pos is not None
        return Number(self._span(token.start_pos, token.end_pos), parse_int(str(token)))

    def field(self, children: list[Token | Number]) -> Field:
        key, value = children[0], children[1]
        assert isinstance(key, Token)
        value_node = value if isinstance(value, Number) else self._word(value)
        return Field(self._span(key.start_pos or 0, value_node.span.end), self._word(key), value_node)

    def layer(self, children: list[Token | Field]) -> Block:
        name, kind, *fields = children
        assert isinstance(name, Token) and isinstance(kind, Token)
        return Block(self._word(name).span, self._word(name), self._word(kind), tuple(fields))  # type: ignore[arg-type]

    def workload(self, children: list[Token | Field]) -> Block:
        name, *fields = children
        assert isinstance(name, Token)
        return Block(self._word(name).span, self._word(name), None, tuple(fields))  # type: ignore[arg-type]

    def start(self, blocks: list[Block]) -> list[Block]:
        return blocks


def _syntax_error(source: Input[str], error: UnexpectedInput) -> ParseError:
    text = source.content
    if isinstance(error, UnexpectedToken):
        token = error.token
        start = token.start_pos if token.type != "$END" and token.start_pos is not None else len(text)
        got = "end of file" if token.type == "$END" else f"'{token}'"
        expected = sorted({_TERMINAL_NAMES.get(t, t) for t in error.expected})
        end = max(start + len(str(token)), start + 1) if token.type != "$END" else start
        return ParseError(Span(start, end, source), f"expected {' or '.join(expected)}, got {got}")
    assert isinstance(error, UnexpectedCharacters)
    start = error.pos_in_stream
    if text[start].isdigit():
        word = re.match(r"[A-Za-z0-9_]+", text[start:])
        assert word is not None
        return ParseError(
            Span(start, start + word.end(), source),
            f"malformed number '{word.group()}' (a number is digits with an optional k, K, m or M suffix)",
        )
    return ParseError(Span(start, start + 1, source), f"unexpected character '{text[start]}'")


def parse_program(text: str, filename: str) -> Program:
    """Parses DSL text; raises ParseError on malformed input."""
    source = Input(text, filename)
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as e:
        raise _syntax_error(source, e) from None
    blocks = _ToAst(source).transform(tree)
    return Program(
        source,
        tuple(b for b in blocks if b.kind is not None),
        tuple(b for b in blocks if b.kind is None),
    )
