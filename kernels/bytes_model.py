"""What each RNN cell kernel must move and compute: bytes, FLOPs and the time floor they imply.

This module owns the *programs* of the unfused cells (the list of elementwise passes a framework makes
without fusion) as plain data, so the numba executor in :mod:`kernels.rnn_cpu` and the traffic
model here read the same list and cannot drift apart. It imports nothing but the standard library.

Conventions (docs/kernels.md):

* sizes are counted in elements of the cell's float type (4 bytes for float32); ``B`` is the batch,
  ``H`` the hidden size, ``I`` the input size;
* an elementwise pass reads each operand once and writes its result once (the ideal traffic of that
  pass: what a kernel with perfect caching *within* the pass moves); a bias vector of ``n`` elements is
  read once per pass;
* FLOPs count additions, subtractions and multiplications as one each; a sigmoid is ``1 / (1 + exp(-x))``
  = two FLOPs plus one transcendental; a tanh is one transcendental. Transcendentals are reported
  apart because their cost differs by machine and library.

The gate layout is PyTorch's: LSTM gates ``i, f, g, o`` and GRU gates ``r, z, n``, each ``H`` wide.
"""

from __future__ import annotations

from dataclasses import dataclass

#: An operand of an unfused pass: (buffer name, gate index or None for the whole buffer).
Operand = tuple[str, int | None]


@dataclass(frozen=True)
class Pass:
    """One elementwise pass over memory: ``dst = op(*srcs)`` (a bias operand is a per-column vector)."""

    op: str  # "add_bias" | "add" | "mul" | "sigmoid" | "tanh" | "one_minus"
    dst: Operand
    srcs: tuple[Operand, ...]


#: Elementwise passes of an LSTM step without fusion, in order, as PyTorch's unfused cell issues them
#: (scenarios/rnn/torch_rnn.py): ``gi + b_ih``, ``gh + b_hh``, their sum, four activations, then
#: ``f*c``, ``i*g``, their sum, ``tanh(c)`` and ``o*tanh(c)``. Buffers: gi, gh (the GEMM outputs), gib,
#: ghb, gates (B×4H; gate k is columns kH..(k+1)H), act (B×4H activations), c, fc, ig, c_out, tc, h_out
#: (B×H), b_ih, b_hh (4H).
LSTM_UNFUSED: tuple[Pass, ...] = (
    Pass("add_bias", ("gib", None), (("gi", None), ("b_ih", None))),
    Pass("add_bias", ("ghb", None), (("gh", None), ("b_hh", None))),
    Pass("add", ("gates", None), (("gib", None), ("ghb", None))),
    Pass("sigmoid", ("act", 0), (("gates", 0),)),
    Pass("sigmoid", ("act", 1), (("gates", 1),)),
    Pass("tanh", ("act", 2), (("gates", 2),)),
    Pass("sigmoid", ("act", 3), (("gates", 3),)),
    Pass("mul", ("fc", None), (("act", 1), ("c", None))),
    Pass("mul", ("ig", None), (("act", 0), ("act", 2))),
    Pass("add", ("c_out", None), (("fc", None), ("ig", None))),
    Pass("tanh", ("tc", None), (("c_out", None),)),
    Pass("mul", ("h_out", None), (("act", 3), ("tc", None))),
)

#: Elementwise passes of a GRU step without fusion (PyTorch's unfused GRU): biases, ``r = σ(ir+hr)``,
#: ``z = σ(iz+hz)``, ``n = tanh(in + r*hn)``, ``h' = (1-z)*n + z*h``. Buffers: gi, gh, gib, ghb (B×3H), t (B×3H
#: scratch: gate k holds that gate's pre-activation), act (B×3H: r, z, n), rhn, omz, a, zh, h, h_out
#: (B×H), b_ih, b_hh (3H).
GRU_UNFUSED: tuple[Pass, ...] = (
    Pass("add_bias", ("gib", None), (("gi", None), ("b_ih", None))),
    Pass("add_bias", ("ghb", None), (("gh", None), ("b_hh", None))),
    Pass("add", ("t", 0), (("gib", 0), ("ghb", 0))),
    Pass("sigmoid", ("act", 0), (("t", 0),)),
    Pass("add", ("t", 1), (("gib", 1), ("ghb", 1))),
    Pass("sigmoid", ("act", 1), (("t", 1),)),
    Pass("mul", ("rhn", None), (("act", 0), ("ghb", 2))),
    Pass("add", ("t", 2), (("gib", 2), ("rhn", None))),
    Pass("tanh", ("act", 2), (("t", 2),)),
    Pass("one_minus", ("omz", None), (("act", 1),)),
    Pass("mul", ("a", None), (("omz", None), ("act", 2))),
    Pass("mul", ("zh", None), (("act", 1), ("h", None))),
    Pass("add", ("h_out", None), (("a", None), ("zh", None))),
)

GATES = {"lstm": 4, "gru": 3}
_BIAS = {"b_ih", "b_hh", "bias"}
_PASS_FLOPS = {"add_bias": (1, 0), "add": (1, 0), "mul": (1, 0), "one_minus": (1, 0),
               "sigmoid": (2, 1), "tanh": (0, 1)}


@dataclass(frozen=True)
class Traffic:
    """Ideal memory traffic and arithmetic of one cell step (elementwise part or GEMM)."""

    bytes: int
    flops: int
    transcendentals: int
    passes: int  # passes over memory (kernel launches on a GPU, parallel loops on a CPU)

    def floor_s(self, bandwidth_gbs: float, peak_gflops: float | None = None) -> float:
        """The time this traffic needs at least: max(bytes / bandwidth, flops / peak), in seconds."""
        t = self.bytes / (bandwidth_gbs * 1e9)
        if peak_gflops:
            t = max(t, self.flops / (peak_gflops * 1e9))
        return t

    @property
    def intensity(self) -> float:
        """FLOPs per byte (transcendentals not counted)."""
        return self.flops / self.bytes if self.bytes else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"bytes": self.bytes, "flops": self.flops, "transcendentals": self.transcendentals,
                "passes": self.passes, "flops_per_byte": round(self.intensity, 4)}


def _check(cell: str, batch: int, hidden: int) -> int:
    if cell not in GATES:
        raise ValueError(f"unknown cell {cell!r}; valid: {', '.join(GATES)}")
    if batch < 1 or hidden < 1:
        raise ValueError(f"batch and hidden must be positive, got batch={batch}, hidden={hidden}")
    return GATES[cell]


def unfused_program(cell: str) -> tuple[Pass, ...]:
    return LSTM_UNFUSED if cell == "lstm" else GRU_UNFUSED


def _operand_elems(o: Operand, batch: int, hidden: int, gates: int) -> int:
    name, k = o
    if name in _BIAS:
        return gates * hidden
    if k is not None:
        return batch * hidden
    wide = {"gi", "gh", "gib", "ghb", "gates", "act", "t"}
    return batch * hidden * (gates if name in wide else 1)


def cell_traffic(cell: str, fused: bool, batch: int, hidden: int, itemsize: int = 4) -> Traffic:
    """Traffic of the elementwise part of one step (everything after the gate GEMMs).

    Fused: one pass reading ``gi``, ``gh``, both bias vectors and the old state, writing the new state.
    Unfused: the sum over :data:`LSTM_UNFUSED` / :data:`GRU_UNFUSED` passes.
    """
    g = _check(cell, batch, hidden)
    bh = batch * hidden
    if fused:
        # reads gi, gh (B×gH each), b_ih, b_hh (gH each), old state (c for LSTM, h for GRU);
        # writes h (and c for LSTM).
        reads = 2 * g * bh + 2 * g * hidden + bh
        writes = 2 * bh if cell == "lstm" else bh
        if cell == "lstm":
            # per element: 4 gates × 3 adds (gi + gh + b_ih + b_hh), 3 sigmoids, c = f*c + i*g (3),
            # h = o*tanh(c) (1)
            flops, trans = 12 + 3 * 2 + 3 + 1, 5
        else:
            # r, z: 2 adds + sigmoid each; n: 2 adds (ih, hh biases) + mul + add; h: 1-z, 2 mul, add
            flops, trans = 2 * (3 + 2) + 4 + 4, 3
        return Traffic((reads + writes) * itemsize, flops * bh, trans * bh, 1)
    elems = 0
    flops = trans = 0
    for p in unfused_program(cell):
        elems += _operand_elems(p.dst, batch, hidden, g)
        elems += sum(_operand_elems(s, batch, hidden, g) for s in p.srcs)
        n = _operand_elems(p.dst, batch, hidden, g)
        f, t = _PASS_FLOPS[p.op]
        flops += f * n
        trans += t * n
    return Traffic(elems * itemsize, flops, trans, len(unfused_program(cell)))


def gemm_traffic(m: int, k: int, n: int, itemsize: int = 4) -> Traffic:
    """An ``(m×k)·(k×n)`` GEMM: 2mkn FLOPs; ideal bytes read A, B once and write C once."""
    return Traffic((m * k + k * n + m * n) * itemsize, 2 * m * k * n, 0, 1)


def step_traffic(cell: str, fused: bool, batch: int, hidden: int, itemsize: int = 4) -> dict[str, Traffic]:
    """Per time step: the recurrent GEMM ``h·W_hhᵀ`` and the elementwise cell."""
    g = _check(cell, batch, hidden)
    return {"gemm": gemm_traffic(batch, hidden, g * hidden, itemsize),
            "cell": cell_traffic(cell, fused, batch, hidden, itemsize)}


def sequence_traffic(cell: str, fused: bool, seq_len: int, batch: int, input_size: int, hidden: int,
                     itemsize: int = 4) -> dict[str, Traffic]:
    """A forward pass over a sequence: one input-projection GEMM for all steps, then per step the
    recurrent GEMM and the cell (the totals here are over all ``seq_len`` steps)."""
    g = _check(cell, batch, hidden)
    if seq_len < 1 or input_size < 1:
        raise ValueError(f"seq_len and input_size must be positive, got {seq_len}, {input_size}")
    st = step_traffic(cell, fused, batch, hidden, itemsize)
    mul = lambda t: Traffic(t.bytes * seq_len, t.flops * seq_len,  # noqa: E731
                            t.transcendentals * seq_len, t.passes * seq_len)
    return {"input_gemm": gemm_traffic(seq_len * batch, input_size, g * hidden, itemsize),
            "gemm": mul(st["gemm"]), "cell": mul(st["cell"])}


def sequence_kernel_traffic(cell: str, seq_len: int, batch: int, hidden: int, itemsize: int = 4) -> Traffic:
    """The whole-sequence GPU kernel (after the input GEMM): ideal off-chip traffic and arithmetic.

    Off chip it reads the input projection of every step (T·B·G·H), ``W_hh`` and the biases once,
    and writes every step's ``h`` (T·B·H) and, for an LSTM, the last ``c``; the state never leaves the
    chip. Each block re-reads ``W_hh`` from L2 every step: ``T·B·G·H·H`` elements of on-chip traffic that
    this figure does not count. FLOPs: the recurrent products (2·T·B·G·H·H) plus the cell's.
    """
    g = _check(cell, batch, hidden)
    if seq_len < 1:
        raise ValueError(f"seq_len must be positive, got {seq_len}")
    elems = seq_len * batch * g * hidden + g * hidden * hidden + 2 * g * hidden + seq_len * batch * hidden
    if cell == "lstm":
        elems += batch * hidden
    cell_t = cell_traffic(cell, True, batch, hidden, itemsize)
    flops = 2 * seq_len * batch * g * hidden * hidden + seq_len * cell_t.flops
    return Traffic(elems * itemsize, flops, seq_len * cell_t.transcendentals, 1)
