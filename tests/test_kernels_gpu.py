"""The numba.cuda kernels (kernels/rnn_gpu.py, GPU half of kernels/stream.py) without a GPU — launch
configuration, shape checks, PTX compilation, and correctness in numba's CUDA simulator — and on a
GPU (``-m gpu``) against the float64 reference and cuDNN."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kernels.weights import ShapeError
from profiler.core.errors import UnavailableError
from tests.conftest import ROOT

pytest.importorskip("numba", reason="numba is not installed (pip install 'dl-profiler[kernels]')")
from kernels import rnn_gpu
from kernels.gpu import gpu_unavailable_reason

NO_GPU = gpu_unavailable_reason()


def _nvvm_reason() -> str | None:
    try:
        from numba.cuda.cudadrv.nvvm import NVVM

        NVVM()
    except Exception as e:
        return f"numba cannot load NVVM to compile PTX: {str(e).splitlines()[0]}"
    return None


NO_NVVM = _nvvm_reason()


def test_launch_config_covers_every_element_once() -> None:
    for b, h in ((1, 1), (64, 512), (3, 100), (7, 257)):
        grid, block = rnn_gpu.cell_launch_config(b, h)
        assert block == rnn_gpu.BLOCK
        assert (grid - 1) * block < b * h <= grid * block
    assert rnn_gpu.cell_launch_config(2, 16, block=32) == (1, 32)
    with pytest.raises(ShapeError):
        rnn_gpu.cell_launch_config(0, 4)
    with pytest.raises(ShapeError, match="multiple of 32"):
        rnn_gpu.cell_launch_config(4, 4, block=100)


def test_sequence_launch_config_is_one_block_per_row() -> None:
    assert rnn_gpu.seq_launch_config(64, 100) == (64, 128)  # 100 units → 4 warps
    assert rnn_gpu.seq_launch_config(8, 512) == (8, 256)  # more units than threads: 2 per thread
    assert rnn_gpu.seq_launch_config(2, 40, block=32) == (2, 32)
    with pytest.raises(ShapeError, match="shared memory"):
        rnn_gpu.seq_launch_config(2, rnn_gpu.SEQ_MAX_HIDDEN + 1)
    z = lambda *s: np.zeros(s, np.float32)  # noqa: E731
    with pytest.raises(ShapeError, match="w_hhT"):
        rnn_gpu.launch_sequence("gru", z(3, 2, 12), z(4, 16), z(12), z(12), z(3, 2, 4))
    with pytest.raises(ShapeError, match="c_last"):
        rnn_gpu.launch_sequence("lstm", z(3, 2, 16), z(4, 16), z(16), z(16), z(3, 2, 4), None)


def test_launch_checks_shapes_before_launching() -> None:
    z = lambda *s: np.zeros(s, np.float32)  # noqa: E731
    with pytest.raises(ShapeError, match="gh"):
        rnn_gpu.launch_cell("lstm", z(2, 16), z(2, 12), z(16), z(16), z(2, 4), z(2, 4), z(2, 4))
    with pytest.raises(ShapeError, match="b_hh"):
        rnn_gpu.launch_cell("gru", z(2, 12), z(2, 12), z(12), z(16), z(2, 4), z(2, 4))
    with pytest.raises(ShapeError, match="out1"):
        rnn_gpu.launch_cell("lstm", z(2, 16), z(2, 16), z(16), z(16), z(2, 4), z(2, 4), z(3, 4))
    with pytest.raises(ShapeError, match="unknown cell"):
        rnn_gpu.launch_cell("rnn", z(2, 4), z(2, 4), z(4), z(4), z(2, 4), z(2, 4))


def test_stream_grid() -> None:
    from kernels.stream import gpu_stream_grid

    assert gpu_stream_grid(10, 132) == (1, 256)
    assert gpu_stream_grid(1 << 27, 132) == (32 * 132, 256)


@pytest.mark.skipif(NO_NVVM is not None, reason=NO_NVVM or "")
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_cell_kernels_compile_to_float32_ptx(cell: str) -> None:
    ptx = rnn_gpu.compile_ptx(cell, cc=(8, 0))
    assert ".target sm_80" in ptx and ptx.count(".entry") == 1
    import re

    # all arithmetic stays float32 (a float64 literal would silently promote it, at 1/64 the rate)
    assert not re.search(r"\b(add|mul|fma|div|cvt)[.a-z]*\.f64\b", ptx)
    assert "ex2.approx" in ptx  # exp lowered to the SFU


@pytest.mark.skipif(NO_NVVM is not None, reason=NO_NVVM or "")
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sequence_kernels_compile_with_shared_state(cell: str) -> None:
    import re

    ptx = rnn_gpu.compile_seq_ptx(cell, cc=(9, 0))
    assert ".shared" in ptx and "bar.sync" in ptx  # state in shared memory, block barriers per step
    assert not re.search(r"\b(add|mul|fma|div|cvt)[.a-z]*\.f64\b", ptx)


@pytest.mark.skipif(NO_NVVM is not None, reason=NO_NVVM or "")
def test_stream_kernels_compile_to_ptx() -> None:
    from numba import cuda, types

    from kernels import stream

    v = types.float64[::1]
    for k, sig in ((stream._g_copy, (v, v)), (stream._g_scale, (v, v, types.float64)),
                   (stream._g_add, (v, v, v)), (stream._g_triad, (v, v, v, types.float64)),
                   (stream._g_fma, (types.int64, types.float32[::1], types.float32, types.float32))):
        ptx, _ = cuda.compile_ptx(k.py_func, sig, cc=(9, 0))
        assert ".entry" in ptx
    ptx, _ = cuda.compile_ptx(stream._g_fma.py_func, (types.int64, types.float32[::1], types.float32,
                                                      types.float32), cc=(9, 0))
    assert ptx.count("fma.rn.f32") >= stream.GPU_FMA_CHAINS


_SIM_SCRIPT = textwrap.dedent(
    """
    import json, numpy as np
    from kernels.rnn_gpu import launch_cell
    from kernels.weights import random_weights
    from kernels import reference as ref, stream
    from numba import cuda
    out = {}
    for cell in ("lstm", "gru"):
        b, i, h = 3, 6, 37          # 111 elements: the last of the 256-thread block must not write
        w = random_weights(cell, i, h, seed=2)
        rng = np.random.default_rng(8 if cell == "lstm" else 9)
        x, hs, c = (rng.standard_normal(s).astype(np.float32) for s in ((b, i), (b, h), (b, h)))
        gi, gh = (x @ w.w_ihT).astype(np.float32), (hs @ w.w_hhT).astype(np.float32)
        ho, co = np.full((b, h), np.nan, np.float32), np.full((b, h), np.nan, np.float32)
        if cell == "lstm":
            launch_cell("lstm", gi, gh, w.b_ih, w.b_hh, c, ho, co)
            rh, rc = ref.lstm_step(w, x, hs, c)
            out[cell] = [ref.rel_error(ho, rh), ref.rel_error(co, rc)]
        else:
            launch_cell("gru", gi, gh, w.b_ih, w.b_hh, hs, ho)
            out[cell] = [ref.rel_error(ho, ref.gru_step(w, x, hs))]
    from kernels.rnn_gpu import launch_sequence
    for cell in ("lstm", "gru"):
        t, b, i, h = 3, 2, 5, 40    # block=32 < 40 units: threads own two units; 2 blocks = 2 rows
        w = random_weights(cell, i, h, seed=3)
        xs = np.random.default_rng(4).standard_normal((t, b, i)).astype(np.float32)
        gi = np.ascontiguousarray((xs.reshape(t * b, i) @ w.w_ihT).reshape(t, b, -1), np.float32)
        o, cl = np.full((t, b, h), np.nan, np.float32), np.full((b, h), np.nan, np.float32)
        launch_sequence(cell, gi, w.w_hhT, w.b_ih, w.b_hh, o, cl if cell == "lstm" else None, block=32)
        errs = [ref.rel_error(o, ref.sequence(w, xs))]
        if cell == "lstm":
            hh, cc = np.zeros((b, h)), np.zeros((b, h))
            for s in range(t):
                hh, cc = ref.lstm_step(w, xs[s], hh, cc)
            errs.append(ref.rel_error(cl, cc))
        out["seq_" + cell] = errs
    n = 1000
    a, bb, c = np.full(n, 1.0), np.full(n, 2.0), np.full(n, np.nan)
    grid = (2, 64)   # fewer threads than elements: the grid-stride loop must cover the rest
    stream._g_copy[grid](a, c); out["copy"] = bool((c == 1.0).all())
    stream._g_triad[grid](bb, c, a, 3.0); out["triad"] = bool((a == 5.0).all())
    acc = np.ones(4, np.float32)
    stream._g_fma[1, 4](3, acc, np.float32(2.0), np.float32(1.0))
    out["fma"] = acc.tolist()       # 8 chains of x -> 2x+1 three times from 1: 15 each, summed: 120
    print(json.dumps(out))
    """
)


@pytest.mark.slow
def test_kernels_are_correct_in_the_cuda_simulator() -> None:
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", _SIM_SCRIPT], capture_output=True, text=True, cwd=ROOT,
                       env=env, timeout=300, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    for cell in ("lstm", "gru", "seq_lstm", "seq_gru"):
        assert all(e < 1e-5 for e in out[cell]), out
    assert out["copy"] and out["triad"]
    assert out["fma"] == [120.0] * 4


@pytest.mark.skipif(NO_GPU is None, reason="a GPU is present: the unavailable path does not apply")
def test_without_gpu_everything_says_unavailable_with_reason() -> None:
    from kernels import stream
    from kernels.weights import random_weights

    assert NO_GPU
    with pytest.raises(UnavailableError, match="unavailable: "):
        rnn_gpu.GPUCell(random_weights("lstm", 4, 4), 2)
    with pytest.raises(UnavailableError, match="unavailable: "):
        stream.run_stream_gpu(1 << 20, 2)
    with pytest.raises(UnavailableError, match="unavailable: "):
        stream.run_fma_gpu(10, 1)


# --- on a GPU ---------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.gpu
@pytest.mark.skipif(NO_GPU is not None, reason=f"unavailable: {NO_GPU}")
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gpu_layer_matches_reference(cell: str) -> None:
    import torch

    from kernels import reference as ref
    from kernels.weights import random_weights

    t_len, b, i, h = 5, 64, 40, 512
    w = random_weights(cell, i, h, seed=21)
    xs = np.random.default_rng(22).standard_normal((t_len, b, i)).astype(np.float32)
    layer = rnn_gpu.GPUCell(w, b)
    out = torch.full((t_len, b, h), float("nan"), device="cuda")
    # TF32 would break the float32 contract: cuBLAS GEMMs run in full float32 unless torch enables it
    assert not torch.backends.cuda.matmul.allow_tf32
    want = ref.sequence(w, xs)
    for run in (layer.forward, layer.forward_sequence):
        out.fill_(float("nan"))
        run(torch.from_numpy(xs).cuda(), out=out)
        torch.cuda.synchronize()
        got = out.cpu().numpy()
        assert np.isfinite(got).all(), run.__name__
        assert ref.rel_error(got, want) < 1e-5, run.__name__


@pytest.mark.gpu
@pytest.mark.skipif(NO_GPU is not None, reason=f"unavailable: {NO_GPU}")
def test_gpu_stream_and_fma_report_plausible_rates() -> None:
    from kernels import stream

    bw = stream.run_stream_gpu(64 << 20, 5)
    assert set(bw) == set(stream.KERNELS) and all(50 < v < 20_000 for v in bw.values())
    assert stream.run_fma_gpu(2000, 2)["gflops"] > 100
