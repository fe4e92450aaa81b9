"""`mlacc`: compile attention-layer DSL files and report what they cost.

Exit codes: 0 success, 1 bad input (the one-line error says where), 2 bad usage.

Start-up is part of the interface: `mlacc --help`, `mlacc hw list` and a DSL
syntax error must answer in a blink, so this module imports only argparse and
the light tables it builds options from; each command imports what it runs
(xDSL, the passes, numpy) when it runs.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from xdsl.utils.exceptions import DiagnosticException, ParseError

from mlacc.diagnostics import InputError, UsageError, error_line, report_internal_error
from mlacc.hardware import DEFAULT_HARDWARE, load_hardware, preset_description, preset_names
from mlacc.output import write_whole
from mlacc.pipeline import DEFAULT_SCHEME, EMIT_STAGES, HARDWARE_STAGES
from passes import SCHEMES

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp
    from xdsl.ir import Operation

    from dialects.hw import TargetAttr


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise InputError(f"cannot read '{path}': {reason}") from None


def select_workload(module: ModuleOp, workload: str, path: str) -> None:
    """Keeps only the functions of `workload`; a name the file lacks is a usage error."""
    from xdsl.dialects import func

    from dialects.attn import LayerOp

    names: list[str] = []
    for function in list(module.ops):
        assert isinstance(function, func.FuncOp)
        layer_op = next(op for op in function.body.walk() if isinstance(op, LayerOp))
        name = layer_op.workload.workload_name.data
        if name not in names:
            names.append(name)
        if name != workload:
            function.detach()
            function.erase()
    if workload not in names:
        raise UsageError(f"no workload '{workload}' in {path} (it has: {', '.join(names)})")


def _print_ir(module: ModuleOp) -> str:
    from io import StringIO

    from xdsl.printer import Printer

    out = StringIO()
    Printer(stream=out).print_op(module)
    return out.getvalue() + "\n"


def _check_ep(args: argparse.Namespace) -> None:
    if args.ep is not None and args.tp * args.dp == 1 and getattr(args, "layout", None) is None:
        raise UsageError("--ep spreads a MoE layer's experts over the GPUs of --tp and --dp: give them too")


def compile_command(args: argparse.Namespace) -> tuple[str, int]:
    module = _load(args)
    scheme = args.scheme or DEFAULT_SCHEME
    if args.trace and (args.counts or args.emit):
        raise UsageError("--trace writes the schedule the report estimates: it takes no --emit or --counts")
    from dialects.hw import attach_target
    from mlacc.pipeline import compile_to

    if args.counts:
        from mlacc.report import account_all_schemes, account_module, format_ops, format_schemes

        if args.emit is not None or args.hw is not None or args.set:
            raise UsageError("--counts prints hardware-independent counts: it takes no --emit, --hw or --set")
        if args.tp * args.dp > 1 or args.ep is not None:
            raise UsageError("--counts prints one unsharded layer's counts: it takes no --tp, --dp or --ep")
        lowered = compile_to(module, "la")
        if args.scheme is not None:
            return format_ops(account_module(compile_to(lowered, "absorbed", args.scheme))), 0
        return format_schemes(account_all_schemes(lowered)), 0
    needs_hardware = (
        args.hw is not None
        or bool(args.set)
        or args.emit is None
        or args.emit in HARDWARE_STAGES
        or (args.emit in ("absorbed", "sharded", "mlir") and scheme == "auto")
    )
    target = _targets([args.hw or DEFAULT_HARDWARE], args.set, one=True)[0] if needs_hardware else None
    if target is not None:
        attach_target(module, target)
    if args.emit == "mlir" and (args.tp * args.dp > 1 or args.ep is not None):
        raise UsageError("--emit mlir lowers one device's unsharded layer: it takes no --tp, --dp or --ep")
    _check_ep(args)
    if args.emit is not None:
        return _print_ir(compile_to(module, args.emit, scheme, tp=args.tp, dp=args.dp, ep=args.ep)), 0
    assert target is not None
    from mlacc.estimates import format_json, format_text
    from mlacc.pipeline import estimate

    if args.layout == "auto":
        from costmodel import Machine

        if args.tp * args.dp > 1:
            raise UsageError("--layout auto chooses tp and dp itself: give it no --tp or --dp")
        if Machine.of(target).devices < 2:
            raise UsageError(
                f"--layout auto needs a node of several GPUs ([interconnect] devices), such as h200x8; "
                f"'{target.target_name.data}' has one"
            )
        results = estimate(module, args.scheme, layout="auto", memory_utilization=args.memory_utilization, ep=args.ep)
    else:
        results = estimate(
            module, args.scheme, args.tp, args.dp, memory_utilization=args.memory_utilization, ep=args.ep
        )
    if args.trace:
        from mlacc.trace import format_trace

        write_whole(args.trace, format_trace(results))
    if args.format == "json":
        return format_json(results, target), 0
    return format_text(results, target, defaulted=args.hw is None), 0


def verify_command(args: argparse.Namespace) -> tuple[str, int]:
    if args.shrink < 1:
        raise UsageError(f"--shrink must be a positive integer, got {args.shrink}")
    from mlacc.verify import format_results, layer_cases, scheme_passes, verify_cases

    cases = layer_cases(_load(args), args.shrink)
    results = verify_cases(cases, scheme_passes(), args.seed, int(args.max_gib * 2**30), args.backend)
    return format_results(results), 0 if all(r.ok for r in results) else 1


def import_command(args: argparse.Namespace) -> tuple[str, int]:
    from mlacc.frontend.hf_config import import_config

    imported = import_config(_read(args.config), args.config, args.step)
    imported.build()  # what the DSL would be refused for is said now, at its place in the config
    return imported.dsl, 0


def hw_list_command(args: argparse.Namespace) -> tuple[str, int]:
    rows = [(name, preset_description(name)) for name in preset_names()]
    width = max(len(name) for name, _ in rows)
    return "".join(f"{name:<{width}}  {description}\n" for name, description in rows), 0


def hw_show_command(args: argparse.Namespace) -> tuple[str, int]:
    from mlacc.hardware.describe import format_hardware_toml, format_target_json, format_target_text

    if args.format == "toml":
        from mlacc.hardware import read_hardware

        hardware = read_hardware(args.hardware)
        hardware.target()  # only a valid file is printed, its errors at their place
        return format_hardware_toml(args.hardware, hardware.data), 0
    target = load_hardware(args.hardware)
    return (format_target_json if args.format == "json" else format_target_text)(target), 0


def _load(args: argparse.Namespace) -> ModuleOp:
    from mlacc.frontend import parse_source

    module = parse_source(_read(args.file), args.file)
    from mlacc.frontend.irgen import override_workloads

    if args.workload is not None:
        select_workload(module, args.workload, args.file)
    overrides = {k: getattr(args, k, None) for k in ("phase", "batch", "context", "new_tokens")}
    if any(v is not None for v in overrides.values()):
        override_workloads(module, **overrides)
    if getattr(args, "kv_dtype", None) is not None:
        from mlacc.frontend.irgen import override_kv_dtype

        override_kv_dtype(module, args.kv_dtype)
    return module


def _tokens(text: str) -> int:
    """A token count as the DSL writes it: 4096, 4k (x 1024) or 128K."""
    match = re.fullmatch(r"(\d+)([kKmM]?)", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a count such as 4096, 4k or 1M, got '{text}'")
    return int(match.group(1)) * {"": 1, "k": 1024, "m": 1024**2}[match.group(2).lower()]


def _devices(text: str) -> int:
    if not re.fullmatch(r"\d+", text.strip()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of GPUs, got '{text}'")
    return int(text)


def _add_parallelism(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("parallelism (the shard pass; figures become one GPU's)")
    group.add_argument(
        "--tp", type=_devices, default=1, metavar="N", help="tensor parallel over N GPUs: heads split (default 1)"
    )
    group.add_argument(
        "--dp", type=_devices, default=1, metavar="M", help="data parallel over M GPUs: batch split (default 1)"
    )
    group.add_argument(
        "--ep",
        type=_devices,
        metavar="E",
        help="expert parallel: a MoE layer's experts spread over E of the tp x dp GPUs, dp times a divisor of tp "
        "(default: dp)",
    )
    group.add_argument(
        "--layout",
        choices=("auto",),
        help="auto: try every tp x dp of the node preset's GPUs and keep, per layer, the fastest that fits",
    )


def _utilization(text: str) -> float:
    """--memory-utilization: a share of the GPU's memory, above 0 and at most 1."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share of memory above 0 and at most 1, got '{text}'")
    return value


def _add_deployment(parser: argparse.ArgumentParser) -> None:
    from dialects.attn_rules import DTYPE_NAMES
    from mlacc.whole_model import DEFAULT_MEMORY_UTILIZATION

    group = parser.add_argument_group("deployment (how a serving engine holds the model)")
    group.add_argument(
        "--kv-dtype", choices=DTYPE_NAMES, help="the KV cache's dtype for every layer (as vLLM's --kv-cache-dtype)"
    )
    group.add_argument(
        "--memory-utilization",
        type=_utilization,
        metavar="SHARE",
        help="share of each GPU's memory for weights, KV caches and activations (vLLM's gpu_memory_utilization; "
        f"default {DEFAULT_MEMORY_UTILIZATION:g} for a layer that describes its whole model, else 1)",
    )


def _add_set(parser: argparse.ArgumentParser, how: str) -> None:
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help=f"override a hardware field, e.g. hbm.read_bandwidth_bytes_per_cycle=3000 ({how}); the chip is then "
        "not calibrated",
    )


def _add_what_ifs(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("what-ifs (override every workload of the file)")
    group.add_argument("--phase", choices=("decode", "prefill"))
    group.add_argument("--batch", type=_tokens, metavar="N")
    group.add_argument("--context", type=_tokens, metavar="TOKENS", help="tokens already cached, e.g. 32k")
    group.add_argument("--new-tokens", type=_tokens, metavar="TOKENS", help="tokens computed by the step")


def _load_files(args: argparse.Namespace) -> ModuleOp:
    """The layers of every FILE of `compare` in one module, in the order given; a layer name in two files is an
    error (their rows could not be told apart)."""
    from xdsl.dialects import func

    merged: ModuleOp | None = None
    where: dict[str, tuple[int, str]] = {}
    for i, path in enumerate(args.file):
        module = _load(argparse.Namespace(**{**vars(args), "file": path}))
        for function in list(module.ops):
            assert isinstance(function, func.FuncOp)
            name = _layer_name(function)
            if where.setdefault(name, (i, path))[0] != i:
                raise InputError(f"layer '{name}' is in both {where[name][1]} and {path}: rename one to compare them")
            if merged is not None:
                function.detach()
                merged.body.block.add_op(function)
        merged = merged or module
    assert merged is not None
    return merged


def _targets(hardware: list[str], sets: list[str], one: bool) -> list[TargetAttr]:
    """Each hardware with every combination of `--set` values (a what-if chip each; `one`: exactly one value
    per field, as `compile` takes)."""
    from mlacc.sweep.space import chips, parse_sets

    fields = parse_sets(sets)
    if one and any(len(values) > 1 for _, values in fields):
        raise UsageError("--set: compile takes one value per field; compare and sweep take several")
    return list(chips(hardware, fields).values())


def _layer_name(function: Operation) -> str:
    """The DSL name of the layer an `attn` function holds (its first op's `layer`)."""
    from xdsl.dialects.builtin import StringAttr

    layer = function.regions[0].block.first_op
    name = layer.properties.get("layer") if layer is not None else None
    assert isinstance(name, StringAttr)
    return name.data


def _check_baseline(module: ModuleOp, baseline: str, files: list[str]) -> None:
    from mlacc.diagnostics import did_you_mean

    layers = list(dict.fromkeys(_layer_name(f) for f in module.ops))
    if baseline not in layers:
        raise UsageError(
            f"--baseline: no layer '{baseline}' in {', '.join(files)} (layers: {', '.join(layers)})"
            f"{did_you_mean(baseline, layers)}"
        )


def compare_command(args: argparse.Namespace) -> tuple[str, int]:
    names = [n for n in args.hw.split(",") if n]
    if not names:
        raise UsageError("--hw needs at least one hardware name or path")
    from dialects.hw import attach_target
    from mlacc.estimates import format_compare, format_compare_json
    from mlacc.pipeline import estimate

    _check_ep(args)
    per_hardware = {}
    for target in _targets(names, args.set, one=False):
        module = _load_files(args)
        if args.baseline is not None and not per_hardware:
            _check_baseline(module, args.baseline, args.file)
        attach_target(module, target)
        per_hardware[target.target_name.data] = estimate(
            module, None, args.tp, args.dp, memory_utilization=args.memory_utilization, ep=args.ep
        )
    if args.format == "json":
        return format_compare_json(per_hardware, args.baseline), 0
    return format_compare(per_hardware, args.baseline), 0


def validate_command(args: argparse.Namespace) -> tuple[str, int]:
    from pathlib import Path

    from mlacc.validate import EXAMPLES, check_limits, format_validation, plot_validation, validate

    validations = []
    for path in args.csv:
        found = validate(path, args.hw, args.grid, Path(args.layers) if args.layers else EXAMPLES)
        if not found:
            raise InputError(f"{path}: no measured steps in grid '{args.grid}'")
        validations += found
    if args.plot:
        plot_validation(validations, args.plot)
    failures = check_limits(validations, args.max_median_error, args.max_error, args.max_energy_error)
    text = format_validation(validations) + "".join(f"limit exceeded: {f}\n" for f in failures)
    return text, 1 if failures else 0


def sweep_command(args: argparse.Namespace) -> tuple[str, int]:
    from mlacc.sweep.axes import parse_axis, parse_words

    if args.jobs < 1:
        raise UsageError(f"--jobs must be a positive integer, got {args.jobs}")
    _check_executor(args.executor, args.scheduler, args.jobs)
    if args.table is not None:
        from mlacc.sweep.tables import output_format

        output_format(args.table)
    schemes = _sweep_schemes(args.scheme)
    hardware = [h.strip() for h in args.hw.split(",")]
    if not all(hardware):
        raise UsageError(f"--hw: empty item in '{args.hw}'")
    axes = {
        "phases": parse_words(args.phase, "--phase", ("decode", "prefill")) if args.phase else None,
        "batches": parse_axis(args.batch, "--batch", integer=True, minimum=1) if args.batch else None,
        "contexts": parse_axis(args.context, "--context", integer=True, minimum=0) if args.context else None,
        "new_tokens": parse_axis(args.new_tokens, "--new-tokens", integer=True, minimum=1) if args.new_tokens else None,
        "tps": parse_axis(args.tp, "--tp", integer=True, minimum=1) if args.tp else None,
        "dps": parse_axis(args.dp, "--dp", integer=True, minimum=1) if args.dp else None,
        "eps": parse_axis(args.ep, "--ep", integer=True, minimum=1) if args.ep else None,
    }
    from mlacc.sweep.space import SweepInput, chips, design_points, file_module, has_experts, parse_sets, workload_names

    sets = parse_sets(args.set)
    text = _read(args.file)
    names = workload_names(file_module(args.file, text))
    if axes["eps"] and not has_experts(args.file, text):
        raise InputError(f"--ep spreads a MoE layer's experts over GPUs, but no layer of {args.file} has experts")
    workloads = names
    if args.workload is not None:
        workloads = [w.strip() for w in args.workload.split(",")]
        for w in workloads:
            if w not in names:
                raise UsageError(f"no workload '{w}' in {args.file} (it has: {', '.join(names)})")
    targets = chips(hardware, sets)
    points = design_points(list(targets), workloads, **axes)  # type: ignore[arg-type]
    from mlacc.sweep.run import run_sweep

    rows = run_sweep(SweepInput(args.file, text, schemes, args.ops), points, args.jobs, args.quiet, args.scheduler)
    skipped = [row["skipped"] for row in rows if "skipped" in row]
    if skipped:
        print(
            f"sweep: {len(skipped)} of {len(rows)} rows skipped (column 'skipped'), e.g.: {skipped[0]}", file=sys.stderr
        )
    from mlacc.sweep.tables import format_csv, write_rows

    if args.table is None:
        return format_csv(rows), 0
    write_rows(args.table, rows)
    return "", 0


def _check_executor(executor: str, scheduler: str | None, jobs: int) -> None:
    if executor == "dask" and scheduler is None:
        raise UsageError("--executor dask needs --scheduler ADDRESS (on this machine alone, use --jobs N)")
    if executor == "local" and scheduler is not None:
        raise UsageError("--scheduler is for --executor dask")
    if executor == "dask" and jobs != 1:
        raise UsageError("--jobs is for --executor local: a Dask cluster runs as many chunks as it has workers")


def plot_command(args: argparse.Namespace) -> tuple[str, int]:
    from mlacc.plot import PlotRequest, plot_sweep

    hardware = tuple(h.strip() for h in args.hw.split(",")) if args.hw else ()
    request = PlotRequest(args.kind, args.where, args.x, args.y, hardware, args.dtype)
    return plot_sweep(args.sweep, request, args.figure), 0


def _sweep_schemes(text: str) -> tuple[str, ...]:
    if text == "all":
        return SCHEMES
    if text == "auto":
        return ("auto",)
    from mlacc.sweep.axes import parse_words

    if "auto" in text.split(","):
        raise UsageError("--scheme: auto stands alone (it reports the scheme auto picks; all reports every one)")
    return tuple(parse_words(text, "--scheme", SCHEMES))


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose description may need a heavy import: `describe` runs only when help is printed."""

    describe: Callable[[], str] | None = None

    def format_help(self) -> str:
        if self.describe is not None:
            self.description = self.describe()
        return super().format_help()


def _verify_description() -> str:
    from mlacc.verify import TOLERANCE

    return (
        "Run each layer x workload in float64 with the numpy interpreter: the unabsorbed IR against the "
        f"paper's formulas, and every scheme against the unabsorbed IR. Exit 1 if any max relative "
        f"difference exceeds {TOLERANCE:g}."
    )


def _common_options() -> _Parser:
    """-q and --verbose, taken by every command that runs passes."""
    common = _Parser(add_help=False)
    group = common.add_argument_group("diagnostics")
    group.add_argument("-q", "--quiet", action="store_true", help="print no remarks (errors and warnings still)")
    group.add_argument("--verbose", action="store_true", help="print the wall time of every pass on stderr")
    return common


class _Version(argparse.Action):
    """`--version`: the version is looked up (importlib.metadata) only when asked, not for every command's start."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None):
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: object = None,
    ) -> None:
        from mlacc import __version__

        sys.stdout.write(f"{parser.prog} {__version__}\n")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mlacc", description="Compile attention-layer DSL files and report what they cost.")
    common = _common_options()
    parser.add_argument("--version", action=_Version, help="print mlacc's version (the installed package's) and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    compile_parser = commands.add_parser(
        "compile",
        help="compile a DSL file: a report per layer x workload, or the IR of one stage",
        description="Compile a DSL file. Without --emit, print a report of every layer x workload.",
        parents=[common],
    )
    compile_parser.add_argument("file", metavar="FILE", help="a .attn DSL file, or a Hugging Face config.json")
    compile_parser.add_argument(
        "--emit", choices=EMIT_STAGES, help="print the IR after this stage instead of the report"
    )
    compile_parser.add_argument("--workload", metavar="NAME", help="compile only this workload of the file")
    compile_parser.add_argument(
        "-o", "--output", metavar="OUT", help="write to OUT (whole or not at all) instead of stdout"
    )
    compile_parser.add_argument(
        "--scheme",
        choices=(*SCHEMES, "auto"),
        help="MLA execution scheme (default: auto, reported next to every other scheme)",
    )
    compile_parser.add_argument(
        "--hw",
        metavar="NAME|PATH",
        help=f"hardware preset (see `mlacc hw list`) or TOML file (default: {DEFAULT_HARDWARE})",
    )
    compile_parser.add_argument("--format", choices=("text", "json"), default="text", help="report format")
    compile_parser.add_argument(
        "--trace",
        metavar="OUT.json",
        help="also write every scheme's schedule as a Chrome/Perfetto trace (open in ui.perfetto.dev)",
    )
    compile_parser.add_argument(
        "--counts",
        action="store_true",
        help="print hardware-independent FLOP and byte counts per scheme (with --scheme: per op) instead",
    )
    _add_what_ifs(compile_parser)
    _add_parallelism(compile_parser)
    _add_deployment(compile_parser)
    _add_set(compile_parser, "repeatable")
    compile_parser.set_defaults(run=compile_command)

    compare_parser = commands.add_parser(
        "compare",
        help="every scheme (and other layers of the file) side by side on several hardware targets",
        description="For each workload, every layer of the files (under every MLA scheme) on each hardware target: "
        "latency, energy, KV-cache bytes and bound; with --baseline, each row's speedup over one layer.",
        parents=[common],
    )
    compare_parser.add_argument(
        "file", metavar="FILE", nargs="+", help=".attn DSL files or Hugging Face config.json files, side by side"
    )
    compare_parser.add_argument(
        "--hw", default=DEFAULT_HARDWARE, metavar="A,B,...", help=f"presets or TOML files (default {DEFAULT_HARDWARE})"
    )
    compare_parser.add_argument("--workload", metavar="NAME", help="compare only this workload of the files")
    compare_parser.add_argument(
        "--baseline", metavar="LAYER", help="a layer of the files: a speedup column, its latency over each row's"
    )
    _add_set(compare_parser, "repeatable; every combination of values is a what-if chip, side by side")
    compare_parser.add_argument("--format", choices=("text", "json"), default="text")
    compare_parser.add_argument("-o", "--output", metavar="OUT", help="write to OUT instead of stdout")
    _add_what_ifs(compare_parser)
    _add_parallelism(compare_parser)
    _add_deployment(compare_parser)
    compare_parser.set_defaults(run=compare_command)

    verify_parser = commands.add_parser(
        "verify",
        help="check on random inputs that every MLA scheme computes what the unabsorbed layer computes",
        parents=[common],
    )
    assert isinstance(verify_parser, _Parser)
    verify_parser.describe = _verify_description
    verify_parser.add_argument("file", metavar="FILE", help="a .attn DSL file, or a Hugging Face config.json")
    verify_parser.add_argument("--workload", metavar="NAME", help="verify only this workload of the file")
    verify_parser.add_argument(
        "--shrink",
        type=int,
        default=1,
        metavar="N",
        help="divide every layer dimension, the batch and the token counts by N (rounded up; RoPE and head "
        "dims kept even, GQA group size kept) so that full-size layers fit in memory",
    )
    verify_parser.add_argument(
        "--backend",
        choices=("numpy", "iree"),
        default="numpy",
        help="numpy: float64 interpreter (default); iree: every scheme lowered to upstream MLIR, compiled by IREE "
        "for this CPU and run in float32 against the interpreter (needs the [iree] extra; docs/mlir.md)",
    )
    verify_parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    verify_parser.add_argument(
        "--max-gib",
        type=float,
        default=4.0,
        metavar="GIB",
        help="refuse cases whose float64 tensors need more than this (default 4)",
    )
    verify_parser.add_argument("-o", "--output", metavar="OUT", help="write the report to OUT instead of stdout")
    verify_parser.set_defaults(run=verify_command)

    validate_parser = commands.add_parser(
        "validate",
        help="estimates against measurements of real hardware (a CSV from benchmarks/gpu/measure.py)",
        description="Estimate every measured step of each CSV with its device's preset and print estimate vs "
        "measurement per point and scheme, the median and largest errors, and whether the schemes rank alike. "
        "Exit 1 when an error limit given is exceeded.",
    )
    validate_parser.add_argument(
        "csv", metavar="CSV", nargs="+", help="measurements written by benchmarks/gpu/measure.py (one or more runs)"
    )
    validate_parser.add_argument("--hw", metavar="NAME|PATH", help="preset or file to judge (default: by device)")
    validate_parser.add_argument(
        "--grid", default="validation", help="which rows: validation (default), calibration or all"
    )
    validate_parser.add_argument("--plot", metavar="OUT.png|OUT.svg", help="write a log-log scatter of the steps")
    validate_parser.add_argument(
        "--layers", metavar="DIR", help="where the rows' layers are (DIR/MODEL.attn; default: the bundled examples)"
    )
    for flag, what in (
        ("--max-median-error", "median |error| of step time of any (phase, scheme)"),
        ("--max-error", "largest |error| of step time"),
        ("--max-energy-error", "median |error| of step energy"),
    ):
        validate_parser.add_argument(flag, type=float, metavar="FRACTION", help=f"limit on the {what}")
    validate_parser.add_argument("-o", "--output", metavar="OUT", help="write the report to OUT instead of stdout")
    validate_parser.set_defaults(run=validate_command)
    import_parser = commands.add_parser(
        "import",
        help="a Hugging Face config.json as DSL: the model's layer and workloads to edit",
        description="Write the DSL of a Hugging Face config.json (DeepSeek-V2/V3, Kimi-K2: MLA; Llama, Mistral, "
        "Mixtral, Qwen2: MHA/GQA/MQA): one layer with the model's dimensions and dtype, and decode and prefill "
        "workloads. Every command that reads a DSL file also reads a .json config directly, as this DSL.",
    )
    import_parser.add_argument("config", metavar="CONFIG.json", help="a Hugging Face config.json")
    import_parser.add_argument("-o", "--output", metavar="MODEL.attn", help="write to MODEL.attn (whole or not at all)")
    import_parser.add_argument(
        "--step",
        action="store_true",
        help="also write the MLP and MoE layers as layers of their own, so that compile reports the whole step",
    )
    import_parser.set_defaults(run=import_command)
    sweep_parser = commands.add_parser(
        "sweep",
        help="estimate every point of a design space: a row per (point, layer, scheme) as CSV, JSONL or Parquet",
        description="Estimate every combination of the hardware, scheme and workload axes, as `mlacc compile "
        "--format json` would, one row per (point, layer, scheme). Axes take lists and ranges: 1,8,32; "
        "1k..128k:x2 (geometric, up to the end); 0..4k:+512 (linear). An axis not given keeps the file's value.",
        parents=[common],
    )
    sweep_parser.add_argument("file", metavar="FILE", help="a .attn DSL file")
    sweep_parser.add_argument(
        "--hw", default=DEFAULT_HARDWARE, metavar="A,B,...", help=f"presets or TOML files (default: {DEFAULT_HARDWARE})"
    )
    sweep_parser.add_argument(
        "--scheme",
        default="all",
        metavar="all|auto|S,...",
        help=f"MLA schemes to report: all (default), auto (the one auto picks) or some of {', '.join(SCHEMES)}",
    )
    sweep_parser.add_argument("--workload", metavar="NAME,...", help="sweep only these workloads of the file")
    sweep_parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUES",
        help="override a hardware field, e.g. hbm.read_bandwidth_bytes_per_cycle=1000..4000:x2, frequency_hz=1.5e9, "
        "sm.macs_per_cycle.bf16=512, efficiency.compute=0.8; repeatable: every combination is a hypothetical chip",
    )
    group = sweep_parser.add_argument_group("axes (lists and ranges; default: each workload's own value)")
    group.add_argument("--phase", metavar="decode,prefill")
    group.add_argument("--batch", metavar="VALUES", help="e.g. 1,8,32 or 1..128:x2")
    group.add_argument("--context", metavar="TOKENS", help="tokens already cached, e.g. 1k..128k:x2")
    group.add_argument("--new-tokens", metavar="TOKENS", help="tokens computed by the step, e.g. 1,4k")
    group.add_argument("--tp", metavar="N,...", help="tensor-parallel GPUs (heads split), e.g. 1,2,8 (default 1)")
    group.add_argument("--dp", metavar="N,...", help="data-parallel GPUs (batch split), e.g. 1,8 (default 1)")
    group.add_argument(
        "--ep", metavar="N,...", help="expert-parallel GPUs (a MoE layer's experts spread), e.g. 1,8 (default: dp)"
    )
    sweep_parser.add_argument(
        "-o",
        "--output",
        dest="table",
        metavar="OUT.csv|OUT.jsonl|OUT.parquet",
        help="write the rows to OUT, format from the extension, whole or not at all (default: CSV on stdout)",
    )
    sweep_parser.add_argument(
        "--ops", action="store_true", help="add an ops column: the per-op results of each row, as JSON"
    )
    sweep_parser.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes (default 1)")
    sweep_parser.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="local: this machine, --jobs processes (default); dask: the workers of a Dask cluster, same rows",
    )
    sweep_parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="the Dask scheduler of --executor dask, e.g. tcp://host:8786 (required: a sweep meant for a cluster "
        "never falls back to this machine, where --jobs does the same work without a cluster)",
    )
    sweep_parser.set_defaults(run=sweep_command, output=None)
    plot_parser = commands.add_parser(
        "plot",
        help="draw a sweep's rows: latency, energy, roofline, scheme choice, energy breakdown, KV-cache capacity",
        description="Draw a picture of the rows `mlacc sweep` wrote: one panel per hardware. Inputs that vary and "
        "are not on the picture's axes are fixed at their first value unless --where fixes them.",
    )
    plot_parser.add_argument("sweep", metavar="SWEEP", help="rows of `mlacc sweep`: .csv, .jsonl or .parquet")
    plot_parser.add_argument(
        "--kind",
        required=True,
        metavar="KIND",
        help="latency|energy|capacity (vs --x, a line per scheme), roofline (every op of one point; needs a sweep "
        "with --ops), choice (the scheme auto picks over --x and --y), breakdown (energy components per scheme)",
    )
    plot_parser.add_argument(
        "-o",
        "--output",
        dest="figure",
        required=True,
        metavar="OUT.png|OUT.svg",
        help="the picture, whole or not at all",
    )
    plot_parser.add_argument("--where", metavar="COL=V,...", help="draw only rows with these values, e.g. batch=32")
    plot_parser.add_argument("--x", metavar="COLUMN", help="the swept input across (default: context, else batch, ...)")
    plot_parser.add_argument(
        "--y", metavar="COLUMN", help="the choice map's second axis (default: another swept input)"
    )
    plot_parser.add_argument(
        "--hw", metavar="A.toml,...", help="hardware files of chips the rows name that are no preset"
    )
    plot_parser.add_argument(
        "--dtype", default="bf16", help="the layer's dtype, for the roofline's peak (default bf16)"
    )
    plot_parser.set_defaults(run=plot_command, output=None)
    hw_parser = commands.add_parser("hw", help="list and show hardware presets and files")
    hw_commands = hw_parser.add_subparsers(dest="hw_command", required=True, metavar="HW_COMMAND")
    hw_list = hw_commands.add_parser("list", help="the bundled presets, one per line")
    hw_list.set_defaults(run=hw_list_command, output=None)
    hw_show = hw_commands.add_parser("show", help="a preset's or file's fields, peak rates and ridge points")
    hw_show.add_argument("hardware", metavar="NAME|PATH", help="a preset name (see `mlacc hw list`) or a .toml file")
    hw_show.add_argument(
        "--format", choices=("text", "json", "toml"), default="text", help="toml: an editable file that loads back"
    )
    hw_show.add_argument("-o", "--output", metavar="OUT", help="write to OUT (whole or not at all) instead of stdout")
    hw_show.set_defaults(run=hw_show_command)
    return parser


def _run(args: argparse.Namespace) -> tuple[str, int]:
    """The command, inside a remark session (printed once each; none with -q) and, with --verbose, a pass timer."""
    if not hasattr(args, "quiet"):  # hw commands run no pass
        return args.run(args)
    from mlacc.timing import pass_timer
    from passes.remarks import session

    with session(quiet=args.quiet), pass_timer(args.verbose):
        return args.run(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        text, code = _run(args)
        if args.output:
            write_whole(args.output, text)
        else:
            sys.stdout.write(text)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (ParseError, DiagnosticException, InputError, OSError, ValueError) as e:
        print(error_line(e), file=sys.stderr)
        return 1
    except Exception as e:  # a bug in mlacc, not in the input: say so in one line
        return report_internal_error(e)
    return code


if __name__ == "__main__":
    sys.exit(main())
