"""Value lists and ranges of `mlacc sweep` options: `1,8,32`, `1k..128k:x2` (geometric), `0..4096:+512` (linear).

Imported when the command line is built, so it needs nothing beyond the standard library. Every axis
comes back sorted and without repeats; a malformed one is a `UsageError` with one line naming the
option and the bad item.
"""

from __future__ import annotations

import math
import re

from mlacc.diagnostics import UsageError

Number = int | float

_SUFFIX = {"": 1, "k": 1024, "m": 1024**2}
"""As the DSL writes token counts: 4k = 4096, 1M = 1048576."""

_NUMBER = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)([kKmM]?)")
_RANGE = re.compile(r"(?P<start>[^.:][^:]*?)\.\.(?P<stop>[^:]+):(?P<how>[x+])(?P<step>.+)")

MAX_VALUES = 100_000
"""More values than this on one axis is surely a typo in a step, not a sweep anyone waits for."""


def parse_number(text: str, option: str) -> Number:
    """`4096`, `4k`, `1.5e9`, `0.25` -> int where the value is a whole number written without a point or
    exponent (or with a k/M suffix that makes it whole), else float."""
    match = _NUMBER.fullmatch(text.strip())
    if match is None:
        raise UsageError(f"{option}: expected a number such as 4096, 4k or 1.5e9, got '{text.strip()}'")
    literal, suffix = match.groups()
    scale = _SUFFIX[suffix.lower()]
    if re.fullmatch(r"[-+]?\d+", literal):
        return int(literal) * scale
    value = float(literal) * scale
    if not math.isfinite(value):
        raise UsageError(f"{option}: '{text.strip()}' is not a finite number")
    return int(value) if suffix and value.is_integer() else value


def _range(item: str, match: re.Match[str], option: str) -> list[Number]:
    start, stop, step = (parse_number(match.group(k), option) for k in ("start", "stop", "step"))
    geometric = match.group("how") == "x"
    if stop < start:
        raise UsageError(f"{option}: range '{item}' ends below its start")
    if geometric and start <= 0:
        raise UsageError(f"{option}: geometric range '{item}' must start above 0")
    if geometric and step <= 1:
        raise UsageError(f"{option}: geometric range '{item}' needs a factor above 1, got x{step}")
    if not geometric and step <= 0:
        raise UsageError(f"{option}: linear range '{item}' needs a step above 0, got +{step}")
    count = (math.log(stop / start) / math.log(step) if geometric else (stop - start) / step) + 1
    if count > MAX_VALUES:
        raise UsageError(f"{option}: range '{item}' spans more than {MAX_VALUES} values")
    # Each value from the start (not from the previous value), so float steps do not drift; the tolerance
    # keeps an end that floats land a hair past (0.1..0.3:+0.1).
    values: list[Number] = []
    whole = all(isinstance(v, int) for v in (start, stop, step))
    for i in range(int(count + 1e-9) + 1):
        value = start * step**i if geometric else start + step * i
        if value > stop * (1 + 1e-12):
            break
        values.append(int(value) if whole else min(value, stop))
    return values


def parse_axis(text: str, option: str, integer: bool = False, minimum: Number | None = None) -> list[Number]:
    """A comma-separated list of numbers and ranges -> its values, sorted and without repeats.

    `integer` axes (batch, tokens) round each value of a range with a fractional factor to the nearest
    whole number; `minimum` is the smallest value the axis accepts.
    """
    values: set[Number] = set()
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise UsageError(f"{option}: empty item in '{text}'")
    for item in items:
        if ".." in item:
            match = _RANGE.fullmatch(item)
            if match is None:
                raise UsageError(f"{option}: expected a range such as 1k..128k:x2 or 0..4k:+512, got '{item}'")
            found = _range(item, match, option)
        else:
            found = [parse_number(item, option)]
        for value in found:
            if integer and not float(value).is_integer():
                if ".." not in item:
                    raise UsageError(f"{option}: expected a whole number, got '{item}'")
                value = round(value)
            if integer:
                value = int(value)
            if minimum is not None and value < minimum:
                raise UsageError(f"{option}: {value} is below the smallest allowed value, {minimum}")
            values.add(value)
    return sorted(values)


def parse_words(text: str, option: str, choices: tuple[str, ...]) -> list[str]:
    """A comma-separated list of names from `choices`, in the order of `choices`, without repeats."""
    from mlacc.diagnostics import did_you_mean

    words = [w.strip() for w in text.split(",")]
    for word in words:
        if word not in choices:
            raise UsageError(
                f"{option}: unknown value '{word}' (expected: {', '.join(choices)}){did_you_mean(word, choices)}"
            )
    return [c for c in choices if c in words]
