"""Keyword syntax for attributes that hold many fields: `<"name", key = value, ...>`.

`#hw.target` and its parts print as keyword fields rather than xDSL's positional generic
form, so a reader sees `capacity_bytes = 1024` instead of the fourth of seven numbers.
Printing is fixed-order and deterministic; parsing takes the fields in any order, each
once, and reports an unknown, repeated or missing field on one located line. Floats
print exactly (the text parses back to the same double) and short: `1830.6`, `1.83e9`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, Float64Type, FloatAttr, IntAttr, StringAttr, f64
from xdsl.ir import Attribute, ParametrizedAttribute
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

FieldParser = Callable[[AttrParser], Attribute]
"""Parses a field's value (after its `=`) into the attribute parameter that stores it."""


def format_float(value: float) -> str:
    """Python's exact `repr` (`1830.6`) below a million, else the shortest exact `1.83e9` form."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    digits = next(p for p in range(17) if float(f"{value:.{p}e}") == value)
    mantissa, exponent = f"{value:.{digits}e}".split("e")
    if "." not in mantissa:  # an MLIR float literal needs the point: 1.0e9, not 1e9
        mantissa += ".0"
    plain = repr(value)
    return plain if "e" not in plain and abs(value) < 1e6 else f"{mantissa}e{int(exponent)}"


def parse_float(parser: AttrParser) -> float:
    """A float, an integer (written by hand: `16` for `16.0`), or `inf` / `-inf` / `nan`."""
    negative = parser.parse_optional_punctuation("-") is not None
    if parser.parse_optional_keyword("inf") is not None:
        return -math.inf if negative else math.inf
    if not negative and parser.parse_optional_keyword("nan") is not None:
        return math.nan
    at = parser.pos
    number = parser.parse_optional_number()
    if number is None:
        parser.raise_error("expected a number")
    try:
        value = float(number)
    except OverflowError:  # an integer literal past the largest double
        parser.raise_error("number too large for a 64-bit float", at, parser.pos)
    return -value if negative else value


def float_field(parser: AttrParser) -> FloatAttr[Float64Type]:
    return FloatAttr(parse_float(parser), f64)


def _print_dictionary(printer: Printer, entries: DictionaryAttr, value: Callable[[Attribute], None]) -> None:
    """`{key = VALUE, ...}` in the dictionary's stored order, each value printed by `value`."""
    printer.print_string("{")
    for i, (key, attr) in enumerate(entries.data.items()):
        printer.print_string(", " if i else "")
        printer.print_identifier_or_string_literal(key)
        printer.print_string(" = ")
        value(attr)
    printer.print_string("}")


def _dictionary_field(parser: AttrParser, value: Callable[[AttrParser], Attribute]) -> DictionaryAttr:
    """Parses what `_print_dictionary` prints, each value by `value`; a key given twice is an error, not a silent
    overwrite."""
    entries: dict[str, Attribute] = {}

    def entry() -> None:
        start = parser.pos
        key = parser.parse_identifier_or_str_literal(" as a dictionary key")
        if key in entries:
            parser.raise_error(f"key '{key}' given twice", start, parser.pos)
        parser.parse_punctuation("=")
        entries[key] = value(parser)

    parser.parse_comma_separated_list(parser.Delimiter.BRACES, entry)
    return DictionaryAttr(entries)


def print_numbers(printer: Printer, numbers: DictionaryAttr) -> None:
    """`{bf16 = 2048.0, fp8 = 4096.0}`: a dictionary of f64 values."""

    def number(attr: Attribute) -> None:
        assert isinstance(attr, FloatAttr)
        printer.print_string(format_float(attr.value.data))

    _print_dictionary(printer, numbers, number)


def numbers_field(parser: AttrParser) -> DictionaryAttr:
    """Parses what `print_numbers` prints."""
    return _dictionary_field(parser, float_field)


def print_strings(printer: Printer, strings: DictionaryAttr) -> None:
    """`{gemm = "cublaslt", attention_prefill = "cudnn-sdpa"}`: a dictionary of strings."""

    def string(attr: Attribute) -> None:
        assert isinstance(attr, StringAttr)
        printer.print_string_literal(attr.data)

    _print_dictionary(printer, strings, string)


def strings_field(parser: AttrParser) -> DictionaryAttr:
    """Parses what `print_strings` prints."""
    return _dictionary_field(parser, str_field)


def int_field(parser: AttrParser) -> IntAttr:
    return IntAttr(parser.parse_integer(allow_boolean=False))


def str_field(parser: AttrParser) -> StringAttr:
    return StringAttr(parser.parse_str_literal())


def shape_field(parser: AttrParser) -> ArrayAttr[IntAttr]:
    """`64x256`: two extents (rows x cols), written as in a tensor shape."""
    rows = parser.parse_shape_dimension(allow_dynamic=False)
    parser.parse_shape_delimiter()
    return ArrayAttr((IntAttr(rows), IntAttr(parser.parse_shape_dimension(allow_dynamic=False))))


Part = TypeVar("Part", bound=Attribute)


def list_field(kind: type[Part]) -> Callable[[AttrParser], ArrayAttr[Part]]:
    """`[#hw.memory<...>, ...]`: a list whose every element is a `kind` attribute."""

    def parse(parser: AttrParser) -> ArrayAttr[Part]:
        def element() -> Part:
            at = parser.pos
            attr = parser.parse_attribute()
            if not isinstance(attr, kind):
                parser.raise_error(f"expected a #{kind.name} attribute", at, parser.pos)
            return attr

        return ArrayAttr(parser.parse_comma_separated_list(parser.Delimiter.SQUARE, element))

    return parse


def parse_name(parser: AttrParser, kind: str) -> tuple[StringAttr, str, int]:
    """The leading `"name"`, how errors call the attribute (`#hw.memory "sram"`), and where the name starts."""
    start = parser.pos
    name = parser.parse_str_literal(f" naming the #{kind}")
    return StringAttr(name), f'#{kind} "{name}"', start


def print_list(printer: Printer, items: ArrayAttr[Part]) -> None:
    printer.print_string("[")
    printer.print_list(items.data, printer.print_attribute)
    printer.print_string("]")


def parse_fields(
    parser: AttrParser,
    what: str,
    start: int,
    fields: Mapping[str, FieldParser],
    defaults: Mapping[str, Attribute],
    flags: Mapping[str, Attribute] | None = None,
) -> dict[str, Attribute]:
    """Parses `, key = value` items up to the closing `>`, then fills in `defaults` for those left out.

    A field in `flags` may stand alone (`calibrated`) and then takes the flag's value.
    `what` names the attribute in errors (`#hw.memory "sram"`); a missing field is reported
    over the text from `start` (where the attribute's parameters begin).
    """
    values: dict[str, Attribute] = {}
    while parser.parse_optional_punctuation(",") is not None:
        at = parser.pos
        key = parser.parse_optional_identifier()
        if key is None:
            parser.raise_error(f"{what}: expected a field name")
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), 1)
            hint = f"did you mean '{close[0]}'?" if close else f"fields: {', '.join(fields)}"
            parser.raise_error(f"{what}: unknown field '{key}' ({hint})", at, parser.pos)
        if key in values:
            parser.raise_error(f"{what}: field '{key}' given twice", at, parser.pos)
        if parser.parse_optional_punctuation("=") is None:
            if flags is None or key not in flags:
                parser.raise_error(f"{what}: expected '=' after '{key}'")
            values[key] = flags[key]
            continue
        values[key] = fields[key](parser)
    missing = [key for key in fields if key not in values and key not in defaults]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        parser.raise_error(f"{what}: missing field{plural} {', '.join(map(repr, missing))}", start, parser.pos)
    return {key: values[key] if key in values else defaults[key] for key in fields}


def verified(
    parser: AttrParser, kind: type[ParametrizedAttribute], params: Sequence[Attribute], start: int
) -> Sequence[Attribute]:
    """`params`, once `kind`'s verifier accepts them.

    The parser verifies the attribute it builds from `params` too, but then a failure has no
    location; verifying here first reports it over the attribute's text, from `start`.
    """
    try:
        kind.new(params)
    except VerifyException as e:
        parser.raise_error(str(e), start, parser.pos)
    return params
