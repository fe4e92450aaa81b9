"""The energy constants of a GPU preset, fit on the calibration rows of one benchmarks/gpu/measure.py run.

Board joules are set against the cost model's own bytes per memory level and MACs for each calibration kernel,
so the constants are the ones the model needs to give back the joules measured. `python benchmarks/gpu/fit.py`
prints them with the preset's other constants. It needs no GPU and no torch, so the tests import it.
"""

from __future__ import annotations

import statistics

from costmodel import Estimate, Gemm, Machine, OpSpec, Placement, best_tiling, estimate_elementwise
from mlacc.hardware import load_hardware
from mlacc.validate import Point, estimate_point


def fit_energy(rows: list[dict[str, str]], machine: Machine, preset: str) -> dict[str, float]:
    """The energy constants of one run's calibration rows. Board joules = static W x seconds + pJ/B x bytes per
    memory level + pJ/MAC x MACs, with the bytes per level the cost model's own for each calibration kernel (so
    no byte is charged twice), fit in order: static power on kernels that move nothing, L2 on the L2 sweep, HBM
    on copies, norms and GEMVs, then MACs on large GEMMs; each a median over its rows (joules, not pJ)."""

    def f(r: dict[str, str], key: str) -> float:
        return float(r[key]) if r[key] else 0.0

    def kind(k: str) -> list[dict[str, str]]:
        return [r for r in rows if r["kind"] == k]

    gemms = kind("gemm")
    gemv = [r for r in gemms if f(r, "m") <= 16 and f(r, "n") * f(r, "k") >= 16384 * 7168]
    big = [r for r in gemms if f(r, "m") >= 4096]
    l2 = kind("l2read")[0]
    static = statistics.median(f(r, "joules") / f(r, "seconds") for r in kind("idle") + kind("tiny"))
    l2_pj = (f(l2, "joules") - static * f(l2, "seconds")) / f(l2, "bytes")
    l2_name, hbm_name = machine.levels[-2].name, machine.dram.name

    def left(r: dict[str, str]) -> tuple[float, float, float]:
        """Joules left after static power and the model's L2 traffic; the model's HBM bytes; the MACs."""
        moved, macs = model_traffic(machine, r)
        spent = f(r, "joules") - static * f(r, "seconds") - l2_pj * moved.get(l2_name, 0.0)
        return spent, moved.get(hbm_name, 0.0), macs

    streams = [(j, b) for j, b, _ in map(left, kind("copy") + kind("rmsnorm") + kind("rope") + gemv) if b > 1 << 24]
    hbm_pj = statistics.median(j / b for j, b in streams)
    mac_pj = statistics.median((j - hbm_pj * b) / m for j, b, m in map(left, big) if m > 0)
    # The fused attention kernel's MACs, on its compute-heavy rows (prefill), after static power, its HBM bytes
    # and the L2 bytes the model gives the same kernel (the model charges those apart; the softmax folds in).
    heavy = [r for r in kind("attention") if f(r, "flops") >= 1e10 and f(r, "flops") / f(r, "bytes") >= 256]
    attention_ratio = statistics.median(
        (f(r, "joules") - static * f(r, "seconds") - hbm_pj * f(r, "bytes") - l2_pj * flash_l2_bytes(r, preset))
        / (f(r, "flops") / 2)
        / mac_pj
        for r in heavy
    )
    return {"static_watts": static, "l2_pj": l2_pj, "hbm_pj": hbm_pj, "mac_pj": mac_pj,
            "attention_ratio": attention_ratio, "streams": len(streams), "heavy": len(heavy)}  # fmt: skip


def flash_l2_bytes(row: dict[str, str], preset: str) -> float:
    """L2 bytes the cost model moves for the fused attention kernel of a calibration `attention` row: its
    flash group's ops in the step of the same shape (the latent kernel as recompute runs it, the per-head
    one as expand does, MHA's)."""
    model, scheme = {"mla-latent": ("deepseek_v3", "recompute"), "mla-expanded": ("deepseek_v3", "expand"),
                     "mha": ("mha_baseline", "mha")}[row["model"]]  # fmt: skip
    point = Point(model, row["phase"], int(row["batch"]), int(row["context"]), int(row["new_tokens"]))
    result = estimate_point(point, preset)[scheme]
    level = Machine.of(load_hardware(preset)).levels[-2].name
    return sum(op.bytes.get(level, 0.0) for op in result.ops if op.kernel == "flash")


def gemm_estimate(machine: Machine, row: dict[str, str]) -> Estimate:
    """The cost model's estimate of a calibration GEMM (`gemm`, or per-head batched `bmm`) from and to DRAM."""
    heads, m, n, k = (int(row[x] or 1) for x in ("heads", "m", "n", "k"))
    sizes = {"g": heads, "m": m, "n": n, "k": k}
    op = OpSpec(row["kind"], "einsum", "bf16", 2, 2 * heads * m * n * k, (2 * heads * m * k, 2 * heads * k * n),
                2 * heads * m * n, Gemm.of("gmk,gkn->gmn", sizes))  # fmt: skip
    dram = machine.dram.name
    return best_tiling(machine, op, Placement((dram, dram), dram))[1]


def model_traffic(machine: Machine, row: dict[str, str]) -> tuple[dict[str, float], float]:
    """Bytes the cost model moves through each level, and the MACs, for one calibration kernel."""
    kind, m, n, k = row["kind"], *(int(row[x] or 0) for x in "mnk")
    if kind in ("gemm", "bmm"):
        return gemm_estimate(machine, row).bytes(), int(row["heads"] or 1) * m * n * k
    if kind in ("copy", "rmsnorm", "rope"):
        moved = float(row["bytes"] or 0) / 2
        op = OpSpec(kind, kind, "bf16", 2, 0, (int(moved),), int(moved))
        est = estimate_elementwise(machine, op, Placement((machine.dram.name,), machine.dram.name))
        return est.bytes(), 0.0
    return {}, 0.0
