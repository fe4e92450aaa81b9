"""Our harness around vLLM's Triton MoE GEMM, `fused_moe_kernel` (vLLM's own source, held in the ignored
.vllm_moe/ and never committed: benchmarks/gpu/layer_notes.md says from which commit), so that expert GEMMs can be
timed as vLLM and SGLang run them, beside torch._grouped_mm. No vLLM code here: the kernel is imported from that
file, and align() and config() restate vLLM's rules in our own code.

    TRITON_INTERPRET=1 python benchmarks/gpu/vllm_moe.py --self-check    # CPU: Triton's interpreter, float16
    python3 benchmarks/gpu/vllm_moe.py --self-check                       # GPU: bf16

Contract, as layer_step.py's grouped GEMMs: rows (M, K) sorted by expert, expert e owning rows [ends[e-1], ends[e])
(ends (E,) int32, cumulative); w (E, K, N), an expert's weight as rows @ w[e]. The kernel reads w through its
strides, so layer_step's transposed views of the (E, N, K) weights engines store (vLLM's layout, K contiguous) are
read in place, as vLLM reads them; any other layout goes through prepare_weights once, outside the timed region.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import torch

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / ".vllm_moe" / "fused_moe_kernel.py"


def kernel_path(path: str | Path | None = None) -> Path:
    """The packed kernel: `path`, else $MLACC_VLLM_MOE, else .vllm_moe/fused_moe_kernel.py in this checkout."""
    return Path(path or os.environ.get("MLACC_VLLM_MOE") or DEFAULT)


@cache
def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("vllm_fused_moe_kernel", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(path: str | Path | None = None) -> ModuleType:
    """The packed module (imported once): fused_moe_kernel, its helpers, VLLM_COMMIT, VLLM_PATH."""
    return _load(kernel_path(path).resolve())


def available(path: str | Path | None = None) -> tuple[bool, str]:
    """Whether the packed kernel imports here (it needs triton), and the reason where it does not."""
    p = kernel_path(path)
    if not p.is_file():
        return False, f"{p} missing: vLLM's fused_moe_kernel is not in this repository (see layer_notes.md)"
    try:
        load(p).fused_moe_kernel  # noqa: B018
    except Exception as e:
        return False, f"{p} does not import: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return True, f"{kernel_name(p)}, {version(p)}"


def kernel_name(path: str | Path | None = None) -> str:
    return f"vLLM fused_moe_kernel (Triton) @ {load(path).VLLM_COMMIT[:8]}"


def version(path: str | Path | None = None) -> str:
    import triton

    module = load(path)
    return f"vllm {module.VLLM_COMMIT[:12]} {module.VLLM_PATH}, triton {triton.__version__}"


def align(ends: torch.Tensor, block_m: int, rows: int | None = None) -> tuple[torch.Tensor, ...]:
    """(sorted_token_ids, expert_ids, num_tokens_post_padded) as vLLM's moe_align_block_size returns them, for rows
    already sorted by expert (top_k 1, so a row's "token" is its index): each expert's rows in order, padded to a
    multiple of block_m with the sentinel M (= rows, which the kernel masks off), experts without rows taking no
    block; the expert of each block; the padded total, (1,). Buffers sized for the worst case, M + E (block_m - 1)
    ids, as vLLM sizes them so that the grid needs no host sync; expert ids past the total are 0, as vLLM's zeroed
    buffer (the kernel stops before reading them). All on ends' device; `rows` defaults to ends[-1] (a sync)."""
    ends = ends.to(torch.int64)
    m = int(ends[-1]) if rows is None else rows
    starts = torch.cat((ends.new_zeros(1), ends[:-1]))
    padded = (ends - starts + block_m - 1) // block_m * block_m
    padded_ends = padded.cumsum(0)
    size = m + ends.numel() * (block_m - 1)
    sorted_ids = torch.full((size,), m, dtype=torch.int32, device=ends.device)
    row = torch.arange(m, device=ends.device)
    owner = torch.searchsorted(ends, row, right=True)
    sorted_ids[padded_ends[owner] - padded[owner] + row - starts[owner]] = row.to(torch.int32)
    block_starts = torch.arange(0, size, block_m, device=ends.device)
    expert_ids = torch.searchsorted(padded_ends, block_starts, right=True)
    expert_ids = torch.where(expert_ids < ends.numel(), expert_ids, 0).to(torch.int32)
    return sorted_ids, expert_ids, padded_ends[-1:].to(torch.int32)


def device_key(device_name: str) -> str:
    """The device part of vLLM's config file names (get_config_file_name): spaces as underscores, any H200 as
    NVIDIA_H200. torch.cuda.get_device_name() of an H100 SXM gives NVIDIA_H100_80GB_HBM3."""
    name = device_name.replace(" ", "_")
    return "NVIDIA_H200" if "H200" in name.split("_") else name


def config(
    m_tokens: int, experts: int, n: int, k: int, top_k: int, device_name: str, path: str | Path | None = None
) -> dict[str, int]:
    """The kernel config vLLM picks (try_get_optimal_moe_config) for an unquantised bf16 MoE with no override
    and batch invariance off. m_tokens: tokens, vLLM's M (hidden_states rows), not expert rows; n: an expert's
    intermediate width per GPU, vLLM's N (w2's last dimension). vLLM runs both GEMMs of the layer with this one
    config (and one alignment). A tuned file E={experts},N={n},device_name={device_key}.json packed into
    .vllm_moe/configs/: its entry whose M is nearest m_tokens (the first such, in the file's order). Otherwise
    vLLM's get_default_config at the pinned commit, whose bf16 rule is: m_tokens <= experts (decode-sized) gives
    16-row, 32-column blocks over 64 of K, no grouping; larger, 64 x 64 blocks over 32 of K, 8 row blocks grouped
    for L2 reuse. It sets neither num_warps nor num_stages, so Triton's defaults (4 warps, 3 stages) apply; it
    reads neither k nor top_k for bf16 (they stay in the signature, as in vLLM's)."""
    name = f"E={experts},N={n},device_name={device_key(device_name)}.json"
    tuned = kernel_path(path).parent / "configs" / name
    if tuned.is_file():
        table = {int(m): c for m, c in json.loads(tuned.read_text()).items() if m != "triton_version"}
        return dict(table[min(table, key=lambda m: abs(m - m_tokens))])
    if m_tokens <= experts:
        return {"BLOCK_SIZE_M": 16, "BLOCK_SIZE_N": 32, "BLOCK_SIZE_K": 64, "GROUP_SIZE_M": 1}
    return {"BLOCK_SIZE_M": 64, "BLOCK_SIZE_N": 64, "BLOCK_SIZE_K": 32, "GROUP_SIZE_M": 8}


@dataclass(frozen=True)
class Plan:
    """align's result and the config for one set of expert ends: built outside the timed region (vLLM's
    moe_align_block_size is a kernel of its own, counted with the routing) and shared by the layer's two GEMMs."""

    sorted_token_ids: torch.Tensor
    expert_ids: torch.Tensor
    num_tokens_post_padded: torch.Tensor
    rows: int
    config: dict[str, int]


def plan(ends: torch.Tensor, cfg: dict[str, int], rows: int | None = None) -> Plan:
    """The Plan of rows sorted by `ends` under `cfg` (from config()); `rows` defaults to ends[-1] (a sync)."""
    rows = int(ends[-1]) if rows is None else rows
    return Plan(*align(ends, cfg["BLOCK_SIZE_M"], rows), rows=rows, config=dict(cfg))


def prepare_weights(w: torch.Tensor) -> torch.Tensor:
    """w (E, K, N) with K contiguous, the layout vLLM's kernel reads ((E, N, K) storage): w itself where it is so
    already (layer_step's transposed views), else one copy. Once per weight, outside the timed region."""
    return w if w.stride(1) == 1 else w.transpose(1, 2).contiguous().transpose(1, 2)


def grouped_gemm(rows: torch.Tensor, w: torch.Tensor, p: Plan, out: torch.Tensor | None = None) -> torch.Tensor:
    """out (M, N): rows of expert e @ w[e], as one launch of vLLM's fused_moe_kernel. rows (M, K) sorted by expert,
    w (E, K, N) with K contiguous (prepare_weights), p from plan() over the ends the rows were sorted by. Launched
    as vLLM's invoke_fused_moe_kernel launches its unquantised GEMM with top_k 1 and no routing weight (vLLM's
    second GEMM): no bias, scales or routing; the grid from p's buffer sizes on the host, no sync."""
    if w.stride(1) != 1:
        raise ValueError("w must have K contiguous (w.stride(1) == 1), as vLLM stores it: use prepare_weights(w)")
    import triton
    import triton.language as tl

    compute = {torch.bfloat16: tl.bfloat16, torch.float16: tl.float16, torch.float32: tl.float32}[rows.dtype]
    m, k = rows.shape
    n = w.shape[2]
    cfg = p.config
    out = torch.empty(m, n, device=rows.device, dtype=rows.dtype) if out is None else out
    em = p.sorted_token_ids.numel()
    if m < cfg["BLOCK_SIZE_M"]:  # vLLM's small-batch bound on the blocks launched: A.size(0) * top_k * BLOCK_SIZE_M
        em = min(em, m * cfg["BLOCK_SIZE_M"])
    grid = (triton.cdiv(em, cfg["BLOCK_SIZE_M"]) * triton.cdiv(n, cfg["BLOCK_SIZE_N"]),)
    load().fused_moe_kernel[grid](
        rows, w, out, None, None, None, None,  # A, B, C; bias, A and B scales, routing weights: none
        p.sorted_token_ids, p.expert_ids, p.num_tokens_post_padded,
        n, k, em, m,
        rows.stride(0), rows.stride(1), w.stride(0), w.stride(1), w.stride(2), out.stride(0), out.stride(1),
        0, 0, 0, 0, 0, 0, 0,  # the scales' and bias's strides
        0, 0,  # group_n, group_k: no block quantisation
        MUL_ROUTED_WEIGHT=False, top_k=1, compute_type=compute, use_fp8_w8a8=False, use_int8_w8a8=False,
        use_int8_w8a16=False, per_channel_quant=False, HAS_BIAS=False, SPLIT_K=1, **cfg,
    )  # fmt: skip
    return out


def self_check(path: str | Path | None = None) -> bool:
    """grouped_gemm against float32 matmuls per expert on small shapes with uneven and empty experts, under both
    default configs; align against its literal construction; and two wrong alignments, which must be caught."""
    ok, why = available(path)
    print(why)
    if not ok:
        return False
    device, dtype = ("cuda", torch.bfloat16) if torch.cuda.is_available() else ("cpu", torch.float16)
    if device == "cpu":
        print("no GPU: float16, as Triton's interpreter multiplies bf16's raw bits in tl.dot")
    counts, k, n = [5, 0, 17, 1, 0, 6, 8, 0], 64, 96  # 37 rows; one expert over a 16-row block; empty experts
    experts, m = len(counts), sum(counts)
    g = torch.Generator().manual_seed(0)
    rows = torch.randn(m, k, generator=g).to(device, dtype)
    w = (torch.randn(experts, n, k, generator=g) * k**-0.5).to(device, dtype).transpose(1, 2)  # (E, N, K) stored
    ends = torch.tensor(counts).cumsum(0).to(device, torch.int32)
    spans = [(sum(counts[:e]), c) for e, c in enumerate(counts)]  # (first row, rows) of each expert
    ref = torch.cat([rows[s : s + c].float() @ w[e].float() for e, (s, c) in enumerate(spans)])
    passed = True

    def report(label: str, error: float, want_small: bool) -> None:
        nonlocal passed
        good = error <= 1e-2 if want_small else not error <= 1e-2  # a NaN error counts as large
        passed &= good
        print(f"{'ok  ' if good else 'FAIL'} {label}: relative error {error:.2e} ({'<=' if want_small else '>'} 1e-2)")

    for block_m in (16, 64):
        ids = [i for s, c in spans for i in [*range(s, s + c), *[m] * (-c % block_m)]]
        owners = [e for e, c in enumerate(counts) for _ in range(-(-c // block_m))]
        sorted_ids, expert_ids, total = align(ends, block_m)
        same = (
            sorted_ids.tolist() == ids + [m] * (m + experts * (block_m - 1) - len(ids))
            and expert_ids.tolist()[: len(owners)] == owners
            and total.tolist() == [len(ids)]
        )
        passed &= same
        print(f"{'ok  ' if same else 'FAIL'} align, block_m {block_m}: {total.item()} padded rows, experts {owners}")

    def error(p: Plan, weights: torch.Tensor = w) -> float:
        out = grouped_gemm(rows, weights, p, out=torch.zeros(m, n, device=device, dtype=dtype))
        return ((out.float() - ref).norm() / ref.norm()).item()

    for tokens in (m, 4):  # prefill-sized (64-row blocks) and decode-sized (16-row blocks) default configs
        cfg = config(tokens, experts, n, k, 1, device)
        report(f"{dtype}, config {cfg}", error(plan(ends, cfg)), want_small=True)
    good = plan(ends, cfg)  # the decode config's: 16-row blocks, expert 2's 17 rows over two
    report("w copied to (E, K, N) contiguous, then prepare_weights", error(good, prepare_weights(w.contiguous())), True)
    shifted = torch.where(good.sorted_token_ids < m, good.sorted_token_ids + 1, m)
    report("wrong align: each row one slot late", error(dataclasses.replace(good, sorted_token_ids=shifted)), False)
    short = Plan(*align(ends, cfg["BLOCK_SIZE_M"] - 1), rows=m, config=cfg)
    report(f"wrong align: padded to {cfg['BLOCK_SIZE_M'] - 1}, not {cfg['BLOCK_SIZE_M']}", error(short), False)
    print("self-check passed" if passed else "self-check FAILED")
    return passed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--self-check", action="store_true", help="check the kernel and align on small shapes")
    p.add_argument("--kernel", type=Path, help="the packed kernel file (default: $MLACC_VLLM_MOE or .vllm_moe/)")
    args = p.parse_args()
    if not torch.cuda.is_available() and "TRITON_INTERPRET" not in os.environ:
        os.environ["TRITON_INTERPRET"] = "1"  # read when the kernel is decorated, so before load()
        print("no GPU: TRITON_INTERPRET=1 (Triton's interpreter)")
    if args.self_check:
        sys.exit(0 if self_check(args.kernel) else 1)
    print(available(args.kernel)[1])


if __name__ == "__main__":
    main()
