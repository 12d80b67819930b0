"""STREAM and FMA microbenchmarks on the CPU (kernels/stream.py): results, arithmetic, bad input.

Rates are only checked for being finite and positive: timings on shared CI machines are noise, and
benchmarks/kernels_bench.py is where figures are measured and printed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from profiler.core.errors import InputError

pytest.importorskip("numba", reason="numba is not installed (pip install 'dl-profiler[kernels]')")
from kernels import stream


def test_stream_kernels_compute_streams_arithmetic() -> None:
    n = 1003  # not a multiple of any chunk or vector width
    a, b, c = np.full(n, 1.0), np.full(n, 2.0), np.full(n, np.nan)
    stream._copy(a, c)
    assert (c == 1.0).all()
    stream._scale(c, b, 3.0)
    assert (b == 3.0).all()
    stream._add(a, b, c)
    assert (c == 4.0).all()
    stream._triad(b, c, a, 3.0)
    assert (a == 15.0).all()


def test_run_stream_returns_gbs_per_kernel() -> None:
    best = stream.run_stream(1 << 20, repeats=3)
    assert list(best) == list(stream.KERNELS)
    assert all(math.isfinite(v) and v > 0 for v in best.values())
    samples = stream.stream_samples(1 << 16, 4, threads=1)
    assert all(len(v) == 4 and min(v) > 0 for v in samples.values())
    # the byte counting is STREAM's: triad moves 3 arrays, copy 2
    r = stream._rates({k: [1.0] for k in stream.KERNELS}, 8 * 1000, "best")
    assert r["triad"] == pytest.approx(3 * 8000 / 1e9) and r["copy"] == pytest.approx(2 * 8000 / 1e9)


def test_run_fma_counts_two_flops_per_fma() -> None:
    r = stream.run_fma(n_iter=2000, threads=1, repeats=2)
    assert r["threads"] == 1 and r["dtype"] == "float32"
    assert math.isfinite(r["gflops"]) and r["gflops"] >= r["median_gflops"] > 0
    acc = np.ones((1, stream._FMA_LANES), np.float32)
    stream._fma_loop(3, acc, np.float32(2.0), np.float32(1.0))
    assert (acc == 15.0).all()  # x -> 2x+1 three times: every lane updated every iteration


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: stream.run_stream(10, 2), "n_bytes"),
        (lambda: stream.run_stream(1 << 16, 0), "repeats"),
        (lambda: stream.run_stream(1 << 16, 2, stat="mean"), "stat"),
        (lambda: stream.run_stream(1 << 16, 2, threads=10_000), "threads"),
        (lambda: stream.run_fma(0), "n_iter"),
        (lambda: stream.run_fma(10, dtype="int8"), "dtype"),
    ],
)
def test_bad_arguments_are_one_line_input_errors(call, match: str) -> None:
    with pytest.raises(InputError, match=match):
        call()
