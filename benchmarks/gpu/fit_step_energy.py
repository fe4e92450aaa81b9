"""Fits a GPU preset's step energy (issue #26) from whole steps measured on a calibration grid of shapes:

    python benchmarks/gpu/fit_step_energy.py benchmarks/results/h100_production_calsteps_2026-12-08.csv --preset h100

A step's board energy is, in the model, the static power over its time plus each kernel's dynamic energy (its MACs
and bytes at the preset's pJ). The kernels serving engines run draw unlike the GEMMs and copies those pJ were fit
on (an unvectorised torch.cat draws about 650 W while it moves 0.9 TB/s; SDPA's EFFICIENT kernel runs at the power
limit at 12% of peak), so each op class's dynamic energy is scaled by its library's own constant (`gemm_energy`,
`attention_decode_latent_energy`, ..., `join_energy`: dialects/hw_calibration.py) and the power the board draws
whatever it runs is fit with them: the busy board's floor, which the preset carries as `busy_power_watts` above its
`static_power_watts` (the idle reading).

The energy is linear in those constants, so each class's share of a step is read off the model itself (the
estimate with that class's scale doubled, less the estimate with every scale at 1), and the constants are the
relative least-squares solution over the grid=calibration steps (kind=step) of the CSVs given. Classes that hold
less than 3% of every calibration step's energy keep 1, and so do those --keep names. Prints the lines for the
preset, and the |error| of every step on the calibration grid; `mlacc validate` then judges the validation steps,
which no constant saw.
"""

from __future__ import annotations

import argparse
import csv
import re
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from mlacc.hardware.loader import preset_path
from mlacc.validate import Point, estimate_points

CLASSES = (
    "gemm",
    "attention_prefill",
    "attention_prefill_latent",
    "attention_decode_heads",
    "attention_decode_latent",
    "elementwise",
    "join",
)
"""The op classes whose energy scales are fit (`{class}_energy` in [efficiency])."""

MIN_SHARE = 0.03
"""The least share of one calibration step's energy a class must hold to be fit; the others keep 1."""


def calibration_steps(paths: list[str]) -> list[dict[str, str]]:
    rows = [r for p in paths for r in csv.DictReader(open(p))]
    return [r for r in rows if r["kind"] == "step" and r["grid"] == "calibration" and r["status"] == "ok"]


def with_constants(text: str, constants: dict[str, float]) -> str:
    """The preset's TOML with each constant set in its [efficiency] table (a profile's own table keeps its values)."""
    efficiency = text.index("\n[efficiency]")
    head, tail = text[:efficiency], text[efficiency:]
    profile = tail.find("\n[profiles.")
    body, rest = (tail, "") if profile < 0 else (tail[:profile], tail[profile:])
    for key, value in constants.items():
        line = f"{key} = {float(value)!r}\n"
        pattern = re.compile(rf"^{key}\s*=.*\n", re.M)
        if pattern.search(body):
            body = pattern.sub(line, body, count=1)
        else:
            header_end = body.index("\n", 1) + 1
            body = body[:header_end] + line + body[header_end:]
    return head + body + rest


def energies(preset_text: str, scales: dict[str, float], points: list[Point], schemes: list[str], where: Path):
    """Joules and the static part of each (point, scheme) under the preset with `scales`."""
    path = where / f"variant{len(list(where.iterdir()))}.toml"
    keys = {name if name.endswith("_watts") else f"{name}_energy": value for name, value in scales.items()}
    path.write_text(with_constants(preset_text, keys))
    estimates = estimate_points(points, str(path))
    out = []
    for point, scheme in zip(points, schemes, strict=True):
        result = estimates[point][scheme]
        out.append((result.energy_pj * 1e-12, result.energy_breakdown_pj.get("static", 0.0) * 1e-12))
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", nargs="+", help="production.py CSVs holding grid=calibration steps")
    parser.add_argument("--preset", required=True, help="the preset whose other constants are read (h100, h200)")
    parser.add_argument("--keep", default="elementwise", help="classes whose scale stays 1 (default: elementwise, "
                        "whose pJ per byte come from copies and norms timed alone at every size, and whose kernels in "
                        "a decode step are a few launches' worth: a scale fit there would multiply a prefill's large "
                        "norms past the power limit)")  # fmt: skip
    args = parser.parse_args()
    rows = calibration_steps(args.csv)
    if not rows:
        raise SystemExit("no grid=calibration step rows in " + ", ".join(args.csv))
    preset = Path(args.preset) if args.preset.endswith(".toml") else preset_path(args.preset)
    preset_text = preset.read_text(encoding="utf-8")
    static = re.search(r"^static_power_watts\s*=\s*([0-9.e+-]+)", preset_text, re.M)
    if static is None:
        raise SystemExit(f"{preset}: no static_power_watts to fit the busy floor above")
    static_watts = float(static.group(1))
    points = [Point.of(r) for r in rows]
    schemes = [r["scheme"] for r in rows]
    measured = np.array([float(r["joules"]) for r in rows])
    ones = {**dict.fromkeys(CLASSES, 1.0), "busy_power_watts": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        base = energies(preset_text, ones, points, schemes, where)
        doubled = {c: energies(preset_text, {**ones, c: 2.0}, points, schemes, where) for c in CLASSES}
    shares = {c: doubled[c][:, 0] - base[:, 0] for c in CLASSES}
    busy_seconds = base[:, 1] / static_watts  # the time the model charges static power over (no busy floor)
    # A class is fit where it holds 3% of some calibration step's energy: a smaller share leaves its scale to
    # the noise, and a scale read off kernels that barely register would be applied to the same class's large
    # kernels elsewhere (a prefill's norms over thousands of tokens).
    used = [c for c in CLASSES if np.max(shares[c] / measured) >= MIN_SHARE and c not in args.keep.split(",")]
    rest = base[:, 0] - base[:, 1] - sum(shares[c] for c in used)
    a = np.column_stack([busy_seconds, *(shares[c] for c in used)])
    weight = 1 / measured
    solution, *_ = np.linalg.lstsq(a * weight[:, None], (measured - rest) * weight, rcond=None)
    fitted = a @ solution + rest
    errors = fitted / measured - 1
    before = base[:, 0] / measured - 1
    print(f"{len(rows)} calibration steps ({', '.join(args.csv)}); classes they run: {', '.join(used)}")
    print(f"busy_power_watts = {solution[0] - static_watts:.1f}   # a busy floor of {solution[0]:.1f} W, less the "
          f"preset's static {static_watts:g} W")  # fmt: skip
    for op_class, value in zip(used, solution[1:], strict=True):
        print(f"{op_class}_energy = {value:.3f}")
    print(f"|error| on the calibration steps: median {np.median(abs(errors)):.1%}, max {np.max(abs(errors)):.1%} "
          f"(every scale 1 and static {static_watts:g} W: median {np.median(abs(before)):.1%})")  # fmt: skip
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row, error in zip(rows, errors, strict=True):
        groups[(row["phase"], row["scheme"])].append(abs(error))
    for (phase, scheme), found in sorted(groups.items()):
        print(f"  {phase:8} {scheme:10} {len(found):3d} steps: median {np.median(found):6.1%}, max {max(found):6.1%}")


if __name__ == "__main__":
    main()
