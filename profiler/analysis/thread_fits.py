"""Thread-scaling fits: pure functions from measured times per thread count to scaling figures.

:func:`scaling_figures` gives a series' speedup, parallel efficiency, Karp-Flatt metric per point
(:func:`karp_flatt`), the Amdahl serial fraction (:func:`fit_amdahl`; points above the core count
left out by the caller) and where scaling stops paying or turns negative. :func:`busy_threads`
turns two per-thread CPU-time snapshots of a worker into the threads that ran busy. Nothing here
imports a framework or touches the file system. Definitions: ``docs/scaling.md`` ("Fits", "Method").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

#: A step that cuts the time by less than this fraction against the previous count does not pay.
MIN_GAIN = 0.05
#: A count slower than the previous by more than this (or by more than the measured spread, if
#: larger) turns negative.
NEGATIVE_TOL = 0.02
#: A point whose repeats spread by more than this (max − min over median) gets a warning.
SPREAD_WARN_PCT = 10.0
#: A thread counts as busy when its CPU time is at least this share of the busiest thread's. Relative,
#: not a share of the window: on a loaded machine every thread of the worker waits for a core, and
#: an absolute share would call working threads idle.
BUSY_SHARE = 0.3
#: ... and at least this share of the window (a thread that woke for a few ms is not busy).
BUSY_FLOOR = 0.02


@dataclass(frozen=True)
class Point:
    """One measured thread count of one series: median step time and its spread over repeats."""

    threads: int
    median_ms: float
    spread_pct: float = 0.0


@dataclass
class AmdahlFit:
    serial_fraction: float  # f in [0, 1]
    t1_ms: float  # fitted single-thread time a + b
    serial_ms: float  # a
    parallel_ms: float  # b (at one thread)
    # sqrt(mean(((T_fit − T) / T)^2)) over the fitted points; None when the fit has as many free
    # parameters as points (it passes through every point by construction: a residual of 0 says nothing)
    rms_rel_residual: float | None
    n_points: int
    max_speedup: float | None  # 1 / f (None when f == 0: unbounded, or when the fit is exactly determined)
    half_efficiency_threads: float | None  # p where the model's efficiency falls to 50%: (1 + f) / f
    clamped: str | None = None  # "f=0" or "f=1" when the unconstrained fit left [0, 1]
    parameters: int = 2  # free parameters: a and b, or one of them when clamped to a bound
    # the fit has no degree of freedom left (points ≤ parameters): f describes the measured points
    # only; no residual and no extrapolation (max speedup, 50% efficiency) is given
    exactly_determined: bool = False
    note: str | None = None  # what the reader should know about this fit (said when exactly determined)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PointFigures:
    threads: int
    median_ms: float
    speedup: float
    efficiency: float
    karp_flatt: float | None
    spread_pct: float
    spread_warning: bool


@dataclass
class SeriesScaling:
    """Everything computed for one series."""

    base_threads: int
    points: list[PointFigures]
    fit: AmdahlFit | None
    fit_note: str | None  # why there is no fit, or which points were left out
    best_threads: int  # the count with the lowest median time
    best_speedup: float
    stops_paying_at: int | None  # first count whose extra threads gain < min_gain
    turns_negative_at: int | None  # first count slower than the previous one beyond noise
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fit"] = self.fit.to_dict() if self.fit else None
        return d


def _check(points: Sequence[Point]) -> list[Point]:
    if not points:
        raise ValueError("no points")
    seen = set()
    for pt in points:
        if not isinstance(pt.threads, int) or pt.threads < 1:
            raise ValueError(f"thread count must be a positive integer, got {pt.threads!r}")
        if pt.threads in seen:
            raise ValueError(f"thread count {pt.threads} appears twice")
        if not (pt.median_ms > 0 and math.isfinite(pt.median_ms)):
            raise ValueError(f"time at {pt.threads} threads must be positive, got {pt.median_ms!r}")
        seen.add(pt.threads)
    return sorted(points, key=lambda p: p.threads)


def fit_amdahl(points: Sequence[Point]) -> AmdahlFit:
    """Least-squares fit of ``T(p) = a + b/p`` with ``a, b ≥ 0``; needs two distinct counts.

    Unconstrained linear least squares in ``x = 1/p`` first; if it puts ``a`` or ``b`` below zero
    (a curve better than linear speedup, or times that grow with threads), the constrained optimum
    lies on that boundary and is refitted there (``f = 0`` or ``f = 1``), and ``clamped`` says so.

    Two points and two free parameters determine the curve exactly: the residual is zero whatever
    was measured, and ``1/f`` is an extrapolation from nothing. Such a fit is marked
    ``exactly_determined``, with no residual, no maximum speedup and no 50%-efficiency count.
    """
    pts = _check(points)
    if len(pts) < 2:
        raise ValueError("an Amdahl fit needs at least two thread counts")
    xs = [1.0 / p.threads for p in pts]
    ts = [p.median_ms for p in pts]
    n = len(pts)
    mx, mt = sum(xs) / n, sum(ts) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxt = sum((x - mx) * (t - mt) for x, t in zip(xs, ts, strict=True))
    b = sxt / sxx
    a = mt - b * mx
    clamped = None
    if a < 0:  # better than linear: all parallel, T = b/p
        a, b = 0.0, sum(t * x for x, t in zip(xs, ts, strict=True)) / sum(x * x for x in xs)
        clamped = "f=0"
    elif b < 0:  # no gain from threads at all: all serial, T = a
        a, b = mt, 0.0
        clamped = "f=1"
    t1 = a + b
    f = a / t1 if t1 > 0 else 1.0
    if f < 1e-12:  # rounding residue of an exactly linear curve
        f = 0.0
    res = [((a + b * x) - t) / t for x, t in zip(xs, ts, strict=True)]
    rms = math.sqrt(sum(r * r for r in res) / n)
    k = 1 if clamped else 2
    exact = n <= k
    note = None
    if exact:
        note = (
            f"{n} thread counts for {k} free parameters: the curve passes through every point, so the "
            "fit has no residual to show and no basis to extrapolate; measure more thread counts for a "
            "maximum speedup"
        )
    return AmdahlFit(
        serial_fraction=f,
        t1_ms=t1,
        serial_ms=a,
        parallel_ms=b,
        rms_rel_residual=None if exact else rms,
        n_points=n,
        max_speedup=(1.0 / f) if (f > 0 and not exact) else None,
        half_efficiency_threads=((1.0 + f) / f) if (f > 0 and not exact) else None,
        clamped=clamped,
        parameters=k,
        exactly_determined=exact,
        note=note,
    )


def karp_flatt(speedup: float, p: int) -> float | None:
    """The experimentally determined serial fraction of one point; ``None`` at ``p = 1``."""
    if p <= 1 or speedup <= 0:
        return None
    return (1.0 / speedup - 1.0 / p) / (1.0 - 1.0 / p)


def scaling_figures(
    points: Sequence[Point],
    fit_max_threads: int | None = None,
    min_gain: float = MIN_GAIN,
    negative_tol: float = NEGATIVE_TOL,
    spread_warn_pct: float = SPREAD_WARN_PCT,
) -> SeriesScaling:
    """Speedup, efficiency, Karp–Flatt, the Amdahl fit and the knees of one series.

    ``fit_max_threads`` (normally the core count) leaves points above it out of the Amdahl fit.
    """
    pts = _check(points)
    base = pts[0]
    figs: list[PointFigures] = []
    for pt in pts:
        s = base.median_ms / pt.median_ms
        rel = pt.threads / base.threads
        figs.append(
            PointFigures(
                threads=pt.threads,
                median_ms=pt.median_ms,
                speedup=s,
                efficiency=s / rel,
                karp_flatt=karp_flatt(s, pt.threads) if base.threads == 1 else None,
                spread_pct=pt.spread_pct,
                spread_warning=pt.spread_pct > spread_warn_pct,
            )
        )
    notes: list[str] = []
    if base.threads != 1:
        notes.append(
            f"speedups are relative to {base.threads} threads (no 1-thread point); Karp–Flatt needs "
            "the 1-thread time and is left out"
        )
    fit_pts = [p for p in pts if fit_max_threads is None or p.threads <= fit_max_threads]
    fit: AmdahlFit | None = None
    fit_note: str | None = None
    if len(fit_pts) >= 2:
        fit = fit_amdahl(fit_pts)
        left_out = [p.threads for p in pts if p not in fit_pts]
        if left_out:
            fit_note = f"oversubscribed counts {', '.join(map(str, left_out))} left out of the fit"
    else:
        fit_note = f"no Amdahl fit: {len(fit_pts)} thread count(s) at or below the core count (needs 2)"

    best = min(pts, key=lambda p: p.median_ms)
    stops = negative = None
    for prev, cur in pairwise(pts):
        gain = prev.median_ms / cur.median_ms - 1.0
        if stops is None and gain < min_gain:
            stops = cur.threads
        noise = max(negative_tol, max(prev.spread_pct, cur.spread_pct) / 100.0)
        if negative is None and cur.median_ms > prev.median_ms * (1.0 + noise):
            negative = cur.threads
    return SeriesScaling(
        base_threads=base.threads,
        points=figs,
        fit=fit,
        fit_note=fit_note,
        best_threads=best.threads,
        best_speedup=base.median_ms / best.median_ms,
        stops_paying_at=stops,
        turns_negative_at=negative,
        notes=notes,
    )


def spread_pct(values: Sequence[float]) -> float:
    """(max − min) / median of repeated measurements, in percent (0 for fewer than two)."""
    if len(values) < 2:
        return 0.0
    s = sorted(values)
    n = len(s)
    med = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    return 100.0 * (s[-1] - s[0]) / med if med else 0.0


@dataclass
class BusyThreads:
    """How many of a worker's threads ran busy in a window, from per-thread CPU times."""

    busy: int  # threads with CPU time ≥ share × the busiest thread's, and ≥ floor × window
    cpu_parallelism: float  # total thread CPU time / window: the average number of cores used
    threads_seen: int  # threads present at either snapshot
    window_s: float
    resolution_s: float  # the CPU-time clock's step (10 ms for /proc stat ticks, 1 ns for schedstat)
    resolved: bool  # False when the window is too short for that clock to tell busy from idle
    per_thread_s: dict[int, float]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["per_thread_s"] = {str(k): round(v, 6) for k, v in self.per_thread_s.items()}
        return d


def busy_threads(
    before: Mapping[int, float],
    after: Mapping[int, float],
    window_s: float,
    resolution_s: float = 1e-9,
    share: float = BUSY_SHARE,
    floor: float = BUSY_FLOOR,
) -> BusyThreads:
    """Busy threads between two ``{tid: cpu seconds}`` snapshots taken ``window_s`` apart.

    A thread born inside the window counts from zero; a thread that exited inside it is not in
    ``after`` and is missed (its CPU time is gone with it), which only ever under-counts. The window
    is *resolved* when the busiest thread's CPU time spans at least 20 steps of the CPU-time clock,
    so a thread at ``share`` of it cannot round to zero.
    """
    if window_s <= 0:
        raise ValueError("window must be positive")
    per = {tid: max(0.0, cpu - before.get(tid, 0.0)) for tid, cpu in after.items()}
    total = sum(per.values())
    top = max(per.values(), default=0.0)
    cut = max(share * top, floor * window_s)
    busy = sum(1 for v in per.values() if v > 0 and v >= cut)
    return BusyThreads(
        busy=busy,
        cpu_parallelism=total / window_s,
        threads_seen=len(set(before) | set(after)),
        window_s=window_s,
        resolution_s=resolution_s,
        resolved=top * share >= 20 * resolution_s if top > 0 else window_s >= 20 * resolution_s,
        per_thread_s=per,
    )


def thread_mismatch(requested: int, busy: BusyThreads | None) -> str | None:
    """A short note when the busy-thread count differs from the requested count, else ``None``."""
    if busy is None:
        return "busy threads not measured"
    if not busy.resolved:
        return f"window {busy.window_s * 1000:.0f} ms too short for the CPU-time clock to count threads"
    if busy.busy != requested:
        return f"{busy.busy} busy thread(s) for {requested} requested"
    return None


__all__ = [
    "BUSY_FLOOR",
    "BUSY_SHARE",
    "MIN_GAIN",
    "NEGATIVE_TOL",
    "SPREAD_WARN_PCT",
    "AmdahlFit",
    "BusyThreads",
    "Point",
    "PointFigures",
    "SeriesScaling",
    "busy_threads",
    "fit_amdahl",
    "karp_flatt",
    "scaling_figures",
    "spread_pct",
    "thread_mismatch",
]
