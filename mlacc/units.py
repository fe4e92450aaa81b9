"""Numbers for people: decimal SI prefixes, shared by every report (text, plots, hardware summaries)."""

from __future__ import annotations


def si(value: float, unit: str) -> str:
    """1.23e9 -> '1.23 G' + unit, 4.5e-6 -> '4.5 u' + unit (decimal prefixes)."""
    if value == 0:
        return f"0 {unit}"
    for factor, prefix in (
        (1e15, "P"),
        (1e12, "T"),
        (1e9, "G"),
        (1e6, "M"),
        (1e3, "k"),
        (1, ""),
        (1e-3, "m"),
        (1e-6, "u"),
        (1e-9, "n"),
        (1e-12, "p"),
    ):
        if abs(value) >= factor:
            scaled = value / factor
            return f"{scaled:.3g} {prefix}{unit}" if factor != 1 or scaled != int(scaled) else f"{value:.0f} {unit}"
    return f"{value:.3g} {unit}"
