"""The cost model that tile, place, schedule (and sweeps) share: one op, one tiling, one machine.

Hardware: `Machine` is a plain view of a `#hw.target` (read once; sweeps reuse it).
Ops: `OpSpec` is the compact form of an `la` op that the model needs: for a
contraction its GEMM view (batch x M x N x K, which index letters form each),
for other ops their FLOPs; its operand and result bytes; and where each tensor
lives (`Placement`). An `Estimate` has cycles, bytes and energy per memory
level, and names its bound.

The model, per op (all counts whole-op; docs/cost-model.md says it in prose):
- A contraction is tiled at the innermost memory level: tiles (m, n, k) of the
  M, N, K extents must fit one instance of that level (A, B and C tiles), and
  a loop order over tiles decides the re-reads from the outer levels: A is
  read once if the N loop is innermost, else once per N tile; B likewise with
  M; C is written once if K is innermost, else it spills partial sums (TK
  writes, TK - 1 reads). Independent (batch x M x N) tiles spread over the
  compute units; a tile maps M and N onto the array's rows and columns (either
  way round), or K along one of them (spatial reduction), whichever fills it best.
- compute cycles = MACs / (units used x MACs/cycle/unit x spatial utilisation
  x measured efficiency); other ops run one FLOP per array column per cycle.
- measured efficiency factors, where a preset has them, scale the peak compute
  rate and bandwidths, and add a fixed latency per op;
- each level's cycles = its bytes / (bandwidth per instance x instances used):
  on-chip levels read and write through separate ports (the max of the two),
  the off-chip bus carries reads and writes one after the other (their sum);
  the op takes the max of compute and level cycles (transfers overlap compute,
  as double buffering allows), and that term is its bound.
- energy = MACs x pJ/MAC + sum over levels of bytes read and written x pJ/B.
- the step clock (presets that measured it): the power limit leaves a step one
  SM clock between the clocks its kinds of kernel hold alone (clock.py); ops
  bound by compute take their time at it.
Not modelled: caches' hit rates beyond the tiling's reuse, bank conflicts,
vector-unit throughput separate from the array.

The package, one idea per file, on the floor between the dialects it reads and the passes and sweeps that
call it (imports point mlacc/ -> passes/ -> costmodel/ -> dialects/):
- machine: the `#hw.target` as plain numbers (`Machine`), one per chip or stacked over design points;
- op: the op model (`OpSpec` and its GEMM view, `Placement`, `Tiling`, `Estimate`);
- la_ops: `la` IR -> `OpSpec`s (which ops are tasks, their flash groups);
- traffic: bytes per memory level of one op at a tiling, units busy, array utilisation;
- tiles: the tile search;
- gemm_library: the GEMM library's behaviour (output tile, shallow-K rate, split-K);
- attention: the fused attention kernels (programs, splits, waves, combine, their measured rates);
- estimate: one op's cycles and energy from the above;
- energy: dynamic energy from MACs and traffic;
- placement: where tensors live (the home rule);
- plan: list scheduling of a layer's tasks, with the static and interconnect energy it implies;
- clock: the SM clock a power-limited step holds;
- collectives: ring collectives between the devices of a node.
"""

from costmodel.collectives import LINK, collective_cycles, estimate_collective, is_collective, ring_factor
from costmodel.energy import dynamic_energy_pj
from costmodel.estimate import estimate, estimate_contraction, estimate_elementwise
from costmodel.la_ops import VIEW_OPS, is_task, layer_functions, op_spec, task_operands, tiling_of
from costmodel.machine import Level, Machine, machine_of_module
from costmodel.op import ORDER_FOR_INNER, Estimate, Gemm, OpSpec, Placement, Tiling
from costmodel.placement import assign_homes, fused_values, placement_of
from costmodel.plan import (
    Slot,
    collective_placement,
    crossing_bytes,
    dataflow_graph,
    layer_cycles_and_energy,
    plan,
    static_energy_pj,
)
from costmodel.tiles import best_tiling
from costmodel.traffic import moved_bytes

__all__ = [
    "LINK",
    "ORDER_FOR_INNER",
    "VIEW_OPS",
    "Estimate",
    "Gemm",
    "Level",
    "Machine",
    "OpSpec",
    "Placement",
    "Slot",
    "Tiling",
    "assign_homes",
    "best_tiling",
    "collective_cycles",
    "collective_placement",
    "crossing_bytes",
    "dataflow_graph",
    "dynamic_energy_pj",
    "estimate",
    "estimate_collective",
    "estimate_contraction",
    "estimate_elementwise",
    "fused_values",
    "is_collective",
    "is_task",
    "layer_cycles_and_energy",
    "layer_functions",
    "machine_of_module",
    "moved_bytes",
    "op_spec",
    "placement_of",
    "plan",
    "ring_factor",
    "static_energy_pj",
    "task_operands",
    "tiling_of",
]
