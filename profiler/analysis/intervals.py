"""Interval arithmetic on numpy arrays of ``[start, end)`` pairs in integer nanoseconds."""

from __future__ import annotations

import numpy as np


def merge(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of intervals as sorted, disjoint ``[start, end)`` pairs."""
    if len(starts) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = np.argsort(starts, kind="stable")
    s = np.asarray(starts, np.int64)[order]
    e = np.asarray(ends, np.int64)[order]
    run_end = np.maximum.accumulate(e)
    # a new merged interval starts where the start is beyond every earlier end
    new = np.empty(len(s), bool)
    new[0] = True
    new[1:] = s[1:] > run_end[:-1]
    idx = np.flatnonzero(new)
    m_start = s[idx]
    m_end = np.maximum.reduceat(e, idx)
    return m_start, m_end


def clip(starts: np.ndarray, ends: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Intervals cut to ``[lo, hi)``; empty ones dropped."""
    s = np.clip(starts, lo, hi)
    e = np.clip(ends, lo, hi)
    keep = e > s
    return s[keep], e[keep]


def union_length(starts: np.ndarray, ends: np.ndarray) -> int:
    s, e = merge(starts, ends)
    return int((e - s).sum())


def innermost_segments(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split nested intervals (one thread's call tree) into self-time segments.

    Returns ``(seg_start, seg_end, owner)`` where ``owner`` indexes the input interval that is the
    innermost one active over that segment. Partially overlapping intervals (which a call tree should
    not have) are tolerated: the most recently opened active interval owns the time.
    """
    n = len(starts)
    if n == 0:
        e = np.empty(0, np.int64)
        return e, e, e
    starts = np.asarray(starts, np.int64)
    ends = np.asarray(ends, np.int64)
    times = np.concatenate([starts, ends])
    kind = np.concatenate([np.ones(n, np.int8), np.zeros(n, np.int8)])  # 0 close, 1 open
    owner = np.concatenate([np.arange(n), np.arange(n)])
    length = ends - starts
    # at equal times: closes first; among opens, longer (outer) first; among closes, shorter first
    tie = np.concatenate([-length, length])
    order = np.lexsort((tie, kind, times))
    seg_s: list[int] = []
    seg_e: list[int] = []
    seg_o: list[int] = []
    stack: list[int] = []
    active = np.zeros(n, bool)
    prev = 0
    t_list = times[order].tolist()
    k_list = kind[order].tolist()
    o_list = owner[order].tolist()
    for t, k, i in zip(t_list, k_list, o_list, strict=True):
        if stack and t > prev:
            seg_s.append(prev)
            seg_e.append(t)
            seg_o.append(stack[-1])
        if k == 1:
            stack.append(i)
            active[i] = True
        elif active[i]:
            active[i] = False
            if stack and stack[-1] == i:
                stack.pop()
            else:
                stack.remove(i)
        prev = t
    return np.asarray(seg_s, np.int64), np.asarray(seg_e, np.int64), np.asarray(seg_o, np.int64)
