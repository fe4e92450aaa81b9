"""The `sched` dialect: stage 6, the per-hardware schedule of a layer.

`schedule` puts one `sched.task` after every `la` op that computes or stores:
the unit it runs on, its start and end cycle, the bytes it moves per memory
level, its energy per component, the term that bounds it (compute or a
memory level), for the ops fused into one kernel, that kernel (`flash`: the
scores, softmax and weighted sum of one flash-attention kernel), and the library that runs the op where the target
names one (`cublaslt`, `flashmla`, ...). The function carries the totals (`sched.cycles`, `sched.energy_pj`).
"""

from __future__ import annotations

from xdsl.dialects.builtin import I64, DictionaryAttr, Float64Type, FloatAttr, IntegerAttr, StringAttr, f64, i64
from xdsl.ir import Dialect
from xdsl.irdl import IRDLOperation, irdl_op_definition, opt_prop_def, prop_def


def _floats(values: dict[str, float]) -> DictionaryAttr:
    return DictionaryAttr({k: FloatAttr(float(v), f64) for k, v in values.items()})


@irdl_op_definition
class TaskOp(IRDLOperation):
    """One scheduled op: `task` names the value it computes (or the cache it stores into)."""

    name = "sched.task"

    task = prop_def(StringAttr)
    kind = prop_def(StringAttr)
    unit = prop_def(StringAttr)
    units_used = prop_def(IntegerAttr[I64])
    start = prop_def(FloatAttr[Float64Type])
    end = prop_def(FloatAttr[Float64Type])
    flops = prop_def(IntegerAttr[I64])
    bound = prop_def(StringAttr)
    bytes = prop_def(DictionaryAttr)
    energy_pj = prop_def(DictionaryAttr)
    kernel = opt_prop_def(StringAttr)
    library = opt_prop_def(StringAttr)
    """The kernel library that runs the op, where the target names one for its op class (`hw.target` kernels)."""

    def __init__(
        self,
        task: str,
        kind: str,
        unit: str,
        units_used: int,
        start: float,
        end: float,
        flops: int,
        bound: str,
        bytes_per_level: dict[str, float],
        energy_pj: dict[str, float],
        kernel: str | None = None,
        library: str | None = None,
    ):
        super().__init__(
            properties={
                "task": StringAttr(task),
                "kind": StringAttr(kind),
                "unit": StringAttr(unit),
                "units_used": IntegerAttr(units_used, i64),
                "start": FloatAttr(float(start), f64),
                "end": FloatAttr(float(end), f64),
                "flops": IntegerAttr(flops, i64),
                "bound": StringAttr(bound),
                "bytes": _floats(bytes_per_level),
                "energy_pj": _floats(energy_pj),
            }
            | ({"kernel": StringAttr(kernel)} if kernel else {})
            | ({"library": StringAttr(library)} if library else {})
        )

    @property
    def cycles(self) -> float:
        return self.end.value.data - self.start.value.data


Sched = Dialect("sched", [TaskOp], [])
