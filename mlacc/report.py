"""Text reports of lowered modules: per (layer, workload), the work and data of a step.

Hardware-independent: every number comes from passes/accounting.py, which
reads the `la` ops' own counts, so reports, passes and tests agree.
"""

from __future__ import annotations

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr

from mlacc.diagnostics import verify_module
from mlacc.pipeline import make_context
from mlacc.units import si
from passes.absorb import SCHEMES, AbsorbPass
from passes.accounting import Accounting, account


def account_module(module: ModuleOp) -> list[Accounting]:
    return [account(f) for f in module.ops if isinstance(f, func.FuncOp)]


def account_all_schemes(lowered: ModuleOp) -> list[list[Accounting]]:
    """Per function of a `la` module: its accounting under every MLA scheme (one entry for other kinds)."""
    results = {f.sym_name.data: [] for f in lowered.ops if isinstance(f, func.FuncOp)}
    mla = [f for f in lowered.ops if isinstance(f, func.FuncOp) and f.attributes.get("attn.kind") == StringAttr("mla")]
    for function in lowered.ops:
        if isinstance(function, func.FuncOp) and function not in mla:
            results[function.sym_name.data].append(account(function))
    for scheme in SCHEMES:
        module = ModuleOp([f.clone() for f in mla])
        AbsorbPass(scheme=scheme).apply(make_context(), module)
        verify_module(module)
        for accounting in account_module(module):
            results[accounting.function].append(accounting)
    return list(results.values())


def _heading(a: Accounting) -> str:
    w = a.workload
    return (
        f"== {a.layer} ({a.layer_kind}, {a.dtype}) x {w.workload_name.data}: {w.phase.data.value}, "
        f"batch {w.batch.data}, context {w.context.data}, new tokens {w.new_tokens.data}"
    )


def format_ops(accountings: list[Accounting]) -> str:
    """Every op of each function, then its totals."""
    out: list[str] = []
    for a in accountings:
        out.append(_heading(a) + (f"; scheme {a.scheme}" if a.layer_kind == "mla" else ""))
        width = max(len(r.name) for r in a.ops)
        kind_width = max(len(r.kind) for r in a.ops)
        out.append(f"  {'value':<{width}}  {'op':<{kind_width}}  {'FLOPs':>11}  {'bytes in':>10}  {'bytes out':>10}")
        for r in a.ops:
            out.append(
                f"  {r.name:<{width}}  {r.kind:<{kind_width}}  {si(r.flops, 'FLOP'):>11}  "
                f"{si(r.operand_bytes, 'B'):>10}  {si(r.result_bytes, 'B'):>10}"
            )
        out.append(
            f"  total: {si(a.flops, 'FLOP')}; weights {si(a.weight_bytes, 'B')}; "
            f"KV cache read {si(a.kv_read_bytes, 'B')}, written {si(a.kv_write_bytes, 'B')}; "
            f"minimum traffic {si(a.min_bytes, 'B')}"
        )
        out.append("")
    return "\n".join(out)


_SCHEME_COLUMNS = ("scheme", "FLOPs", "weights", "KV/token", "KV cache", "min bytes", "FLOP/B", "offline")


def format_schemes(groups: list[list[Accounting]]) -> str:
    """One table per (layer, workload): a row per execution scheme."""
    out: list[str] = []
    for group in groups:
        out.append(_heading(group[0]))
        rows = [
            (
                a.scheme,
                si(a.flops, "FLOP"),
                si(a.weight_bytes, "B"),
                si(a.kv_bytes_per_token, "B"),
                si(a.kv_cache_bytes, "B"),
                si(a.min_bytes, "B"),
                f"{a.intensity:.3g}",
                si(a.precompose_flops, "FLOP"),
            )
            for a in group
        ]
        widths = [max(len(row[i]) for row in [_SCHEME_COLUMNS, *rows]) for i in range(len(_SCHEME_COLUMNS))]
        for row in [_SCHEME_COLUMNS, *rows]:
            cells = [f"{row[0]:<{widths[0]}}"] + [f"{cell:>{w}}" for cell, w in zip(row[1:], widths[1:], strict=True)]
            out.append("  " + "  ".join(cells))
        out.append("")
    out.append(
        "FLOPs, min bytes (weights + KV read + KV written + input/output) and FLOP/B are per step; "
        "KV cache is its size after the step; offline: FLOPs of composing reuse's weights, once."
    )
    return "\n".join(out) + "\n"
