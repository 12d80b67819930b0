"""Roofline microbenchmarks: STREAM copy/scale/add/triad and an FMA-bound loop, on CPU and GPU.

These are the ceilings the rest of the toolkit measures against (``profiler calibrate`` calls them):
memory bandwidth from STREAM-style kernels, peak arithmetic from a loop of independent fused
multiply-adds. CPU versions are numba ``parallel=True`` loops; GPU versions are numba.cuda kernels
(importable without a GPU; calling them without one raises :class:`profiler.core.errors.UnavailableError`).

Public functions (all return plain dicts of floats, JSON-ready)::

    run_stream(n_bytes=256 MiB, repeats=10, threads=None, stat="best") -> {"copy", "scale", "add", "triad": GB/s}
    stream_samples(n_bytes, repeats, threads=None) -> {kernel: [seconds per repeat]}
    run_fma(n_iter=2_000_000, threads=None, repeats=3, dtype="float32") -> {"gflops": best, "median_gflops": ...}
    run_stream_gpu(n_bytes=1 GiB, repeats=20, stat="best") -> {"copy", "scale", "add", "triad": GB/s}
    run_fma_gpu(n_iter=20_000, repeats=5, dtype="float32") -> {"gflops": best, "median_gflops": ...}

``n_bytes`` is the size of *one* array (STREAM's convention: float64 arrays; copy and scale move 2 ×
n_bytes per run, add and triad 3 × n_bytes; write-allocate traffic is not counted, as in STREAM).
``stat`` is ``"best"`` (STREAM's convention: the fastest repeat after a first untimed one) or
``"median"``. ``threads`` sets numba's thread count for the call (default: all numba threads).
Sizes smaller than the last-level cache measure cache bandwidth, not DRAM: calibrate with an array
several times larger than the LLC (the defaults are).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import cuda, njit, prange

from profiler.core.errors import InputError

KERNELS = ("copy", "scale", "add", "triad")
#: arrays each kernel reads + writes (STREAM's byte counting)
ARRAYS_MOVED = {"copy": 2, "scale": 2, "add": 3, "triad": 3}
_SCALAR = 3.0
_FMA_LANES = 64  # independent accumulators per thread: enough to hide FMA latency on wide SIMD


@njit(parallel=True, cache=True)
def _copy(a, c):  # type: ignore[no-untyped-def]
    for i in prange(a.shape[0]):
        c[i] = a[i]


@njit(parallel=True, cache=True)
def _scale(c, b, s):  # type: ignore[no-untyped-def]
    for i in prange(c.shape[0]):
        b[i] = s * c[i]


@njit(parallel=True, cache=True)
def _add(a, b, c):  # type: ignore[no-untyped-def]
    for i in prange(a.shape[0]):
        c[i] = a[i] + b[i]


@njit(parallel=True, cache=True)
def _triad(b, c, a, s):  # type: ignore[no-untyped-def]
    for i in prange(b.shape[0]):
        a[i] = b[i] + s * c[i]


@njit(parallel=True, fastmath=True, cache=True)
def _fma_loop(n_iter, acc, m, k):  # type: ignore[no-untyped-def]
    # Each row of acc is one thread's set of independent accumulators; the row stays in registers
    # (LLVM promotes it) and each inner iteration is _FMA_LANES independent FMAs.
    for p in prange(acc.shape[0]):
        row = acc[p]
        for _ in range(n_iter):
            for j in range(_FMA_LANES):
                row[j] = row[j] * m + k


def _check_size(n_bytes: int, repeats: int, itemsize: int = 8) -> int:
    if not isinstance(n_bytes, int | np.integer) or n_bytes < itemsize * 16:
        raise InputError(f"n_bytes must be an integer ≥ {itemsize * 16}, got {n_bytes!r}")
    if not isinstance(repeats, int | np.integer) or repeats < 1:
        raise InputError(f"repeats must be a positive integer, got {repeats!r}")
    return int(n_bytes) // itemsize


class _Threads:
    """Set numba's thread count for a block and restore it after."""

    def __init__(self, threads: int | None) -> None:
        self.threads = threads

    def __enter__(self) -> None:
        import numba

        self.old = numba.get_num_threads()
        if self.threads is not None:
            if not 1 <= self.threads <= numba.config.NUMBA_NUM_THREADS:
                raise InputError(
                    f"threads must be 1..{numba.config.NUMBA_NUM_THREADS} (NUMBA_NUM_THREADS), got {self.threads}"
                )
            numba.set_num_threads(self.threads)

    def __exit__(self, *exc: object) -> None:
        import numba

        numba.set_num_threads(self.old)


def stream_samples(n_bytes: int, repeats: int, threads: int | None = None) -> dict[str, list[float]]:
    """Seconds per run of each STREAM kernel, ``repeats`` times (after one untimed run each)."""
    n = _check_size(n_bytes, repeats)
    a = np.full(n, 1.0)
    b = np.full(n, 2.0)
    c = np.zeros(n)
    calls: dict[str, Callable[[], None]] = {
        "copy": lambda: _copy(a, c),
        "scale": lambda: _scale(c, b, _SCALAR),
        "add": lambda: _add(a, b, c),
        "triad": lambda: _triad(b, c, a, _SCALAR),
    }
    out: dict[str, list[float]] = {k: [] for k in KERNELS}
    with _Threads(threads):
        for f in calls.values():
            f()  # compile or load, and fault the pages in
        # Interleave the kernels (as STREAM does) so that a burst of outside load hits all alike.
        for _ in range(repeats):
            for name, f in calls.items():
                t0 = time.perf_counter()
                f()
                out[name].append(time.perf_counter() - t0)
    return out


def _rates(samples: dict[str, list[float]], n_bytes: int, stat: str) -> dict[str, float]:
    if stat not in ("best", "median"):
        raise InputError(f"stat must be 'best' or 'median', got {stat!r}")
    pick = min if stat == "best" else statistics.median
    nb = (int(n_bytes) // 8) * 8
    return {k: ARRAYS_MOVED[k] * nb / pick(samples[k]) / 1e9 for k in KERNELS}


def run_stream(n_bytes: int = 256 << 20, repeats: int = 10, threads: int | None = None,
               stat: str = "best") -> dict[str, float]:
    """STREAM copy/scale/add/triad bandwidth in GB/s (10⁹ bytes/s) with float64 arrays of ``n_bytes``."""
    return _rates(stream_samples(n_bytes, repeats, threads), n_bytes, stat)


def run_fma(n_iter: int = 2_000_000, threads: int | None = None, repeats: int = 3,
            dtype: str = "float32") -> dict[str, Any]:
    """Peak FMA throughput in GFLOP/s (an FMA counts 2 FLOPs): one row of independent accumulators per
    thread, each updated ``n_iter`` times. Returns best and median over ``repeats`` and the settings."""
    import numba

    if not isinstance(n_iter, int | np.integer) or n_iter < 1:
        raise InputError(f"n_iter must be a positive integer, got {n_iter!r}")
    if repeats < 1:
        raise InputError(f"repeats must be a positive integer, got {repeats!r}")
    if dtype not in ("float32", "float64"):
        raise InputError(f"dtype must be float32 or float64, got {dtype!r}")
    dt = np.dtype(dtype)
    with _Threads(threads):
        nt = numba.get_num_threads()
        acc = np.ones((nt, _FMA_LANES), dt)
        m, k = dt.type(0.999), dt.type(0.001)
        _fma_loop(1, acc, m, k)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            _fma_loop(int(n_iter), acc, m, k)
            times.append(time.perf_counter() - t0)
    flops = 2.0 * nt * _FMA_LANES * int(n_iter)
    if not np.all(np.isfinite(acc)):  # the result is kept and checked so the loop cannot be dropped
        raise RuntimeError("FMA loop produced non-finite values")
    return {"gflops": flops / min(times) / 1e9, "median_gflops": flops / statistics.median(times) / 1e9,
            "threads": nt, "dtype": dtype, "n_iter": int(n_iter)}


# --- GPU (numba.cuda) --------------------------------------------------------------------------------
@cuda.jit(cache=False)
def _g_copy(a, c):  # type: ignore[no-untyped-def]
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < a.shape[0]:
        c[i] = a[i]
        i += stride


@cuda.jit(cache=False)
def _g_scale(c, b, s):  # type: ignore[no-untyped-def]
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < c.shape[0]:
        b[i] = s * c[i]
        i += stride


@cuda.jit(cache=False)
def _g_add(a, b, c):  # type: ignore[no-untyped-def]
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < a.shape[0]:
        c[i] = a[i] + b[i]
        i += stride


@cuda.jit(cache=False)
def _g_triad(b, c, a, s):  # type: ignore[no-untyped-def]
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < b.shape[0]:
        a[i] = b[i] + s * c[i]
        i += stride


@cuda.jit(cache=False)
def _g_fma(n_iter, out, m, k):  # type: ignore[no-untyped-def]
    # 8 independent chains per thread hide the FMA latency; the sum is stored so nothing is dropped.
    i = cuda.grid(1)
    x0 = x1 = x2 = x3 = x4 = x5 = x6 = x7 = out[i]
    for _ in range(n_iter):
        x0 = x0 * m + k
        x1 = x1 * m + k
        x2 = x2 * m + k
        x3 = x3 * m + k
        x4 = x4 * m + k
        x5 = x5 * m + k
        x6 = x6 * m + k
        x7 = x7 * m + k
    out[i] = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7


#: FMAs per thread per iteration of ``_g_fma``
GPU_FMA_CHAINS = 8
GPU_BLOCK = 256


def gpu_stream_grid(n: int, sm_count: int, block: int = GPU_BLOCK) -> tuple[int, int]:
    """Launch configuration of the grid-stride STREAM kernels: enough blocks to fill every SM several
    times over (32 per SM), never more than there are elements."""
    if n < 1 or sm_count < 1:
        raise InputError(f"n and sm_count must be positive, got {n}, {sm_count}")
    return max(1, min(32 * sm_count, (n + block - 1) // block)), block


def _require_gpu() -> Any:
    from kernels.gpu import gpu_unavailable_reason

    reason = gpu_unavailable_reason()
    if reason:
        from profiler.core.errors import UnavailableError

        raise UnavailableError(f"unavailable: {reason}")
    return cuda.get_current_device()


def _time_gpu(f: Callable[[], None], repeats: int) -> list[float]:
    start, end = cuda.event(), cuda.event()
    out = []
    for _ in range(repeats):
        start.record()
        f()
        end.record()
        end.synchronize()
        out.append(cuda.event_elapsed_time(start, end) / 1e3)
    return out


def run_stream_gpu(n_bytes: int = 1 << 30, repeats: int = 20, stat: str = "best") -> dict[str, float]:
    """STREAM bandwidth of the current GPU in GB/s (float64 arrays of ``n_bytes`` in device memory)."""
    dev = _require_gpu()
    n = _check_size(n_bytes, repeats)
    a, b, c = (cuda.to_device(np.full(n, v)) for v in (1.0, 2.0, 0.0))
    grid, block = gpu_stream_grid(n, dev.MULTIPROCESSOR_COUNT)
    calls: dict[str, Callable[[], None]] = {
        "copy": lambda: _g_copy[grid, block](a, c),
        "scale": lambda: _g_scale[grid, block](c, b, _SCALAR),
        "add": lambda: _g_add[grid, block](a, b, c),
        "triad": lambda: _g_triad[grid, block](b, c, a, _SCALAR),
    }
    samples: dict[str, list[float]] = {}
    for name, f in calls.items():
        f()
        cuda.synchronize()
        samples[name] = _time_gpu(f, repeats)
    return _rates(samples, n_bytes, stat)


def run_fma_gpu(n_iter: int = 20_000, repeats: int = 5, dtype: str = "float32") -> dict[str, Any]:
    """Peak FMA throughput of the current GPU in GFLOP/s (a full grid of FMA-chain threads)."""
    dev = _require_gpu()
    if n_iter < 1 or repeats < 1:
        raise InputError(f"n_iter and repeats must be positive, got {n_iter}, {repeats}")
    dt = np.dtype(dtype)
    blocks = 64 * dev.MULTIPROCESSOR_COUNT
    out = cuda.to_device(np.ones(blocks * GPU_BLOCK, dt))
    m, k = dt.type(0.999), dt.type(0.001)
    _g_fma[blocks, GPU_BLOCK](1, out, m, k)
    cuda.synchronize()
    times = _time_gpu(lambda: _g_fma[blocks, GPU_BLOCK](int(n_iter), out, m, k), repeats)
    flops = 2.0 * GPU_FMA_CHAINS * blocks * GPU_BLOCK * int(n_iter)
    return {"gflops": flops / min(times) / 1e9, "median_gflops": flops / statistics.median(times) / 1e9,
            "dtype": dtype, "n_iter": int(n_iter), "threads": blocks * GPU_BLOCK}
