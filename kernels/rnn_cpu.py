"""LSTM and GRU cells on the CPU with numba: fused (one pass) and unfused (one pass per op).

Both versions share everything but fusion, so their difference is what fusion buys:

* the gate GEMMs are numpy/BLAS (``np.dot`` into preallocated buffers): per time step one GEMM
  ``h·W_hhᵀ``; over a sequence the input projection ``x·W_ihᵀ`` of all steps is one GEMM up front
  (what cuDNN and oneDNN do too);
* **fused**: one numba ``prange`` loop over the batch that adds both biases, applies every gate
  activation and writes the new state — the gate pre-activations are read once and nothing
  intermediate is stored;
* **unfused**: the passes of :data:`kernels.bytes_model.LSTM_UNFUSED` / ``GRU_UNFUSED`` in order, each
  a separate parallel numba loop writing a full intermediate array, driven from Python — what a
  framework does op by op without fusion. The same activation code is used, so both do the same math.

The traffic each version moves is :func:`kernels.bytes_model.cell_traffic`; :meth:`CPUCell.info`
reports it. Kernels are compiled with ``cache=True`` (the first call in a fresh process loads or
compiles them; :func:`compile_all` does that up front so compile time stays out of measured steps).

Shapes are checked against the weights before any kernel runs (:class:`kernels.weights.ShapeError`):
numba does not bounds-check, so a wrong shape would otherwise read or write past an array.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from numba import njit, prange

from kernels.bytes_model import Operand, cell_traffic, unfused_program
from kernels.weights import CellWeights, ShapeError

# float32 constants: a float64 literal would promote float32 arithmetic to float64 in numba.
_ONE = np.float32(1.0)
_TWO = np.float32(2.0)


@njit(inline="always", cache=True)
def _sigmoid(x):  # type: ignore[no-untyped-def]
    return _ONE / (_ONE + np.exp(-x))


@njit(inline="always", cache=True)
def _tanh(x):  # type: ignore[no-untyped-def]
    # tanh through exp: numba's np.tanh (libm tanhf) measured ~3.6x slower than np.exp on the
    # development machine (6.6 vs 1.8 ns/element), and both cell versions share this helper, so the fused vs
    # unfused comparison is of memory passes, not of math libraries. Absolute error ~1 ulp of 1; for
    # x → -inf exp overflows to inf and the result is exactly -1.
    return _TWO / (_ONE + np.exp(-_TWO * x)) - _ONE


# --- fused cells ------------------------------------------------------------------------------------
@njit(parallel=True, cache=True)
def _lstm_fused(gi, gh, b_ih, b_hh, c, h_out, c_out):  # type: ignore[no-untyped-def]
    nb, nh = c.shape
    for b in prange(nb):
        for j in range(nh):
            i = _sigmoid(gi[b, j] + gh[b, j] + (b_ih[j] + b_hh[j]))
            f = _sigmoid(gi[b, nh + j] + gh[b, nh + j] + (b_ih[nh + j] + b_hh[nh + j]))
            g = _tanh(gi[b, 2 * nh + j] + gh[b, 2 * nh + j] + (b_ih[2 * nh + j] + b_hh[2 * nh + j]))
            o = _sigmoid(gi[b, 3 * nh + j] + gh[b, 3 * nh + j] + (b_ih[3 * nh + j] + b_hh[3 * nh + j]))
            c2 = f * c[b, j] + i * g
            c_out[b, j] = c2
            h_out[b, j] = o * _tanh(c2)


@njit(parallel=True, cache=True)
def _gru_fused(gi, gh, b_ih, b_hh, h, h_out):  # type: ignore[no-untyped-def]
    nb, nh = h.shape
    for b in prange(nb):
        for j in range(nh):
            r = _sigmoid((gi[b, j] + b_ih[j]) + (gh[b, j] + b_hh[j]))
            z = _sigmoid((gi[b, nh + j] + b_ih[nh + j]) + (gh[b, nh + j] + b_hh[nh + j]))
            n = _tanh((gi[b, 2 * nh + j] + b_ih[2 * nh + j]) + r * (gh[b, 2 * nh + j] + b_hh[2 * nh + j]))
            h_out[b, j] = (_ONE - z) * n + z * h[b, j]


# --- unfused primitives: one parallel pass each; (array, first column, width) per operand ---------
@njit(parallel=True, cache=True)
def _p_add_bias(a, a0, bias, dst, d0, n):  # type: ignore[no-untyped-def]
    for b in prange(a.shape[0]):
        for j in range(n):
            dst[b, d0 + j] = a[b, a0 + j] + bias[j]


@njit(parallel=True, cache=True)
def _p_add(a, a0, x, x0, dst, d0, n):  # type: ignore[no-untyped-def]
    for b in prange(a.shape[0]):
        for j in range(n):
            dst[b, d0 + j] = a[b, a0 + j] + x[b, x0 + j]


@njit(parallel=True, cache=True)
def _p_mul(a, a0, x, x0, dst, d0, n):  # type: ignore[no-untyped-def]
    for b in prange(a.shape[0]):
        for j in range(n):
            dst[b, d0 + j] = a[b, a0 + j] * x[b, x0 + j]


@njit(parallel=True, cache=True)
def _p_sigmoid(a, a0, dst, d0, n):  # type: ignore[no-untyped-def]
    for b in prange(a.shape[0]):
        for j in range(n):
            dst[b, d0 + j] = _sigmoid(a[b, a0 + j])


@njit(parallel=True, cache=True)
def _p_tanh(a, a0, dst, d0, n):  # type: ignore[no-untyped-def]
    for b in prange(a.shape[0]):
        for j in range(n):
            dst[b, d0 + j] = _tanh(a[b, a0 + j])


@njit(parallel=True, cache=True)
def _p_one_minus(a, a0, dst, d0, n):  # type: ignore[no-untyped-def]
    for b in prange(a.shape[0]):
        for j in range(n):
            dst[b, d0 + j] = _ONE - a[b, a0 + j]


_PRIMITIVES: dict[str, Callable[..., None]] = {
    "add": _p_add, "mul": _p_mul, "sigmoid": _p_sigmoid, "tanh": _p_tanh, "one_minus": _p_one_minus,
}

#: Scratch buffers of the unfused programs: name -> width in units of H (G: the gate count).
_WIDE = ("gib", "ghb", "gates", "act", "t")
_SCRATCH = {"lstm": ("gib", "ghb", "gates", "act", "fc", "ig", "tc"),
            "gru": ("gib", "ghb", "t", "act", "rhn", "omz", "a", "zh")}

RegionFn = Callable[[str], AbstractContextManager[Any]]


def _no_region(name: str) -> AbstractContextManager[Any]:
    return contextlib.nullcontext()


class CPUCell:
    """One LSTM or GRU layer on the CPU, fused or unfused, for a fixed batch size.

    ``cell(gi, gh, h, c, h_out, c_out)`` runs the elementwise part of a step on precomputed gate
    GEMM outputs; ``step(x, h, c)`` adds the two GEMMs; ``forward(xs)`` runs a sequence. For a GRU the
    ``c`` arguments are ignored (pass ``None``).
    """

    def __init__(self, weights: CellWeights, fused: bool, batch: int) -> None:
        if batch < 1:
            raise ShapeError(f"batch must be positive, got {batch}")
        self.w = weights
        self.fused = fused
        self.batch = batch
        g, hd, dt = weights.gates, weights.hidden, weights.dtype
        self._gh = np.empty((batch, g * hd), dt)  # recurrent GEMM output
        self._gi = np.empty((batch, g * hd), dt)  # input GEMM output (single-step API)
        self.scratch: dict[str, np.ndarray] = {}
        if not fused:
            for name in _SCRATCH[weights.cell]:
                self.scratch[name] = np.empty((batch, (g if name in _WIDE else 1) * hd), dt)
        self.traffic = cell_traffic(weights.cell, fused, batch, hd, dt.itemsize)

    # -- the elementwise cell ---------------------------------------------------------------------
    def _check_cell(self, gi: np.ndarray, gh: np.ndarray, h: np.ndarray, c: np.ndarray | None,
                    h_out: np.ndarray, c_out: np.ndarray | None) -> None:
        w, b = self.w, self.batch
        w.check_gates("gi", gi, b)
        w.check_gates("gh", gh, b)
        for name, a in (("h", h), ("h_out", h_out)) + ((("c", c), ("c_out", c_out)) if w.cell == "lstm" else ()):
            if a is None:
                raise ShapeError(f"{name} is required for an {w.cell}")
            w.check_state(name, a, b)
            if name.endswith("_out") and not a.flags.c_contiguous:
                raise ShapeError(f"{name} must be C-contiguous")

    def cell(self, gi: np.ndarray, gh: np.ndarray, h: np.ndarray, c: np.ndarray | None,
             h_out: np.ndarray, c_out: np.ndarray | None = None, check: bool = True) -> None:
        """Elementwise part of one step: write ``h_out`` (and ``c_out``) from the GEMM outputs."""
        if check:
            self._check_cell(gi, gh, h, c, h_out, c_out)
        w = self.w
        if self.fused:
            if w.cell == "lstm":
                _lstm_fused(gi, gh, w.b_ih, w.b_hh, c, h_out, c_out)
            else:
                _gru_fused(gi, gh, w.b_ih, w.b_hh, h, h_out)
            return
        bufs = {**self.scratch, "gi": gi, "gh": gh, "h": h, "c": c, "h_out": h_out, "c_out": c_out,
                "b_ih": w.b_ih, "b_hh": w.b_hh}
        hd = w.hidden
        for p in unfused_program(w.cell):
            if p.op == "add_bias":
                (a, a0, n), (bias, _, _) = (self._operand(bufs, s, hd) for s in p.srcs)
                dst, d0, _ = self._operand(bufs, p.dst, hd)
                _p_add_bias(a, a0, bias, dst, d0, n)
            else:
                args: list[Any] = []
                for s in p.srcs:
                    a, a0, n = self._operand(bufs, s, hd)
                    args += [a, a0]
                dst, d0, n = self._operand(bufs, p.dst, hd)
                _PRIMITIVES[p.op](*args, dst, d0, n)

    @staticmethod
    def _operand(bufs: dict[str, Any], o: Operand, hd: int) -> tuple[np.ndarray, int, int]:
        a = bufs[o[0]]
        if o[1] is None:
            return a, 0, a.shape[-1]
        return a, o[1] * hd, hd

    # -- a step and a sequence --------------------------------------------------------------------
    def step(self, x: np.ndarray, h: np.ndarray, c: np.ndarray | None = None,
             h_out: np.ndarray | None = None, c_out: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray | None]:
        """One full step from input ``x`` ``(B, I)``: both GEMMs, then the cell. Returns ``(h', c')``."""
        w = self.w
        w.check_input(x)
        w.check_state("h", h, self.batch)
        if x.shape[0] != self.batch:
            raise ShapeError(f"x has batch {x.shape[0]}, this cell was built for batch {self.batch}")
        h_out = np.empty_like(h) if h_out is None else h_out
        if w.cell == "lstm":
            if c is None:
                raise ShapeError("c is required for an lstm")
            c_out = np.empty_like(c) if c_out is None else c_out
        self._check_cell(self._gi, self._gh, h, c, h_out, c_out)
        np.dot(x, w.w_ihT, out=self._gi)
        np.dot(h, w.w_hhT, out=self._gh)
        self.cell(self._gi, self._gh, h, c, h_out, c_out, check=False)
        return h_out, c_out

    def forward(self, xs: np.ndarray, h0: np.ndarray | None = None, c0: np.ndarray | None = None,
                out: np.ndarray | None = None, region: RegionFn = _no_region) -> np.ndarray:
        """Run over ``xs`` ``(T, B, I)``; return every step's ``h`` as ``(T, B, H)`` (into ``out``).

        ``region(name)`` is entered around the input GEMM and around each step's GEMM and cell, so a
        caller can record spans (the scenario passes its ``ctx.region``).
        """
        w = self.w
        t_len, b, _ = w.check_input(xs, seq=True)
        if b != self.batch:
            raise ShapeError(f"xs has batch {b}, this cell was built for batch {self.batch}")
        hd, dt = w.hidden, w.dtype
        if out is None:
            out = np.empty((t_len, b, hd), dt)
        elif out.shape != (t_len, b, hd) or out.dtype != dt or not out.flags.c_contiguous:
            raise ShapeError(f"out must be C-contiguous {dt} {(t_len, b, hd)}, got {out.dtype} {out.shape}")
        h = np.zeros((b, hd), dt) if h0 is None else h0
        w.check_state("h0", h, b)
        c = cn = None
        if w.cell == "lstm":
            c = np.zeros((b, hd), dt) if c0 is None else c0.copy()
            w.check_state("c0", c, b)
            cn = np.empty_like(c)
        with region("gemm x·W_ihᵀ (all steps)"):
            gi_all = np.dot(xs.reshape(t_len * b, -1), w.w_ihT).reshape(t_len, b, -1)
        cell_name = f"{'fused' if self.fused else 'unfused'}_cell_elementwise"
        for t in range(t_len):
            with region("gemm h·W_hhᵀ"):
                np.dot(h, w.w_hhT, out=self._gh)
            with region(cell_name):
                self.cell(gi_all[t], self._gh, h, c, out[t], cn, check=False)
            h = out[t]
            if c is not None:
                c, cn = cn, c
        return out

    def poison(self) -> None:
        """Fill every scratch buffer with NaN, so a pass that reads an element nobody wrote shows."""
        for a in (*self.scratch.values(), self._gh, self._gi):
            a.fill(np.nan)

    def info(self) -> dict[str, Any]:
        """The cell's configuration and the bytes/FLOPs its elementwise part moves per step."""
        return {"cell": self.w.cell, "fused": self.fused, "batch": self.batch, "hidden": self.w.hidden,
                "input_size": self.w.input_size, "dtype": str(self.w.dtype),
                "cell_step": self.traffic.as_dict()}


def compile_all(cells: tuple[str, ...] = ("lstm", "gru"), dtype: type = np.float32) -> float:
    """Load or compile every CPU kernel for ``dtype`` by running them once on tiny inputs.

    Returns the seconds it took (seconds of compiling on a cold cache; milliseconds when cached).
    """
    from kernels.weights import random_weights

    t0 = time.perf_counter()
    for cell in cells:
        w = random_weights(cell, 3, 2, dtype=dtype)
        xs = np.zeros((2, 2, 3), dtype)
        for fused in (True, False):
            CPUCell(w, fused, 2).forward(xs)
    return time.perf_counter() - t0
