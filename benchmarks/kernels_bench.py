"""Benchmarks of the toolkit's own kernels (kernels/): figures printed, never asserted.

    .venv/bin/python benchmarks/kernels_bench.py [--rounds 15] [--threads N] [--stream-mib 256]

1. ceilings: STREAM copy/scale/add/triad (numba parallel) at a DRAM-sized and a cache-sized array,
   and the FMA peak;
2. LSTM and GRU cells at batch 64, hidden 512, float32: fused vs unfused, the elementwise part alone
   and the full time step (recurrent GEMM + cell), with the bytes each moves, the bandwidth it
   achieves and that as a fraction of the measured ceilings;
3. our STREAM triad vs numpy's ``a[:] = b + s * c`` at the same size;
4. on a GPU: per time step, cuBLAS GEMM + our fused cell kernel and our whole-sequence kernel vs
   cuDNN (torch ``nn.LSTM``/``nn.GRU``), and the cell kernel's device time vs its memory-bandwidth
   floor — else "unavailable: <reason>".

A and B are alternated round by round (A, B, A, B …) so that load from other processes hits both
alike; each figure is the median over rounds with the spread (min–max of the round medians). Timing
noise on a shared machine is large: read ratios, not absolute times, and rerun before quoting.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kernels import stream
from kernels.bytes_model import cell_traffic, gemm_traffic
from kernels.gpu import gpu_unavailable_reason
from kernels.rnn_cpu import CPUCell, compile_all
from kernels.weights import random_weights

BATCH, HIDDEN = 64, 512


def _per_call(f: Callable[[], object], calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        f()
    return (time.perf_counter() - t0) / calls


def ab(fns: dict[str, Callable[[], object]], rounds: int, calls: int) -> dict[str, list[float]]:
    """Seconds per call of each function, one block of ``calls`` per round, the functions alternated."""
    for f in fns.values():
        f()
    out: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(rounds):
        order = list(fns) if r % 2 == 0 else list(reversed(fns))  # alternate who goes first too
        for k in order:
            out[k].append(_per_call(fns[k], calls))
    return out


def fmt(samples: list[float], unit: float = 1e6, suffix: str = "µs") -> str:
    med = statistics.median(samples)
    return (f"{med * unit:9.1f} {suffix} (spread {min(samples) * unit:.1f}–{max(samples) * unit:.1f}, "
            f"n={len(samples)})")


def ceilings(stream_mib: int, repeats: int) -> dict[str, float]:
    print("## 1. ceilings (numba parallel; best of repeats, as STREAM reports)")
    big = stream.run_stream(stream_mib << 20, repeats)
    big_med = stream.run_stream(stream_mib << 20, repeats, stat="median")
    for k in stream.KERNELS:
        print(f"  STREAM {k:6s} {stream_mib:4d} MiB arrays: best {big[k]:7.1f} GB/s, median {big_med[k]:7.1f} GB/s")
    small_bytes = 1 << 20  # about the cell working set at B=64, H=512 (gates 512 KiB + state)
    small = stream.run_stream(small_bytes, repeats * 20)
    print(f"  STREAM triad    1 MiB arrays (cache-resident): best {small['triad']:7.1f} GB/s")
    fma = stream.run_fma(n_iter=2_000_000, repeats=5)
    print(f"  FMA peak: best {fma['gflops']:.1f} GFLOP/s, median {fma['median_gflops']:.1f} "
          f"({fma['threads']} threads, {fma['dtype']})")
    return {"dram": max(big.values()), "triad_dram": big["triad"], "cache": small["triad"],
            "gflops": fma["gflops"]}


def cells(ceil: dict[str, float], rounds: int) -> None:
    print(f"\n## 2. cells at batch {BATCH}, hidden {HIDDEN}, float32: fused vs unfused")
    for cell in ("lstm", "gru"):
        _one_cell(cell, ceil, rounds)


def _one_cell(cell: str, ceil: dict[str, float], rounds: int) -> None:
    rng = np.random.default_rng(0)
    w = random_weights(cell, HIDDEN, HIDDEN)
    g = w.gates
    gi, gh = (rng.standard_normal((BATCH, g * HIDDEN)).astype(np.float32) for _ in range(2))
    h, c = (rng.standard_normal((BATCH, HIDDEN)).astype(np.float32) for _ in range(2))
    ho, co = np.empty_like(h), np.empty_like(c)
    cc = c if cell == "lstm" else None
    co_ = co if cell == "lstm" else None
    k = {f: CPUCell(w, f, BATCH) for f in (True, False)}
    cell_t = ab({"fused": lambda: k[True].cell(gi, gh, h, cc, ho, co_),
                 "unfused": lambda: k[False].cell(gi, gh, h, cc, ho, co_)}, rounds, 20)

    def full(f: bool) -> None:  # one time step: recurrent GEMM + cell
        np.dot(h, w.w_hhT, out=k[f]._gh)
        k[f].cell(gi, k[f]._gh, h, cc, ho, co_, check=False)

    step_t = ab({"fused": lambda: full(True), "unfused": lambda: full(False)}, rounds, 5)
    for name, f in (("fused", True), ("unfused", False)):
        tr = cell_traffic(cell, f, BATCH, HIDDEN)
        med = statistics.median(cell_t[name])
        gbs = tr.bytes / med / 1e9
        print(f"  {cell} {name:7s} cell: {fmt(cell_t[name])}; moves {tr.bytes / 1024:.0f} KiB in "
              f"{tr.passes} pass(es) → {gbs:.1f} GB/s = {gbs / ceil['dram']:.2f} of the DRAM ceiling, "
              f"{gbs / ceil['cache']:.2f} of cache triad; floor at DRAM ceiling "
              f"{tr.floor_s(ceil['dram']) * 1e6:.1f} µs")
    r_cell = statistics.median(cell_t["unfused"]) / statistics.median(cell_t["fused"])
    r_step = statistics.median(step_t["unfused"]) / statistics.median(step_t["fused"])
    gm = gemm_traffic(BATCH, HIDDEN, g * HIDDEN)
    print(f"  {cell} fused vs unfused: elementwise cell {r_cell:.2f}× faster (target ≥ 2×); "
          f"whole step incl. GEMM {r_step:.2f}× (fused {fmt(step_t['fused'])}, unfused "
          f"{fmt(step_t['unfused'])}); the GEMM is {gm.flops / 1e6:.0f} MFLOP = "
          f"{gm.flops / ceil['gflops'] / 1e3:.0f} µs at the FMA peak")


def triad_vs_numpy(stream_mib: int, rounds: int) -> None:
    print(f"\n## 3. STREAM triad, ours vs numpy `a[:] = b + s * c` ({stream_mib} MiB float64 arrays)")
    n = (stream_mib << 20) // 8
    a, b, c = np.full(n, 1.0), np.full(n, 2.0), np.zeros(n)
    s = 3.0

    def numpy_triad() -> None:
        a[:] = b + s * c

    t = ab({"ours": lambda: stream._triad(b, c, a, s), "numpy": numpy_triad}, rounds, 1)
    moved = 3 * n * 8
    for k in t:
        print(f"  {k:5s}: {fmt(t[k], 1e3, 'ms')} → {moved / statistics.median(t[k]) / 1e9:.1f} GB/s (STREAM bytes)")
    print(f"  ours vs numpy: {statistics.median(t['numpy']) / statistics.median(t['ours']):.2f}× (target ≥ 1×; "
          "numpy makes two temporaries and three passes)")


def gpu(rounds: int) -> None:
    print("\n## 4. GPU")
    reason = gpu_unavailable_reason()
    if reason:
        print(f"  unavailable: {reason}")
        return
    import torch


    bw = stream.run_stream_gpu(1 << 30, 20)
    ceiling = max(bw.values())
    print(f"  STREAM on {torch.cuda.get_device_name()}: " + ", ".join(f"{k} {v:.0f}" for k, v in bw.items())
          + " GB/s")
    for cell in ("lstm", "gru"):
        _one_gpu_cell(cell, ceiling, rounds)


def _one_gpu_cell(cell: str, ceiling: float, rounds: int) -> None:
    import torch

    from kernels import rnn_gpu

    t_len = 100
    w = random_weights(cell, HIDDEN, HIDDEN)
    layer = rnn_gpu.GPUCell(w, BATCH)
    cudnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(HIDDEN, HIDDEN).cuda()
    xs = torch.randn(t_len, BATCH, HIDDEN, device="cuda")

    def run(f: Callable[[], object]) -> None:
        f()
        torch.cuda.synchronize()

    with torch.inference_mode():
        t = ab({"ours": lambda: run(lambda: layer.forward(xs)),
                "ours_seq": lambda: run(lambda: layer.forward_sequence(xs)),
                "cudnn": lambda: run(lambda: cudnn(xs))}, rounds, 1)
    per_step = {k: [v / t_len for v in vs] for k, vs in t.items()}
    kernel_us = _cell_kernel_us(layer, xs)
    floor = rnn_gpu.floor_us(cell, BATCH, HIDDEN, ceiling)
    cu = statistics.median(per_step["cudnn"])
    print(f"  {cell}: per time step ({t_len} steps, host-timed with sync): cuBLAS GEMM + our cell "
          f"{fmt(per_step['ours'])} = {statistics.median(per_step['ours']) / cu:.2f}× cuDNN; whole-sequence "
          f"kernel {fmt(per_step['ours_seq'])} = {statistics.median(per_step['ours_seq']) / cu:.2f}× cuDNN; "
          f"cuDNN {fmt(per_step['cudnn'])} (cudnn.allow_tf32={torch.backends.cudnn.allow_tf32})")
    print(f"  {cell}: fused cell kernel on the device {kernel_us} vs memory-bandwidth floor {floor:.2f} µs "
          f"({cell_traffic(cell, True, BATCH, HIDDEN).bytes / 1024:.0f} KiB at {ceiling:.0f} GB/s)")


def _cell_kernel_us(layer: object, xs: object) -> str:
    """Device time of our cell kernel per launch, from the CUDA activity torch.profiler records."""
    try:
        import torch
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            layer.forward(xs)  # type: ignore[attr-defined]
            torch.cuda.synchronize()
        rows = [e for e in prof.key_averages() if "cell_kernel" in e.key]
        if not rows:
            return "unavailable: no cell_kernel activity recorded"
        e = rows[0]
        total = getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0.0)
        return f"{total / max(e.count, 1):.2f} µs per launch ({e.count} launches)"
    except Exception as exc:  # the figure is optional; say why it is missing
        return f"unavailable: {type(exc).__name__}: {exc}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=None, help="numba threads (default: all)")
    ap.add_argument("--stream-mib", type=int, default=256)
    ap.add_argument("--skip-gpu", action="store_true")
    args = ap.parse_args()
    import numba

    if args.threads:
        numba.set_num_threads(args.threads)
    print(f"kernels_bench: numba {numba.__version__}, {numba.get_num_threads()} numba threads, "
          f"numpy {np.__version__}; kernels loaded/compiled in {compile_all():.1f} s")
    try:
        import os

        print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    except OSError:
        pass
    ceil = ceilings(args.stream_mib, 5)
    cells(ceil, args.rounds)
    triad_vs_numpy(args.stream_mib, args.rounds)
    if not args.skip_gpu:
        gpu(args.rounds)


if __name__ == "__main__":
    main()
