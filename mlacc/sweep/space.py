"""The design points of a sweep: every (chip, workload, phase, batch, context, new tokens) the axes span.

A point is plain, picklable data (worker processes receive it); the chips are built and checked here,
once, so that a bad `--set` value or hardware file fails before the first point is evaluated.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from mlacc.diagnostics import UsageError
from mlacc.hardware.overrides import Override

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp

    from dialects.hw import TargetAttr


@dataclass(frozen=True)
class Chip:
    """A hardware preset or TOML file as `--hw` names it, with the `--set` overrides of one combination."""

    hardware: str
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True)
class DesignPoint:
    """One estimate: a workload of the file, its fields replaced where an axis gives them (None: as written)."""

    chip: Chip
    workload: str
    phase: str | None = None
    batch: int | None = None
    context: int | None = None
    new_tokens: int | None = None
    tp: int = 1
    """GPUs the heads are split over (tensor parallel), as `mlacc compile --tp`."""
    dp: int = 1
    """GPUs the batch is split over (data parallel), as `mlacc compile --dp`."""
    ep: int | None = None
    """GPUs a MoE layer's experts spread over (expert parallel), as `mlacc compile --ep`; None: dp."""


@dataclass(frozen=True)
class SweepInput:
    """What every point of a sweep shares: the DSL file, the schemes to report, whether per-op data goes in."""

    path: str
    text: str
    schemes: tuple[str, ...]
    """("auto",): the scheme auto picks, one row per layer; else these schemes, one row each."""
    ops: bool = False


def parse_sets(texts: list[str]) -> list[tuple[str, list[int | float]]]:
    """`--set FIELD=VALUES` options -> (field, values), in the order given; a field given twice is an error."""
    from mlacc.sweep.axes import parse_axis

    out: list[tuple[str, list[int | float]]] = []
    for text in texts:
        field, sep, values = text.partition("=")
        field = field.strip()
        if not sep or not field:
            raise UsageError(
                f"--set: expected FIELD=VALUES such as hbm.read_bandwidth_bytes_per_cycle=1000, got '{text}'"
            )
        if field in (f for f, _ in out):
            raise UsageError(f"--set: field '{field}' is set twice")
        out.append((field, parse_axis(values, f"--set {field}")))
    return out


def chips(hardware: list[str], sets: list[tuple[str, list[int | float]]]) -> dict[Chip, TargetAttr]:
    """Every hardware x every combination of `--set` values -> its checked target, in that order."""
    from mlacc.hardware import read_hardware
    from mlacc.hardware.overrides import check_fields

    out: dict[Chip, TargetAttr] = {}
    for spec in hardware:
        source = read_hardware(spec)
        source.target()  # the file as written is checked first, so its own errors keep their place
        check_fields(source, [field for field, _ in sets])
        for values in itertools.product(*(v for _, v in sets)):
            chip = Chip(spec, tuple(zip((f for f, _ in sets), values, strict=True)))
            out[chip] = chip_target(chip)
    names = [t.target_name.data for t in out.values()]
    if len(set(names)) < len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise UsageError(f"--hw: hardware '{twice}' is named twice (rows could not tell them apart)")
    return out


@cache
def chip_target(chip: Chip) -> TargetAttr:
    """The target of a chip, built once per process (the sweep checks it, then every point reads it)."""
    from mlacc.hardware import read_hardware
    from mlacc.hardware.overrides import hypothetical_target

    return hypothetical_target(read_hardware(chip.hardware), chip.overrides)


@cache
def file_module(path: str, text: str) -> ModuleOp:
    """The sweep's file as an `attn` module (DSL or config.json), built once per process; callers clone it."""
    from mlacc.frontend import parse_source

    return parse_source(text, path)


def whole_model(path: str, text: str) -> bool:
    """Whether the file has MLP or MoE layers: one model, whose rows say each layer's kind and whose attention rows
    carry the whole step (`step_*` columns)."""
    from dialects.attn import FfnLayerOp

    return any(isinstance(op, FfnLayerOp) for op in file_module(path, text).walk())


def has_experts(path: str, text: str) -> bool:
    """Whether any layer of the file holds experts (a MoE layer, or an attention layer whose model has them)."""
    from dialects.attn import AttentionLayerOp, MoeOp

    def experts(op: object) -> bool:
        model = op.model if isinstance(op, AttentionLayerOp) else None
        return isinstance(op, MoeOp) or (model is not None and model.field("experts") > 0)

    return any(experts(op) for op in file_module(path, text).walk())


def workload_names(module: ModuleOp) -> list[str]:
    from dialects.attn import LayerOp

    names: list[str] = []
    for op in module.walk():
        if isinstance(op, LayerOp) and op.workload.workload_name.data not in names:
            names.append(op.workload.workload_name.data)
    return names


def design_points(
    chip_list: list[Chip],
    workloads: list[str],
    phases: list[str] | None,
    batches: list[int] | None,
    contexts: list[int] | None,
    new_tokens: list[int] | None,
    tps: list[int] | None = None,
    dps: list[int] | None = None,
    eps: list[int] | None = None,
) -> list[DesignPoint]:
    """The product of the axes, chips outermost (a worker's chunk then shares its targets); None: the file's
    (for tp and dp: one GPU; for ep: dp)."""
    axes = [values or [None] for values in (phases, batches, contexts, new_tokens)] + [tps or [1], dps or [1]]
    axes.append(eps or [None])
    return [
        DesignPoint(chip, workload, *fields)  # type: ignore[arg-type]
        for chip in chip_list
        for workload in workloads
        for fields in itertools.product(*axes)
    ]


def layout_refusals(sweep: SweepInput, point: DesignPoint) -> dict[int, str]:
    """Index of a layer's function in the file -> why the point's layout cannot run it: `shard`'s rules
    (passes/shard.py `layout_factors`, `node_problem`) on the layer's sizes, before anything is lowered, so a
    sweep of many refused points costs next to nothing. A lone chip (no `[interconnect]`) runs no layout at all:
    its points are left to the IR path, whose error says so. An `ep` the layout cannot take refuses every layer
    of the point (`ep_problem`), as `mlacc compile` refuses the file."""
    if point.tp * point.dp == 1 and point.ep is None:
        return {}
    from xdsl.dialects import func

    from dialects.attn import FfnLayerOp, LayerOp, MoeOp
    from mlacc.frontend.irgen import workload_fields
    from passes.shard import LayoutError, ep_problem, ffn_split, layout_factors, node_problem

    target = chip_target(point.chip)
    devices = int(target.interconnect_fields().get("devices", 1))
    if devices < 2:
        return {}
    node = node_problem(point.tp, point.dp, devices, target.target_name.data) or ep_problem(
        point.tp, point.dp, point.ep
    )
    out: dict[int, str] = {}
    for i, function in enumerate(file_module(sweep.path, sweep.text).ops):
        assert isinstance(function, func.FuncOp)
        layer = function.body.block.first_op
        assert isinstance(layer, LayerOp)
        if layer.workload.workload_name.data != point.workload:
            continue
        if node is not None:
            out[i] = node
            continue
        _, batch, _, _ = workload_fields(layer.workload, point.phase, point.batch, point.context, point.new_tokens)
        try:
            if isinstance(layer, FfnLayerOp):
                moe = isinstance(layer, MoeOp)
                width = layer.dim("expert_width" if moe else "width")
                shared = layer.dim("shared_experts") * width if moe else 0
                dense = [w for w in ([shared] if moe else [width]) if w]
                experts = layer.dim("experts") if moe else None
                ffn_split(layer.layer.data, batch, dense, [width] if moe else [], experts, point.tp, point.dp, point.ep)
                continue
            heads = layer.dim("heads") if "heads" in layer.DIMS else None
            kv_heads = layer.dim("kv_heads") if "kv_heads" in layer.DIMS else None
            layout_factors(layer.layer.data, heads, kv_heads, batch, point.tp, point.dp)
        except LayoutError as refusal:
            out[i] = str(refusal)
    return out
