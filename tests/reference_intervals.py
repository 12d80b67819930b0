"""Interval arithmetic in plain Python, written apart from the toolkit's numpy code: the reference
the GPU-trace, rank and breakdown tests compare our figures with (times as ints or floats)."""

from __future__ import annotations

from collections.abc import Iterable

Intervals = list[tuple[float, float]]


def union(iv: Iterable[tuple[float, float]]) -> Intervals:
    """The sorted, disjoint union of ``iv`` (empty intervals dropped)."""
    out: list[list[float]] = []
    for s, e in sorted(iv):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def length(iv: Intervals, lo: float | None = None, hi: float | None = None) -> float:
    """Total length of disjoint intervals, clipped to ``[lo, hi]`` when given."""
    if lo is None and hi is None:
        return sum(e - s for s, e in iv)
    lo = float("-inf") if lo is None else lo
    hi = float("inf") if hi is None else hi
    return sum(max(0, min(e, hi) - max(s, lo)) for s, e in iv)
