"""The DSL's syntax tree: blocks of fields, each piece with its place in the source."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.utils.lexer import Input, Span


@dataclass(frozen=True)
class Node:
    span: Span[str]


@dataclass(frozen=True)
class Word(Node):
    """A name as written (a layer name, a kind, a field key or a symbolic value)."""

    text: str


@dataclass(frozen=True)
class Number(Node):
    """An integer value, suffixes (`4k`, `128K`) already applied."""

    value: int


@dataclass(frozen=True)
class Field(Node):
    key: Word
    value: Word | Number


@dataclass(frozen=True)
class Block(Node):
    """`layer NAME : KIND { ... }` (kind set) or `workload NAME { ... }` (kind None)."""

    name: Word
    kind: Word | None
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Program:
    source: Input[str]
    layers: tuple[Block, ...]
    workloads: tuple[Block, ...]
