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


def self_segments(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(seg_start, seg_end, owner)``: one thread's spans cut into self-time segments.

    Same contract as :func:`~profiler.analysis.intervals.innermost_segments` (owner indexes the input);
    zero-length spans own nothing.
    """
    starts = np.asarray(starts, np.int64)
    ends = np.asarray(ends, np.int64)
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
