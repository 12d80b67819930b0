"""Float64 reference of the LSTM and GRU cell math, in plain numpy: what every kernel is checked against.

The math is PyTorch's ``LSTMCell``/``GRUCell`` (tests also check this module against torch in float64)::

    LSTM: i, f, g, o = split(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh)
          c' = σ(f)·c + σ(i)·tanh(g);   h' = σ(o)·tanh(c')
    GRU:  r = σ(x_r + h_r);  z = σ(x_z + h_z);  n = tanh(x_n + r·h_n)      (x_* = x·W_ihᵀ + b_ih, ...)
          h' = (1 − z)·n + z·h

Inputs of any float dtype are promoted to float64; results are float64.
"""

from __future__ import annotations

import numpy as np

from kernels.weights import CellWeights


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def lstm_step(w: CellWeights, x: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One LSTM step in float64: returns ``(h', c')``."""
    f64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
    gates = f64(x) @ f64(w.w_ih).T + f64(w.b_ih) + f64(h) @ f64(w.w_hh).T + f64(w.b_hh)
    i, f, g, o = np.split(gates, 4, axis=1)
    c2 = _sigmoid(f) * f64(c) + _sigmoid(i) * np.tanh(g)
    return _sigmoid(o) * np.tanh(c2), c2


def gru_step(w: CellWeights, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """One GRU step in float64: returns ``h'``."""
    f64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
    xi = f64(x) @ f64(w.w_ih).T + f64(w.b_ih)
    hh = f64(h) @ f64(w.w_hh).T + f64(w.b_hh)
    xr, xz, xn = np.split(xi, 3, axis=1)
    hr, hz, hn = np.split(hh, 3, axis=1)
    r, z = _sigmoid(xr + hr), _sigmoid(xz + hz)
    n = np.tanh(xn + r * hn)
    return (1.0 - z) * n + z * f64(h)


def sequence(w: CellWeights, xs: np.ndarray, h0: np.ndarray | None = None,
             c0: np.ndarray | None = None) -> np.ndarray:
    """Run the cell over ``xs`` ``(T, B, I)`` from zero (or given) state; return all ``h`` ``(T, B, H)``."""
    t_len, b = xs.shape[0], xs.shape[1]
    h = np.zeros((b, w.hidden)) if h0 is None else np.asarray(h0, np.float64)
    c = np.zeros((b, w.hidden)) if c0 is None else np.asarray(c0, np.float64)
    out = np.empty((t_len, b, w.hidden))
    for t in range(t_len):
        if w.cell == "lstm":
            h, c = lstm_step(w, xs[t], h, c)
        else:
            h = gru_step(w, xs[t], h)
        out[t] = h
    return out


def rel_error(got: np.ndarray, ref: np.ndarray) -> float:
    """Normwise relative error ``max|got − ref| / max|ref|`` (NaN anywhere → inf).

    Normwise rather than elementwise: an element whose true value is near zero has no meaningful
    relative error in float32, while the normwise figure bounds every element's error against the
    scale of the output.
    """
    got = np.asarray(got, np.float64)
    if got.shape != ref.shape:
        raise ValueError(f"shape {got.shape} != reference {ref.shape}")
    if not np.all(np.isfinite(got)):
        return float("inf")
    scale = float(np.max(np.abs(ref))) or 1.0
    return float(np.max(np.abs(got - ref))) / scale
