"""Op tables: what the cost model reads of a scheduled layer, as functions of the batch and the context.

A sweep's points share far more than they differ: for one layer, phase, number of new tokens and layout
(tp x dp), every scheme's `la` IR after `absorb` and `shard` has the same ops, the same dataflow and
the same flash groups at every batch and context; only the integers in its types change, and every
one of them (an extent, a tensor's bytes, an op's FLOPs) is a polynomial a + b B + c C + d B C of the
per-device batch B and the context C, since each dimension is a constant, B, C or C + new tokens and a
tensor holds at most one of each. So the hardware-independent stages run here at a few probe workloads
only, and each integer is solved for its four coefficients and checked at one more probe; an IR whose
integers are not of that form is refused (`NotParametric`), and its points take the IR path.

The table keeps, per task in program order, the `OpSpec` fields and where its operands and result live
(costmodel/placement.py's rule, replayed per point by mlacc/sweep/fast.py), and per layer the counts of
passes/accounting.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from xdsl.dialects import func
from xdsl.ir import Attribute, SSAValue

from costmodel import fused_values, is_collective, is_task, task_operands
from costmodel.attention import FlashShape
from costmodel.la_ops import flash_group, flash_kernel, flash_shape, is_decode
from costmodel.op import Gemm
from costmodel.placement import OFF_CHIP, home_rule
from dialects import la
from dialects.attn import dtype_name
from dialects.mesh import CollectiveOp
from mlacc.estimates import rest_of_model
from mlacc.whole_model import RestOfModel
from passes.accounting import account, activation_spans


class NotParametric(Exception):
    """The IR's integers are not bilinear in batch and context (or its ops change with them)."""


@dataclass(frozen=True)
class Value:
    """A tensor of the layer, for the placement rule: how its home is decided and how long it lives."""

    rule: str
    """OFF_CHIP, FUSED, ON_CHIP (if it fits beside the live ones), or 'same' (a view: its source's home)."""
    source: int
    """For a view: the value whose home it takes."""
    bytes: int
    """Index of its bytes in the table's integers."""
    defined: int
    """Program position of the op that defines it (-1: an argument)."""
    last_use: int
    """Program position of its last use (when it stops occupying on-chip memory)."""


@dataclass(frozen=True)
class Task:
    """One op the schedule times (an `la` op that computes or stores, or a collective); integer fields are
    indices into the table's integers."""

    name: str
    kind: str
    position: int
    """Program position (for the placement rule's live set)."""
    dtype: str = ""
    element_bytes: int = 0
    flops: int = -1
    operand_bytes: tuple[int, ...] = ()
    result_bytes: int = -1
    gemm_letters: tuple[tuple[str, str], ...] = ()
    extents: tuple[int, ...] = ()
    """g, m, n, k of a contraction."""
    attention_kernel: str | None = None
    decode: bool = True
    """Whether it belongs to a decode step (costmodel/la_ops.py `is_decode`)."""
    """The fused attention kernel its flash group runs as (costmodel/attention.py `KERNELS`); None outside one."""
    launch: bool = True
    causal: tuple[int, int] | None = None
    """(queries, keys) of the causal softmax of its flash group."""
    flash: tuple[int, ...] = ()
    """Its flash group's `FlashShape` counts (costmodel/attention.py `FlashShape.NUMBERS`)."""
    operands: tuple[int, ...] = ()
    """Value ids of the operands (-1: loaded into the innermost level by an earlier op of its flash group)."""
    result: int = -1
    """Value id of the result; -1 for a KV-cache store (written off chip)."""
    collective: str = ""
    group: int = 1
    """Devices a collective spans."""


@dataclass(frozen=True)
class OpTable:
    """One (layer, workload shape, scheme, layout) as the cost model sees it."""

    layer: str
    kind: str
    scheme: str
    dtype: str
    layers: int | None
    positions: int
    values: tuple[Value, ...]
    tasks: tuple[Task, ...]
    flops: int
    weight_bytes: int
    kv_write_bytes: int
    activation_spans: tuple[tuple[int, int, int], ...]
    """(first, last position, bytes index) of every step tensor, for the peak of live activations."""
    function: str
    location: Attribute = field(compare=False)
    """The layer's place in the source, for the remarks its points raise."""
    coefficients: np.ndarray = field(compare=False, default_factory=lambda: np.zeros((0, 4), dtype=np.int64))
    """Per integer: a, b, c, d of a + b B + c C + d B C (int64)."""
    rest: RestOfModel | None = field(compare=False, default=None)
    """The rest of the model, where the layer says it (`#attn.model`): its weights count in `max_batch`."""

    def integers(self, batch: np.ndarray, context: np.ndarray) -> np.ndarray:
        """Every integer of the table at each point (rows: integers, columns: points), exact: int64, as the IR's
        integer attributes are. Where an integer leaves int64 the IR cannot hold it either (`NotParametric`: the
        point takes the IR path, which says so)."""
        batch, context = np.asarray(batch, dtype=np.int64), np.asarray(context, dtype=np.int64)
        b, c = batch.astype(float), context.astype(float)
        # Every partial sum of a + b B + c C + d B C is at most `bound`: below 2**62 (room for the rounding of
        # this float estimate) int64 holds them all exactly; beyond it Python's integers do, and then the results
        # must fit int64.
        bound = np.abs(self.coefficients).astype(float) @ np.stack([np.ones_like(b), b, c, b * c])
        if (bound.size == 0 or bound.max() < 2.0**62) and (b * c).max(initial=0.0) < 2.0**62:
            return self.coefficients @ np.stack([np.ones_like(batch), batch, context, batch * context])
        big = [int(x) for x in batch], [int(x) for x in context]
        basis = np.array([[1] * len(big[0]), big[0], big[1], [x * y for x, y in zip(*big, strict=True)]], dtype=object)
        numbers = self.coefficients.astype(object) @ basis
        if any(not -(2**63) <= int(x) < 2**63 for x in numbers.flat):
            raise NotParametric("an integer of the IR is beyond the 64-bit integers of its attributes")
        return numbers.astype(np.int64)


class _Recorder:
    def __init__(self) -> None:
        self.numbers: list[int] = []

    def __call__(self, number: int) -> int:
        self.numbers.append(number)
        return len(self.numbers) - 1


def _table(function: func.FuncOp) -> tuple[OpTable, list[int]]:
    """The table of one scheduled-to-be function (after absorb and shard) and its integers."""
    record = _Recorder()
    ops = list(function.body.walk())
    position = {op: i for i, op in enumerate(ops)}
    ids: dict[SSAValue, int] = {}
    values: list[Value] = []
    fused = fused_values(function)
    returned = {v for op in ops if isinstance(op, func.ReturnOp | CollectiveOp) for v in op.operands}

    def last_use(v: SSAValue, default: int) -> int:
        return max((position[u.operation] for u in v.uses), default=default)

    for arg in function.args:
        ids[arg] = len(values)
        values.append(Value(OFF_CHIP, -1, record(la.tensor_bytes(arg.type)), -1, last_use(arg, 0)))
    tasks: list[Task] = []
    for i, op in enumerate(ops):
        for result in op.results:
            rule, source = home_rule(op, result, returned, fused)
            ids[result] = len(values)
            source_id = ids[source] if source is not None else -1
            values.append(Value(rule, source_id, record(la.tensor_bytes(result.type)), i, last_use(result, i)))
        if is_collective(op):
            assert isinstance(op, CollectiveOp)
            group = op.group_size()
            assert group is not None
            name = op.result.name_hint or op.KIND
            tasks.append(
                Task(name, op.KIND, i, result_bytes=record(op.bytes.value.data), collective=op.KIND, group=group)
            )
        elif is_task(op):
            assert isinstance(op, la.LaOp)
            tasks.append(_task(op, i, ids, record))
    counts = account(function)
    spans = tuple((s, e, record(b)) for s, e, b in activation_spans(function, fused))
    table = OpTable(
        layer=counts.layer,
        kind=counts.layer_kind,
        scheme=counts.scheme,
        dtype=counts.dtype,
        layers=counts.layers,
        positions=len(ops),
        values=tuple(values),
        tasks=tuple(tasks),
        flops=record(counts.flops),
        weight_bytes=record(counts.weight_bytes),
        kv_write_bytes=record(counts.kv_write_bytes),
        activation_spans=spans,
        function=function.sym_name.data,
        location=function.location,
        rest=rest_of_model(function),
    )
    return table, record.numbers


def _task(op: la.LaOp, i: int, ids: dict[SSAValue, int], record: _Recorder) -> Task:
    """An `la` task: costmodel/la_ops.py `op_spec` and homes.py `placement_of`, with its integers recorded."""
    dtype_of = op.operands[0] if op.operands else op.results[0]
    element_type = la.tensor_type(dtype_of).element_type
    name = op.results[0].name_hint if op.results and op.results[0].name_hint else ""
    if isinstance(op, la.KvStoreOp):
        name = f"store {op.cache.data}"
    group = flash_group(op)
    softmax = next((o for o in group if isinstance(o, la.SoftmaxOp)), None)
    causal, flash = None, ()
    if softmax is not None:
        s, t = la.tensor_type(softmax.input).get_shape()[-2:]
        shape = flash_shape(softmax, group, is_decode(op))
        flash = tuple(record(int(getattr(shape, name))) for name in FlashShape.NUMBERS)
        if softmax.causal is not None:
            causal = (record(s), record(t))
    letters: tuple[tuple[str, str], ...] = ()
    extents: tuple[int, ...] = ()
    if isinstance(op, la.EinsumOp):
        gemm = Gemm.of(op.spec.data, op.index_sizes())
        letters = tuple(gemm.letters.items())
        extents = tuple(record(int(gemm.extents[c])) for c in "gmnk")
    loaded = {v for member in group[: group.index(op)] for v in member.operands} if group else set()
    result_bytes = op.operand_bytes() if isinstance(op, la.KvStoreOp) else op.result_bytes()
    return Task(
        name=name,
        kind=op.name.removeprefix("la."),
        position=i,
        dtype=dtype_name(element_type),
        element_bytes=la.element_bytes(element_type),
        flops=record(op.flops()),
        operand_bytes=tuple(record(la.read_bytes(v)) for v in task_operands(op)),
        result_bytes=record(result_bytes),
        gemm_letters=letters,
        extents=extents,
        attention_kernel=flash_kernel(softmax) if softmax is not None else None,
        decode=is_decode(op),
        launch=not group or op is softmax,
        causal=causal,
        flash=flash,
        operands=tuple(-1 if v in loaded else ids[v] for v in task_operands(op)),
        result=-1 if isinstance(op, la.KvStoreOp) else ids[op.results[0]],
    )


def _solve(probes: list[tuple[int, int, list[int]]]) -> np.ndarray:
    """Coefficients (a, b, c, d) of every integer from four probes on a (batch, context) rectangle (or two on
    a batch line, context fixed at 0)."""
    rows: list[tuple[int, int, int, int]] = []
    exact = True

    def over(numerator: int, denominator: int) -> int:
        nonlocal exact
        quotient, remainder = divmod(numerator, denominator)
        exact = exact and remainder == 0
        return quotient

    if len(probes) == 2:
        (b1, _, q1), (b2, _, q2) = probes
        for x1, x2 in zip(q1, q2, strict=True):
            slope = over(x2 - x1, b2 - b1)
            rows.append((x1 - slope * b1, slope, 0, 0))
    else:
        (b1, c1, q11), (b2, _, q21), (_, c2, q12), (_, _, q22) = probes
        for x11, x21, x12, x22 in zip(q11, q21, q12, q22, strict=True):
            # With d an integer, b and c are integers exactly when these quotients are.
            d = over(x22 - x21 - x12 + x11, (b2 - b1) * (c2 - c1))
            b = over(x21 - x11, b2 - b1) - d * c1
            c = over(x12 - x11, c2 - c1) - d * b1
            rows.append((x11 - b * b1 - c * c1 - d * b1 * c1, b, c, d))
    if not exact:
        raise NotParametric("an integer of the IR is not a polynomial in batch and context with integer terms")
    if any(not -(2**63) <= x < 2**63 for row in rows for x in row):
        raise NotParametric("a term of an integer of the IR is beyond the 64-bit integers of its attributes")
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def _check(table: OpTable, batch: int, context: int, numbers: list[int]) -> None:
    try:
        predicted = table.integers(np.array([batch]), np.array([context]))[:, 0]
    except NotParametric:
        raise NotParametric("the IR's integers at a check probe do not follow the fitted polynomials") from None
    if predicted.tolist() != numbers:
        raise NotParametric("the IR's integers at a check probe do not follow the fitted polynomials")


def op_tables(build: Callable[[int, int], list[func.FuncOp]], cached: bool) -> list[OpTable]:
    """The tables of the functions `build(batch, context)` returns (per device batch; cached: whether the
    context is above 0, i.e. whether it varies), fitted on probes and checked on one more."""
    batches, contexts = (3, 5, 7), (1001, 3001, 2003) if cached else (0, 0, 0)
    grid = [(batches[0], contexts[0]), (batches[1], contexts[0])]
    if cached:
        grid += [(batches[0], contexts[1]), (batches[1], contexts[1])]
    probes: list[list[tuple[OpTable, list[int]]]] = [[_table(f) for f in build(b, c)] for b, c in grid]
    check = [_table(f) for f in build(batches[2], contexts[2])]
    tables = []
    for i, (template, _) in enumerate(probes[0]):
        for probe in [*(p[i] for p in probes[1:]), check[i]]:
            if probe[0] != template:
                raise NotParametric("the IR's ops change with batch or context")
        fitted = _solve([(b, c, p[i][1]) for (b, c), p in zip(grid, probes, strict=True)])
        table = replace(template, coefficients=fitted)
        _check(table, batches[2], contexts[2], check[i][1])
        tables.append(table)
    return tables
