"""The numba CPU cells (kernels/rnn_cpu.py) against float64 references, their shape checks, and the
bytes model they report (kernels/bytes_model.py)."""

from __future__ import annotations

import numpy as np
import pytest

from kernels import reference as ref
from kernels.bytes_model import (
    GRU_UNFUSED,
    LSTM_UNFUSED,
    cell_traffic,
    sequence_kernel_traffic,
    sequence_traffic,
    step_traffic,
)
from kernels.weights import CellWeights, ShapeError, random_weights
from profiler.core.errors import InputError
from tests.conftest import needs_torch

numba = pytest.importorskip("numba", reason="numba is not installed (pip install 'dl-profiler[kernels]')")
from kernels.rnn_cpu import CPUCell  # noqa: E402

TOL = 1e-5  # normwise relative error allowed for float32 kernels against float64 math
CASES = [(c, f) for c in ("lstm", "gru") for f in (True, False)]


def _inputs(seed: int, b: int, i: int, h: int, t: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    d = {k: rng.standard_normal(s).astype(np.float32) for k, s in (("x", (b, i)), ("h", (b, h)), ("c", (b, h)))}
    if t:
        d["xs"] = rng.standard_normal((t, b, i)).astype(np.float32)
    return d


def _torch_step(w: CellWeights, x: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, ...]:
    import torch

    mod = (torch.nn.LSTMCell if w.cell == "lstm" else torch.nn.GRUCell)(w.input_size, w.hidden).double()
    with torch.no_grad():
        for name in ("w_ih", "w_hh", "b_ih", "b_hh"):
            getattr(mod, name.replace("w_", "weight_").replace("b_", "bias_")).copy_(
                torch.from_numpy(getattr(w, name).astype(np.float64)))
        t = lambda a: torch.from_numpy(a.astype(np.float64))  # noqa: E731
        if w.cell == "lstm":
            h2, c2 = mod(t(x), (t(h), t(c)))
            return h2.numpy(), c2.numpy()
        return (mod(t(x), t(h)).numpy(),)


@pytest.mark.slow
@needs_torch
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_numpy_reference_is_torch_cell_math(cell: str) -> None:
    w = random_weights(cell, 7, 5, seed=3, dtype=np.float64)
    d = _inputs(4, 3, 7, 5)
    d = {k: v.astype(np.float64) for k, v in d.items()}
    want = _torch_step(w, d["x"], d["h"], d["c"])
    got = ref.lstm_step(w, d["x"], d["h"], d["c"]) if cell == "lstm" else (ref.gru_step(w, d["x"], d["h"]),)
    for g, t in zip(got, want, strict=True):
        np.testing.assert_allclose(g, t, rtol=1e-12, atol=1e-12)


@pytest.mark.slow
@needs_torch
@pytest.mark.parametrize(("cell", "fused"), CASES)
def test_step_matches_torch_float64(cell: str, fused: bool) -> None:
    # Fresh random inputs per case, at a size where every prange chunk and gate column block is used.
    b, i, h = 9, 33, 17
    w = random_weights(cell, i, h, seed=11 + fused)
    d = _inputs(100 + 2 * fused + (cell == "gru"), b, i, h)
    k = CPUCell(w, fused, b)
    k.poison()  # unwritten scratch shows as NaN in the result
    h_out = np.full((b, h), np.nan, np.float32)
    c_out = np.full((b, h), np.nan, np.float32) if cell == "lstm" else None
    k.step(d["x"], d["h"], d["c"] if cell == "lstm" else None, h_out, c_out)
    want = _torch_step(w, d["x"], d["h"], d["c"])
    got = (h_out, c_out) if cell == "lstm" else (h_out,)
    for g, t in zip(got, want, strict=True):
        assert np.isfinite(g).all(), "an output element was never written"
        assert ref.rel_error(g, t) < TOL


@pytest.mark.parametrize(("cell", "fused"), CASES)
def test_sequence_matches_float64_reference(cell: str, fused: bool) -> None:
    t_len, b, i, h = 6, 5, 12, 24
    w = random_weights(cell, i, h, seed=5)
    xs = _inputs(7 + fused, b, i, h, t=t_len)["xs"]
    k = CPUCell(w, fused, b)
    k.poison()
    out = np.full((t_len, b, h), np.nan, np.float32)
    k.forward(xs, out=out)
    assert np.isfinite(out).all()
    assert ref.rel_error(out, ref.sequence(w, xs)) < TOL


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fused_and_unfused_agree_and_regions_are_entered(cell: str) -> None:
    import contextlib

    w = random_weights(cell, 8, 16, seed=9)
    xs = _inputs(1, 4, 8, 16, t=3)["xs"]
    names: list[str] = []

    def region(name: str) -> contextlib.AbstractContextManager[None]:
        names.append(name)
        return contextlib.nullcontext()

    a = CPUCell(w, True, 4).forward(xs, region=region)
    b = CPUCell(w, False, 4).forward(xs)
    assert ref.rel_error(a, b.astype(np.float64)) < TOL
    assert names.count("gemm h·W_hhᵀ") == 3 and names.count("fused_cell_elementwise") == 3
    assert names[0] == "gemm x·W_ihᵀ (all steps)"


def test_extreme_preactivations_saturate_without_nan() -> None:
    # exp overflows to inf for large negative arguments; sigmoid and tanh must still saturate cleanly.
    w = random_weights("lstm", 4, 4, seed=0)
    b = 2
    for fused in (True, False):
        k = CPUCell(w, fused, b)
        gi = np.full((b, 16), 200.0, np.float32)
        gi[1] = -200.0
        gh = np.zeros((b, 16), np.float32)
        h, c = np.zeros((b, 4), np.float32), np.ones((b, 4), np.float32)
        ho, co = np.full_like(h, np.nan), np.full_like(c, np.nan)
        k.cell(gi, gh, h, c, ho, co)
        np.testing.assert_allclose(co[0], 2.0, rtol=1e-6)  # f=1, i=1, g=1: c' = c + 1
        np.testing.assert_allclose(ho[0], np.tanh(np.float32(2.0)), rtol=1e-6)
        np.testing.assert_allclose(co[1], 0.0, atol=1e-30)  # f=0, i=0
        np.testing.assert_allclose(ho[1], 0.0, atol=1e-30)


# --- bad input: a clear error before any kernel runs -------------------------------------------------
def test_shape_errors_are_input_errors_and_value_errors() -> None:
    assert issubclass(ShapeError, InputError) and issubclass(ShapeError, ValueError)


@pytest.mark.parametrize(
    ("what", "kwargs"),
    [
        ("x width", {"x": (3, 7)}),
        ("h width", {"h": (3, 5)}),
        ("h batch", {"h": (2, 4)}),
        ("c width", {"c": (3, 6)}),
        ("h_out shape", {"h_out": (3, 5)}),
        ("x dtype", {"x_dtype": np.float64}),
    ],
)
def test_mismatched_shapes_raise_before_running(what: str, kwargs: dict) -> None:
    w = random_weights("lstm", 6, 4)
    k = CPUCell(w, True, 3)
    x = np.zeros(kwargs.get("x", (3, 6)), kwargs.get("x_dtype", np.float32))
    h = np.zeros(kwargs.get("h", (3, 4)), np.float32)
    c = np.zeros(kwargs.get("c", (3, 4)), np.float32)
    h_out = np.full(kwargs.get("h_out", (3, 4)), np.nan, np.float32)
    c_out = np.full((3, 4), np.nan, np.float32)
    with pytest.raises(ShapeError):
        k.step(x, h, c, h_out, c_out)
    assert np.isnan(c_out).all(), f"{what}: a kernel ran before the shape check"


def test_bad_weights_and_sequences_are_rejected() -> None:
    w = random_weights("gru", 6, 4)
    with pytest.raises(ShapeError, match="w_hh"):
        CellWeights("gru", w.w_ih, w.w_hh[:8], w.b_ih, w.b_hh)
    with pytest.raises(ShapeError, match="b_hh"):
        CellWeights("gru", w.w_ih, w.w_hh, w.b_ih, w.b_hh[:5])
    with pytest.raises(ShapeError, match="unknown cell"):
        CellWeights("rnn", w.w_ih, w.w_hh, w.b_ih, w.b_hh)
    k = CPUCell(w, False, 2)
    with pytest.raises(ShapeError, match="seq_len"):
        k.forward(np.zeros((2, 6), np.float32))
    with pytest.raises(ShapeError, match="batch 3"):
        k.forward(np.zeros((4, 3, 6), np.float32))
    with pytest.raises(ShapeError, match="gi must be"):
        k.cell(np.zeros((2, 9), np.float32), np.zeros((2, 12), np.float32),
               np.zeros((2, 4), np.float32), None, np.zeros((2, 4), np.float32))


# --- bytes model -----------------------------------------------------------------------------------
def test_fused_traffic_by_hand() -> None:
    # LSTM, B=2, H=3: reads gi, gh (2·12 each), b_ih, b_hh (12 each), c (6); writes h, c (6 each)
    t = cell_traffic("lstm", True, 2, 3)
    assert t.bytes == 4 * (24 + 24 + 12 + 12 + 6 + 6 + 6)
    assert t.passes == 1 and t.transcendentals == 5 * 6
    g = cell_traffic("gru", True, 2, 3)  # reads gi, gh (18 each), biases (9 each), h (6); writes h (6)
    assert g.bytes == 4 * (18 + 18 + 9 + 9 + 6 + 6) and g.transcendentals == 3 * 6


def test_unfused_traffic_counts_every_pass() -> None:
    b, h = 64, 512
    for cell, prog in (("lstm", LSTM_UNFUSED), ("gru", GRU_UNFUSED)):
        u, f = cell_traffic(cell, False, b, h), cell_traffic(cell, True, b, h)
        assert u.passes == len(prog) and f.passes == 1
        assert u.transcendentals == f.transcendentals  # same math, only the memory passes differ
        assert 3.0 < u.bytes / f.bytes < 6.0
    # LSTM unfused in units of B·H floats: 50 moved by the passes + 2 bias reads of 4H each
    assert cell_traffic("lstm", False, 2, 3).bytes == 4 * (50 * 6 + 2 * 12)


def test_every_unfused_operand_is_a_cell_buffer() -> None:
    from kernels.rnn_cpu import _SCRATCH

    for cell, prog in (("lstm", LSTM_UNFUSED), ("gru", GRU_UNFUSED)):
        known = set(_SCRATCH[cell]) | {"gi", "gh", "h", "c", "h_out", "c_out", "b_ih", "b_hh"}
        for p in prog:
            for name, _k in (p.dst, *p.srcs):
                assert name in known, (cell, p)


def test_step_and_sequence_traffic() -> None:
    st = step_traffic("gru", True, 4, 8)
    assert st["gemm"].flops == 2 * 4 * 8 * 24
    seq = sequence_traffic("gru", False, 10, 4, 6, 8)
    assert seq["cell"].bytes == 10 * cell_traffic("gru", False, 4, 8).bytes
    assert seq["input_gemm"].flops == 2 * 40 * 6 * 24
    with pytest.raises(ValueError):
        cell_traffic("lstm", True, 0, 8)
    assert st["cell"].floor_s(10.0) == pytest.approx(st["cell"].bytes / 1e10)
    # whole-sequence kernel, GRU T=2 B=3 H=4: reads gi (2·3·12), W_hh (12·4), biases (2·12); writes h (2·3·4)
    k = sequence_kernel_traffic("gru", 2, 3, 4)
    assert k.bytes == 4 * (72 + 48 + 24 + 24) and k.passes == 1
    assert k.flops == 2 * 2 * 3 * 12 * 4 + 2 * cell_traffic("gru", True, 3, 4).flops


def test_info_reports_bytes_per_step() -> None:
    k = CPUCell(random_weights("lstm", 3, 4), False, 2)
    info = k.info()
    assert info["cell_step"]["bytes"] == cell_traffic("lstm", False, 2, 4).bytes
    assert info["fused"] is False and info["dtype"] == "float32"
