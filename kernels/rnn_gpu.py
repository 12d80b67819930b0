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

:func:`lstm_seq_kernel` / :func:`gru_seq_kernel` run a whole sequence in one launch after the input
GEMM: one block per batch row keeps that row's state in shared memory for all steps and does the
recurrent matrix-vector product itself (:meth:`GPUCell.forward_sequence`); hidden ≤
:data:`SEQ_MAX_HIDDEN`.

Everything here imports without a GPU (numba compiles kernels lazily). The kernels compile to PTX
without a device (:func:`compile_ptx`) and run in numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``),
which is how tests check them on machines without a GPU.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import cuda, float32

from kernels.bytes_model import cell_traffic
from kernels.weights import CellWeights, ShapeError

_ONE = np.float32(1.0)
_ZERO = np.float32(0.0)
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


# --- whole sequence in one launch ------------------------------------------------------------------
#: Largest hidden size the sequence kernels keep on chip (shared-memory arrays need a compile-time size)
SEQ_MAX_HIDDEN = 1024
SEQ_BLOCK = 256


@cuda.jit
def lstm_seq_kernel(gi_all, w_hhT, b_ih, b_hh, out, c_last):  # type: ignore[no-untyped-def]
    # One block per batch row: rows of an RNN never interact, so a block can run all T steps of its
    # row with h and c in shared memory and no grid-wide synchronisation. Per step each thread owns
    # hidden units j = tid, tid + blockDim, ...: it forms their four gate sums from the input
    # projection, both biases and h·W_hhᵀ (consecutive threads read consecutive W_hhᵀ columns:
    # coalesced; W_hhᵀ itself is re-read from L2 each step), then updates the state.
    b = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    t_len = gi_all.shape[0]
    nh = out.shape[2]
    h_s = cuda.shared.array(SEQ_MAX_HIDDEN, float32)
    c_s = cuda.shared.array(SEQ_MAX_HIDDEN, float32)
    hn_s = cuda.shared.array(SEQ_MAX_HIDDEN, float32)
    for j in range(tid, nh, nt):
        h_s[j] = _ZERO
        c_s[j] = _ZERO
    cuda.syncthreads()
    for t in range(t_len):
        for j in range(tid, nh, nt):
            ai = gi_all[t, b, j] + (b_ih[j] + b_hh[j])
            af = gi_all[t, b, nh + j] + (b_ih[nh + j] + b_hh[nh + j])
            ag = gi_all[t, b, 2 * nh + j] + (b_ih[2 * nh + j] + b_hh[2 * nh + j])
            ao = gi_all[t, b, 3 * nh + j] + (b_ih[3 * nh + j] + b_hh[3 * nh + j])
            for k in range(nh):
                hk = h_s[k]
                ai += hk * w_hhT[k, j]
                af += hk * w_hhT[k, nh + j]
                ag += hk * w_hhT[k, 2 * nh + j]
                ao += hk * w_hhT[k, 3 * nh + j]
            i = _ONE / (_ONE + math.exp(-ai))
            f = _ONE / (_ONE + math.exp(-af))
            o = _ONE / (_ONE + math.exp(-ao))
            c2 = f * c_s[j] + i * math.tanh(ag)
            c_s[j] = c2  # only this thread reads or writes unit j of c
            hn_s[j] = o * math.tanh(c2)
        cuda.syncthreads()  # every thread has read all of h_s for this step
        for j in range(tid, nh, nt):
            h_s[j] = hn_s[j]
            out[t, b, j] = hn_s[j]
        cuda.syncthreads()  # the new h is complete before the next step reads it
    for j in range(tid, nh, nt):
        c_last[b, j] = c_s[j]


@cuda.jit
def gru_seq_kernel(gi_all, w_hhT, b_ih, b_hh, out):  # type: ignore[no-untyped-def]
    # As lstm_seq_kernel: one block per batch row, h in shared memory for all T steps.
    b = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    t_len = gi_all.shape[0]
    nh = out.shape[2]
    h_s = cuda.shared.array(SEQ_MAX_HIDDEN, float32)
    hn_s = cuda.shared.array(SEQ_MAX_HIDDEN, float32)
    for j in range(tid, nh, nt):
        h_s[j] = _ZERO
    cuda.syncthreads()
    for t in range(t_len):
        for j in range(tid, nh, nt):
            ar = (gi_all[t, b, j] + b_ih[j]) + b_hh[j]
            az = (gi_all[t, b, nh + j] + b_ih[nh + j]) + b_hh[nh + j]
            hn = b_hh[2 * nh + j]
            for k in range(nh):
                hk = h_s[k]
                ar += hk * w_hhT[k, j]
                az += hk * w_hhT[k, nh + j]
                hn += hk * w_hhT[k, 2 * nh + j]
            r = _ONE / (_ONE + math.exp(-ar))
            z = _ONE / (_ONE + math.exp(-az))
            n = math.tanh((gi_all[t, b, 2 * nh + j] + b_ih[2 * nh + j]) + r * hn)
            hn_s[j] = (_ONE - z) * n + z * h_s[j]
        cuda.syncthreads()
        for j in range(tid, nh, nt):
            h_s[j] = hn_s[j]
            out[t, b, j] = hn_s[j]
        cuda.syncthreads()


def seq_launch_config(batch: int, hidden: int, block: int = SEQ_BLOCK) -> tuple[int, int]:
    """``(blocks, threads)`` of a sequence kernel: one block per batch row, at most one thread per
    hidden unit (rounded up to whole warps)."""
    if batch < 1 or hidden < 1:
        raise ShapeError(f"batch and hidden must be positive, got batch={batch}, hidden={hidden}")
    if block < 32 or block > 1024 or block % 32:
        raise ShapeError(f"block must be a multiple of 32 in 32..1024, got {block}")
    if hidden > SEQ_MAX_HIDDEN:
        raise ShapeError(f"the sequence kernels keep h in shared memory: hidden must be ≤ {SEQ_MAX_HIDDEN}, "
                         f"got {hidden}")
    return batch, min(block, (hidden + 31) // 32 * 32)


def launch_sequence(cell: str, gi_all: Any, w_hhT: Any, b_ih: Any, b_hh: Any, out: Any,
                    c_last: Any = None, stream: Any = 0, block: int = SEQ_BLOCK) -> None:
    """Check shapes, then run a whole sequence in one launch.

    ``gi_all`` ``(T, B, G·H)`` is the input projection ``x·W_ihᵀ`` of every step (no bias), ``w_hhT``
    ``(H, G·H)``; writes every step's ``h`` into ``out`` ``(T, B, H)`` (and the last ``c`` into
    ``c_last`` ``(B, H)`` for an LSTM). The state starts at zero.
    """
    g = {"lstm": 4, "gru": 3}.get(cell)
    if g is None:
        raise ShapeError(f"unknown cell {cell!r}; valid: lstm, gru")
    if len(_shape(out)) != 3:
        raise ShapeError(f"out must be (seq_len, batch, hidden), got {_shape(out)}")
    t_len, b, h = _shape(out)
    want = [("gi_all", gi_all, (t_len, b, g * h)), ("w_hhT", w_hhT, (h, g * h)), ("b_ih", b_ih, (g * h,)),
            ("b_hh", b_hh, (g * h,))]
    if cell == "lstm":
        want.append(("c_last", c_last, (b, h)))
    for name, a, shape in want:
        if _shape(a) != shape:
            raise ShapeError(f"{cell} {name} must be {shape} for out {(t_len, b, h)}, got {_shape(a)}")
    grid, block = seq_launch_config(b, h, block)
    if cell == "lstm":
        lstm_seq_kernel[grid, block, stream](gi_all, w_hhT, b_ih, b_hh, out, c_last)
    else:
        gru_seq_kernel[grid, block, stream](gi_all, w_hhT, b_ih, b_hh, out)


def compile_seq_ptx(cell: str, cc: tuple[int, int] = (8, 0)) -> str:
    """PTX of a sequence kernel (float32) for compute capability ``cc``; needs NVVM, not a GPU."""
    from numba import types

    m3, m2, v1 = (types.Array(types.float32, n, "C") for n in (3, 2, 1))
    if cell == "lstm":
        ptx, _ = cuda.compile_ptx(lstm_seq_kernel.py_func, (m3, m2, v1, v1, m3, m2), cc=cc)
    else:
        ptx, _ = cuda.compile_ptx(gru_seq_kernel.py_func, (m3, m2, v1, v1, m3), cc=cc)
    return ptx


class GPUCell:
    """A fused LSTM/GRU layer on torch CUDA tensors: cuBLAS GEMMs + our cell kernel per step."""

    def __init__(self, weights: CellWeights, batch: int) -> None:
        from kernels.gpu import gpu_unavailable_reason

        reason = gpu_unavailable_reason()
        if reason:
            from profiler.core.errors import UnavailableError

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

    def forward_sequence(self, xs: Any, out: Any = None) -> Any:
        """Like :meth:`GPUCell.forward`, but after the input GEMM the whole sequence is one launch of
        :func:`lstm_seq_kernel` / :func:`gru_seq_kernel` (state in shared memory, no per-step GEMM)."""
        import torch

        w = self.w
        if xs.dim() != 3 or xs.shape[1] != self.batch or xs.shape[2] != w.input_size:
            raise ShapeError(f"xs must be (seq_len, {self.batch}, {w.input_size}), got {tuple(xs.shape)}")
        t_len, b, hd = xs.shape[0], self.batch, w.hidden
        out = torch.empty((t_len, b, hd), device=xs.device) if out is None else out
        gi_all = torch.mm(xs.reshape(t_len * b, -1), self.w_ihT).reshape(t_len, b, -1)
        as_ = cuda.as_cuda_array
        c_last = torch.empty((b, hd), device=xs.device) if w.cell == "lstm" else None
        launch_sequence(w.cell, as_(gi_all), as_(self.w_hhT), *self._cb, as_(out),
                        as_(c_last) if c_last is not None else None)
        return out


def floor_us(cell: str, batch: int, hidden: int, bandwidth_gbs: float) -> float:
    """The memory-bandwidth floor of one fused cell step in microseconds."""
    return cell_traffic(cell, True, batch, hidden).floor_s(bandwidth_gbs) * 1e6


__all__ = ["BLOCK", "SEQ_MAX_HIDDEN", "GPUCell", "cell_launch_config", "check_cell_args", "compile_ptx",
           "compile_seq_ptx", "floor_us", "gru_cell_kernel", "gru_seq_kernel", "launch_cell",
           "launch_sequence", "lstm_cell_kernel", "lstm_seq_kernel", "seq_launch_config"]
