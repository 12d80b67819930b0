"""The device timeline as Holistic Trace Analysis (HTA) and TraceLens define it, per device.

:func:`device_timeline` gives, over the whole trace and per step (:func:`timeline`,
:func:`mean_over_steps`), busy, idle, computation, communication, memcpy, exposed communication and
memcpy and the communication/computation overlap; :func:`idle_split` is HTA's per-stream idle
split, :func:`queue_length` HTA's queue length, :func:`top_kernels` its kernel view. Interval
arithmetic over one device's activities: a pure function of the event table, no framework, no
files. Every definition, with its HTA/TraceLens name: ``docs/gpu-figures.md``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from profiler.analysis.intervals import merge
from profiler.core.events import (
    COLLECTIVE,
    DEVICE_TID_BASE,
    KERNEL,
    MEMCPY,
    MEMSET,
    RUNTIME,
    SPAN_CATEGORIES,
    STEP,
    SYNC,
    EventTable,
)

#: HTA's communication kernel (``hta.utils.utils.NCCL_KERNEL_RE``)
COMM_KERNEL_RE = re.compile(r"^nccl.*Kernel")
#: HTA's memory kernel (``MEMORY_KERNEL_RE``)
MEMORY_KERNEL_RE = re.compile(r"(^Memcpy)|(^Memset)|(^dma)")
#: a name matching this is not a computation kernel (HTA's ``NCCL_COMPUTE_KERNEL_RE``, as written)
NON_COMPUTE_RE = re.compile(r"(^nccl.*Kernel)|(.*(Memcpy)|(Memset))|(.*Sync)")
#: HTA's ``consecutive_kernel_delay``: a gap shorter than this (ns) with the work already launched
#: is *kernel wait*
KERNEL_WAIT_NS = 30_000

COMPUTATION, COMMUNICATION, MEMORY, OTHER = 0, 1, 2, 3
KIND_NAMES = ("computation", "communication", "memory", "other")

WHOLE_TRACE_WINDOW = "first to last device activity of the device (HTA's and TraceLens's window)"
WHOLE_TRACE_SELECTION = (
    "as HTA selects them: when the trace marks two or more steps, the device activities whose launch call "
    "is in the trace and started by the end of the last step (work launched outside the recorded host "
    "time belongs to no step); every device activity otherwise"
)


@dataclass(frozen=True)
class DeviceActivities:
    """One device's activities (kernels, memcpy, memset), in start order."""

    pid: int
    device: int
    rows: np.ndarray  # row indices into the table's spans
    start: np.ndarray  # ns
    end: np.ndarray  # ns
    kind: np.ndarray  # COMPUTATION / COMMUNICATION / MEMORY / OTHER
    stream: np.ndarray
    launch_start: np.ndarray  # ns of the launch call's start; -1: no launch call known
    launch_row: np.ndarray  # span row of the launch call; -1: none known


def kinds(names: Sequence[str], cats: np.ndarray) -> np.ndarray:
    """HTA's kernel type of each device row (memcpy/memset rows are memory, collectives
    communication, whatever their names)."""
    memo: dict[str, int] = {}

    def of(n: str) -> int:
        k = memo.get(n)
        if k is None:
            if COMM_KERNEL_RE.match(n):
                k = COMMUNICATION
            elif MEMORY_KERNEL_RE.match(n):
                k = MEMORY
            elif not NON_COMPUTE_RE.match(n):
                k = COMPUTATION
            else:
                k = OTHER
            memo[n] = k
        return k

    out = np.fromiter((of(n) for n in names), np.int8, len(names))
    out[np.isin(cats, [SPAN_CATEGORIES.index(MEMCPY), SPAN_CATEGORIES.index(MEMSET)])] = MEMORY
    out[cats == SPAN_CATEGORIES.index(COLLECTIVE)] = COMMUNICATION
    return out


def device_activities(table: EventTable, pid: int | None = None) -> list[DeviceActivities]:
    """The device activities of ``pid`` (all pids when ``None``), one entry per (pid, device)."""
    sp = table.spans
    m = table.cat_mask(KERNEL, MEMCPY, MEMSET, COLLECTIVE) & (sp["tid"] >= DEVICE_TID_BASE)
    if pid is not None:
        m &= sp["pid"] == pid
    rows = np.flatnonzero(m)
    if not len(rows):
        return []
    rows = rows[np.argsort(sp["start_ns"][rows], kind="stable")]
    names = table.strings.strings
    kind = kinds([names[i] for i in sp["name"][rows].tolist()], sp["cat"][rows])
    rel = sp["tid"][rows] - DEVICE_TID_BASE
    dev, stream = rel // 1000, rel % 1000
    # the launch call of each activity: a host runtime/sync row of the same pid with its correlation
    corr = sp["corr"]
    host = np.flatnonzero(table.cat_mask(RUNTIME, SYNC) & (corr >= 0) & (sp["tid"] < DEVICE_TID_BASE))
    launch = np.full(len(rows), -1, np.int64)
    launch_row = np.full(len(rows), -1, np.int64)
    if len(host):
        key_h = sp["pid"][host] * (1 << 32) + corr[host]
        o = np.argsort(key_h, kind="stable")
        key_h, hs, hr = key_h[o], sp["start_ns"][host][o], host[o]
        key_d = sp["pid"][rows] * (1 << 32) + corr[rows]
        i = np.minimum(np.searchsorted(key_h, key_d), len(key_h) - 1)
        hit = (key_h[i] == key_d) & (corr[rows] >= 0)
        launch[hit] = hs[i[hit]]
        launch_row[hit] = hr[i[hit]]
    out = []
    pids = sp["pid"][rows]
    for p in np.unique(pids).tolist():
        for d in np.unique(dev[pids == p]).tolist():
            sel = (pids == p) & (dev == d)
            r = rows[sel]
            out.append(DeviceActivities(
                pid=int(p), device=int(d), rows=r, start=sp["start_ns"][r],
                end=sp["start_ns"][r] + sp["dur_ns"][r], kind=kind[sel], stream=stream[sel],
                launch_start=launch[sel], launch_row=launch_row[sel],
            ))
    return out


def select(act: DeviceActivities, keep: np.ndarray) -> DeviceActivities:
    """The activities in ``keep`` (a mask), order kept."""
    return DeviceActivities(pid=act.pid, device=act.device, rows=act.rows[keep], start=act.start[keep],
                            end=act.end[keep], kind=act.kind[keep], stream=act.stream[keep],
                            launch_start=act.launch_start[keep], launch_row=act.launch_row[keep])


def _slice(act: DeviceActivities, i0: int, i1: int) -> DeviceActivities:
    return DeviceActivities(pid=act.pid, device=act.device, rows=act.rows[i0:i1], start=act.start[i0:i1],
                            end=act.end[i0:i1], kind=act.kind[i0:i1], stream=act.stream[i0:i1],
                            launch_start=act.launch_start[i0:i1], launch_row=act.launch_row[i0:i1])


def hta_selection(table: EventTable, act: DeviceActivities) -> np.ndarray:
    """The mask of activities HTA keeps for its whole-trace figures: with two or more steps marked
    (``ProfilerStep``), those launched by a host call in the trace that started by the end of the last
    step; every activity otherwise (or when none has a known launch)."""
    sp = table.spans
    steps = np.flatnonzero(table.cat_mask(STEP) & (sp["pid"] == act.pid))
    launched = act.launch_start >= 0
    if len(steps) < 2 or not launched.any():
        return np.ones(len(act.start), bool)
    last_end = int((sp["start_ns"][steps] + sp["dur_ns"][steps]).max())
    return launched & (act.launch_start <= last_end)


# ------------------------------------------------------------------ interval arithmetic


def _union(s: np.ndarray, e: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """The union of ``[s, e)`` cut to ``[lo, hi)``, as sorted disjoint intervals."""
    s = np.clip(s, lo, hi)
    e = np.clip(e, lo, hi)
    keep = e > s
    return merge(s[keep], e[keep])


def _length(iv: tuple[np.ndarray, np.ndarray]) -> int:
    return int((iv[1] - iv[0]).sum())


def _overlap(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> int:
    """Length of the intersection of two unions (each disjoint): |a| + |b| − |a ∪ b|."""
    both = merge(np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]]))
    return _length(a) + _length(b) - _length(both)


@dataclass(frozen=True)
class Timeline:
    """The device timeline of one device in one window (milliseconds)."""

    window_ms: float
    busy_ms: float
    idle_ms: float
    computation_ms: float
    non_compute_ms: float
    comm_ms: float
    memcpy_ms: float
    other_ms: float
    exposed_comm_ms: float
    exposed_memcpy_ms: float
    comm_overlap_pct: float | None
    activities: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def timeline(act: DeviceActivities, lo: int | None = None, hi: int | None = None) -> Timeline:
    """The figures of one device over ``[lo, hi)`` (default: first to last activity)."""
    if lo is None:
        lo = int(act.start.min()) if len(act.start) else 0
    if hi is None:
        hi = int(act.end.max()) if len(act.end) else lo
    busy = _union(act.start, act.end, lo, hi)
    part = {k: _union(act.start[act.kind == k], act.end[act.kind == k], lo, hi)
            for k in (COMPUTATION, COMMUNICATION, MEMORY, OTHER)}
    comp, comm, mem = part[COMPUTATION], part[COMMUNICATION], part[MEMORY]
    comm_ns, comp_ns, mem_ns = _length(comm), _length(comp), _length(mem)
    comm_comp = _overlap(comm, comp) if comm_ns and comp_ns else 0
    comp_comm = merge(np.concatenate([comp[0], comm[0]]), np.concatenate([comp[1], comm[1]]))
    mem_hidden = _overlap(mem, comp_comm) if mem_ns and len(comp_comm[0]) else 0
    busy_ns = _length(busy)
    n = int(((act.end > lo) & (act.start < hi)).sum()) if hi > lo else 0
    return Timeline(
        window_ms=(hi - lo) / 1e6,
        busy_ms=busy_ns / 1e6,
        idle_ms=(hi - lo - busy_ns) / 1e6,
        computation_ms=comp_ns / 1e6,
        non_compute_ms=(busy_ns - comp_ns) / 1e6,
        comm_ms=comm_ns / 1e6,
        memcpy_ms=mem_ns / 1e6,
        other_ms=_length(part[OTHER]) / 1e6,
        exposed_comm_ms=(comm_ns - comm_comp) / 1e6,
        exposed_memcpy_ms=(mem_ns - mem_hidden) / 1e6,
        comm_overlap_pct=(100.0 * comm_comp / comm_ns) if comm_ns else None,
        activities=n,
    )


def mean_over_steps(act: DeviceActivities, windows: Sequence[tuple[int, int]]) -> dict[str, Any] | None:
    """The mean of each figure over the step windows (``comm_overlap_pct`` over the steps with
    communication); ``None`` without steps."""
    if not windows:
        return None
    # activities are in start order: those touching [lo, hi) lie between the first whose running
    # maximum end passes lo and the last that starts before hi
    reach = np.maximum.accumulate(act.end) if len(act.end) else act.end
    per = []
    for lo, hi in windows:
        i0, i1 = int(np.searchsorted(reach, lo, side="right")), int(np.searchsorted(act.start, hi))
        per.append(timeline(_slice(act, i0, max(i0, i1)), lo, hi))
    out: dict[str, Any] = {}
    for k in Timeline.__dataclass_fields__:
        vals = [getattr(t, k) for t in per if getattr(t, k) is not None]
        out[k] = (sum(vals) / len(vals)) if vals else None
    out["n_steps"] = len(per)
    return out


# ------------------------------------------------------------------------ idle split (HTA)


@dataclass(frozen=True)
class IdleSplit:
    """HTA's idle time breakdown of one device: milliseconds per category, summed over streams."""

    host_wait_ms: float
    kernel_wait_ms: float
    other_ms: float
    streams: dict[str, dict[str, float]] = field(default_factory=dict)
    kernel_wait_threshold_us: float = KERNEL_WAIT_NS / 1e3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def idle_gaps(act: DeviceActivities) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(stream, gap ns, category, start of the activity that ends the gap)`` for every gap,
    HTA's rule (category 0 host wait, 1 kernel wait, 2 other). A gap is measured from the end of the
    previous activity of the stream in start order (equal starts: the shorter first, where HTA's
    order is arbitrary); it is negative where the two overlap, and counted as HTA counts it."""
    gs, gg, gc, ge = [], [], [], []
    for s in np.unique(act.stream).tolist():
        sel = np.flatnonzero(act.stream == s)
        if len(sel) < 2:
            continue
        sel = sel[np.lexsort((act.end[sel], act.start[sel]))]  # start order; equal starts: shorter first
        st, en, ls = act.start[sel], act.end[sel], act.launch_start[sel]
        prev_end = en[:-1]
        gap = st[1:] - prev_end
        host = (ls[1:] >= 0) & (ls[1:] > prev_end)
        cat = np.where(host, 0, np.where(gap < KERNEL_WAIT_NS, 1, 2))
        gs.append(np.full(len(gap), s))
        gg.append(gap)
        gc.append(cat)
        ge.append(st[1:])
    if not gs:
        e = np.empty(0, np.int64)
        return e, e, e, e
    return np.concatenate(gs), np.concatenate(gg), np.concatenate(gc), np.concatenate(ge)


def idle_split(act: DeviceActivities) -> IdleSplit:
    """HTA's idle time breakdown of the whole trace of one device."""
    stream, gap, cat, _ = idle_gaps(act)
    names = ("host_wait_ms", "kernel_wait_ms", "other_ms")
    per: dict[str, dict[str, float]] = {}
    for s in np.unique(stream).tolist():
        m = stream == s
        per[str(s)] = {n: float(gap[m & (cat == i)].sum()) / 1e6 for i, n in enumerate(names)}
    tot = [float(gap[cat == i].sum()) / 1e6 for i in range(3)]
    return IdleSplit(host_wait_ms=tot[0], kernel_wait_ms=tot[1], other_ms=tot[2], streams=per)


# ---------------------------------------------------------------------- queue length (HTA)


#: the launch calls HTA's queue length counts (``get_runtime_launch_events_query``); graph launches
#: are not among them
QUEUE_LAUNCH_NAMES = (
    "cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cudaMemcpyAsync", "cudaMemsetAsync",
    "hipLaunchKernel", "hipExtModuleLaunchKernel", "hipMemsetAsync", "hipMemcpyAsync", "hipMemcpyWithStream",
)


def queue_length(table: EventTable, act: DeviceActivities) -> dict[str, dict[str, float]]:
    """HTA's queue length per stream: its value at every change (launch call start +1, device start
    −1) summarised as HTA does (count of changes, mean, median, max). Only activities enqueued by one
    of HTA's launch calls (:data:`QUEUE_LAUNCH_NAMES`) count."""
    out: dict[str, dict[str, float]] = {}
    ids = [i for i in (table.strings.id_of(n) for n in QUEUE_LAUNCH_NAMES) if i is not None]
    known = act.launch_row >= 0
    known[known] = np.isin(table.spans["name"][act.launch_row[known]], ids)
    for s in np.unique(act.stream[known]).tolist():
        m = known & (act.stream == s)
        t = np.concatenate([act.launch_start[m], act.start[m]])
        d = np.concatenate([np.ones(int(m.sum()), np.int64), -np.ones(int(m.sum()), np.int64)])
        o = np.argsort(t, kind="stable")
        q = np.cumsum(d[o])
        out[str(s)] = {"changes": float(len(q)), "mean": float(q.mean()), "median": float(np.median(q)),
                       "max": float(q.max())}
    return out


# ------------------------------------------------------------------ frequent kernels (HTA)


def top_kernels(table: EventTable, act: DeviceActivities, n: int = 10) -> dict[str, list[dict[str, Any]]]:
    """HTA's kernel breakdown view: per kernel type, the kernels with the most total time (count,
    total, mean, max, min in µs)."""
    names = table.strings.strings
    name_ids = table.spans["name"][act.rows]
    dur = (act.end - act.start).astype(np.float64)
    out: dict[str, list[dict[str, Any]]] = {}
    for k, kname in enumerate(KIND_NAMES):
        m = act.kind == k
        if not m.any():
            continue
        ids, inv = np.unique(name_ids[m], return_inverse=True)
        d = dur[m]
        tot = np.bincount(inv, d)
        cnt = np.bincount(inv)
        order = np.argsort(-tot, kind="stable")[:n]
        rows = []
        for j in order.tolist():
            dj = d[inv == j]
            rows.append({"name": names[int(ids[j])], "count": int(cnt[j]), "total_us": float(tot[j]) / 1e3,
                         "mean_us": float(tot[j] / cnt[j]) / 1e3, "max_us": float(dj.max()) / 1e3,
                         "min_us": float(dj.min()) / 1e3})
        out[kname] = rows
    return out


# ---------------------------------------------------------------------------- the section


def device_timeline(
    table: EventTable, pid: int | None, windows: Sequence[tuple[int, int]] = ()
) -> dict[str, Any] | None:
    """Whole-trace and per-step timeline, HTA's idle split, queue length and top kernels of every
    device of ``pid``; ``None`` without device activity. Keys: ``whole_trace``, ``per_step``,
    ``idle_split``, ``queue``, ``top_kernels``, each holding one entry per device under ``devices``
    (the first device's figures also flat in ``whole_trace``/``per_step``)."""
    acts = device_activities(table, pid)
    if not acts:
        return None
    several_pids = len({a.pid for a in acts}) > 1

    def key(a: DeviceActivities) -> str:
        return f"pid {a.pid} GPU {a.device}" if several_pids else str(a.device)

    whole: dict[str, Any] = {}
    steps: dict[str, Any] = {}
    idle: dict[str, Any] = {}
    queue: dict[str, Any] = {}
    top: dict[str, Any] = {}
    for a in acts:
        k = key(a)
        keep = hta_selection(table, a)
        sel = select(a, keep) if not keep.all() else a
        whole[k] = {"pid": a.pid, "device": a.device, **timeline(sel).to_dict(),
                    "left_out": {"activities": int((~keep).sum()),
                                 "ms": _length(merge(a.start[~keep], a.end[~keep])) / 1e6}}
        ps = mean_over_steps(a, windows)
        if ps is not None:
            steps[k] = {"pid": a.pid, "device": a.device, **ps}
        idle[k] = {"pid": a.pid, "device": a.device, **idle_split(sel).to_dict()}
        queue[k] = queue_length(table, sel)
        top[k] = top_kernels(table, a)
    first = next(iter(whole))
    out: dict[str, Any] = {
        "whole_trace": {"window": WHOLE_TRACE_WINDOW, "activities_counted": WHOLE_TRACE_SELECTION, "device": first, **whole[first], "devices": whole},
        "per_step": ({"statistic": "mean over steps", "device": first, **steps[first], "devices": steps}
                     if steps else None),
        "idle_split": {
            "definition": "HTA's idle time breakdown: per stream, the gap before each activity is host wait "
                          "when its launch call started after the previous activity ended, else kernel wait "
                          f"when shorter than {KERNEL_WAIT_NS / 1e3:g} µs, else other; summed over streams",
            "device": first, **{k: v for k, v in idle[first].items() if k != "streams"}, "devices": idle,
        },
        "queue": {"definition": "HTA's queue length per stream: device operations launched by kernel, "
                                "memcpy and memset launch calls and not yet started (statistics over the "
                                "changes; graph launches not counted, as in HTA)", "devices": queue},
        "top_kernels": {"definition": "HTA's kernel breakdown: per kernel type, the kernels with the most "
                                      "total time", "devices": top},
    }
    return out
