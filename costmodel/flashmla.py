"""FlashMLA's dense Hopper decode kernel (deepseek-ai/FlashMLA, csrc/sm90/decode/dense and csrc/smxx/decode), as a
production server runs MLA's absorbed decode: every head's queries attend over one shared latent cache.

What makes it fast or slow is its scheduler, which this module replays (csrc/smxx/decode/get_decoding_sched_meta/
get_decoding_sched_meta.cu, `get_mla_metadata_kernel`; csrc/api/dense_decode.h):
- a program (one SM) holds BLOCK_ROWS query rows of one request: heads x query tokens in blocks of 64, so 128
  heads take two row blocks and 16 heads fill a quarter of one;
- the SMs are cut into `num_sm_parts = SMs // row blocks` parts, each running every row block of its share of the
  keys;
- each request costs its 64-key blocks plus FIXED_OVERHEAD_BLOCKS; the parts take equal payloads of
  ceil(total / parts) + FIXED_OVERHEAD_BLOCKS blocks in request order, splitting a request where a payload ends
  (each piece costs its blocks plus the overhead again);
- a split request's pieces are merged by a second kernel (the combine), which reads the fp32 partials back.
The kernel's time is then its busiest part's payload at the measured time per block (the compute-bound regime) or
the latent cache at the measured read rate (the memory-bound one), whichever is longer, plus the combine: the
partials at the same rate and a fixed time per piece of the most-split request. The constants per block and the
rates are the preset's (`attention_latent_compute`, `attention_latent_memory`, `attention_split_cycles`);
the block sizes and the overhead are the library's own, below.
"""

from __future__ import annotations

import numpy as np

from costmodel.machine import Machine, Num

BLOCK_ROWS = 64
"""Query rows (heads x query tokens of one request) a program holds (dense_decode.h: `ceil_div(seqlen_q *
num_heads_q / num_heads_k, 64)` row blocks per KV head)."""

BLOCK_KEYS = 64
"""Keys a program's mainloop loads at a time, the paged cache's page size (dense_decode.h: page_block_size 64)."""

FIXED_OVERHEAD_BLOCKS = 5
"""Blocks of work the scheduler charges each piece of a request beyond its keys (its prologue and epilogue:
`fixed_overhead_num_blocks` = 5, csrc/api/dense_decode.h, FlashMLA 9241ae3)."""

PARTIAL_BYTES_PER_ROW = 4
"""fp32: the split kernel's partial outputs and log-sum-exps the combine reads (dense_decode.h `oaccum`)."""


def schedule(units: Num, batch: Num, rows: Num, keys: Num) -> tuple[np.ndarray, ...]:
    """FlashMLA's tile scheduler for `batch` requests of `rows` query rows over `keys` keys each, on `units` SMs,
    elementwise over arrays of points. Returns (parts, payload in blocks, pieces of the most-split request, pieces
    of all requests)."""
    units, batch, rows, keys = np.broadcast_arrays(*(np.asarray(x, dtype=np.int64) for x in (units, batch, rows, keys)))
    row_blocks = -(-rows // BLOCK_ROWS)
    parts = np.maximum(units // np.maximum(row_blocks, 1), 1)
    blocks = np.maximum(-(-keys // BLOCK_KEYS), 1)
    whole = blocks + FIXED_OVERHEAD_BLOCKS
    payload = -(-(batch * whole) // parts) + FIXED_OVERHEAD_BLOCKS
    request = np.zeros_like(batch)  # the request the next part starts in
    taken = np.zeros_like(batch)  # blocks of it earlier parts took
    pieces_so_far = np.zeros_like(batch)  # pieces of it earlier parts took
    most = np.zeros_like(batch)
    pieces = np.zeros_like(batch)
    for part in range(int(parts.max(initial=1))):
        active = (part < parts) & (request < batch)
        remain = np.where(active, payload, 0)
        # The request it starts in: finished here if what is left of it fits, else split again.
        finish = active & (remain >= blocks - taken + FIXED_OVERHEAD_BLOCKS)
        done = pieces_so_far + 1
        most = np.where(finish, np.maximum(most, done), most)
        pieces = np.where(finish, pieces + done, pieces)
        remain = np.where(finish, remain - (blocks - taken + FIXED_OVERHEAD_BLOCKS), remain)
        split = active & ~finish & (remain > FIXED_OVERHEAD_BLOCKS)
        taken = np.where(finish, 0, np.where(split, taken + remain - FIXED_OVERHEAD_BLOCKS, taken))
        pieces_so_far = np.where(finish, 0, np.where(split, pieces_so_far + 1, pieces_so_far))
        request = np.where(finish, request + 1, request)
        # Whole requests, then the start of the next one.
        fits = np.where(finish, np.minimum(remain // whole, batch - request), 0)
        most = np.where(fits > 0, np.maximum(most, 1), most)
        pieces, request, remain = pieces + fits, request + fits, remain - fits * whole
        start = finish & (request < batch) & (remain > FIXED_OVERHEAD_BLOCKS)
        taken = np.where(start, remain - FIXED_OVERHEAD_BLOCKS, taken)
        pieces_so_far = np.where(start, 1, pieces_so_far)
    return parts, payload, most, pieces


def kernel_cycles(
    machine: Machine, dtype: str, key_bytes: Num, batch: Num, rows: Num, keys: Num, key_width: Num, value_width: Num
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mainloop, latent cache read, combine) cycles of one FlashMLA call at each point: `batch` requests of `rows`
    query rows over `keys` keys of `key_width` values of `dtype` (576 in DeepSeek-V3: 512 latent + 64 RoPE), each
    key `key_bytes` as the cache stores it (an fp8 cache reads half a bf16 one's), `value_width` output values per
    row (512). A block's MACs (its rows x keys x (key + value width)) run at `attention_latent_compute` of one SM's
    peak, so another MAC rate or dtype moves the mainloop."""
    _, payload, most, pieces = schedule(machine.units, batch, rows, keys)
    rate = machine.dram.read_bandwidth * np.asarray(machine.attention_latent_memory, dtype=float)
    block_macs = BLOCK_ROWS * BLOCK_KEYS * (np.asarray(key_width, dtype=float) + value_width)
    block = block_macs / (np.asarray(machine.peak_macs(dtype), dtype=float) * machine.attention_latent_compute)
    compute = payload * block
    memory = np.asarray(batch, dtype=float) * keys * key_bytes / rate
    split = pieces > np.asarray(batch)
    # The split kernel writes every piece's partial rows and the combine reads them back.
    partials = 2.0 * pieces * np.asarray(rows, dtype=float) * (np.asarray(value_width) + 1) * PARTIAL_BYTES_PER_ROW
    combine = np.where(split, partials / rate + most * np.asarray(machine.attention_split_cycles, dtype=float), 0.0)
    return compute, memory, combine


def soft_maximum(a: Num, b: Num, exponent: Num) -> np.ndarray:
    """(a^p + b^p)^(1/p): the mainloop and the cache read overlap only in part near the ridge between the two
    regimes (a measured `attention_latent_overlap`); the plain maximum where the preset leaves it 0."""
    a, b, p = (np.asarray(x, dtype=float) for x in (a, b, exponent))
    big = np.maximum(np.maximum(a, b), 1e-300)
    safe = np.where(p > 0, p, 1.0)
    with np.errstate(over="ignore"):  # an absurd exponent in a hardware file (1e-300): an infinite time, as reported
        soft = big * ((a / big) ** safe + (b / big) ** safe) ** (1 / safe)
    return np.where(p > 0, soft, np.maximum(a, b))
