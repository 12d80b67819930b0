"""Cell weights in PyTorch's layout, and the shape checks every kernel runs before it touches memory.

``w_ih`` is ``(G·H, I)``, ``w_hh`` is ``(G·H, H)``, ``b_ih``/``b_hh`` are ``(G·H,)`` with ``G`` = 4 gates
(i, f, g, o) for an LSTM and 3 (r, z, n) for a GRU — exactly ``torch.nn.LSTMCell``/``GRUCell``'s
parameters, so tests can load the same numbers into torch. Kernels keep the transposed copies
``w_ihT``/``w_hhT`` (contiguous) so that the gate GEMMs are plain ``x @ w_ihT``.

A shape that does not fit the weights raises :class:`ShapeError` (a ``ValueError`` and an
:class:`profiler.core.errors.InputError`) before any kernel runs: a numba kernel indexing past a wrong-sized
array would read garbage rather than fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from profiler.core.errors import InputError

GATES = {"lstm": 4, "gru": 3}


class ShapeError(InputError, ValueError):
    """An input, state or output array does not match the cell's weights."""


@dataclass
class CellWeights:
    cell: str  # "lstm" | "gru"
    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray
    w_ihT: np.ndarray = field(init=False, repr=False)
    w_hhT: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.cell not in GATES:
            raise ShapeError(f"unknown cell {self.cell!r}; valid: {', '.join(GATES)}")
        g = GATES[self.cell]
        if self.w_hh.ndim != 2 or self.w_hh.shape[0] != g * self.w_hh.shape[1]:
            raise ShapeError(f"{self.cell} w_hh must be ({g}·H, H), got {self.w_hh.shape}")
        gh = self.w_hh.shape[0]
        if self.w_ih.ndim != 2 or self.w_ih.shape[0] != gh:
            raise ShapeError(f"{self.cell} w_ih must be ({gh}, input_size), got {self.w_ih.shape}")
        for n in ("b_ih", "b_hh"):
            if getattr(self, n).shape != (gh,):
                raise ShapeError(f"{self.cell} {n} must be ({gh},), got {getattr(self, n).shape}")
        dt = self.w_hh.dtype
        if dt not in (np.float32, np.float64):
            raise ShapeError(f"weights must be float32 or float64, got {dt}")
        for n in ("w_ih", "b_ih", "b_hh"):
            if getattr(self, n).dtype != dt:
                raise ShapeError(f"{n} is {getattr(self, n).dtype} but w_hh is {dt}; use one dtype")
        self.w_ihT = np.ascontiguousarray(self.w_ih.T)
        self.w_hhT = np.ascontiguousarray(self.w_hh.T)
        self.b_ih = np.ascontiguousarray(self.b_ih)
        self.b_hh = np.ascontiguousarray(self.b_hh)

    @property
    def gates(self) -> int:
        return GATES[self.cell]

    @property
    def hidden(self) -> int:
        return self.w_hh.shape[1]

    @property
    def input_size(self) -> int:
        return self.w_ih.shape[1]

    @property
    def dtype(self) -> np.dtype:
        return self.w_hh.dtype

    def astype(self, dtype: type | np.dtype) -> CellWeights:
        return CellWeights(self.cell, *(np.asarray(a, dtype) for a in (self.w_ih, self.w_hh,
                                                                      self.b_ih, self.b_hh)))

    # -- checks ------------------------------------------------------------------------------------
    def check_state(self, name: str, a: np.ndarray, batch: int | None = None) -> int:
        """Check a ``(B, H)`` state array; return B."""
        h = self.hidden
        if not isinstance(a, np.ndarray) or a.ndim != 2 or a.shape[1] != h:
            raise ShapeError(f"{name} must be (batch, {h}) for this {self.cell} (hidden {h}), "
                             f"got {getattr(a, 'shape', type(a).__name__)}")
        if batch is not None and a.shape[0] != batch:
            raise ShapeError(f"{name} has batch {a.shape[0]}, expected {batch}")
        if a.dtype != self.dtype:
            raise ShapeError(f"{name} is {a.dtype}, the weights are {self.dtype}")
        return a.shape[0]

    def check_gates(self, name: str, a: np.ndarray, batch: int) -> None:
        """Check a ``(B, G·H)`` gate pre-activation array (C-contiguous: kernels index it flat)."""
        want = (batch, self.gates * self.hidden)
        if not isinstance(a, np.ndarray) or a.shape != want:
            raise ShapeError(f"{name} must be {want}, got {getattr(a, 'shape', type(a).__name__)}")
        if a.dtype != self.dtype or not a.flags.c_contiguous:
            raise ShapeError(f"{name} must be C-contiguous {self.dtype}, got {a.dtype}")

    def check_input(self, x: np.ndarray, seq: bool = False) -> tuple[int, ...]:
        """Check ``x``: ``(B, I)`` for one step or ``(T, B, I)`` for a sequence; return its shape."""
        nd = 3 if seq else 2
        what = "(seq_len, batch, input_size)" if seq else "(batch, input_size)"
        if not isinstance(x, np.ndarray) or x.ndim != nd or x.shape[-1] != self.input_size:
            raise ShapeError(f"x must be {what} with input_size {self.input_size}, "
                             f"got {getattr(x, 'shape', type(x).__name__)}")
        if x.dtype != self.dtype:
            raise ShapeError(f"x is {x.dtype}, the weights are {self.dtype}")
        if 0 in x.shape:
            raise ShapeError(f"x must not be empty, got {x.shape}")
        return x.shape


def random_weights(cell: str, input_size: int, hidden: int, seed: int = 0,
                   dtype: type | np.dtype = np.float32) -> CellWeights:
    """Weights drawn like PyTorch's default init: uniform in ±1/√H (biases included)."""
    if cell not in GATES:
        raise ShapeError(f"unknown cell {cell!r}; valid: {', '.join(GATES)}")
    if input_size < 1 or hidden < 1:
        raise ShapeError(f"input_size and hidden must be positive, got {input_size}, {hidden}")
    g = GATES[cell]
    rng = np.random.default_rng(seed)
    k = hidden**-0.5
    u = lambda *s: rng.uniform(-k, k, s).astype(dtype)  # noqa: E731
    return CellWeights(cell, u(g * hidden, input_size), u(g * hidden, hidden), u(g * hidden), u(g * hidden))
