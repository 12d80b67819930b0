"""Call-tree structure of one thread's spans, computed without a per-span Python loop.

A thread's op spans normally form a *laminar* family: any two either nest or are disjoint. For such a
family the innermost span active at each instant (which owns that instant's self time) follows from
each span's parent, and the parent from nesting depth: the parent of a span at depth ``d + 1`` is the
last span at depth ``d`` opened before it. Depth levels are few (tens), so everything is a handful of
numpy passes, a few hundred ns per span. Families that are not laminar (a tracer that recorded
overlapping slices) fall back to the stack walk in :func:`profiler.analysis.intervals.innermost_segments`.
"""

from __future__ import annotations

import numpy as np

from profiler.analysis.intervals import innermost_segments


def _events(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Open/close events in stack order: ``(times, is_open, owner, depth_after)``."""
    n = len(starts)
    times = np.concatenate([starts, ends])
    kind = np.concatenate([np.ones(n, np.int8), np.zeros(n, np.int8)])  # 0 close, 1 open
    owner = np.concatenate([np.arange(n), np.arange(n)])
    length = ends - starts
    # at equal times: closes first; among opens the longer (outer) first; among closes the shorter
    tie = np.concatenate([-length, length])
    # identical spans: the one opened first closes last
    idx_tie = np.concatenate([np.arange(n), -np.arange(n)])
    order = np.lexsort((idx_tie, tie, kind, times))
    k = kind[order]
    depth = np.cumsum(np.where(k == 1, 1, -1))
    return times[order], k, owner[order], depth


#: the last threads cut (their inputs and segments): the breakdown and the op table cut the same
#: threads, so the second asks for what the first computed. Two entries: a training loop's forward
#: thread and its autograd thread; at a million ops one entry holds about 50 MB.
_MEMO: list[tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]] = []
_MEMO_SIZE = 2


def self_segments(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(seg_start, seg_end, owner)``: one thread's spans cut into self-time segments.

    Same contract as :func:`~profiler.analysis.intervals.innermost_segments` (owner indexes the input);
    zero-length spans own nothing. The arrays returned are read-only (they may be handed out again
    to a later call on equal inputs).
    """
    starts = np.asarray(starts, np.int64)
    ends = np.asarray(ends, np.int64)
    for s0, e0, out in _MEMO:
        if len(s0) == len(starts) and np.array_equal(s0, starts) and np.array_equal(e0, ends):
            return out
    out = _self_segments(starts, ends)
    for a in out:
        a.flags.writeable = False
    _MEMO.insert(0, (starts.copy(), ends.copy(), out))
    del _MEMO[_MEMO_SIZE:]
    return out


def _self_segments(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keep = np.flatnonzero(ends > starts)
    if not len(keep):
        e = np.empty(0, np.int64)
        return e, e, e
    s, e = starts[keep], ends[keep]
    t, k, o, depth = _events(s, e)
    n = len(s)
    # laminar ⇔ every span closes at the depth it opened at (stack discipline holds)
    open_depth = np.empty(n, np.int64)
    close_depth = np.empty(n, np.int64)
    is_open = k == 1
    open_depth[o[is_open]] = depth[is_open]
    close_depth[o[~is_open]] = depth[~is_open] + 1
    if not np.array_equal(open_depth, close_depth):
        ss, ee, oo = innermost_segments(s, e)
        return ss, ee, keep[oo]
    # parent of each span: the last span one level up opened before it
    parent = np.full(n, -1, np.int64)
    open_pos = np.flatnonzero(is_open)
    od = depth[open_pos]
    for d in range(2, int(od.max(initial=0)) + 1):
        child_pos = open_pos[od == d]
        par_pos = open_pos[od == d - 1]
        j = np.searchsorted(par_pos, child_pos) - 1
        parent[o[child_pos]] = o[par_pos[j]]
    # owner after each event: the opened span, or the closed span's parent
    after = np.where(is_open, o, parent[o])
    seg_s, seg_e, seg_o = t[:-1], t[1:], after[:-1]
    m = (seg_o >= 0) & (seg_e > seg_s)
    return seg_s[m], seg_e[m], keep[seg_o[m]]


def is_laminar(starts: np.ndarray, ends: np.ndarray) -> bool:
    """Whether the spans (one thread's) nest properly: no two overlap without one containing the other."""
    starts = np.asarray(starts, np.int64)
    ends = np.asarray(ends, np.int64)
    keep = ends > starts
    s, e = starts[keep], ends[keep]
    if len(s) < 2:
        return True
    _, k, o, depth = _events(s, e)
    n = len(s)
    open_depth = np.empty(n, np.int64)
    close_depth = np.empty(n, np.int64)
    is_open = k == 1
    open_depth[o[is_open]] = depth[is_open]
    close_depth[o[~is_open]] = depth[~is_open] + 1
    return bool(np.array_equal(open_depth, close_depth))


def costed_wrappers(
    pid: np.ndarray, tid: np.ndarray, start: np.ndarray, end: np.ndarray, flops: np.ndarray, nbytes: np.ndarray
) -> np.ndarray:
    """Which spans wrap a costed span of their thread that carries at least half of their work.

    ``aten::linear`` around ``aten::addmm``, ``aten::lstm`` around ``aten::mkldnn_rnn_layer``: the work
    is the child's. Work is FLOPs, or bytes for a span without FLOPs; a span without either wraps
    nothing by this rule. A big op that merely calls a small helper (an RNN layer copying its
    state) is not a wrapper. Returns a mask aligned with the inputs.
    """
    n = len(start)
    wrapper = np.zeros(n, bool)
    if not n:
        return wrapper
    # parents sort before their children (same start: the longer first): a span's descendants are
    # the spans of its thread that follow it and start before it ends
    order = np.lexsort((-(end - start), start, tid, pid))
    s_pid, s_tid, s_start, s_end = pid[order], tid[order], start[order], end[order]
    fl, by = flops[order], nbytes[order]
    out = np.zeros(n, bool)
    bounds = np.r_[0, np.flatnonzero((s_pid[1:] != s_pid[:-1]) | (s_tid[1:] != s_tid[:-1])) + 1, n]
    for g0, g1 in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        gs, ge = s_start[g0:g1], s_end[g0:g1]
        last = np.searchsorted(gs, ge, side="left")  # one past the last descendant
        first = np.arange(1, g1 - g0 + 1)
        has = last > first
        if not has.any():
            continue
        for arr, m in ((fl[g0:g1], fl[g0:g1] > 0), (by[g0:g1], ~(fl[g0:g1] > 0) & (by[g0:g1] > 0))):
            sel = np.flatnonzero(has & m)
            if not len(sel):
                continue
            padded = np.r_[np.nan_to_num(arr, nan=0.0), 0.0]
            idx = np.empty(2 * len(sel), np.int64)
            idx[0::2], idx[1::2] = first[sel], last[sel]
            best = np.maximum.reduceat(padded, idx)[0::2]
            out[g0 + sel] = best >= 0.5 * arr[sel]
    wrapper[order] = out
    return wrapper
