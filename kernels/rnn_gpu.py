"""Fused LSTM and GRU cells as numba.cuda kernels, and a GPU layer that uses them between GEMMs.

One thread per (batch row, hidden unit): it reads that unit's gate pre-activations from both GEMM
outputs (``gi``, ``gh``: ``(B, G·H)``, PyTorch's gate order), adds both biases, applies the gate
activations and writes the new state — one pass over memory per step, the same math as
:mod:`kernels.rnn_cpu`'s fused cells and :mod:`kernels.reference`. Launch configuration comes from
:func:`cell_launch_config`. Consecutive threads handle consecutive hidden units of one row, so every
load and store of a warp is coalesced.

:class:`GPUCell` runs a layer on torch CUDA tensors: the GEMMs are ``torch.mm`` (cuBLAS) — numba has no
BLAS — and the cell is our kernel, reading and writing the same tensors through
``__cuda_array_interface__`` (no copies). Both run on the legacy default stream, so they are ordered.
The whole-sequence kernel that would keep the state in registers/shared memory across steps is not
implemented (docs/kernels.md).

Everything here imports without a GPU (numba compiles kernels lazily). The kernels compile to PTX
without a device (:func:`compile_ptx`) and run in numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``),
which is how tests check them on machines without a GPU.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import cuda

from kernels.bytes_model import cell_traffic
from kernels.weights import CellWeights, ShapeError

_ONE = np.float32(1.0)
BLOCK = 256  # threads per block: 8 warps, a multiple of every architecture's warp allocation unit


@cuda.jit
def lstm_cell_kernel(gi, gh, b_ih, b_hh, c, h_out, c_out):  # type: ignore[no-untyped-def]
    idx = cuda.grid(1)
    nb, nh = c.shape
    if idx >= nb * nh:
        return
    b = idx // nh
    j = idx - b * nh
    # The sigmoids are written out: a call to a device function would make numba ask the driver for
    # the current device's compute capability, and compile_ptx must work without a GPU.
    i = _ONE / (_ONE + math.exp(-(gi[b, j] + gh[b, j] + (b_ih[j] + b_hh[j]))))
    f = _ONE / (_ONE + math.exp(-(gi[b, nh + j] + gh[b, nh + j] + (b_ih[nh + j] + b_hh[nh + j]))))
    g = math.tanh(gi[b, 2 * nh + j] + gh[b, 2 * nh + j] + (b_ih[2 * nh + j] + b_hh[2 * nh + j]))
    o = _ONE / (_ONE + math.exp(-(gi[b, 3 * nh + j] + gh[b, 3 * nh + j] + (b_ih[3 * nh + j] + b_hh[3 * nh + j]))))
    c2 = f * c[b, j] + i * g
    c_out[b, j] = c2
    h_out[b, j] = o * math.tanh(c2)


@cuda.jit
def gru_cell_kernel(gi, gh, b_ih, b_hh, h, h_out):  # type: ignore[no-untyped-def]
    idx = cuda.grid(1)
    nb, nh = h.shape
    if idx >= nb * nh:
        return
    b = idx // nh
    j = idx - b * nh
    r = _ONE / (_ONE + math.exp(-((gi[b, j] + b_ih[j]) + (gh[b, j] + b_hh[j]))))
    z = _ONE / (_ONE + math.exp(-((gi[b, nh + j] + b_ih[nh + j]) + (gh[b, nh + j] + b_hh[nh + j]))))
    n = math.tanh((gi[b, 2 * nh + j] + b_ih[2 * nh + j]) + r * (gh[b, 2 * nh + j] + b_hh[2 * nh + j]))
    h_out[b, j] = (_ONE - z) * n + z * h[b, j]


def cell_launch_config(batch: int, hidden: int, block: int = BLOCK) -> tuple[int, int]:
    """``(blocks, threads per block)`` covering ``batch × hidden`` elements, one thread each."""
    if batch < 1 or hidden < 1:
        raise ShapeError(f"batch and hidden must be positive, got batch={batch}, hidden={hidden}")
    if block < 32 or block > 1024 or block % 32:
        raise ShapeError(f"block must be a multiple of 32 in 32..1024, got {block}")
    n = batch * hidden
    return (n + block - 1) // block, block


def _shape(a: Any) -> tuple[int, ...]:
    return tuple(getattr(a, "shape", ()))


def check_cell_args(cell: str, gi: Any, gh: Any, b_ih: Any, b_hh: Any, state: Any,
                    outs: tuple[Any, ...]) -> tuple[int, int]:
    """Check shapes of a cell launch (any array type with ``.shape``); return ``(batch, hidden)``."""
    g = {"lstm": 4, "gru": 3}.get(cell)
    if g is None:
        raise ShapeError(f"unknown cell {cell!r}; valid: lstm, gru")
    if len(_shape(state)) != 2:
        raise ShapeError(f"state must be (batch, hidden), got {_shape(state)}")
    b, h = _shape(state)
    for name, a, want in (("gi", gi, (b, g * h)), ("gh", gh, (b, g * h)), ("b_ih", b_ih, (g * h,)),
                          ("b_hh", b_hh, (g * h,)), *((f"out{k}", o, (b, h)) for k, o in enumerate(outs))):
        if _shape(a) != want:
            raise ShapeError(f"{cell} {name} must be {want} for state {(b, h)}, got {_shape(a)}")
    return b, h


def launch_cell(cell: str, gi: Any, gh: Any, b_ih: Any, b_hh: Any, state: Any, h_out: Any,
                c_out: Any = None, stream: Any = 0) -> None:
    """Check shapes, then launch the fused cell kernel (``state`` is ``c`` for an LSTM, ``h`` for a GRU).

    Arrays are numba device arrays, anything with ``__cuda_array_interface__``, or numpy arrays under
    the CUDA simulator.
    """
    outs = (h_out, c_out) if cell == "lstm" else (h_out,)
    b, h = check_cell_args(cell, gi, gh, b_ih, b_hh, state, outs)
    grid, block = cell_launch_config(b, h)
    if cell == "lstm":
        lstm_cell_kernel[grid, block, stream](gi, gh, b_ih, b_hh, state, h_out, c_out)
    else:
        gru_cell_kernel[grid, block, stream](gi, gh, b_ih, b_hh, state, h_out)


def compile_ptx(cell: str, cc: tuple[int, int] = (8, 0), dtype: str = "float32") -> str:
    """PTX of a cell kernel for compute capability ``cc`` (needs numba's NVVM, not a GPU)."""
    from numba import types

    t = getattr(types, dtype)
    m2, v1 = types.Array(t, 2, "C"), types.Array(t, 1, "C")
    k = {"lstm": lstm_cell_kernel, "gru": gru_cell_kernel}[cell]
    sig = (m2, m2, v1, v1, m2, m2, m2) if cell == "lstm" else (m2, m2, v1, v1, m2, m2)
    ptx, _ = cuda.compile_ptx(k.py_func, sig, cc=cc)
    return ptx


class GPUCell:
    """A fused LSTM/GRU layer on torch CUDA tensors: cuBLAS GEMMs + our cell kernel per step."""

    def __init__(self, weights: CellWeights, batch: int) -> None:
        from kernels.gpu import gpu_unavailable_reason

        reason = gpu_unavailable_reason()
        if reason:
            from profiler.errors import UnavailableError

            raise UnavailableError(f"unavailable: {reason}")
        import torch

        if weights.dtype != np.float32:
            raise ShapeError(f"GPU cells run float32 weights, got {weights.dtype}")
        dev = torch.device("cuda")
        self.w = weights
        self.batch = batch
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(dev)  # noqa: E731
        self.w_ihT, self.w_hhT, self.b_ih, self.b_hh = (t(a) for a in (weights.w_ihT, weights.w_hhT,
                                                                      weights.b_ih, weights.b_hh))
        g, hd = weights.gates, weights.hidden
        self.gh = torch.empty((batch, g * hd), device=dev)
        self._cb = [cuda.as_cuda_array(x) for x in (self.b_ih, self.b_hh)]
        self.traffic = cell_traffic(weights.cell, True, batch, hd)

    def forward(self, xs: Any, out: Any = None) -> Any:
        """``xs``: a CUDA tensor ``(T, B, I)``; returns every step's ``h`` ``(T, B, H)``."""
        import torch

        w = self.w
        if xs.dim() != 3 or xs.shape[1] != self.batch or xs.shape[2] != w.input_size:
            raise ShapeError(f"xs must be (seq_len, {self.batch}, {w.input_size}), got {tuple(xs.shape)}")
        t_len, b, hd = xs.shape[0], self.batch, w.hidden
        out = torch.empty((t_len, b, hd), device=xs.device) if out is None else out
        gi_all = torch.mm(xs.reshape(t_len * b, -1), self.w_ihT).reshape(t_len, b, -1)
        h = torch.zeros((b, hd), device=xs.device)
        c, cn = torch.zeros_like(h), torch.empty_like(h)
        as_ = cuda.as_cuda_array
        gh_d = as_(self.gh)
        for t in range(t_len):
            torch.mm(h, self.w_hhT, out=self.gh)
            if w.cell == "lstm":
                launch_cell("lstm", as_(gi_all[t]), gh_d, *self._cb, as_(c), as_(out[t]), as_(cn))
                c, cn = cn, c
            else:
                launch_cell("gru", as_(gi_all[t]), gh_d, *self._cb, as_(h), as_(out[t]))
            h = out[t]
        return out


def floor_us(cell: str, batch: int, hidden: int, bandwidth_gbs: float) -> float:
    """The memory-bandwidth floor of one fused cell step in microseconds."""
    return cell_traffic(cell, True, batch, hidden).floor_s(bandwidth_gbs) * 1e6


__all__ = ["BLOCK", "GPUCell", "cell_launch_config", "check_cell_args", "compile_ptx", "floor_us",
           "gru_cell_kernel", "launch_cell", "lstm_cell_kernel"]
