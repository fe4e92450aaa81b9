"""`mlacc validate`: estimates against measurements taken on real hardware (benchmarks/gpu/measure.py).

Each `step` row of a measurement CSV names a layer (a bundled example), a scheme and a
workload; the estimate of the same point is the one `mlacc sweep` and `mlacc compile` give
(`estimate_points`), so what is judged is the tool as users run it. A `layer` row
(benchmarks/gpu/layer_step.py) names a whole step's file (examples/MODEL.attn: one attention layer and its
MLP/MoE layers) and, in its `ffn` column, one of its feed-forward layers: it measured one whole layer, whose
estimate is the attention layer's step under the row's scheme plus one step of that feed-forward layer
(`estimate_layers`). Reported per row: measured and estimated seconds and joules and their relative error; per
(phase, scheme), a layer row's scheme written `SCHEME + FFN`: the median and largest absolute error; per point:
whether the estimates rank the schemes as the measurements do.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from dialects.attn_rules import FFN_KINDS
from mlacc.diagnostics import InputError
from mlacc.estimates import LayerResult
from mlacc.units import si

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
"""Where the layers named in measurement rows are defined (examples/MODEL.attn), unless `--layers` names another
directory (benchmarks/cpu/layers: the examples shrunk, in fp32, as benchmarks/cpu/validate.py timed them)."""

DEVICE_PRESETS = {"H100": "h100", "H200": "h200", "A100": "a100", "H20": "h20"}
"""Substrings of NVML's device name -> the preset that models that device."""


@dataclass(frozen=True)
class Point:
    model: str
    phase: str
    batch: int
    context: int
    new_tokens: int
    heads: int = 0
    """The heads the step ran (a tensor-parallel shard of the layer, all of d_model in and out); 0: the layer's own."""
    ffn: str = ""
    """A whole layer's feed-forward layer (its name in the model's file; a `layer` row's `ffn`); "" for a step."""

    def label(self) -> str:
        shard = f" heads {self.heads}" if self.heads else ""
        ffn = f" + {self.ffn}" if self.ffn else ""
        return f"{self.model}{shard}{ffn} {self.phase} b{self.batch} ctx {self.context} new {self.new_tokens}"

    @staticmethod
    def of(row: dict[str, str]) -> Point:
        """The point a measurement row names (its `heads` column, where it has one, as `heads`; a `layer` row's
        `ffn` as `ffn`)."""
        heads = int(row["heads"]) if row.get("heads") else 0
        ffn = ""
        if row.get("kind") == "layer":
            ffn = row.get("ffn") or ""
            if not ffn:
                raise InputError(f"a layer row of '{row['model']}' names no feed-forward layer (its `ffn` column)")
        return Point(
            row["model"], row["phase"], int(row["batch"]), int(row["context"]), int(row["new_tokens"]), heads, ffn
        )


HEADS = re.compile(r"^(\s*heads\s*=\s*)(\d+)", re.MULTILINE)
"""The `heads` field of a layer in DSL text."""


def with_heads(text: str, heads: int, path: Path) -> str:
    """The layer file with `heads` heads (its other fields unchanged): a measured tensor-parallel shard of it,
    without the collective the full layer's tp run would add."""
    if not HEADS.search(text):
        raise InputError(f"measurement names {heads} heads, but {path} has no heads field")
    return HEADS.sub(lambda m: f"{m.group(1)}{heads}", text)


@dataclass
class Comparison:
    point: Point
    scheme: str
    measured_seconds: float
    estimated_seconds: float
    measured_joules: float
    estimated_joules: float
    fits: bool = True
    spread: float = 0.0
    """The measurement's own spread where the row gives one ((slowest - fastest) / median of its repeats)."""

    @property
    def group(self) -> str:
        """The scheme as the summary groups it: a whole layer's `SCHEME + FFN`."""
        return f"{self.scheme} + {self.point.ffn}" if self.point.ffn else self.scheme

    @property
    def time_error(self) -> float:
        return self.estimated_seconds / self.measured_seconds - 1

    @property
    def energy_error(self) -> float:
        return self.estimated_joules / self.measured_joules - 1


@dataclass
class Validation:
    device: str
    hardware: str
    source: str = ""
    """The measurement file's name, which tells runs of one device apart."""
    rows: list[Comparison] = field(default_factory=lambda: [])
    skipped: list[str] = field(default_factory=lambda: [])

    def groups(self) -> dict[tuple[str, str], list[Comparison]]:
        out: dict[tuple[str, str], list[Comparison]] = defaultdict(list)
        for row in self.rows:
            out[(row.point.phase, row.group)].append(row)
        return dict(sorted(out.items()))

    def rankings(self) -> list[tuple[Point, list[str], list[str]]]:
        """Per point with several schemes of one layer: the schemes fastest first, measured and estimated."""
        by_point: dict[Point, list[Comparison]] = defaultdict(list)
        for row in self.rows:
            by_point[row.point].append(row)
        out = []
        for point, rows in by_point.items():
            if len(rows) > 1:
                measured = [r.scheme for r in sorted(rows, key=lambda r: r.measured_seconds)]
                estimated = [r.scheme for r in sorted(rows, key=lambda r: r.estimated_seconds)]
                out.append((point, measured, estimated))
        return out

    def misordered_gap(self, point: Point, estimated: list[str]) -> float:
        """How far apart the measurement put the pair of schemes the estimate orders most unlike it (0 where
        the orders agree): measured slower / measured faster - 1 of the pair estimated the other way round."""
        seconds = {r.scheme: r.measured_seconds for r in self.rows if r.point == point}
        return max(
            (
                seconds[faster] / seconds[slower] - 1
                for i, faster in enumerate(estimated)
                for slower in estimated[i + 1 :]
            ),
            default=0.0,
        )

    def agrees(self, point: Point, estimated: list[str], tolerance: float) -> bool:
        """Whether every pair of schemes the estimate orders unlike the measurement measured within `tolerance`
        of each other, or within the larger spread of the pair's repeats where the rows give it (a tie the
        measurement cannot break)."""
        rows = {r.scheme: r for r in self.rows if r.point == point}
        return all(
            rows[faster].measured_seconds / rows[slower].measured_seconds - 1
            <= max(tolerance, rows[faster].spread, rows[slower].spread)
            for i, faster in enumerate(estimated)
            for slower in estimated[i + 1 :]
        )

    def summary(self) -> dict[str, float]:
        time_errors = [abs(r.time_error) for r in self.rows]
        energy_errors = [abs(r.energy_error) for r in self.rows]
        ranks = self.rankings()
        return {
            "points": len(self.rows),
            "median_time_error": statistics.median(time_errors) if time_errors else 0.0,
            "max_time_error": max(time_errors, default=0.0),
            "worst_group_median_time_error": max(
                (statistics.median(abs(r.time_error) for r in rows) for rows in self.groups().values()), default=0.0
            ),
            "median_energy_error": statistics.median(energy_errors) if energy_errors else 0.0,
            "max_energy_error": max(energy_errors, default=0.0),
            "rankings_agreeing": sum(m == e for _, m, e in ranks),
            "rankings_agreeing_within_ties": sum(self.agrees(p, e, RANK_TIE) for p, _, e in ranks),
            "rankings": len(ranks),
        }


RANK_TIE = 0.02
"""Measured step times this close rank as a tie the measurement cannot break: two H200 runs of the same
validation grid on different boards (benchmarks/results/h200_2026-11-24.csv and h200_2026-11-30.csv) time 90%
of its 104 steps within 1.8% of each other (median 0.5%, largest 4.9%)."""


PRODUCTION_NOTES = ("flashmla", "sdpa")
"""What a step row's note names where benchmarks/gpu/production.py ran it on production kernels."""

MEASURED_PROFILE = "triton"
"""The profile of a preset that models the kernels of benchmarks/gpu/measure.py (our own Triton kernels)."""


def preset_for(device: str, rows: Iterable[dict[str, str]] = ()) -> str:
    """The preset that models `device` running the kernels its steps ran: the preset's default production stack
    where the rows' notes name production kernels (production.py), else its Triton profile (measure.py's
    kernels), where it has one."""
    from mlacc.hardware.loader import preset_profiles

    for key, preset in DEVICE_PRESETS.items():
        if key in device:
            production = any(name in row.get("note", "") for row in rows for name in PRODUCTION_NOTES)
            if not production and MEASURED_PROFILE in preset_profiles(preset):
                return f"{preset}:{MEASURED_PROFILE}"
            return preset
    raise InputError(f"no preset models device '{device}': name one with --hw")


SMALL_KERNELS = ("_rmsnorm", "_rope", "Memcpy", "memcpy", "void at::native")
"""How a profile names the kernels of a step's norms, RoPEs and cache stores (the copies)."""

TOP_CLOCK_MHZ = 1950
"""A profiled step whose replays held at least this SM clock ran at the clock its whole replay was timed at."""


@dataclass
class ProfiledStep:
    """One step of a benchmarks/gpu/profile_step.py CSV: its kernels' rows in launch order."""

    kernels: list[dict[str, str]]

    @property
    def gap(self) -> float | None:
        """Seconds per kernel the whole replay took beyond its kernels (the launch gaps), where the profile timed
        the replay (`step_seconds`) at the clock it profiled the kernels at (the top one: a longer step's
        profiled replays run hotter, slower, than its first replays timed)."""
        first = self.kernels[0]
        if not first.get("step_seconds") or float(first.get("sm_mhz") or 0) < TOP_CLOCK_MHZ:
            return None
        return (float(first["step_seconds"]) - sum(float(k["seconds"]) for k in self.kernels)) / len(self.kernels)


def read_profile(path: str | Path) -> list[ProfiledStep]:
    """A profile's steps: each starts at its launch 0."""
    steps: list[ProfiledStep] = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["launch"] == "0":
                steps.append(ProfiledStep([]))
            steps[-1].kernels.append(row)
    return steps


MEASURED_KINDS = ("step", "layer")
"""The rows `mlacc validate` estimates: attention steps (measure.py, production.py) and whole layers (layer_step.py)."""


def read_measurements(path: str, grid: str) -> dict[str, list[dict[str, str]]]:
    """The CSV's ok `step` and `layer` rows of `grid` ('all' for every grid), by device."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise InputError(f"cannot read '{path}': {e.strerror}") from None
    need = {"device", "grid", "kind", "model", "scheme", "phase", "batch", "context", "new_tokens", "seconds"}
    if rows and not need <= set(rows[0]):
        raise InputError(f"{path}: not a measurement CSV (columns missing: {', '.join(sorted(need - set(rows[0])))})")
    by_device: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        if row["kind"] in MEASURED_KINDS and row.get("status", "ok") == "ok" and grid in ("all", row["grid"]):
            by_device[row["device"]].append(row)
    return dict(by_device)


class Estimate(Protocol):
    """What a row is judged against: a `LayerResult` (a step) or a `LayerEstimate` (a whole layer)."""

    @property
    def seconds(self) -> float: ...

    @property
    def energy_pj(self) -> float: ...

    @property
    def fits(self) -> bool: ...


@dataclass(frozen=True)
class LayerEstimate:
    """One whole layer's estimate: its attention layer's step under one scheme, then one step of its feed-forward
    layer (each the figure `mlacc compile` gives that layer; the norms and residual adds between them are not
    modelled)."""

    attention: LayerResult
    ffn: LayerResult

    @property
    def scheme(self) -> str:
        return self.attention.scheme

    @property
    def seconds(self) -> float:
        return self.attention.seconds + self.ffn.seconds

    @property
    def energy_pj(self) -> float:
        return self.attention.energy_pj + self.ffn.energy_pj

    @property
    def fits(self) -> bool:
        return self.attention.fits and self.ffn.fits


def _by_scheme(result: LayerResult) -> dict[str, LayerResult]:
    """A layer's result under every scheme (its alternatives), or keyed by its kind where no scheme applies."""
    return {alt.scheme if result.alternatives else alt.kind: alt for alt in result.alternatives or [result]}


def _has_ffn(path: str, text: str) -> bool:
    """Whether the file holds an MLP or MoE layer."""
    from dialects.attn import FfnLayerOp
    from mlacc.frontend import parse_source

    return any(isinstance(op, FfnLayerOp) for op in parse_source(text, path).walk())


def _whole_step(path: str, text: str, hardware: str, points: list[Point]) -> list[list[LayerResult]]:
    """Each point's results of a file with MLP/MoE layers (which the sweep's op tables do not take), through the IR
    pipeline as `mlacc compile --workload W --phase --batch --context --new-tokens` estimates them: every layer of
    the file's first workload with the point's fields."""
    from xdsl.dialects import func

    from dialects.attn import LayerOp
    from dialects.hw import attach_target
    from mlacc.frontend import parse_source
    from mlacc.frontend.irgen import override_workloads
    from mlacc.pipeline import estimate
    from mlacc.sweep.space import Chip, chip_target, workload_names

    parsed = parse_source(text, path)
    workload = workload_names(parsed)[0]
    out = []
    for point in points:
        module = parsed.clone()
        for function in list(module.ops):
            assert isinstance(function, func.FuncOp)
            layer = function.body.block.first_op
            assert isinstance(layer, LayerOp)
            if layer.workload.workload_name.data != workload:
                function.detach()
                function.erase()
        override_workloads(module, point.phase, point.batch, point.context, point.new_tokens)
        attach_target(module, chip_target(Chip(hardware)))
        out.append(estimate(module, None, 1, 1))
    return out


def _layer_results(points: Iterable[Point], hardware: str, layers: Path) -> dict[Point, list[LayerResult]]:
    """Each point's results, one per layer of its file in file order (an MLA layer's every scheme an alternative).
    The points of one file are estimated together as `mlacc sweep` estimates its points (mlacc/sweep/evaluate.py
    `evaluate_results`): from op tables where they apply, else through the IR pipeline `mlacc compile` runs; the
    figures are the same either way (tests/costmodel/test_calibration.py). A file with MLP/MoE layers goes through
    the IR pipeline (`_whole_step`), as its sweep does."""
    from mlacc.sweep.evaluate import evaluate_results
    from mlacc.sweep.space import Chip, DesignPoint, SweepInput, file_module, workload_names
    from passes import SCHEMES

    by_model: dict[tuple[str, int], list[Point]] = defaultdict(list)
    for point in dict.fromkeys(points):
        by_model[(point.model, point.heads)].append(point)
    out: dict[Point, list[LayerResult]] = {}
    for (model, heads), mine in by_model.items():
        path = layers / f"{model}.attn"
        if not path.is_file():
            raise InputError(f"measurement names layer '{model}', but {path} does not exist")
        text = path.read_text(encoding="utf-8")
        sweep = SweepInput(str(path), with_heads(text, heads, path) if heads else text, SCHEMES, ops=True)
        bare = {p: replace(p, ffn="") for p in mine}  # a point's estimates are every layer's: the ffn picks one
        todo = list(dict.fromkeys(b for b in bare.values() if (sweep.path, sweep.text, hardware, b) not in _ESTIMATES))
        with contextlib.redirect_stderr(io.StringIO()):  # absorb's remarks on non-MLA layers say nothing here
            if not todo:
                results = []
            elif _has_ffn(sweep.path, sweep.text):
                results = _whole_step(sweep.path, sweep.text, hardware, todo)
            else:
                workload = workload_names(file_module(sweep.path, sweep.text))[0]  # the point replaces its fields
                design = [
                    DesignPoint(Chip(hardware), workload, p.phase, p.batch, p.context, p.new_tokens) for p in todo
                ]
                results = evaluate_results(sweep, design)
        for point, found in zip(todo, results, strict=True):
            _ESTIMATES[(sweep.path, sweep.text, hardware, point)] = found
        out.update({p: _ESTIMATES[(sweep.path, sweep.text, hardware, bare[p])] for p in mine})
    return out


def estimate_points(
    points: Iterable[Point], hardware: str, layers: Path = EXAMPLES
) -> dict[Point, dict[str, LayerResult]]:
    """Every scheme's estimate of each point's layer (the first of its file; one entry, keyed by the layer kind, for
    a non-MLA layer), as `mlacc sweep` and `mlacc compile` estimate it (`_layer_results`)."""
    return {point: _by_scheme(found[0]) for point, found in _layer_results(points, hardware, layers).items()}


def estimate_layers(
    points: Iterable[Point], hardware: str, layers: Path = EXAMPLES
) -> dict[Point, dict[str, LayerEstimate]]:
    """Every scheme's estimate of each point's whole layer (`Point.ffn` names its feed-forward layer): the one
    attention layer of the point's file under that scheme, plus one step of the feed-forward layer."""
    out: dict[Point, dict[str, LayerEstimate]] = {}
    for point, found in _layer_results(points, hardware, layers).items():
        path = layers / f"{point.model}.attn"
        attention = [r for r in found if r.kind not in FFN_KINDS]
        if len(attention) != 1:
            raise InputError(f"a whole layer needs one attention layer in {path}, not {len(attention)}")
        ffn = [r for r in found if r.layer == point.ffn and r.kind in FFN_KINDS]
        if not ffn:
            raise InputError(
                f"measurement names feed-forward layer '{point.ffn}', but {path} has no MLP or MoE layer so named"
            )
        out[point] = {scheme: LayerEstimate(alt, ffn[0]) for scheme, alt in _by_scheme(attention[0]).items()}
    return out


_ESTIMATES: dict[tuple[str, str, str, Point], list[LayerResult]] = {}
"""Estimates made in this process, by (layer file, its text, hardware, point without its ffn): every layer's
result. Runs of one grid on several boards (`mlacc validate a.csv b.csv`) share their points, as do the MoE and
dense rows of one whole step, and the hardware's target is read once per process as the sweep's is
(mlacc/sweep/space.py `chip_target`)."""


def estimate_point(point: Point, hardware: str) -> dict[str, LayerResult]:
    """Every scheme's estimate of one point (one entry, keyed by the layer kind, for a non-MLA layer)."""
    return estimate_points([point], hardware)[point]


def validate(
    path: str, hardware: str | None = None, grid: str = "validation", layers: Path = EXAMPLES
) -> list[Validation]:
    out = []
    for device, rows in read_measurements(path, grid).items():
        preset = hardware or preset_for(device, rows)
        validation = Validation(device, preset, Path(path).name)
        points = [Point.of(row) for row in rows]
        estimates: dict[Point, Mapping[str, Estimate]] = {}
        estimates.update(estimate_points([p for p in points if not p.ffn], preset, layers))
        estimates.update(estimate_layers([p for p in points if p.ffn], preset, layers))
        for row, point in zip(rows, points, strict=True):
            estimate = estimates[point].get(row["scheme"])
            if estimate is None:
                validation.skipped.append(f"{point.label()} {row['scheme']}: no estimate of that scheme")
                continue
            validation.rows.append(
                Comparison(
                    point,
                    row["scheme"],
                    float(row["seconds"]),
                    estimate.seconds,
                    float(row["joules"]) if row.get("joules") else float("nan"),
                    estimate.energy_pj * 1e-12,
                    estimate.fits,
                    float(row["spread"]) if row.get("spread") else 0.0,
                )
            )
        out.append(validation)
    return out


def check_limits(
    validations: list[Validation],
    max_median: float | None,
    max_error: float | None,
    max_energy: float | None,
) -> list[str]:
    """The limits the validations exceed, one line each."""
    failures = []
    for v in validations:
        s = v.summary()
        for value, limit, what in (
            (s["worst_group_median_time_error"], max_median, "median time error of a (phase, scheme)"),
            (s["max_time_error"], max_error, "largest time error"),
            (s["median_energy_error"], max_energy, "median energy error"),
        ):
            if limit is not None and value > limit:
                failures.append(f"{v.device}: {what} {value:.1%} > {limit:.1%}")
    return failures


def format_validation(validations: list[Validation]) -> str:
    out: list[str] = []
    for v in validations:
        run = f" ({v.source})" if v.source else ""
        out.append(f"== {v.device}{run} vs mlacc preset '{v.hardware}': {len(v.rows)} measured steps")
        width = max([44, *(len(r.point.label()) for r in v.rows)])  # a whole layer's label is longer
        out.append(
            f"  {'point':<{width}} {'scheme':<10} {'measured':>9} {'estimate':>9} {'error':>7}  "
            f"{'measured':>8} {'estimate':>8} {'error':>7}"
        )
        for r in sorted(v.rows, key=lambda r: (r.point.model, r.point.phase, r.point.batch, r.point.context)):
            out.append(
                f"  {r.point.label():<{width}} {r.scheme:<10} {si(r.measured_seconds, 's'):>9} "
                f"{si(r.estimated_seconds, 's'):>9} {r.time_error:>+7.1%}  {si(r.measured_joules, 'J'):>8} "
                f"{si(r.estimated_joules, 'J'):>8} {r.energy_error:>+7.1%}"
            )
        out.append("")
        column = max([10, *(len(group) for _, group in v.groups())])  # a whole layer's group: `SCHEME + FFN`
        out.append(f"  {'phase':<8} {'scheme':<{column}} {'points':>6}  {'time |error|':>22}  {'energy |error|':>22}")
        out.append(f"  {'':<8} {'':<{column}} {'':>6}  {'median':>10} {'max':>11}  {'median':>10} {'max':>11}")
        for (phase, scheme), rows in v.groups().items():
            t = [abs(r.time_error) for r in rows]
            e = [abs(r.energy_error) for r in rows]
            out.append(
                f"  {phase:<8} {scheme:<{column}} {len(rows):>6}  {statistics.median(t):>10.1%} {max(t):>11.1%}  "
                f"{statistics.median(e):>10.1%} {max(e):>11.1%}"
            )
        s = v.summary()
        out.append("")
        out.append(
            f"  all: time median {s['median_time_error']:.1%}, max {s['max_time_error']:.1%}; energy median "
            f"{s['median_energy_error']:.1%}, max {s['max_energy_error']:.1%}; scheme ranking agrees at "
            f"{s['rankings_agreeing']} of {s['rankings']} points ({s['rankings_agreeing_within_ties']} counting "
            f"measured times within {RANK_TIE:.0%}{' or their spread' if any(r.spread for r in v.rows) else ''} "
            "as ties)"
        )
        for point, measured, estimated in v.rankings():
            if measured != estimated:
                gap = v.misordered_gap(point, estimated)
                verdict = "a tie" if v.agrees(point, estimated, RANK_TIE) else "a miss"
                out.append(
                    f"  ranking differs at {point.label()}: measured {' < '.join(measured)}, "
                    f"estimated {' < '.join(estimated)} (the pair it swaps measured {gap:.1%} apart: {verdict})"
                )
        out.extend(f"  skipped: {line}" for line in v.skipped)
        out.append("")
    out.append("error = estimate / measurement - 1; energy is the board's (NVML) against dynamic + static estimates.")
    return "\n".join(out) + "\n"


def plot_validation(validations: list[Validation], path: str) -> None:
    """A log-log scatter of estimated against measured seconds, one panel per run and device."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(validations), figsize=(6 * len(validations), 5.5), squeeze=False)
    for ax, v in zip(axes[0], validations, strict=True):
        schemes = sorted({r.scheme for r in v.rows})
        for scheme in schemes:
            for phase, marker in (("decode", "o"), ("prefill", "^")):
                rows = [r for r in v.rows if r.scheme == scheme and r.point.phase == phase]
                if rows:
                    ax.scatter(
                        [r.measured_seconds for r in rows],
                        [r.estimated_seconds for r in rows],
                        marker=marker,
                        label=f"{scheme} ({phase})",
                        alpha=0.8,
                    )
        values = [x for r in v.rows for x in (r.measured_seconds, r.estimated_seconds)]
        lo, hi = min(values) / 1.5, max(values) * 1.5
        ax.plot([lo, hi], [lo, hi], "k-", linewidth=0.8, label="estimate = measurement")
        ax.fill_between([lo, hi], [lo * 0.75, hi * 0.75], [lo * 1.25, hi * 1.25], color="grey", alpha=0.15,
                        label="±25%")  # fmt: skip
        ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi))
        ax.set_xlabel("measured step time (s)")
        ax.set_ylabel(f"mlacc estimate, preset {v.hardware} (s)")
        ax.set_title(f"{v.device} ({v.source})" if v.source else v.device, fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


TABLE_RUNS = {
    "h100_2026-11-24.csv": "H100",
    "h200_cublaslt_2026-12-01.csv": "H200, cuBLASLt",
    "h200_head16_validation_2026-12-01.csv": "H200, cuBLAS",
    "h200_head16_tuned_2026-12-01.csv": "H200, tuned GEMMs",
}
"""The committed validation runs (benchmarks/results/) that docs/validation.md's table of four runs shows, in its
column order, each with its column label (cuBLASLt: measure.py --blas cublaslt; tuned GEMMs: measure.py
--tuned-gemms; the others torch's default, cuBLAS). `python benchmarks/validation_table.py` prints the table."""


def markdown_table(validations: list[Validation], labels: list[str] | None = None) -> str:
    """docs/validation.md's table of four runs: per (phase, scheme), each measurement's median and largest |time
    error| and median |energy error|, then the same over all its steps; each headed by its label (default: the
    preset)."""
    labels = labels or [v.hardware.upper() for v in validations]
    header = "| phase | scheme | " + " | ".join(f"{label}: time median | max | energy median" for label in labels)
    lines = [header + " |", "|---|---|" + "---:|---:|---:|" * len(validations)]
    order = {scheme: i for i, scheme in enumerate(SCHEME_ORDER)}  # whole layers' groups after the schemes
    keys = sorted({k for v in validations for k in v.groups()}, key=lambda k: (k[0], order.get(k[1], len(order)), k[1]))
    for key in keys:
        cells = []
        for v in validations:
            rows = v.groups().get(key, [])
            t = [abs(r.time_error) for r in rows] or [float("nan")]
            e = [abs(r.energy_error) for r in rows] or [float("nan")]
            cells.append(f"{statistics.median(t):.1%} | {max(t):.1%} | {statistics.median(e):.1%}")
        lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")
    totals = []
    for v in validations:
        s = v.summary()
        totals.append(f"{s['median_time_error']:.1%} | {s['max_time_error']:.1%} | {s['median_energy_error']:.1%}")
    steps = " / ".join(str(len(v.rows)) for v in validations)
    lines.append(f"| all | {steps} steps | " + " | ".join(totals) + " |")
    return "\n".join(lines) + "\n"


SCHEME_ORDER = ("mha", "cache-kv", "expand", "recompute", "reuse")
"""The order of that table's rows: the MHA twin, then MLA's schemes from most cached to most absorbed."""
