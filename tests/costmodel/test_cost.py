"""The cost model on cases worked out by hand (tests/filecheck/dialects/hw/Inputs/tiny.toml and the H100 preset).

tiny: 1 GHz, one 4x4 array (16 fp32 MACs/cycle, 4 pJ/MAC), 1 KiB SRAM (64 B/cycle, 1 pJ/B),
DRAM 8 B/cycle at 100 pJ/B.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from xdsl.dialects.builtin import TensorType, f32

from costmodel import Gemm, Machine, OpSpec, Placement, Tiling, best_tiling, crossing_bytes, estimate_contraction
from costmodel.attention import FlashShape, in_flight_share
from costmodel.gemm_library import library_splits_k
from dialects import la
from mlacc.hardware import load_hardware
from tests.conftest import TINY_TOML

TINY = Machine.of(load_hardware(str(TINY_TOML)))
H100 = Machine.of(load_hardware("h100"))


def gemm_op(spec: str, sizes: dict[str, int], element_bytes: int, dtype: str) -> OpSpec:
    gemm = Gemm.of(spec, sizes)
    lhs, rhs = spec.split("->")[0].split(",")
    out = spec.split("->")[1]

    def size(term: str) -> int:
        total = element_bytes
        for letter in term:
            total *= sizes[letter]
        return total

    return OpSpec("op", "einsum", dtype, element_bytes, 2 * gemm.macs, (size(lhs), size(rhs)), size(out), gemm)


def test_gemm_view_classes_letters():
    gemm = Gemm.of("bshc,btc->bhst", {"b": 2, "s": 1, "h": 8, "c": 16, "t": 100})
    assert gemm.letters == {"g": "b", "m": "hs", "n": "t", "k": "c"}
    assert gemm.extents == {"g": 2, "m": 8, "n": 100, "k": 16}


def test_a_gemm_that_fits_on_chip():
    # 4x4x4 fp32, everything in SRAM: 64 MACs at 16/cycle = 4 cycles of compute; SRAM reads the operands
    # (64 + 64 B) and feeds the array (64 MACs x 4 B x (1/4 + 1/4) = 128 B): 256 B at 64 B/cycle = 4 cycles,
    # and writes the result (64 B, 1 cycle) through its own port. Compute and SRAM balance; a tie names compute.
    op = gemm_op("mk,kn->mn", {"m": 4, "k": 4, "n": 4}, 4, "fp32")
    est = estimate_contraction(TINY, op, Placement(("sram", "sram"), "sram"), Tiling(4, 4, 4, "mnk"))
    assert est.compute_cycles == 4
    assert est.bytes() == {"sram": 320, "dram": 0}
    assert est.level_cycles == {"sram": 4, "dram": 0}
    assert (est.cycles, est.bound) == (4, "compute")
    assert est.energy_pj == {"mac": 64 * 4, "sram": 320 * 1, "dram": 0}


def test_a_gemm_that_streams_from_dram():
    # 16x16 output, K = 4, fp32: A and B are 256 B each, C 1 KiB; the whole problem does not fit 1 KiB,
    # but tiles of 16 x 8 x 4 (896 B) read A and B once and write C once: 1536 B at 8 B/cycle = 192 cycles,
    # against 1024 MACs / 16 = 64 cycles of compute.
    op = gemm_op("mk,kn->mn", {"m": 16, "k": 4, "n": 16}, 4, "fp32")
    tiling, est = best_tiling(TINY, op, Placement(("dram", "dram"), "dram"))
    assert 4 * (tiling.m * tiling.k + tiling.k * tiling.n + tiling.m * tiling.n) <= 1024
    assert est.bytes()["dram"] == 1536
    assert (est.cycles, est.bound) == (192, "dram")
    assert est.compute_cycles == 64


def test_reloading_operands_costs_dram_traffic():
    # The same GEMM with 4x4x4 tiles and K innermost re-reads A once per N tile and B once per M tile.
    op = gemm_op("mk,kn->mn", {"m": 16, "k": 4, "n": 16}, 4, "fp32")
    est = estimate_contraction(TINY, op, Placement(("dram", "dram"), "dram"), Tiling(4, 4, 4, "mnk"))
    assert est.bytes()["dram"] == 256 * 4 + 256 * 4 + 1024


def test_decode_attention_over_a_long_cache_is_bandwidth_bound_on_h100():
    # DeepSeek-V3 absorbed scores at context 32k: 128 heads x 512-wide latent queries against 32769 cached
    # latents (bf16) read from HBM: 33.6 MB at 1830.6 B/cycle x 0.886 (measured) = 20.7 k cycles, plus the
    # measured 5596 cycles of a contraction's fixed time (257 output tiles: no split along K); the 2.15 G MACs
    # take 2.15e9 / (132 x 2048 x 0.584) = 13.6 k cycles, 0.584 being the measured mainloop rate 0.714 less
    # the write-out of each tile after its 8 K slices of 64 (8 / (8 + 1.81)).
    sizes = {"b": 1, "s": 1, "h": 128, "c": 512, "t": 32769}
    op = gemm_op("bshc,btc->bhst", sizes, 2, "bf16")
    _, est = best_tiling(H100, op, Placement(("l2", "hbm"), "smem"))
    latent = 32769 * 512 * 2
    assert est.bytes()["hbm"] == latent
    assert est.bound == "hbm"
    assert est.cycles == pytest.approx(latent / (1830.6 * 0.886) + 5596)
    assert est.compute_cycles == pytest.approx(128 * 512 * 32769 / (132 * 2048 * 0.714 * 8 / (8 + 1.81)))


MULTICORE = Machine.of(load_hardware("multicore"))


def test_one_core_of_a_multicore_chip_gets_its_share():
    core = MULTICORE.per_core()
    assert (MULTICORE.cores, core.cores) == (4, 1)
    assert core.units == MULTICORE.units // 4
    assert core.levels[0].count == MULTICORE.levels[0].count // 4  # its own SRAM
    assert core.dram.read_bandwidth == MULTICORE.dram.read_bandwidth / 4  # a fair share of the shared bus
    assert core.levels[0].capacity == MULTICORE.levels[0].capacity


def test_results_crossing_cores_pay_the_interconnect():
    producer = la.WeightOp("W", TensorType(f32, [256]))  # any op with a 1 KiB result
    on_chip, off_chip = Placement((), "sram"), Placement((), "dram")
    assert crossing_bytes(producer, (0,), (1,), 4, on_chip, MULTICORE) == 1024  # core to core: all of it
    assert crossing_bytes(producer, (0, 1, 2, 3), (2,), 4, on_chip, MULTICORE) == 768  # gather: 3/4 from others
    assert crossing_bytes(producer, (1,), (0, 1, 2, 3), 4, on_chip, MULTICORE) == 768  # scatter
    assert crossing_bytes(producer, (0, 1, 2, 3), (0, 1, 2, 3), 4, on_chip, MULTICORE) == 0  # split alike
    assert crossing_bytes(producer, (0,), (1,), 4, off_chip, MULTICORE) == 0  # through DRAM, costed there


def test_flash_decoding_splits_whole_key_blocks_and_schedules_the_short_last_split():
    """DeepSeek-V3 absorbed decode, batch 32 at 16k context, on H100: 64 blocks of 64 query rows (two per
    sequence) split the keys 5 ways (2 x 132 / 64, rounded up), each split whole blocks of 64 keys as the kernel
    does (benchmarks/gpu/flash_attention.py): four of 52 blocks (3328 keys) and a last one of the 3073 left.
    The 256 long programs take two rounds of the 132 SMs; the 64 short ones start on the 8 SMs left free in the
    second round and then on the first SMs to finish it: one program more, not a whole wave of long ones."""
    from costmodel.attention import flash_programs, flash_splits

    assert flash_programs(132, 64, 16385) == 320
    assert [float(x) for x in flash_splits(132, 64, 16385)] == [5, 3328, 3073]
    assert flash_programs(132, 256, 4097) == 256  # enough row blocks: no split
    assert flash_programs(132, 2, 1025) == 6  # at least 512 keys per split
    assert [float(x) for x in flash_splits(132, 16, 4097)] == [9, 512, 1]  # eight splits of 512 keys, one of 1
    sizes = {"b": 32, "s": 1, "h": 128, "c": 512, "t": 16385}
    op = replace(gemm_op("bshc,btc->bsht", sizes, 2, "bf16"), attention=FlashShape(16385))
    _, est = best_tiling(H100, op, Placement(("l2", "hbm"), "smem"))
    assert est.units == 132
    # Each program's mainloop runs at the split decode kernel's measured rate, with its unoverlapped start and
    # end worth attention_program_keys keys; the busiest SM runs two long programs and one short one.
    start_end = H100.attention_program_keys
    busiest_keys = 2 * (3328 + start_end) + (3073 + start_end)
    per_key = 64 * 512  # MACs of one program (64 query rows) per key
    assert est.compute_cycles == pytest.approx(per_key * busiest_keys / (2048 * H100.attention_decode_compute))


@given(
    long=st.integers(0, 900),
    long_time=st.floats(0.1, 50),
    short=st.integers(0, 400),
    short_time=st.floats(0.05, 50),
)
def test_the_schedule_of_long_then_short_programs_is_the_block_schedulers(
    long: int, long_time: float, short: int, short_time: float
):
    """`list_makespan` against a direct simulation: each program, in launch order, on the first unit free."""
    import heapq

    from costmodel.attention import list_makespan

    free = [0.0] * 132
    for t in [long_time] * long + [short_time] * short:
        heapq.heappush(free, heapq.heappop(free) + t)
    assert list_makespan(132, long, long_time, short, short_time) == pytest.approx(max(free))


def test_a_kernel_with_too_few_programs_in_flight_streams_below_its_rate():
    # 384 programs, 264 at once, 190 needed for the full rate: a round of 264 at the full rate, then 120 at
    # 120 / 190 of it, which take the time of 190: 384 programs in the time of 454.
    assert in_flight_share(384, 264, 190) == pytest.approx(384 / 454)
    assert in_flight_share(256, 264, 190) == 1.0  # one round, enough in flight
    assert in_flight_share(384, 264, 0) == 1.0  # not measured: the full rate
    assert list(in_flight_share(np.array([100.0, 528.0]), 264, 190)) == pytest.approx([100 / 190, 1.0])


@pytest.mark.parametrize(
    "extents, splits",
    [
        ({"g": 1, "m": 1, "n": 1536, "k": 7168}, True),  # a down-projection at decode: 12 tiles, 597 of K each
        ({"g": 1, "m": 128, "n": 7168, "k": 16384}, True),  # the output projection at batch 128: 56 tiles, 292 each
        ({"g": 1, "m": 2048, "n": 64, "k": 7168}, True),  # the RoPE key of a 2048-token prefill: 16 tiles
        ({"g": 1, "m": 1, "n": 16384, "k": 1536}, False),  # an up-projection: 128 tiles, 12 each
        ({"g": 1, "m": 2048, "n": 512, "k": 7168}, False),  # a prefill's down-projection: 64 tiles, 112 each
        ({"g": 128, "m": 1, "n": 128, "k": 512}, False),  # per-head batched: 128 tiles
        ({"g": 1, "m": 8192, "n": 7168, "k": 65536}, False),  # tiles enough for every SM
    ],
)
def test_the_library_splits_k_where_few_output_tiles_each_hold_a_deep_k(extents: dict[str, int], splits: bool):
    assert bool(library_splits_k(132, Gemm({}, extents))) is splits


def test_a_gemm_split_along_k_pays_the_kernel_that_sums_its_parts():
    h200 = Machine.of(load_hardware("h200"))
    dram = h200.dram.name

    def seconds(machine: Machine, n: int, k: int) -> float:
        gemm = Gemm.of("mk,kn->mn", {"m": 1, "n": n, "k": k})
        op = OpSpec("g", "einsum", "bf16", 2, 2 * n * k, (2 * k, 2 * k * n), 2 * n, gemm)
        return best_tiling(machine, op, Placement((dram, dram), dram))[1].cycles / machine.frequency

    without = replace(h200, split_k_latency=0.0)
    split = seconds(h200, 1536, 7168) - seconds(without, 1536, 7168)
    assert split == pytest.approx(h200.split_k_latency / h200.frequency)
    assert seconds(h200, 16384, 1536) == seconds(without, 16384, 1536)
