"""Per-hardware results: scheduled `sched` IR -> the report's rows, as text or the JSON contract of DESIGN.md.

Every number is read from the `sched.task` ops that `schedule` emitted and
from the hardware-independent accounting (passes/accounting.py); nothing is
recomputed here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from xdsl.dialects import func
from xdsl.dialects.builtin import DictionaryAttr, FloatAttr, IntegerAttr, TensorType

from costmodel import LINK
from dialects.attn_rules import FFN_KINDS
from dialects.hw import TargetAttr
from dialects.sched import TaskOp
from mlacc import __version__
from mlacc.aggregate import TaskFigures, layer_totals
from mlacc.hardware.describe import provenance
from mlacc.units import si
from mlacc.whole_model import SCOPE, WHOLE_SCOPE, ModelTotals, RestOfModel, model_totals
from mlacc.whole_step import whole_steps
from passes.accounting import account
from passes.shard import DP_KEY, EP_KEY, KV_REPLICAS_KEY, TP_KEY

DEFAULT_HARDWARE = "h100"


def _floats(attr: object) -> dict[str, float]:
    assert isinstance(attr, DictionaryAttr)
    return {k: v.value.data for k, v in attr.data.items()}  # type: ignore[attr-defined]


@dataclass
class OpResult:
    name: str
    kind: str
    flops: int
    bytes: dict[str, float]
    cycles: float
    seconds: float
    energy_pj: float
    bound: str
    kernel: str | None = None
    """The fused kernel the op runs inside ('flash'), or None where it is a kernel of its own."""
    library: str | None = None
    """The kernel library that runs the op, where the hardware names one for its op class (`kernels`)."""

    def json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LayerResult:
    """One (layer, workload, scheme) on one hardware target."""

    layer: str
    kind: str
    workload: str
    phase: str
    batch: int
    context: int
    new_tokens: int
    dtype: str
    scheme: str
    hardware: str
    cycles: float
    seconds: float
    energy_breakdown_pj: dict[str, float]
    flops: int
    dram_bytes: float
    kv_cache_bytes: int
    weight_bytes: int
    bound: str
    ops: list[OpResult]
    calibrated: bool = False
    resident_bytes: int = 0
    capacity_bytes: int = 0
    alternatives: list[LayerResult] = field(default_factory=lambda: [])
    layers: int | None = None
    kv_bytes_per_token: int = 0
    activation_bytes: int = 0
    tp: int = 1
    dp: int = 1
    """The device mesh the layer was sharded over (`shard`): then every figure is one GPU's, and `batch` the
    workload's (batch / dp sequences per GPU)."""
    ep: int | None = None
    """GPUs a MoE layer's experts spread over, in a sharded file that holds experts (`mesh.ep`); None elsewhere."""
    kv_head_replicas: int = 1
    """GPUs holding a copy of each KV head, where tp passes the layer's KV heads (its KV bytes stop falling)."""
    layouts: list[LayerResult] = field(default_factory=lambda: [])
    """With `--layout auto`: this layer's result under every layout tried, the chosen one among them."""
    schedule: func.FuncOp | None = field(default=None, repr=False, compare=False)
    """The scheduled function these figures were read from, for `--trace` (mlacc/trace.py)."""
    clock_hz: float | None = None
    """The SM clock the step holds under the power limit (`sched.clock_hz`), where the preset models it."""
    kernels: dict[str, str] = field(default_factory=lambda: {})
    """Op class -> the kernel library that runs it on this hardware (empty where the preset names none)."""
    rest: RestOfModel | None = None
    """The rest of the model, where the layer says it (`#attn.model`): then capacity counts every weight."""
    memory_utilization: float | None = None
    """The share of the GPU's memory a serving engine takes (`--memory-utilization`); None: the default."""
    step_ends: list[LayerResult] = field(default_factory=lambda: [], repr=False, compare=False)
    """On an attention layer that heads a whole step: the parts of the step around the layers (norms, embedding
    lookup, LM head: mlacc/whole_step.py `model_ends`), each timed as a layer is."""

    @property
    def devices(self) -> int:
        return self.tp * self.dp

    @property
    def model(self) -> ModelTotals:
        """The whole model's figures (`layers` of this layer; one layer when the layer does not say)."""
        return model_totals(
            self.layers or 1,
            batch=self.batch // self.dp,
            cycles=self.cycles,
            seconds=self.seconds,
            energy_pj=self.energy_pj,
            flops=self.flops,
            dram_bytes=self.dram_bytes,
            weight_bytes=self.weight_bytes,
            kv_bytes_per_token=self.kv_bytes_per_token,
            kv_cache_bytes=self.kv_cache_bytes,
            activation_bytes=self.activation_bytes,
            capacity_bytes=self.capacity_bytes,
            rest=self.rest,
            tp=self.tp,
            memory_utilization=self.memory_utilization,
            dp=self.dp,
            ep=self.ep,
        )

    @property
    def fits(self) -> bool:
        """Whether weights, the KV cache after the step and the live activations fit the outermost memory."""
        return self.resident_bytes <= self.capacity_bytes

    @property
    def energy_pj(self) -> float:
        return sum(self.energy_breakdown_pj.values())

    def json(self) -> dict[str, Any]:
        out = {
            "layer": self.layer,
            "workload": self.workload,
            "phase": self.phase,
            "batch": self.batch,
            "context": self.context,
            "new_tokens": self.new_tokens,
            "scheme": self.scheme,
            "hardware": self.hardware,
            "cycles": self.cycles,
            "seconds": self.seconds,
            "energy_pj": self.energy_pj,
            "energy_breakdown_pj": self.energy_breakdown_pj,
            "flops": self.flops,
            "dram_bytes": self.dram_bytes,
            "kv_cache_bytes": self.kv_cache_bytes,
            "weight_bytes": self.weight_bytes,
            "bound": self.bound,
            "ops": [op.json() for op in self.ops],
            "calibrated": self.calibrated,
            "resident_bytes": self.resident_bytes,
            "fits": self.fits,
            "max_batch": self.model.max_batch,
        }
        if self.clock_hz is not None:
            out["clock_hz"] = self.clock_hz
        if self.kernels:
            out["kernels"] = dict(self.kernels)
        if self.devices > 1:
            out["tp"], out["dp"] = self.tp, self.dp
            if self.ep is not None:
                out["ep"] = self.ep
            # max_batch is one GPU's; the node holds dp groups of sequences (tp ranks share theirs).
            out["max_batch_node"] = self.model.max_batch * self.dp
            if self.kv_head_replicas > 1:
                out["kv_head_replicas"] = self.kv_head_replicas
        if self.layers is not None:
            out["layers"] = self.layers
            out["model"] = self.model.json()
        if self.layouts:
            out["layouts"] = [
                {
                    "tp": layout.tp,
                    "dp": layout.dp,
                    "scheme": layout.scheme,
                    "cycles": layout.cycles,
                    "seconds": layout.seconds,
                    "energy_pj": layout.energy_pj,
                    "resident_bytes": layout.resident_bytes,
                    "fits": layout.fits,
                    "model_fits": layout.model.fits,
                    "max_batch": layout.model.max_batch,
                }
                for layout in self.layouts
            ]
        if self.alternatives:
            out["alternatives"] = [
                {
                    k: alt.json()[k]
                    for k in (
                        "scheme",
                        "cycles",
                        "seconds",
                        "energy_pj",
                        "dram_bytes",
                        "kv_cache_bytes",
                        "bound",
                        "resident_bytes",
                        "fits",
                        "max_batch",
                        *(("model",) if self.layers is not None else ()),
                    )
                }
                for alt in self.alternatives
            ]
        return out


def rest_of_model(function: func.FuncOp) -> RestOfModel | None:
    """What a lowered function's layer says of the rest of its model (`attn.model`, `attn.params`), if anything."""
    from dialects.attn import ModelAttr
    from dialects.la import element_bytes

    model, params = function.attributes.get("attn.model"), function.attributes.get("attn.params")
    if not isinstance(model, ModelAttr) or not isinstance(params, IntegerAttr):
        return None
    (hidden,) = function.function_type.inputs.data
    assert isinstance(hidden, TensorType)
    return RestOfModel(model.fields, params.value.data, hidden.get_shape()[-1], element_bytes(hidden.element_type))


def layer_result(function: func.FuncOp, target: TargetAttr, memory_utilization: float | None = None) -> LayerResult:
    """Reads a scheduled function; its sums are `mlacc.aggregate.layer_totals`', as the sweep's op-table path's."""
    counts = account(function)
    tasks = [op for op in function.body.walk() if isinstance(op, TaskOp)]
    frequency = target.frequency
    terms = list(dict.fromkeys(t.bound.data for t in tasks))
    figures = [
        TaskFigures(
            t.task.data,
            t.kind.data,
            t.flops.value.data,
            _floats(t.bytes),
            t.cycles,
            _floats(t.energy_pj),
            terms.index(t.bound.data),
            t.kernel.data if t.kernel is not None else None,
            t.library.data if t.library is not None else None,
        )
        for t in tasks
    ]
    totals = layer_totals(figures, len(terms), target.dram.level_name.data)
    ops = [
        OpResult(
            f.name, f.kind, f.flops, f.bytes, f.cycles, f.cycles / frequency, pj, terms[f.bound], f.kernel, f.library
        )
        for f, pj in zip(figures, totals.task_energy, strict=True)
    ]
    cycles = function.attributes["sched.cycles"]
    assert isinstance(cycles, FloatAttr)
    clock = function.attributes.get("sched.clock_hz")
    tp, dp, ep, replicas = (function.attributes.get(key) for key in (TP_KEY, DP_KEY, EP_KEY, KV_REPLICAS_KEY))
    w = counts.workload
    return LayerResult(
        layer=counts.layer,
        kind=counts.layer_kind,
        workload=w.workload_name.data,
        phase=w.phase.data.value,
        batch=w.batch.data,
        context=w.context.data,
        new_tokens=w.new_tokens.data,
        dtype=counts.dtype,
        scheme=counts.scheme,
        hardware=target.target_name.data,
        cycles=cycles.value.data,
        seconds=cycles.value.data / frequency,
        energy_breakdown_pj=totals.energy,
        flops=totals.flops,
        dram_bytes=totals.dram_bytes,
        kv_cache_bytes=counts.kv_cache_bytes,
        weight_bytes=counts.weight_bytes + counts.idle_weight_bytes,
        bound=terms[totals.bound],
        ops=ops,
        calibrated=target.is_calibrated,
        resident_bytes=counts.resident_bytes,
        capacity_bytes=target.dram.capacity_bytes.data * target.dram.count.data,
        layers=counts.layers,
        kv_bytes_per_token=counts.kv_bytes_per_token,
        activation_bytes=counts.activation_bytes,
        tp=tp.value.data if isinstance(tp, IntegerAttr) else 1,
        kv_head_replicas=replicas.value.data if isinstance(replicas, IntegerAttr) else 1,
        dp=dp.value.data if isinstance(dp, IntegerAttr) else 1,
        ep=ep.value.data if isinstance(ep, IntegerAttr) else None,
        schedule=function,
        clock_hz=clock.value.data if isinstance(clock, FloatAttr) else None,
        kernels=target.kernel_libraries(),
        rest=rest_of_model(function),
        memory_utilization=memory_utilization,
    )


def format_json(results: list[LayerResult], target: TargetAttr) -> str:
    steps = whole_steps(results)
    out = [r.json() for r in results]
    for i, step in steps.items():
        out[i]["step"] = step.json()
    return (
        json.dumps(
            {
                "mlacc_version": __version__,
                "hardware": target.target_name.data,
                "calibrated": target.is_calibrated,
                "results": out,
            },
            indent=2,
        )
        + "\n"
    )


def format_text(results: list[LayerResult], target: TargetAttr, defaulted: bool) -> str:
    how = " (the default; choose with --hw NAME|PATH)" if defaulted else ""
    out = [f"hardware: {target.target_name.data}: {target.description.data}{how}", f"  {provenance(target)}"]
    if target.kernels.data:
        libraries = ", ".join(f"{op_class} {library}" for op_class, library in target.kernel_libraries().items())
        out.append(f"  kernels: {libraries}")
    out.append("")
    steps = whole_steps(results)
    for i, r in enumerate(results):
        out.append(
            f"== {r.layer} ({r.kind}, {r.dtype}) x {r.workload}: {r.phase}, batch {r.batch}, context {r.context}, "
            f"new tokens {r.new_tokens}"
        )
        if r.layouts:
            tried = ", ".join(
                f"tp {lay.tp} x dp {lay.dp} {si(lay.seconds, 's')}{'' if lay.model.fits else ' (does not fit)'}"
                for lay in r.layouts
            )
            how = "fewest cycles among those that fit" if r.model.fits else "none fits one GPU; the fastest"
            out.append(f"  layout chosen by --layout auto ({how}): {tried}")
        if r.devices > 1:
            out.append(
                f"  sharded over tp {r.tp} x dp {r.dp} = {r.devices} GPUs{_experts_over(r)}: every figure is one GPU's "
                f"({r.batch // r.dp} sequences, its part of the {_split_over(r)}; "
                "collectives on the interconnect)"
            )
        if r.kv_head_replicas > 1:
            out.append(
                f"  KV heads copied: tp {r.tp} passes the layer's {r.tp // r.kv_head_replicas} KV heads, so each GPU "
                f"holds one KV head, its cache and K/V weights copied on {r.kv_head_replicas} GPUs (as vLLM does)"
            )
        rows = r.alternatives or [r]
        out.append(
            f"  {'scheme':<11} {'latency':>10} {'energy':>10} {'FLOPs':>11} {'DRAM':>9} {'KV cache':>9} "
            f"{'resident':>9}  bound"
        )
        for alt in rows:
            mark = "*" if alt.scheme == r.scheme and r.alternatives else " "
            out.append(
                f"  {alt.scheme + mark:<11} {si(alt.seconds, 's'):>10} {si(alt.energy_pj * 1e-12, 'J'):>10} "
                f"{si(alt.flops, 'FLOP'):>11} {si(alt.dram_bytes, 'B'):>9} {si(alt.kv_cache_bytes, 'B'):>9} "
                f"{si(alt.resident_bytes, 'B'):>9}  {alt.bound}{'' if alt.fits else '  (does not fit)'}"
            )
        if r.alternatives:
            if any(alt.fits for alt in r.alternatives):
                out.append(
                    f"  * chosen by absorb{{scheme=auto}}: fewest cycles on {r.hardware} among the schemes that fit"
                )
            else:
                out.append(f"  * chosen by absorb{{scheme=auto}}: no scheme fits {r.hardware}; the fastest is shown")
        elif not r.fits:
            out.append(
                f"  does not fit: needs {si(r.resident_bytes, 'B')}, {r.hardware} has {si(r.capacity_bytes, 'B')}"
            )
        if r.layers is not None:
            out += _ffn_model_lines(r) if r.kind in FFN_KINDS else _model_lines(r, rows)
        if i in steps:
            out += steps[i].lines()
        clock = f" (SM clock {si(r.clock_hz, 'Hz')} under the power limit)" if r.clock_hz else ""
        out.append(f"  ops of {r.scheme}{clock}:")
        width = max(len(op.name) for op in r.ops)
        dram = target.dram.level_name.data
        for op in r.ops:
            link = f"  ({si(op.bytes[LINK], 'B')} sent)" if LINK in op.bytes else ""
            link += f"  [{op.library}]" if op.library else ""
            out.append(
                f"    {op.name:<{width}}  {op.kind:<8} {si(op.flops, 'FLOP'):>11} {si(op.bytes.get(dram, 0), 'B'):>9} "
                f"{si(op.seconds, 's'):>10} {si(op.energy_pj * 1e-12, 'J'):>10}  {op.bound}{link}"
            )
        out.append("")
    out.append(
        "latency = cycles / clock; DRAM = bytes moved off chip; resident = weights + KV cache + live activations "
        "in the outermost memory; * = the scheme auto picks (ties: energy)."
    )
    return "\n".join(out) + "\n"


def _split_over(r: LayerResult) -> str:
    """What tp (and, for a MoE layer, dp) splits of a sharded layer, in the report's words."""
    if r.kind not in FFN_KINDS:
        return "heads"
    return "width and experts" if r.kind == "moe" and (r.ep or r.dp) > 1 else "width"


def _experts_over(r: LayerResult) -> str:
    """In a file that holds experts: how many GPUs they spread over (expert parallelism, `--ep`)."""
    return "" if r.ep is None else f", ep {r.ep}"


def _ffn_model_lines(r: LayerResult) -> list[str]:
    """An MLP or MoE layer's N layers: no KV cache, so their time, energy and weights."""
    return [
        f"  {r.layers} such layers, per step: {si(r.model.seconds, 's')}, {si(r.model.energy_pj * 1e-12, 'J')}; "
        f"weights {si(r.weight_bytes * (r.layers or 1), 'B')}{' per GPU' if r.devices > 1 else ''}"
    ]


def _model_lines(r: LayerResult, rows: list[LayerResult]) -> list[str]:
    """The whole model's step, KV cache and largest batch, a line per scheme."""
    out = [
        f"  whole model, {r.layers} layers ({SCOPE if r.rest is None else WHOLE_SCOPE}), per step:",
        f"    {'scheme':<11} {'latency':>10} {'energy':>10} {'KV/token':>9} {'KV/seq':>9} {'KV cache':>9} "
        f"{'resident':>9} {'max batch':>10}",
    ]
    for alt in rows:
        m = alt.model
        fits = "" if m.fits else f"  (does not fit {si(m.capacity_bytes, 'B')})"
        out.append(
            f"    {alt.scheme:<11} {si(m.seconds, 's'):>10} {si(m.energy_pj * 1e-12, 'J'):>10} "
            f"{si(m.kv_bytes_per_token, 'B'):>9} {si(m.kv_cache_bytes_per_sequence, 'B'):>9} "
            f"{si(m.kv_cache_bytes, 'B'):>9} {si(m.resident_bytes, 'B'):>9} {m.max_batch:>10}{fits}"
        )
    out.append(
        f"    max batch: the most sequences of context {r.context + r.new_tokens} whose caches fit beside the weights"
    )
    m = r.model
    if m.params is not None:
        out.append(
            f"    weights: {si(m.params.total, '')} parameters, {si(m.weight_bytes, 'B')}; one GPU holds "
            f"{si(m.weight_bytes_per_gpu, 'B')} of {si(m.usable_bytes, 'B')} usable "
            f"({m.memory_utilization:g} of {si(m.capacity_bytes, 'B')}, --memory-utilization)"
        )
    if r.devices > 1:
        out.append(
            f"    sharded: KV, resident and max batch are one GPU's; the node holds dp = {r.dp} x max batch sequences"
        )
    return out


def _rows(results: list[LayerResult]) -> dict[tuple[str, str], list[tuple[str, LayerResult]]]:
    """(workload, header) -> [(row label, result)]: every MLA scheme, and one row per other layer."""
    groups: dict[tuple[str, str], list[tuple[str, LayerResult]]] = {}
    for r in results:
        rows = groups.setdefault(_workload_key(r), [])
        if r.alternatives:
            rows += [(f"{r.layer} {alt.scheme}{'*' if alt.scheme == r.scheme else ''}", alt) for alt in r.alternatives]
        else:
            rows.append((f"{r.layer} ({r.kind})", r))
    return groups


def _workload_key(r: LayerResult) -> tuple[str, str]:
    return (r.workload, f"{r.phase}, batch {r.batch}, context {r.context}, new tokens {r.new_tokens}")


def _baseline_seconds(results: list[LayerResult], baseline: str | None) -> dict[tuple[str, str], float]:
    """Per workload, the baseline layer's step time (its `auto` scheme's, for an MLA layer)."""
    return {_workload_key(r): r.seconds for r in results if r.layer == baseline}


def _speedup(base: float | None, r: LayerResult) -> float | None:
    return base / r.seconds if base is not None and r.seconds > 0 else None


def format_compare(per_hardware: dict[str, list[LayerResult]], baseline: str | None = None) -> str:
    hardware = list(per_hardware)
    tables = {hw: _rows(results) for hw, results in per_hardware.items()}
    bases = {hw: _baseline_seconds(results, baseline) for hw, results in per_hardware.items()}
    versus = f"vs {baseline}" if baseline is not None else ""
    out: list[str] = []
    for key, rows in tables[hardware[0]].items():
        out.append(f"== {key[0]}: {key[1]}")
        width = max(len(label) for label, _ in rows)
        head = f"  {'layer / scheme':<{width}} {'KV cache':>9}"
        for hw in hardware:
            head += f" | {hw + ' latency':>18} {'energy':>9} {'bound':>7}"
            head += f" {versus:>{len(versus)}}" if baseline is not None else ""
        out.append(head)
        for i, (label, first) in enumerate(rows):
            line = f"  {label:<{width}} {si(first.kv_cache_bytes, 'B'):>9}"
            for hw in hardware:
                r = tables[hw][key][i][1]
                line += f" | {si(r.seconds, 's'):>18} {si(r.energy_pj * 1e-12, 'J'):>9} {r.bound:>7}"
                if baseline is not None:
                    speedup = _speedup(bases[hw].get(key), r)
                    line += f" {'-' if speedup is None else f'{speedup:.2f}x':>{len(versus)}}"
            out.append(line)
        if any(r.layers is not None for _, r in rows):
            scope = SCOPE if all(r.rest is None for _, r in rows) else f"{WHOLE_SCOPE} where the layer describes it"
            if any(r.kind in FFN_KINDS for _, r in rows):
                scope = "each row its own layers' step; MLP/MoE rows have no KV cache, the step's sum is compile's"
            out.append(f"  whole model ({scope}):")
            labels = [f"{label} x{r.model.layers}" for label, r in rows]
            model_width = max(len(label) for label in labels)
            head = f"  {'layer / scheme':<{model_width}} {'KV/seq':>9}"
            for hw in hardware:
                head += f" | {hw + ' latency':>18} {'max batch':>9} {'':>7}"
            out.append(head.rstrip())
            for i, (label, first) in enumerate(zip(labels, (r for _, r in rows), strict=True)):
                line = f"  {label:<{model_width}} {si(first.model.kv_cache_bytes_per_sequence, 'B'):>9}"
                for hw in hardware:
                    r = tables[hw][key][i][1]
                    m = r.model
                    batch = "-" if r.kind in FFN_KINDS else m.max_batch  # no cache: capacity is attention's
                    line += f" | {si(m.seconds, 's'):>18} {batch:>9} {'' if m.fits else 'no fit':>7}"
                out.append(line.rstrip())
        out.append("")
    out.append("* = the scheme absorb{scheme=auto} picks on the first hardware; bound = the term most cycles wait on.")
    if baseline is not None:
        out.append(
            f"vs {baseline} = {baseline}'s latency (its auto scheme's) over the row's on the same hardware and "
            "workload: above 1x is faster."
        )
    return "\n".join(out) + "\n"


def format_compare_json(per_hardware: dict[str, list[LayerResult]], baseline: str | None = None) -> str:
    """With a baseline, each result and each of its alternatives gains `speedup`: the baseline layer's step time
    (its auto scheme's) on that hardware and workload over the result's (null where the baseline has no such
    workload)."""
    results = []
    for layer_results in per_hardware.values():
        bases = _baseline_seconds(layer_results, baseline)
        for r in layer_results:
            out = r.json()
            if baseline is not None:
                base = bases.get(_workload_key(r))
                out["speedup"] = _speedup(base, r)
                for alt, alt_json in zip(r.alternatives, out.get("alternatives", []), strict=True):
                    alt_json["speedup"] = _speedup(base, alt)
            results.append(out)
    top: dict[str, Any] = {"mlacc_version": __version__, "hardware": list(per_hardware)}
    if baseline is not None:
        top["baseline"] = baseline
    return json.dumps({**top, "results": results}, indent=2) + "\n"
