"""FLOPs and bytes moved per op, from the op's name and its recorded input shapes.

:func:`op_cost` gives one op's :class:`Cost` by family (GEMM, convolution and its backward, RNN,
elementwise, normalization, pooling, softmax, reduction, copy, embedding; framework prefixes such as
``aten::`` ignored); :func:`annotate` fills the costs of an event table. Compulsory work and traffic
for a roofline, not what a kernel really moves; ops outside the families get no cost. Pure. The
formulas per family: ``docs/breakdown.md`` ("Roofline attribution").
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from profiler.core.events import KERNEL, OP, EventTable

#: bytes per element of the dtypes tracers name ("float", "c10::Half", "DT_FLOAT", "float32" ...)
DTYPE_BYTES = {
    "float": 4,
    "float32": 4,
    "dt_float": 4,
    "double": 8,
    "float64": 8,
    "dt_double": 8,
    "c10::half": 2,
    "half": 2,
    "float16": 2,
    "dt_half": 2,
    "c10::bfloat16": 2,
    "bfloat16": 2,
    "dt_bfloat16": 2,
    "long int": 8,
    "int64": 8,
    "long": 8,
    "int": 4,
    "int32": 4,
    "bool": 1,
    "unsigned char": 1,
    "signed char": 1,
}


@dataclass(frozen=True)
class Cost:
    flops: float
    bytes: float
    family: str


Dims = list[Any]  # a tensor's dims (list of ints), [] for a non-tensor argument, or a nested list


def _is_dims(d: Any) -> bool:
    return isinstance(d, list) and bool(d) and all(isinstance(x, int) and x >= 0 for x in d)


def _numel(d: Any) -> int:
    return math.prod(d) if _is_dims(d) else 0


def _tensors(dims: list[Any]) -> list[list[int]]:
    """Every tensor's dims, tensor lists flattened, scalars dropped."""
    out: list[list[int]] = []
    for d in dims:
        if _is_dims(d):
            out.append(d)
        elif isinstance(d, list) and d and all(isinstance(x, list) for x in d):
            out.extend(_tensors(d))
    return out


def _int_lists(concrete: list[Any] | None) -> list[list[int]]:
    """The list-valued concrete inputs ("[1, 1]") in order: stride, padding, dilation for conv."""
    out = []
    for c in concrete or []:
        if isinstance(c, str) and c.startswith("["):
            try:
                v = json.loads(c)
            except ValueError:
                continue
            if isinstance(v, list) and all(isinstance(x, int) for x in v):
                out.append(v)
    return out


def _base(name: str) -> str:
    n = name.lower()
    for p in ("aten::", "tf.", "mx.", "_npi_", "_backward_"):
        if n.startswith(p):
            n = n[len(p) :]
    return n


_GEMM = re.compile(
    r"^(mm|addmm|bmm|baddbmm|matmul|linear|dot|fullyconnected|batchmatmul\w*|_mkldnn_linear|mkldnn_linear)$"
)
_CONV = re.compile(
    r"conv(olution)?(1d|2d|3d)?$|^_convolution$|mkldnn_convolution|cudnn_convolution|slow_conv|thnn_conv"
)
_CONV_BWD = re.compile(r"convolution_backward|conv\w*_backward|conv2dbackprop\w*")
_RNN = re.compile(
    r"^(lstm|gru|rnn_tanh|rnn_relu|mkldnn_rnn_layer|lstm_cell|gru_cell|rnn_tanh_cell|rnn_relu_cell)$"
)
_NORM = re.compile(r"batch_norm|layer_norm|group_norm|instance_norm|batchnorm|layernorm|_norm_impl")
_POOL = re.compile(r"pool")
_SOFTMAX = re.compile(r"softmax")
_REDUCE = re.compile(r"^(sum|mean|max|min|amax|amin|prod|norm|var|std|argmax|argmin|logsumexp)$")
_COPY = re.compile(
    r"^(copy_|clone|contiguous|cat|stack|_to_copy|to|concat|concatenate|_cat|pad|constant_pad_nd|repeat)$"
)
_EMBED = re.compile(r"^(embedding|embedding_bag|_embedding_bag|index_select|gather|take)$")
_FILL = re.compile(r"^(fill_|zero_|zeros|ones|full|zeros_like|ones_like|full_like)$")
_ELEMENTWISE = re.compile(
    r"^(add|sub|mul|div|rsub|add_|sub_|mul_|div_|addcmul_?|addcdiv_?|lerp_?|relu_?|sigmoid_?|tanh_?|gelu|silu|"
    r"exp_?|log_?|sqrt_?|rsqrt_?|pow_?|neg_?|abs_?|clamp\w*|clamp_min_?|clamp_max_?|where|threshold\w*|"
    r"dropout|native_dropout|hardtanh_?|leaky_relu_?|elu_?|softplus|reciprocal_?|square|maximum|minimum|"
    r"sigmoid_backward|tanh_backward|gelu_backward|threshold_backward|relu_backward|mul_scalar|"
    r"nll_loss\w*|cross_entropy_loss|mse_loss\w*|_log_softmax_backward_data|_thnn_fused_lstm_cell|"
    r"_thnn_fused_gru_cell|biasadd\w*|relugrad|sigmoidgrad|tanhgrad|elemwise_\w+|broadcast_\w+|"
    r"activation|sgd_update|sgd_mom_update|adam_update|_foreach_\w+|_fused_sgd\w*|_fused_adam\w*)$"
)


def _gemm(base: str, t: list[list[int]], esz: int) -> Cost | None:
    if base in ("addmm", "baddbmm") and len(t) >= 3:
        bias, a, b = t[0], t[1], t[2]
    elif base == "linear" and len(t) >= 2:
        x, w = t[0], t[1]
        if len(w) != 2:
            return None
        rows = _numel(x) // max(1, x[-1])
        m, k, n = rows, w[1], w[0]
        bias_n = _numel(t[2]) if len(t) > 2 else 0
        flops = 2.0 * m * n * k + (m * n if bias_n else 0)
        return Cost(flops, esz * (m * k + n * k + m * n + bias_n), "gemm")
    elif len(t) >= 2:
        bias, a, b = None, t[0], t[1]
    else:
        return None
    if len(a) == 1 and len(b) == 1:  # dot
        return Cost(2.0 * a[0], esz * (2 * a[0] + 1), "gemm")
    if len(a) < 2 or len(b) < 1:
        return None
    k = a[-1]
    n = b[-1] if len(b) >= 2 else 1
    batch = max(_numel(a[:-2]) if len(a) > 2 else 1, _numel(b[:-2]) if len(b) > 2 else 1)
    m = a[-2]
    flops = 2.0 * batch * m * n * k
    out = batch * m * n
    nbytes = esz * (_numel(a) + _numel(b) + out)
    if bias is not None:
        flops += out
        nbytes += esz * _numel(bias)
    return Cost(flops, nbytes, "gemm")


def _conv(t: list[list[int]], concrete: list[Any] | None, esz: int, backward: bool) -> Cost | None:
    if backward:
        # convolution_backward(grad_output, input, weight, ...): forward cost from input and weight
        if len(t) < 3:
            return None
        go, x, w = t[0], t[1], t[2]
        nd = len(x) - 2
        if nd < 1 or len(w) != len(x):
            return None
        groups = max(1, x[1] // max(1, w[1]))
        fwd = 2.0 * go[0] * go[1] * _numel(go[2:]) * (x[1] // groups) * _numel(w[2:])
        return Cost(2 * fwd, esz * (2 * _numel(go) + 2 * _numel(x) + 2 * _numel(w)), "conv")
    if len(t) < 2:
        return None
    x, w = t[0], t[1]
    nd = len(x) - 2
    if nd < 1 or len(w) != len(x):
        return None
    lists = _int_lists(concrete)
    stride = lists[0] if len(lists) > 0 and len(lists[0]) == nd else [1] * nd
    pad = lists[1] if len(lists) > 1 and len(lists[1]) == nd else None
    dil = lists[2] if len(lists) > 2 and len(lists[2]) == nd else [1] * nd
    k = w[2:]
    if pad is None:  # unknown padding: "same" output size for stride 1
        out_sp = [-(-x[2 + i] // stride[i]) for i in range(nd)]
    else:
        out_sp = [(x[2 + i] + 2 * pad[i] - dil[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(nd)]
    if any(o <= 0 for o in out_sp):
        return None
    groups = max(1, x[1] // max(1, w[1]))
    out = x[0] * w[0] * math.prod(out_sp)
    flops = 2.0 * out * (x[1] // groups) * math.prod(k)
    return Cost(flops, esz * (_numel(x) + _numel(w) + out), "conv")


def _rnn(base: str, dims: list[Any], esz: int) -> Cost | None:
    if not dims or not isinstance(dims[0], list) or len(dims[0]) < 2:
        return None
    x = dims[0]
    if not all(isinstance(v, int) for v in x):
        return None
    if base in ("lstm", "gru", "rnn_tanh", "rnn_relu"):
        if len(dims) < 3 or not isinstance(dims[2], list):
            return None
        weights = [
            w for w in dims[2] if isinstance(w, list) and len(w) == 2 and all(isinstance(v, int) for v in w)
        ]
        states = _tensors([dims[1]]) if isinstance(dims[1], list) else []
    elif base == "mkldnn_rnn_layer":
        weights = [w for w in dims[1:3] if isinstance(w, list) and len(w) == 2]
        states = [d for d in dims[5:7] if isinstance(d, list) and d]
    else:  # *_cell(input, hx, w_ih, w_hh, ...): one time step
        weights = [w for w in dims[2:4] if isinstance(w, list) and len(w) == 2]
        states = _tensors([dims[1]]) if isinstance(dims[1], list) else []
    if not weights:
        return None
    feat = x[-1]
    tb = _numel(x) // max(1, feat)  # time steps × batch
    hidden = min(w[1] for w in weights)  # w_hh is [gates·H, H]
    layers_dirs = max(1, len(weights) // 2)
    flops = sum(2.0 * tb * w[0] * w[1] for w in weights) + 10.0 * tb * hidden * layers_dirs
    nbytes = esz * (_numel(x) + sum(_numel(w) for w in weights) + tb * hidden * layers_dirs)
    nbytes += esz * sum(_numel(s) for s in states) * 2
    return Cost(flops, nbytes, "rnn")


def _pool(t: list[list[int]], concrete: list[Any] | None, esz: int, base: str) -> Cost | None:
    if not t:
        return None
    x = t[0]
    n_in = _numel(x)
    lists = _int_lists(concrete)
    if "backward" in base:
        return Cost(float(n_in), esz * (sum(_numel(d) for d in t) + n_in), "pool")
    if "adaptive" in base and lists:
        out = _numel(x[: len(x) - len(lists[0])]) * math.prod(lists[0])
        return Cost(float(n_in), esz * (n_in + out), "pool")
    if lists and len(x) > len(lists[0]):
        k = lists[0]
        nd = len(k)
        stride = lists[1] if len(lists) > 1 and len(lists[1]) == nd and any(lists[1]) else k
        pad = lists[2] if len(lists) > 2 and len(lists[2]) == nd else [0] * nd
        sp = x[len(x) - nd :]
        out_sp = [(sp[i] + 2 * pad[i] - k[i]) // max(1, stride[i]) + 1 for i in range(nd)]
        out = _numel(x[: len(x) - nd]) * math.prod(max(1, o) for o in out_sp)
        return Cost(float(out * math.prod(k)), esz * (n_in + out), "pool")
    return Cost(float(n_in), esz * 2 * n_in, "pool")


@lru_cache(maxsize=65536)
def _cost_cached(name: str, shapes: str, concrete: str, dtype: str) -> Cost | None:
    try:
        dims = json.loads(shapes)
    except ValueError:
        return None
    if not isinstance(dims, list):
        return None
    try:
        conc = json.loads(concrete) if concrete else None
    except ValueError:
        conc = None
    if not isinstance(conc, list):
        conc = None
    esz = DTYPE_BYTES.get(dtype.lower(), 4) if isinstance(dtype, str) and dtype else 4
    try:
        return op_cost(name, dims, conc, esz)
    except (TypeError, ValueError, IndexError, ZeroDivisionError):
        return None  # shapes that do not fit the op's signature: no cost, never a crash


def op_cost(
    name: str, dims: list[Any], concrete: list[Any] | None = None, elem_bytes: int = 4
) -> Cost | None:
    """FLOPs and bytes of one call of op ``name`` with input ``dims``; ``None`` when not modelled."""
    base = _base(name)
    t = _tensors(dims)
    esz = elem_bytes
    if not t:
        return None
    if _CONV_BWD.search(base):
        return _conv(t, concrete, esz, backward=True)
    if _RNN.match(base):
        return _rnn(base, dims, esz)
    if _GEMM.match(base):
        return _gemm(base, t, esz)
    if _CONV.search(base) and "backward" not in base:
        return _conv(t, concrete, esz, backward=False)
    n_in = sum(_numel(d) for d in t)
    big = max(_numel(d) for d in t)
    if _NORM.search(base):
        return Cost(5.0 * big, esz * (2 * big + (n_in - big)), "normalization")
    if _POOL.search(base):
        return _pool(t, concrete, esz, base)
    if _SOFTMAX.search(base):
        return Cost(5.0 * big, esz * (n_in + big), "softmax")
    if _EMBED.match(base):
        if len(t) >= 2:
            w, idx = (t[0], t[1]) if len(t[0]) == 2 else (t[1], t[0])
            row = w[-1] if len(w) == 2 else 1
            return Cost(0.0, 8 * _numel(idx) + esz * 2 * _numel(idx) * row, "embedding")
        return None
    if _REDUCE.match(base):
        return Cost(float(big), esz * (n_in + 1), "reduction")
    if base == "copy_":
        return Cost(0.0, esz * n_in, "copy")
    if _COPY.match(base):
        return Cost(0.0, esz * 2 * n_in, "copy")
    if _FILL.match(base):
        return Cost(0.0, esz * big, "copy")
    if _ELEMENTWISE.match(base):
        return Cost(float(big), esz * (n_in + big), "elementwise")
    return None


def annotate(table: EventTable) -> tuple[EventTable, dict[str, Any]]:
    """A copy of ``table`` whose op/kernel spans carry FLOPs and bytes wherever shapes allow.

    FLOPs a tracer recorded, and FLOPs/bytes a workload stated in a span's args, are kept (they know
    the op's real arguments); the rest, bytes above all (no tracer records them), come from the model. Returns the table and coverage figures: how many spans had shapes,
    how many got a cost, and which families.
    """
    sp = table.spans
    n = table.n_spans
    info: dict[str, Any] = {"spans_with_shapes": 0, "spans_costed": 0, "families": {}}
    if not n:
        return table, info
    flops = sp["flops"].copy()
    nbytes = sp["bytes"].copy()
    # costs a workload stated itself (``ctx.region("op", name, flops=..., bytes=...)``) come first
    opk = table.cat_mask(OP, KERNEL)
    stated = 0
    for r, a in table.span_args.items():
        if not opk[r]:
            continue
        f, b = a.get("flops"), a.get("bytes")
        if isinstance(f, (int, float)) and flops[r] != flops[r]:
            flops[r] = float(f)
        if isinstance(b, (int, float)) and nbytes[r] != nbytes[r]:
            nbytes[r] = float(b)
        stated += isinstance(f, (int, float)) or isinstance(b, (int, float))
    info["spans_with_stated_costs"] = stated
    rows = np.flatnonzero(opk & (sp["shapes"] >= 0))
    info["spans_with_shapes"] = len(rows)
    if not len(rows):
        if stated:
            out = EventTable(**{k: getattr(table, k) for k in table.__dataclass_fields__})
            out.spans = dict(sp, flops=flops, bytes=nbytes)
            return out, info
        return table, info
    strings = table.strings.strings
    args = table.span_args
    # one model evaluation per distinct (name, shapes), plus per distinct args where a span has them
    key = sp["name"][rows].astype(np.int64) * (len(strings) + 1) + sp["shapes"][rows]
    with_args = np.array([r in args for r in rows.tolist()], bool) if args else np.zeros(len(rows), bool)
    plain = rows[~with_args]
    uk, inv = np.unique(key[~with_args], return_inverse=True)
    fam_count: dict[str, int] = {}
    costed = 0
    u_cost = [
        _cost_cached(strings[k // (len(strings) + 1)], strings[k % (len(strings) + 1)], "", "")
        for k in uk.tolist()
    ]
    u_f = np.array([c.flops if c else np.nan for c in u_cost])
    u_b = np.array([c.bytes if c else np.nan for c in u_cost])
    if len(plain):
        pf, pb = u_f[inv], u_b[inv]
        flops[plain] = np.where(np.isnan(flops[plain]), pf, flops[plain])
        nbytes[plain] = np.where(np.isnan(nbytes[plain]), pb, nbytes[plain])
        counts = np.bincount(inv, minlength=len(uk))
        for c, n_ in zip(u_cost, counts.tolist(), strict=True):
            if c is not None:
                costed += n_
                fam_count[c.family] = fam_count.get(c.family, 0) + n_
    for r in rows[with_args].tolist():
        a = args[r]
        conc, dt = a.get("concrete", ""), a.get("dtype", "")
        c = _cost_cached(
            strings[sp["name"][r]],
            strings[sp["shapes"][r]],
            conc if isinstance(conc, str) else "",
            dt if isinstance(dt, str) else "",
        )
        if c is None:
            continue
        costed += 1
        fam_count[c.family] = fam_count.get(c.family, 0) + 1
        if flops[r] != flops[r]:
            flops[r] = c.flops
        if nbytes[r] != nbytes[r]:
            nbytes[r] = c.bytes
    families = fam_count
    info["spans_costed"] = costed
    info["families"] = families
    info["kernels_costed_from_ops"] = _kernels_from_ops(table, flops, nbytes)
    out = EventTable(**{k: getattr(table, k) for k in table.__dataclass_fields__})
    out.spans = dict(sp, flops=flops, bytes=nbytes)
    return out, info


def _kernels_from_ops(table: EventTable, flops: np.ndarray, nbytes: np.ndarray) -> int:
    """Give device kernels the costs of the host op that launched them (in place); how many got one.

    Kernels carry no shapes. A kernel's launch call (a ``runtime`` span with the kernel's correlation
    id) runs inside the op that issued it; that op's FLOPs and bytes are shared among the kernels it
    launched in proportion to their durations (an op with one kernel gives it everything).
    """
    from profiler.analysis.nesting import self_segments
    from profiler.core.events import RUNTIME

    sp = table.spans
    corr = sp["corr"]
    krows = np.flatnonzero(table.cat_mask(KERNEL) & (corr >= 0) & np.isnan(flops) & np.isnan(nbytes))
    lrows = np.flatnonzero(table.cat_mask(RUNTIME) & (corr >= 0))
    if not len(krows) or not len(lrows):
        return 0
    # launch -> innermost op of its thread active at the launch's start
    op_rows = np.flatnonzero(table.cat_mask(OP))
    launch_op = np.full(len(lrows), -1, np.int64)
    for key in set(zip(sp["pid"][lrows].tolist(), sp["tid"][lrows].tolist(), strict=True)):
        ops = op_rows[(sp["pid"][op_rows] == key[0]) & (sp["tid"][op_rows] == key[1])]
        if not len(ops):
            continue
        ss, se, owner = self_segments(sp["start_ns"][ops], sp["start_ns"][ops] + sp["dur_ns"][ops])
        sel = np.flatnonzero((sp["pid"][lrows] == key[0]) & (sp["tid"][lrows] == key[1]))
        t = sp["start_ns"][lrows[sel]]
        i = np.searchsorted(ss, t, side="right") - 1
        ok = (i >= 0) & (t < se[np.maximum(i, 0)])
        launch_op[sel[ok]] = ops[owner[i[ok]]]
    # kernel -> launch (by correlation id) -> op
    order = np.argsort(corr[lrows], kind="stable")
    lc = corr[lrows][order]
    j = np.minimum(np.searchsorted(lc, corr[krows]), len(lc) - 1)
    found = lc[j] == corr[krows]
    k_op = np.where(found, launch_op[order][j], -1)
    has = (k_op >= 0) & ~(np.isnan(flops[np.maximum(k_op, 0)]) & np.isnan(nbytes[np.maximum(k_op, 0)]))
    k, o = krows[has], k_op[has]
    if not len(k):
        return 0
    dur = sp["dur_ns"][k].astype(np.float64) + 1.0  # +1 ns: zero-length kernels still get a share
    _, inv = np.unique(o, return_inverse=True)
    share = dur / np.bincount(inv, weights=dur)[inv]
    flops[k] = np.nan_to_num(flops[o]) * share
    nbytes[k] = np.nan_to_num(nbytes[o]) * share
    return len(k)
