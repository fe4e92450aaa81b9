"""How fast the command lines answer (run on demand: python benchmarks/cli_start.py).

For `mlacc --help`, `mlacc hw list`, a one-line DSL syntax error, a one-line DSL semantic
error (unknown layer kind) and `mlacc-opt --help`: the median wall time of N processes
(what a user waits for), next to the in-process import time of the modules that command
loads (`python -X importtime`, summed over top-level imports). Then the compile time of an
absurd layer (2,000,000 heads of 2,000,000) and of a billion-token context, in process.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

SYNTAX_ERROR = "layer m : mha { d_model = 64 heads = 4 head_dim = 16 }\nworkload w { phase = decode context = 8\n"
KIND_ERROR = "layer m : mhx { d_model = 64 heads = 4 head_dim = 16 }\nworkload w { phase = decode context = 8 }\n"
ABSURD = {
    "2e6 heads x 2e6 head_dim, decode 4k": "layer big : mha { d_model = 7168 heads = 2000000 head_dim = 2000000 }\n"
    "workload d { phase = decode context = 4k }\n",
    "DeepSeek-V3 layer, decode at context 1e9": "layer v3 : mla { d_model = 7168 heads = 128 q_rank = 1536"
    " kv_rank = 512 qk_nope_dim = 128 qk_rope_dim = 64 v_dim = 128 }\n"
    "workload d { phase = decode context = 1000000000 }\n",
}


def _process_seconds(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _import_seconds(module: str, argv: list[str], runs: int) -> float:
    """Median over runs of the cumulative import time of the top-level imports a command makes, in seconds."""
    code = (
        f"import sys; sys.argv = {[module, *argv]!r}\nfrom {module} import main\ntry: main()\nexcept SystemExit: pass"
    )
    totals = []
    for _ in range(runs):
        run = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True)
        total = 0
        for line in run.stderr.splitlines():
            m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
            if m and not m.group(2).startswith(" "):
                total += int(m.group(1))
        totals.append(total / 1e6)
    return statistics.median(totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="processes per command (default 10)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        syntax, kind = Path(folder) / "syntax.attn", Path(folder) / "kind.attn"
        syntax.write_text(SYNTAX_ERROR)
        kind.write_text(KIND_ERROR)
        commands = [
            ("mlacc --help", "mlacc.cli", ["--help"]),
            ("mlacc hw list", "mlacc.cli", ["hw", "list"]),
            ("mlacc compile (syntax error)", "mlacc.cli", ["compile", str(syntax)]),
            ("mlacc compile (unknown kind)", "mlacc.cli", ["compile", str(kind)]),
            ("mlacc-opt --help", "mlacc.opt", ["--help"]),
        ]
        print(f"median of {args.runs} runs; imports = in-process import time of the modules the command loads")
        print(f"{'command':<32} {'process':>9} {'imports':>9}")
        for label, module, argv in commands:
            tool = BIN / ("mlacc" if module == "mlacc.cli" else "mlacc-opt")
            wall = _process_seconds([str(tool), *argv], args.runs)
            imports = _import_seconds(module, argv, args.runs)
            print(f"{label:<32} {wall:8.3f}s {imports:8.3f}s")

        sys.path.insert(0, str(ROOT))
        from mlacc import cli
        from tests.fuzz_strategies import run_in_process

        print("\nabsurd but valid layers, `mlacc compile` in process (every scheme, h100):")
        for label, text in ABSURD.items():
            path = Path(folder) / "absurd.attn"
            path.write_text(text)
            outcome = run_in_process(cli.main, ["compile", str(path), "-q"])
            print(f"  {label:<42} exit {outcome.code}  {outcome.seconds:6.2f} s")


if __name__ == "__main__":
    main()
