"""Measures a DeepSeek-V3 MLA decode step on a real GPU under mlacc's schemes, to check the cost model.

Run on a machine with torch and a CUDA GPU (needs no mlacc install):
    python benchmarks/gpu_mla_decode.py --out measured.json
It prints and writes, per scheme and context, the median time of one decode step (batch 1,
bf16, captured in a CUDA graph so kernel-launch gaps do not count), plus two calibration
numbers: the HBM bandwidth a large GEMV reaches and the FLOP rate a large GEMM reaches.
Compare with `mlacc compile examples/deepseek_v3.attn --hw h100 --context N --workload decode`.
The step is written with plain torch einsums (no fused kernels), so it is a conservative
stand-in for a tuned implementation such as FlashMLA.
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

D, H, QR, C, N, P, V = 7168, 128, 1536, 512, 128, 64, 128


def timed(fn, iters: int = 50, warmup: int = 10) -> float:
    """Median seconds of `fn` replayed from a CUDA graph."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    for _ in range(warmup):
        graph.replay()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def rms(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + 1e-6).to(x.dtype) * g


def make_step(scheme: str, context: int):
    dev, dt = "cuda", torch.bfloat16

    def w(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, device=dev, dtype=dt) / shape[0] ** 0.5

    W_DQ, W_UQ, W_QR = w(D, QR), w(QR, H, N), w(QR, H, P)
    W_DKV, W_KR, W_UK, W_UV, W_O = w(D, C), w(D, P), w(C, H, N), w(C, H, V), w(H, V, D)
    q_norm, kv_norm = torch.ones(QR, device=dev, dtype=dt), torch.ones(C, device=dev, dtype=dt)
    x = torch.randn(1, 1, D, device=dev, dtype=dt)
    T = context + 1
    if scheme == "cache-kv":  # head-major, as serving systems lay out per-head caches
        k_cache = torch.randn(1, H, T, N + P, device=dev, dtype=dt)
        v_cache = torch.randn(1, H, T, V, device=dev, dtype=dt)
    else:
        latent = torch.randn(1, T, C, device=dev, dtype=dt)
        rope_key = torch.randn(1, T, P, device=dev, dtype=dt)
    if scheme == "reuse":
        W_UQK = torch.einsum("qhn,chn->qhc", W_UQ, W_UK)
        W_UVO = torch.einsum("chv,hvd->hcd", W_UV, W_O).contiguous()  # (h, c) rows: one GEMV, no permute
    scale = (N + P) ** -0.5

    def step() -> torch.Tensor:
        c_q = rms(x @ W_DQ, q_norm)
        q_pe = torch.einsum("bsq,qhp->bshp", c_q, W_QR)
        c_kv = rms(x @ W_DKV, kv_norm)
        k_pe = x @ W_KR
        if scheme == "cache-kv":
            k_cache[:, :, context, :N] = torch.einsum("bsc,chn->bhn", c_kv, W_UK)
            k_cache[:, :, context, N:] = k_pe[:, 0, None, :]
            v_cache[:, :, context] = torch.einsum("bsc,chv->bhv", c_kv, W_UV)
            q = torch.cat([torch.einsum("bsq,qhn->bhsn", c_q, W_UQ), q_pe.transpose(1, 2)], -1)
            probs = torch.softmax(q @ k_cache.transpose(-1, -2) * scale, -1)
            out = (probs @ v_cache).transpose(1, 2)
            return torch.einsum("bshv,hvd->bsd", out, W_O)
        latent[:, context] = c_kv[:, 0]
        rope_key[:, context] = k_pe[:, 0]
        if scheme == "expand":
            k_nope = torch.einsum("btc,chn->bthn", latent, W_UK)
            value = torch.einsum("btc,chv->bthv", latent, W_UV)
            q_nope = torch.einsum("bsq,qhn->bshn", c_q, W_UQ)
            scores = torch.einsum("bshn,bthn->bhst", q_nope, k_nope) + torch.einsum("bshp,btp->bhst", q_pe, rope_key)
            out = torch.einsum("bhst,bthv->bshv", torch.softmax(scores * scale, -1), value)
            return torch.einsum("bshv,hvd->bsd", out, W_O)
        if scheme == "reuse":
            q_lat = torch.einsum("bsq,qhc->bshc", c_q, W_UQK)
        else:
            q_lat = torch.einsum("bshn,chn->bshc", torch.einsum("bsq,qhn->bshn", c_q, W_UQ), W_UK)
        scores = torch.einsum("bshc,btc->bhst", q_lat, latent) + torch.einsum("bshp,btp->bhst", q_pe, rope_key)
        o_lat = torch.einsum("bhst,btc->bhsc", torch.softmax(scores * scale, -1), latent)
        if scheme == "reuse":
            return o_lat.reshape(1, 1, H * C) @ W_UVO.reshape(H * C, D)
        return torch.einsum("bshv,hvd->bsd", torch.einsum("bhsc,chv->bshv", o_lat, W_UV), W_O)

    return step


def calibrate() -> dict[str, float]:
    """Bandwidth of a large GEMV, FLOP rate of a large GEMM, and the time of a tiny op inside a graph."""
    dt = torch.bfloat16
    tiny = torch.randn(128, device="cuda", dtype=dt)

    def thirty_tiny_ops() -> None:
        for _ in range(30):
            tiny.mul_(1.0)

    per_op = timed(thirty_tiny_ops) / 30
    big = torch.randn(16384, 16384, device="cuda", dtype=dt)  # 512 MiB
    vec = torch.randn(1, 16384, device="cuda", dtype=dt)
    gemv = timed(lambda: vec @ big)
    a = torch.randn(8192, 8192, device="cuda", dtype=dt)
    gemm = timed(lambda: a @ a, iters=20)
    return {
        "gemv_bytes_per_second": big.numel() * 2 / gemv,
        "gemm_flops_per_second": 2 * 8192**3 / gemm,
        "tiny_op_seconds": per_op,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contexts", default="4096,32768")
    parser.add_argument("--schemes", default="recompute,reuse,expand,cache-kv")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    results = {"device": torch.cuda.get_device_name(), "calibration": calibrate(), "decode_seconds": {}}
    for context in (int(c) for c in args.contexts.split(",")):
        for scheme in args.schemes.split(","):
            seconds = timed(make_step(scheme, context))
            results["decode_seconds"][f"{scheme}@{context}"] = seconds
            print(f"{scheme:>10} context {context:>6}: {seconds * 1e6:9.1f} us", flush=True)
            torch.cuda.empty_cache()
    print(json.dumps(results, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
