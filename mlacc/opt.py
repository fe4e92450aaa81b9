"""`mlacc-opt`: xDSL's opt driver with mlacc's dialects, passes and DSL frontend.

`.attn` files are parsed by the DSL frontend (or any input with `-f attn`), so
`mlacc-opt model.attn -p lower-attn` works like `mlacc-opt model.mlir -p lower-attn`;
a Hugging Face `config.json` (`.json`, or `-f json`) is imported as its DSL first.
Adds `--mlir-print-ir-after-all` (IR after every pass, on stderr, as mlir-opt
prints it); `-o` writes its file whole or not at all; `-q` silences remarks and
`--verbose` prints every pass's wall time on stderr. A pass option xDSL would
reject with its own types (`absorb{scheme=bogus}`) is a usage error that names
the option, the value and what it accepts.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from collections.abc import Callable, Sequence
from io import StringIO
from typing import IO, Any

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.printer import Printer
from xdsl.utils.arg_spec import ArgSpec, parse_pipeline
from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException, ParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from mlacc import __version__
from mlacc.diagnostics import InputError, UsageError, did_you_mean, error_line, report_internal_error, verify_module
from mlacc.output import write_whole

GENERIC_XDSL_PASSES = ("canonicalize", "cse", "dce")
"""xDSL's own passes that make sense on our IR; the rest would only crowd `--help`."""


def _accepted(hint: Any) -> str:
    """What a pass option of type `hint` accepts, in words."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is typing.Literal:
        return f"one of: {', '.join(str(a) for a in args)}"
    if len(args) == 1 and typing.get_origin(hint) is not tuple:
        return _accepted(args[0])
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if typing.get_origin(hint) is tuple:
        return f"a list of {words.get(args[0], str(args[0])) if args else 'values'}s"
    return words.get(hint, str(hint))


def check_pass_options(spec: str, available: dict[str, Callable[[], type[ModulePass]]]) -> None:
    """Raises UsageError, in one line, for a pass or pass option of `-p SPEC` that xDSL would reject with its
    own wording (`Incompatible types: given ('bogus',), expected typing.Literal[...]`)."""
    for arg in parse_pipeline(spec):
        if arg.name not in available:
            raise UsageError(
                f"unknown pass '{arg.name}' (passes: {', '.join(sorted(available))}){did_you_mean(arg.name, available)}"
            )
        pass_class = available[arg.name]()
        hints = typing.get_type_hints(pass_class)
        options = [f.name for f in dataclasses.fields(pass_class) if f.init and f.name != "name"]
        for key, values in arg.normalize_parameter_names().parameters.items():
            spelled = key.replace("_", "-")
            if key not in options:
                known = ", ".join(o.replace("_", "-") for o in options) or "none"
                raise UsageError(
                    f"pass '{arg.name}' has no option '{spelled}' (options: {known})"
                    f"{did_you_mean(spelled, [o.replace('_', '-') for o in options])}"
                )
            try:
                pass_class.from_pass_spec(ArgSpec(arg.name, {key: values}))
            except ValueError:
                given = ",".join(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
                raise UsageError(
                    f"pass '{arg.name}' option '{spelled}' got '{given}' (expected {_accepted(hints[key])})"
                ) from None


class MlaccOptMain(xDSLOptMain):
    version_format = f"mlacc-opt {__version__} on xDSL {{xdsl_version}}"

    def register_all_dialects(self) -> None:
        from xdsl.dialects import get_all_dialects as xdsl_dialects

        from dialects import get_all_dialects

        for name, factory in {**xdsl_dialects(), **get_all_dialects()}.items():
            self.ctx.register_dialect(name, factory)

    def register_all_passes(self) -> None:
        from xdsl.transforms import get_all_passes as xdsl_passes

        from passes import get_all_passes

        generic = {name: f for name, f in xdsl_passes().items() if name in GENERIC_XDSL_PASSES}
        for name, factory in {**generic, **get_all_passes()}.items():
            self.register_pass(name, factory)

    def register_all_frontends(self) -> None:
        super().register_all_frontends()

        def parse_attn(io: IO[bytes]) -> ModuleOp:
            from mlacc.frontend import parse_dsl

            return parse_dsl(io.read().decode(), self.get_input_name())

        def parse_hf_config(io: IO[bytes]) -> ModuleOp:
            from mlacc.frontend.hf_config import import_config

            return import_config(io.read().decode(), self.get_input_name()).build()

        self.available_frontends["attn"] = parse_attn
        self.available_frontends["json"] = parse_hf_config

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser) -> None:
        super().register_all_arguments(arg_parser)
        arg_parser.add_argument(
            "--mlir-print-ir-after-all", action="store_true", help="print the IR after every pass to stderr"
        )
        arg_parser.add_argument("-q", "--quiet", action="store_true", help="print no remarks (errors still)")
        arg_parser.add_argument("--verbose", action="store_true", help="print the wall time of every pass on stderr")
        arg_parser.add_argument(
            "--hw",
            metavar="NAME|PATH",
            help="attach this hardware preset or TOML file as the module's hw.target before the passes run",
        )

    def setup_pipeline(self) -> None:
        check_pass_options(self.args.passes, self.available_passes)
        super().setup_pipeline()
        if not self.args.mlir_print_ir_after_all:
            return
        inner = self.pipeline.callback

        def dump_after(prev: ModulePass | None, module: ModuleOp, nxt: ModulePass | None) -> None:
            if inner is not None:
                inner(prev, module, nxt)
            if prev is not None:
                print(f"// -----// IR Dump After {prev.name} //----- //", file=sys.stderr)
                Printer(stream=sys.stderr).print_op(module)
                print(file=sys.stderr)

        self.pipeline = PassPipeline(self.pipeline.passes, dump_after)

    def apply_passes(self, prog: ModuleOp) -> None:
        if self.args.hw is not None:
            from dialects.hw import attach_target
            from mlacc.hardware import load_hardware

            attach_target(prog, load_hardware(self.args.hw))
        # Verify the input first so that an invalid op is reported with its place.
        if not self.args.disable_verify:
            verify_module(prog)
        super().apply_passes(prog)

    def prepare_output(self) -> IO[str]:
        if self.args.output_file is None:
            return sys.stdout
        self._buffer = _KeptBuffer()
        return self._buffer

    def run(self) -> None:
        super().run()
        if self.args.output_file is not None:
            write_whole(self.args.output_file, self._buffer.getvalue())


class _KeptBuffer(StringIO):
    """Collects `-o` output; the base driver closes its stream, which must not discard the text."""

    def close(self) -> None:
        pass


def _run(argv: Sequence[str] | None) -> None:
    from mlacc.timing import pass_timer
    from passes.remarks import session

    main = MlaccOptMain(description="xDSL opt driver with mlacc's dialects, passes and DSL frontend", args=argv)
    generic = tuple(type(p) for p in main.pipeline.passes if p.name in GENERIC_XDSL_PASSES)
    with session(quiet=main.args.quiet), pass_timer(main.args.verbose, generic):
        main.run()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        _run(argv)
    except ArgSpecParseError as e:  # a BaseException: bad -p or -t syntax
        lines = str(e).splitlines()
        print(f"error: bad pipeline '{lines[2].strip()}': {lines[-1].strip()}", file=sys.stderr)
        return 2
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (ParseError, DiagnosticException, InputError, ValueError, OSError) as e:
        print(error_line(e), file=sys.stderr)
        return 1
    except Exception as e:  # a bug in mlacc, not in the input: say so in one line
        return report_internal_error(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
