"""The fused attention kernel: how a flash kernel splits its keys into programs, runs them in waves over the
units, combines split results, and which measured rates its variants reach.

A flash group (scores, their sum, softmax, the weighted values) runs as one kernel; `FlashShape` is what the
model reads of it: the keys each query attends over and which compiled kernel runs it. The variants differ in
how their programs hold queries and stream keys (benchmarks/gpu/flash_attention.py, kernel_grid.py):
- `heads`: one head's query rows a program, keys of one part (MHA, GQA);
- `heads-two-part`: one head's query rows a program, keys in two parts per head (cache-kv's 128 + 64 RoPE);
- `heads-shared-part`: one head's query rows a program, its RoPE key part shared by all heads (expand);
- `latent`: every head's queries over the one shared latent cache, in two parts (latent + RoPE key):
  MLA's absorbed schemes (recompute, reuse).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from costmodel.machine import Machine, Num

KERNELS = ("heads", "heads-two-part", "heads-shared-part", "latent")


@dataclass(frozen=True)
class FlashShape:
    """What the attention kernel model reads of a flash-group op."""

    keys: Num
    """The keys each query attends over (the softmax's last axis)."""
    kernel: str = "heads"
    """Which compiled kernel runs the group (one of KERNELS)."""
    decode: bool = True
    """Whether the group belongs to a decode step (its workload's phase), whose kernels differ from prefill's."""
    batch: Num = 0
    """Batches of the (first) score contraction: requests for the latent kernel, requests x heads per head."""
    rows: Num = 0
    """Query rows of one batch of it: heads x query tokens for the latent kernel, query tokens per head."""
    key_bytes: Num = 0
    """Bytes of one key, all score parts together (the latent kernel's 512 + 64 values)."""
    key_read_bytes: Num = 0
    """The same as its cache stores it (an fp8 cache: one byte a value), what a kernel reads of each cached key."""
    value_width: Num = 0
    """Values each query row's output holds (the weighted values' last axis)."""
    group_macs: Num = 0
    """MACs of the group's contractions (before a causal mask): the share of a library kernel each member takes."""
    query_concat_bytes: Num = 0
    """Bytes a library that takes one query tensor moves to concatenate the query's parts (read and written)."""
    key_concat_bytes: Num = 0
    """The same for keys whose parts are batched apart (a RoPE key shared by all heads): broadcast and joined."""
    key_broadcast_bytes: Num = 0
    """Bytes of that shared part as every head's joined keys hold it: what the kernel reads beyond the parts."""

    NUMBERS = ("keys", "batch", "rows", "key_bytes", "key_read_bytes", "value_width", "group_macs",
               "query_concat_bytes", "key_concat_bytes", "key_broadcast_bytes")  # fmt: skip
    """The fields that are counts of the workload (what an op table records per task)."""

    @staticmethod
    def of(keys: Num, two_part_keys: bool, two_part_heads: bool, decode: bool = True) -> FlashShape:
        """From the scores' structure: summed from two contractions batched alike (`two_part_keys`), and one
        head's queries a program with scores in two parts (`two_part_heads`)."""
        if two_part_keys:
            return FlashShape(keys, "heads-two-part" if two_part_heads else "latent", decode)
        return FlashShape(keys, "heads-shared-part" if two_part_heads else "heads", decode)

    @property
    def op_class(self) -> str:
        """The class of kernel a GPU preset names a library for (dialects/hw_calibration.py `OP_CLASSES`)."""
        if not self.decode:
            return "attention_prefill" if self.per_head else "attention_prefill_latent"
        return "attention_decode_heads" if self.per_head else "attention_decode_latent"

    @property
    def two_part_keys(self) -> bool:
        """Each program streams its keys in two parts, at the kernel's measured two-part rate."""
        return self.kernel in ("heads-two-part", "latent")

    @property
    def two_part_heads(self) -> bool:
        """The per-head kernel whose scores come in two parts, compiled apart from MHA's and the latent one."""
        return self.kernel in ("heads-two-part", "heads-shared-part")

    @property
    def per_head(self) -> bool:
        """One head's query rows a program (every kernel but the latent one)."""
        return self.kernel != "latent"

    def take(self, index: np.ndarray) -> FlashShape:
        def at(value: Num) -> Num:
            return np.asarray(value)[index] if np.ndim(value) else value

        return replace(self, **{name: at(getattr(self, name)) for name in self.NUMBERS})

    @property
    def concatenations(self) -> int:
        """Copy kernels a library that takes one query and one key tensor runs before the group."""
        return int(np.any(np.asarray(self.query_concat_bytes) > 0)) + int(np.any(np.asarray(self.key_concat_bytes) > 0))


FLASH_CHUNK_KEYS = 512
"""Fewest keys a flash-decoding split gives one program, so partial results cost less than the keys they
cover (benchmarks/gpu/flash_attention.py `default_splits`, as measured)."""

FLASH_KEY_BLOCK = 64
"""Keys a flash program loads at a time (benchmarks/gpu/flash_attention.py `block_n`): splits hold whole blocks."""


def flash_splits(units: int, row_blocks: Num, keys: Num) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How a flash kernel splits its keys (flash-decoding) when there are fewer row blocks than units: about
    two programs per unit, each over at least FLASH_CHUNK_KEYS keys (benchmarks/gpu/flash_attention.py
    `default_splits`, as measured; FlashAttention's split heuristic has the same aim), each split whole key
    blocks, so the last holds what is left (4097 keys in 9 splits: eight of 512 and one of a single key).
    Returns (splits, keys of a split, keys of the last one), elementwise over arrays of row blocks and keys."""
    blocks = np.asarray(row_blocks, dtype=float)
    keys = np.asarray(keys, dtype=float)
    wanted = np.maximum(1, np.minimum(np.ceil(2 * units / blocks), np.ceil(keys / FLASH_CHUNK_KEYS)))
    key_blocks = np.maximum(1, np.ceil(keys / FLASH_KEY_BLOCK))
    per_split = np.ceil(key_blocks / np.where(blocks >= units, 1, wanted))
    splits = np.ceil(key_blocks / per_split)
    split_keys = np.minimum(per_split * FLASH_KEY_BLOCK, keys)
    return splits, split_keys, keys - (splits - 1) * split_keys


def flash_row_blocks(machine: Machine, g: Num, m: Num) -> np.ndarray:
    """Blocks of query rows a flash kernel launches: each batch (and head, where heads are batched apart)
    times its query rows in array passes."""
    return g * np.ceil(np.asarray(m, dtype=float) / machine.rows)


def flash_programs(units: int, row_blocks: Num, keys: Num) -> np.ndarray:
    """Programs of a flash kernel: each block of query rows times its splits of the keys (`flash_splits`)."""
    return np.asarray(row_blocks, dtype=float) * flash_splits(units, row_blocks, keys)[0]


JOINS_PARTS = frozenset({"flashmla", "cudnn-sdpa", "sdpa-efficient"})
"""Libraries whose attention kernels take one query and one key tensor, so a group whose scores come in two parts
has them joined by copies first (costmodel/la_ops.py `flash_shape`); our Triton kernels read the parts as they are.
Joined, cache-kv's and expand's keys are one 192-wide tensor, run by one compiled kernel."""


def decode_programs(machine: Machine, row_blocks: Num, keys: Num) -> np.ndarray:
    """Programs a per-head decode kernel keeps in flight. cuDNN's SDPA decode (one query token) fills the SMs
    whatever the heads: 16 heads x batch 1 stream the expanded form's cache at the rate 128 heads do (2.1-2.4
    TB/s on an H100, benchmarks/results/h100_production_2026-12-07.csv), as if each block of query rows were
    split floor(units / blocks) ways; our Triton kernel splits as `flash_splits` says."""
    if machine.library("attention_decode_heads") == "cudnn-sdpa":
        blocks = np.asarray(row_blocks, dtype=float)
        return blocks * np.maximum(1.0, np.floor(machine.units / np.maximum(blocks, 1.0)))
    return flash_programs(machine.units, row_blocks, keys)


def in_flight_share(programs: Num, slots: Num, needed: Num) -> np.ndarray:
    """The share of its full off-chip rate a kernel of equal `programs` reaches when `slots` of them run at
    once and `needed` must be in flight for the full rate (fewer stream proportionally less): whole rounds of
    `slots`, then the rest. 384 programs in 264 slots needing 190: a full round, then 120 at 120 / 190 of the
    rate, 0.85 in all; 256 programs stream at the full rate. Elementwise; 1 where `needed` is 0."""
    programs, slots, needed = (np.asarray(x, dtype=float) for x in (programs, slots, needed))
    with np.errstate(divide="ignore", invalid="ignore"):
        slots = np.maximum(slots, 1.0)
        rounds = np.floor(programs / slots)
        rest = programs - rounds * slots

        def rate(n: np.ndarray) -> np.ndarray:
            return np.minimum(1.0, n / np.maximum(needed, 1e-30))

        time = rounds * slots / rate(slots) + np.where(rest > 0, rest / rate(np.maximum(rest, 1e-30)), 0.0)
        return np.where((needed > 0) & (programs > 0), programs / time, 1.0)


def list_makespan(units: int, long: Num, long_time: Num, short: Num, short_time: Num) -> np.ndarray:
    """When the last of `long` programs of `long_time` and then `short` ones of `short_time` ends, each
    program starting on the first unit free, in launch order (a GPU's block scheduler). Elementwise.

    After the whole rounds of long programs, `busy` units run one long program more while the others
    start short ones back to back; once the busy units are free too, every unit takes short ones, the
    free units `phase` into a short program: the last short program starts at the S-th of those slots."""
    long, long_time, short, short_time = (np.asarray(x, dtype=float) for x in (long, long_time, short, short_time))
    rounds = np.floor(long / units)
    busy = long - rounds * units
    early, late = rounds * long_time, (rounds + 1) * long_time
    free = units - busy
    alone = np.where(busy > 0, np.ceil(long_time / short_time), np.inf)  # slots each free unit has before `late`
    before = free * alone  # short programs started before the busy units are free
    phase = alone * short_time - long_time  # how far into a short program the free units are at `late`
    last_alone = early + (np.ceil(short / np.maximum(free, 1)) - 1) * short_time
    after = np.maximum(short - before, 1) - 1  # index of the last short program among those from `late` on
    rounds_after, place = np.floor(after / units), np.mod(after, units)
    last_after = late + rounds_after * short_time + np.where(place < busy, 0.0, phase)
    start = np.where(short <= before, last_alone, last_after)
    return np.maximum(np.where(busy > 0, late, early), np.where(short > 0, start + short_time, 0.0))


def programs_and_waves(machine: Machine, g: np.ndarray, m: np.ndarray, keys: Num, macs: np.ndarray):
    """A flash kernel runs one program per block of query rows (one array pass tall) and split of the keys
    (see `flash_splits`), one program per unit at a time: the busiest unit runs whole waves of programs, the
    last one part-empty (320 programs on 132 SMs take 3 waves, not 2.4); `compute_efficiency` turns that into
    a decode kernel's schedule of long splits and short last ones. Returns (row blocks, programs, units busy,
    MACs of the busiest unit)."""
    row_blocks = g * np.ceil(m / machine.rows)
    programs = flash_programs(machine.units, row_blocks, keys)
    return (
        row_blocks,
        programs,
        np.minimum(machine.units, programs),
        macs / programs * np.ceil(programs / machine.units),
    )


def split_partials(splits: np.ndarray, result_bytes: np.ndarray, element_bytes: int, writes_output: np.ndarray):
    """Bytes of fp32 partial results a split kernel writes and its combine reads back, all splits of the member
    that writes the group's output (benchmarks/gpu/kernel_grid.py; charged where the preset measured the
    combine, `attention_split_cycles`)."""
    return np.where((splits > 1) & writes_output, result_bytes * splits * 4 / element_bytes, 0.0)


def combine_cycles(machine: Machine, partial: np.ndarray, splits: np.ndarray) -> np.ndarray:
    """A split kernel's combine: reading the partials back, and a fixed time per split."""
    hbm = np.reshape(
        np.asarray(machine.dram.read_bandwidth * machine.attention_memory_efficiency, dtype=float), (-1, 1)
    )
    per_split = np.reshape(np.asarray(machine.attention_split_cycles, dtype=float), (-1, 1))
    return np.where(partial > 0, partial / hbm + splits * per_split, 0.0)


def compute_efficiency(machine: Machine, g: Num, m: Num, shape: FlashShape, density: Num) -> Num:
    """The measured fraction of peak a flash program's mainloop reaches, at its compiled kernel's rate: a causal
    (prefill) program's `attention_compute` (the latent and MHA kernels) or `attention_two_part_compute` (the
    per-head kernel whose keys come in two parts), a flash-decoding program's `attention_decode_compute`, or
    `attention_decode_unsplit_compute` where the decode kernel runs unsplit (each measured apart,
    benchmarks/gpu/kernel_grid.py). It loads its query rows before its keys stream past and writes its output
    after, time worth `attention_program_keys` keys of its mainloop that nothing overlaps (measured on the
    latent decode kernel over batch x context x splits), so programs over few keys (batch-1 decode split
    into many programs, short prompts) run below the rate of long ones. A causal program is charged the
    keys each query sees on average; a decode kernel its busiest unit's list of programs, the splits' keys
    and then the short last splits' (`flash_splits`, `list_makespan`)."""
    row_blocks = flash_row_blocks(machine, g, m)
    splits, split_keys, last_keys = flash_splits(machine.units, row_blocks, shape.keys)
    programs = row_blocks * splits
    start_end = np.asarray(machine.attention_program_keys, dtype=float)
    # `programs_and_waves` gives the busiest unit whole waves of programs over the average keys; a causal
    # (prefill) program is charged that, a decode program the kernel's schedule: the splits' keys and
    # then the short last splits (`list_makespan`), each with its start and end.
    average = shape.keys * density * row_blocks / programs
    waves = np.ceil(programs / machine.units) * average
    busiest = list_makespan(
        machine.units, programs - row_blocks, split_keys + start_end, row_blocks, last_keys + start_end
    )
    causal_rate = (
        machine.attention_two_part_compute
        if shape.two_part_heads
        else machine.attention_compute_efficiency
        if shape.per_head
        else machine.attention_latent_prefill_compute
    )
    causal_start_end = start_end if shape.per_head else np.asarray(machine.attention_latent_program_keys, dtype=float)
    prefill = causal_rate * average / (average + causal_start_end)
    decode = (
        np.where(splits > 1, machine.attention_decode_compute, machine.attention_decode_unsplit_compute)
        * waves
        / busiest
    )
    return np.where(np.asarray(density) == 1, decode, prefill)


def off_chip_efficiency(machine: Machine, g: Num | None, m: Num | None, shape: FlashShape, density: Num) -> Num:
    """The fraction of the off-chip peak the fused kernel streams at: its own measured rate, the two-part one
    where each program's keys come in two parts (for a library that joins the parts, `JOINS_PARTS`: the per-head
    kernel of the joined 192-wide keys, cache-kv's and expand's alike). A per-head decode kernel streams at its
    rate only with `attention_stream_programs` programs in flight (`in_flight_share`, `decode_programs`), of
    which each unit holds a few at once (fewer where its keys come in two parts)."""
    joined = shape.per_head and machine.library(shape.op_class) in JOINS_PARTS
    two_part = shape.two_part_heads if joined else shape.two_part_keys
    rate = machine.attention_two_part_memory if two_part else machine.attention_memory_efficiency
    needed = machine.attention_two_part_stream_programs if shape.two_part_heads else machine.attention_stream_programs
    if shape.per_head and g is not None and m is not None and np.any(np.asarray(needed) > 0):
        programs = decode_programs(machine, flash_row_blocks(machine, g, m), shape.keys)
        per_unit = (
            machine.attention_two_part_programs_per_unit
            if shape.two_part_heads
            else machine.attention_programs_per_unit
        )
        slots = machine.units * np.asarray(per_unit, dtype=float)
        share = in_flight_share(programs, slots, np.asarray(needed, dtype=float))
        rate = rate * np.where(np.asarray(density) == 1, share, 1.0)
    return rate
