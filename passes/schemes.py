"""The MLA execution schemes by name: plain data a command line reads before it imports any pass."""

from __future__ import annotations

from typing import Literal

Scheme = Literal["recompute", "reuse", "expand", "cache-kv", "auto"]
"""The values of `absorb{scheme=...}`."""

SCHEMES: tuple[Scheme, ...] = ("recompute", "reuse", "expand", "cache-kv")
"""The concrete MLA execution schemes, in report order (`auto` picks one of them)."""
