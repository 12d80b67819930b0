"""Summary statistics of repeated timings, and how sure they are.

:func:`summarize_ms` summarises one sample; :func:`step_stats` is a variant's headline over its
processes (pooled median, hierarchical bootstrap CI, MAD, IQR, per-process medians);
:func:`ratio_verdict` compares two variants; :func:`bimodality` flags two speeds. For steps with a
pattern of the program's own: :func:`step_pattern`, :func:`headline_stats` (the mean, modes named),
:func:`trace_window` (whole cycles traced) and :func:`disturbed` (never a step of the pattern).
Pure. Methods: ``docs/compare.md`` (the statistics) and ``docs/breakdown.md`` ("Steps with a
pattern").
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Bootstrap resamples per interval, and the generator's seed (the same data gives the same CI).
N_BOOT = 2000
SEED = 20240
FASTER, SLOWER, NOT_SIGNIFICANT = "faster", "slower", "no significant difference"


#: the statistics a headline may quote (``StepStats.statistic``): the median of clean steps (our
#: runs: robust to the odd stretched step), or the mean (a trace, whose every step was traced: the
#: breakdown is a mean over those steps and the headline is the same figure)
MEDIAN, MEAN = "median", "mean"


def summarize_ms(values_ns: Sequence[int | float], statistic: str = MEDIAN) -> dict[str, Any]:
    """median/min/max/mean in ms, the spread ((max-min)/median, %), the count, and which of median
    and mean the headline quotes (``statistic``)."""
    if statistic not in (MEDIAN, MEAN):
        raise ValueError(f"statistic must be {MEDIAN!r} or {MEAN!r}, got {statistic!r}")
    if not values_ns:
        return {"median": None, "min": None, "max": None, "mean": None, "spread_pct": None, "n": 0,
                "statistic": statistic}
    ms = [v / 1e6 for v in values_ns]
    med = statistics.median(ms)
    return {
        "median": med,
        "min": min(ms),
        "max": max(ms),
        "mean": statistics.fmean(ms),
        "spread_pct": (100.0 * (max(ms) - min(ms)) / med) if med else 0.0,
        "n": len(ms),
        "statistic": statistic,
    }


def headline_ms(stats: Any) -> float | None:
    """The figure a step statistics' headline quotes: its ``statistic`` (``median`` where unset, as
    every record before the field); a dict or a :class:`~profiler.core.record.StepStats`."""
    if stats is None:
        return None
    get = stats.get if isinstance(stats, dict) else (lambda k: getattr(stats, k, None))
    v = get(MEAN if get("statistic") == MEAN else MEDIAN)
    return float(v) if isinstance(v, int | float) else None


def _groups(per_process: Sequence[Sequence[float]]) -> list[np.ndarray]:
    return [np.asarray(g, dtype=float) for g in per_process if len(g)]


def bootstrap_medians(per_process: Sequence[Sequence[float]], n_boot: int = N_BOOT, seed: int = SEED,
                      statistic: str = MEDIAN) -> np.ndarray | None:
    """``n_boot`` medians (or means: ``statistic``) of hierarchical resamples: processes with
    replacement, then the steps of each chosen process with replacement, pooled. ``None`` with fewer
    than two steps in all."""
    groups = _groups(per_process)
    if sum(len(g) for g in groups) < 2:
        return None
    f = np.mean if statistic == MEAN else np.median
    rng = np.random.default_rng(seed)
    if len(groups) == 1:
        g = groups[0]
        return f(g[rng.integers(0, len(g), size=(n_boot, len(g)))], axis=1)
    out = np.empty(n_boot)
    p = len(groups)
    for b in range(n_boot):
        pick = rng.integers(0, p, size=p)
        out[b] = f(np.concatenate([groups[i][rng.integers(0, len(groups[i]), len(groups[i]))] for i in pick]))
    return out


#: Student's t, two-sided 95%, by degrees of freedom (a df between two rows takes the smaller row's:
#: the wider interval); 1.96 beyond the table
_T975 = ((1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (5, 2.571), (6, 2.447), (7, 2.365), (8, 2.306),
         (9, 2.262), (10, 2.228), (12, 2.179), (15, 2.131), (20, 2.086), (30, 2.042), (60, 2.000), (120, 1.980))


def t975(df: float) -> float:
    """The two-sided 95% quantile of Student's t with ``df`` degrees of freedom (conservatively rounded)."""
    if df < 1:
        return _T975[0][1]
    val = 1.96
    for d, t in reversed(_T975):
        if df >= d:
            return t
        val = t
    return val


def process_interval(per_process: Sequence[Sequence[float]], statistic: str = MEDIAN) -> tuple[float, float] | None:
    """A Student-t 95% interval over the processes' own medians (or means): what the spread *between*
    processes says, with the few degrees of freedom a handful of processes has. ``None`` under two."""
    groups = _groups(per_process)
    if len(groups) < 2:
        return None
    f = np.mean if statistic == MEAN else np.median
    per = np.array([float(f(g)) for g in groups])
    half = t975(len(per) - 1) * float(per.std(ddof=1)) / math.sqrt(len(per))
    return float(per.mean() - half), float(per.mean() + half)


def step_stats(per_process: Sequence[Sequence[float]]) -> dict[str, Any]:
    """The :class:`~profiler.core.record.StepStats` fields of step times in ms, one list per process
    (each in the order its steps ran). Where the processes' steps follow a multi-modal pattern of the
    program's own (:func:`pooled_pattern`) the headline is the mean, with the modes and a CI of the
    mean; otherwise the median with a CI of the median."""
    groups = _groups(per_process)
    pooled = np.concatenate(groups) if groups else np.empty(0)
    out: dict[str, Any] = {
        "median": None, "min": None, "max": None, "mean": None, "spread_pct": None,
        "n_steps": len(pooled), "n_processes": len(groups), "ci95": None, "mad": None, "iqr": None,
        "per_process": [float(np.median(g)) for g in groups] or None,
        "statistic": MEDIAN,
        "modes": None,
    }
    if not len(pooled):
        return out
    pat = pooled_pattern([list(map(float, g)) for g in groups])
    if pat:
        out["statistic"], out["modes"] = MEAN, pat["modes"]
    med = float(np.median(pooled))
    q1, q3 = np.percentile(pooled, [25, 75])
    out.update(
        median=med,
        min=float(pooled.min()),
        max=float(pooled.max()),
        mean=float(pooled.mean()),
        spread_pct=100.0 * float(pooled.max() - pooled.min()) / med if med else None,
        mad=float(np.median(np.abs(pooled - med))),
        iqr=float(q3 - q1),
    )
    boot = bootstrap_medians(groups, statistic=out["statistic"])
    if boot is not None:
        lo, hi = np.percentile(boot, [2.5, 97.5])
        # a bootstrap over a handful of processes is too narrow (resampling 3 processes: 10 distinct
        # draws): the interval is also at least the t-interval of the processes' own statistics
        t = process_interval(groups, out["statistic"])
        if t is not None:
            lo, hi = min(lo, t[0]), max(hi, t[1])
        out["ci95"] = [float(lo), float(hi)]
    return out


def ratio_verdict(
    a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]
) -> tuple[float | None, list[float] | None, str | None]:
    """``median(b) / median(a)`` with its 95% bootstrap CI and whether ``a`` is *faster*, *slower* or
    shows *no significant difference* (the CI contains 1). ``(ratio, None, None)`` when either side has
    fewer than two steps (no interval can be drawn)."""
    ga, gb = _groups(a), _groups(b)
    if not ga or not gb:
        return None, None, None
    ma, mb = float(np.median(np.concatenate(ga))), float(np.median(np.concatenate(gb)))
    ratio = mb / ma if ma else None
    ba, bb = bootstrap_medians(ga, seed=SEED), bootstrap_medians(gb, seed=SEED + 1)
    if ba is None or bb is None or ratio is None:
        return ratio, None, None
    lo, hi = np.percentile(bb / ba, [2.5, 97.5])
    w = _welch_log_ratio(ga, gb)
    if w is not None:  # as for one side's interval: at least what the processes' spread says
        lo, hi = min(lo, w[0]), max(hi, w[1])
    verdict = FASTER if lo > 1.0 else SLOWER if hi < 1.0 else NOT_SIGNIFICANT
    return ratio, [float(lo), float(hi)], verdict


def _welch_log_ratio(ga: list[np.ndarray], gb: list[np.ndarray]) -> tuple[float, float] | None:
    """Welch's 95% interval of ``median(b) / median(a)`` from the processes' own medians (on logs),
    where each side has at least two processes; else ``None``."""
    if len(ga) < 2 or len(gb) < 2:
        return None
    la = np.log([float(np.median(g)) for g in ga])
    lb = np.log([float(np.median(g)) for g in gb])
    va, vb = float(la.var(ddof=1)) / len(la), float(lb.var(ddof=1)) / len(lb)
    se = math.sqrt(va + vb)
    if se == 0:
        return None
    df = (va + vb) ** 2 / ((va**2 / (len(la) - 1) if va else 0.0) + (vb**2 / (len(lb) - 1) if vb else 0.0))
    d = float(lb.mean() - la.mean())
    half = t975(df) * se
    return math.exp(d - half), math.exp(d + half)


def step_samples(v: dict[str, Any]) -> list[list[float]]:
    """A variant's clean step times (ms), one list per worker process that succeeded."""
    procs = (v.get("repeats") or {}).get("processes") if isinstance(v.get("repeats"), dict) else None
    return [list(p.get("step_ms") or []) for p in procs or [] if isinstance(p, dict) and p.get("status") == "ok"]


def bimodality(values: Sequence[float], min_n: int = 6) -> dict[str, float] | None:
    """Two speeds in one sample: the best split of the sorted values into a low and a high group
    (Otsu's criterion: the between-group share of the variance). Returns the split's figures when
    that share is over 0.8 (one normal sample gives about 0.64, a uniform one 0.75), each group
    holds at least 15% of the values and their medians are more than 15% apart; else ``None``."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n < min_n or x[-1] <= x[0]:
        return None
    total = float(np.var(x)) * n
    best = (0.0, 0)
    for k in range(max(1, int(0.15 * n + 0.999)), n - max(1, int(0.15 * n + 0.999)) + 1):
        lo, hi = x[:k], x[k:]
        between = k * (lo.mean() - x.mean()) ** 2 + (n - k) * (hi.mean() - x.mean()) ** 2
        if between / total > best[0]:
            best = (between / total, k)
    share, k = best
    if k == 0:
        return None
    low, high = float(np.median(x[:k])), float(np.median(x[k:]))
    if share <= 0.8 or (high - low) <= 0.15 * float(np.median(x)):
        return None
    return {"share": share, "low": low, "high": high, "low_fraction": k / n}


#: A traced step is *disturbed* when it is longer than the traced median by more than this share of
#: the median and by more than :data:`DISTURBED_MADS` scaled MADs: the machine (a preemption, another
#: process) or a one-off (a cache rebuilt, a buffer grown) stretched it, and its extra time would land
#: in the breakdown as gaps between ops.
DISTURBED_SHARE = 0.25
DISTURBED_MADS = 3.0


def disturbed(values: Sequence[float], modes: Sequence[dict[str, Any]] | None = None) -> list[bool]:
    """Which of a handful of step times are disturbed (see :data:`DISTURBED_SHARE`); none below
    three values (with two, which one is typical cannot be told). Only long steps are: nothing makes
    a step run faster than its work.

    ``modes`` (ms, as :func:`step_pattern` names them; the same unit as ``values``): the steps follow
    a multi-modal pattern, and a long step of it is the pattern, not a disturbance. A step is then
    disturbed only when it is longer than the longest mode, slowed as much as the fastest step was
    (the tracer's share is largest on the shortest step), by over :data:`DISTURBED_SHARE`."""
    if modes and len(modes) >= 2 and values:
        top = max(float(m["center_ms"]) for m in modes)
        low = min(float(m["center_ms"]) for m in modes)
        slowed = max(1.0, min(values) / low) if low > 0 else 1.0
        limit = top * slowed * (1.0 + DISTURBED_SHARE)
        return [bool(x > limit) for x in values]
    if len(values) < 3:
        return [False] * len(values)
    a = np.asarray(values, dtype=float)
    med = float(np.median(a))
    mad = 1.4826 * float(np.median(np.abs(a - med)))
    limit = med + max(DISTURBED_MADS * mad, DISTURBED_SHARE * med)
    return [bool(x > limit) for x in a.tolist()]


# ------------------------------------------------------------------ multi-modal steps: the pattern
#: Step times form two modes when the best split of the sorted values into a short and a long group
#: (Otsu's criterion, as :func:`bimodality`) carries more than this share of their variance (one normal
#: sample gives about 0.64, a uniform one 0.75; a loader's alternating steps 0.87–0.95 here) …
MODE_SEPARATION = 0.8
#: … and the long group's median is more than this factor above the short one's. A mode is one kind
#: of step (a step that waits for its batch, one that does not); the noise within one kind is tens of
#: percent at most, the loader's and an evaluation's steps are several times apart.
MODE_GAP = 1.5
#: Fewest steps in which a pattern is looked for (two cycles of the shortest, alternating one).
MIN_PATTERN_STEPS = 4


def _mode_groups(values: Sequence[float]) -> list[list[int]]:
    """Indices of ``values`` as one group, or two (short, long) where they form two modes
    (:data:`MODE_SEPARATION`, :data:`MODE_GAP`); each group's indices in order."""
    n = len(values)
    order = sorted(range(n), key=lambda i: values[i])
    x = np.asarray([values[i] for i in order], dtype=float)
    if n < 2 or x[-1] <= x[0]:
        return [sorted(order)] if order else []
    mean, total = float(x.mean()), float(np.var(x)) * n
    best, k = 0.0, 0
    for j in range(1, n):
        lo, hi = x[:j], x[j:]
        between = j * (float(lo.mean()) - mean) ** 2 + (n - j) * (float(hi.mean()) - mean) ** 2
        if between / total > best:
            best, k = between / total, j
    low, high = float(np.median(x[:k])), float(np.median(x[k:]))
    if best <= MODE_SEPARATION or low <= 0 or high <= MODE_GAP * low:
        return [sorted(order)]
    return [sorted(order[:k]), sorted(order[k:])]


def _run_starts(indices: Sequence[int]) -> list[int]:
    """Where each maximal run of consecutive indices starts."""
    return [i for k, i in enumerate(indices) if k == 0 or indices[k - 1] != i - 1]


def step_pattern(values: Sequence[float]) -> dict[str, Any] | None:
    """The multi-modal pattern of one process's steps (``values`` in the order they ran), or ``None``.

    The steps are split into modes (:func:`_mode_groups`); a mode *recurs* when its steps come back
    after other steps (two runs at least in the sequence), the most common mode counting as
    recurring. Two recurring modes make a pattern of the program's own. One block of slow steps (the
    machine ran slower for a while) or a lone long step (a preemption) is not one: those are for the
    noise warnings and :func:`disturbed`. Returns ``{"modes": [{"center_ms", "share", "n"}],
    "period": P or None, "other": n}``: each recurring mode's median, share of all steps and count
    (shortest first); ``period``, the steps between the returns of the rarest mode where at least
    half of its returns keep that spacing; ``other``, the steps in no recurring mode."""
    n = len(values)
    if n < MIN_PATTERN_STEPS:
        return None
    groups = _mode_groups(values)
    if len(groups) < 2:
        return None
    largest = max(groups, key=len)
    recurring = [g for g in groups if g is largest or len(_run_starts(g)) >= 2]
    if len(recurring) < 2:
        return None
    rare = min(recurring, key=lambda g: (len(_run_starts(g)), len(g)))
    starts = _run_starts(rare)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # the period: the spacing most of the returns keep (a loader's phase may slip now and then)
    common = max(set(gaps), key=gaps.count) if gaps else None
    period = common if common and 2 * gaps.count(common) >= len(gaps) else None
    modes = [
        {"center_ms": float(statistics.median(values[i] for i in g)), "share": len(g) / n, "n": len(g)}
        for g in recurring
    ]
    return {"modes": modes, "period": period, "other": n - sum(len(g) for g in recurring)}


def pooled_pattern(per_process: Sequence[Sequence[float]]) -> dict[str, Any] | None:
    """:func:`step_pattern` over several processes: a pattern when at least half of the processes
    with :data:`MIN_PATTERN_STEPS` steps show one (processes that ran at two speeds are not one). The
    modes are those of the pooled steps (each mode at least two steps); ``period`` the most common
    period of the processes."""
    seq = [list(g) for g in per_process if len(g) >= MIN_PATTERN_STEPS]
    pats = [step_pattern(g) for g in seq]
    found = [p for p in pats if p]
    if not found or 2 * len(found) < len(seq):
        return None
    if len(seq) == 1:
        return found[0]
    pooled = [float(x) for g in per_process for x in g]
    groups = [g for g in _mode_groups(pooled) if len(g) >= 2]
    if len(groups) < 2:
        return None
    periods = [p["period"] for p in found if p["period"]]
    return {
        "modes": [{"center_ms": float(statistics.median(pooled[i] for i in g)), "share": len(g) / len(pooled),
                   "n": len(g)} for g in groups],
        "period": max(set(periods), key=periods.count) if periods else None,
        "other": len(pooled) - sum(len(g) for g in groups),
    }


def headline_stats(values_ms: Sequence[float]) -> dict[str, Any]:
    """:func:`summarize_ms` of one process's steps (ms, in the order they ran) with the headline's
    statistic chosen: the mean, with ``modes``, where they follow a pattern (:func:`step_pattern`);
    the median otherwise (``modes`` ``None``)."""
    pat = step_pattern(list(values_ms))
    out = summarize_ms([v * 1e6 for v in values_ms], MEAN if pat else MEDIAN)
    out["modes"] = pat["modes"] if pat else None
    return out


#: Whole cycles a traced window holds at least, where the steps' pattern has a period.
MIN_CYCLES = 3
#: The traced window grows to cover the pattern, but never beyond this many traced steps …
MAX_TRACE_STEPS = 40
#: … nor beyond this long, estimated as the clean steps' mean times the count (tracing makes steps
#: slower: the real window is longer).
MAX_TRACE_S = 15.0


def trace_window(clean_ms: Sequence[float], requested: int) -> dict[str, Any]:
    """How many steps to trace after these clean steps (ms, in the order they ran).

    Without a pattern in the clean steps: ``requested``. With one (:func:`step_pattern`), enough
    steps that the traced mean is the cycle's: whole cycles, :data:`MIN_CYCLES` at least, where the
    pattern has a period; otherwise enough that the rarest mode turns up about three times. Bounded by
    :data:`MAX_TRACE_STEPS` and :data:`MAX_TRACE_S` (never below ``requested``); ``bound`` says
    when the bound cut the window. ``settle``: steps to run under the tracer before the window, as
    warm-up (a whole cycle: while the tracer starts, the program's input workers run ahead, and the
    steps right after find their batches ready). The figures go into the worker's ``info["trace_window"]``."""
    out: dict[str, Any] = {"requested": requested, "steps": requested, "period": None, "modes": None,
                           "bound": None, "why": "as requested", "settle": 0}
    pat = step_pattern(list(clean_ms)) if requested > 0 else None
    if not pat:
        return out
    period = pat["period"]
    if period:
        need = period * max(MIN_CYCLES, math.ceil(requested / period))
        why = f"the clean steps repeat every {period} steps: {need // period} whole cycles traced"
    else:
        rarest = min(m["share"] for m in pat["modes"])
        need = max(requested, math.ceil(3 / rarest))
        why = f"the clean steps have {len(pat['modes'])} modes without a fixed period: each about three times"
    mean_ms = statistics.fmean(clean_ms)
    cap = min(MAX_TRACE_STEPS, int(MAX_TRACE_S * 1e3 / mean_ms) if mean_ms > 0 else MAX_TRACE_STEPS)
    cap = max(requested, cap)
    if need > cap:
        bounded = (cap // period) * period if period and cap >= period else cap
        out["bound"] = (f"{need} steps needed, {max(requested, bounded)} traced (at most {MAX_TRACE_STEPS} steps "
                        f"and about {MAX_TRACE_S:g} s)")
        need = max(requested, bounded)
    # the tracer's start pauses the program; its input workers fill their buffers meanwhile and the
    # next steps find batches ready: one cycle (or as many steps as the rarest mode is apart) runs
    # under the tracer as warm-up, out of every figure, before the window
    settle = period or min(cap, math.ceil(1 / min(m["share"] for m in pat["modes"])))
    out.update(steps=need, period=period, modes=pat["modes"], why=why, planned=need, cap=cap, settle=settle)
    return out


def grown_limit(window: dict[str, Any], traced_ms: Sequence[float], limit: int) -> int:
    """Where the traced window ends, asked once ``limit`` steps were traced (``traced_ms``): the same
    when they cover the pattern (:func:`covers`) or there is none; one more cycle (one step without
    a period) otherwise, up to twice the planned window and within its bound. Records in
    ``window``: ``steps`` (traced so far) and ``covered``."""
    if not window.get("modes"):
        return limit
    window["steps"] = len(traced_ms)
    if covers(traced_ms, window):
        window["covered"] = True
        return limit
    grow = window.get("period") or 1
    if limit + grow > min(window.get("cap") or limit, 2 * (window.get("planned") or limit)):
        window["covered"] = False
        return limit
    return limit + grow


#: After the traced window, steps stay out of the figures until the pattern's long step is back, for
#: at most this many of its cycles (or settling steps, without a period).
MAX_RESETTLE_CYCLES = 4


def resettled(after_ms: Sequence[float], window: dict[str, Any]) -> int | None:
    """How many steps after the traced window (``after_ms``, ms, in order) still ride on the pause the
    tracer's stop made: while it stopped, the program's input workers ran ahead and filled their
    buffers, and the steps find their batches ready until the buffers are drained, i.e. until a step
    of the long mode comes back (longer than the geometric mean of the shortest and longest mode).
    Those steps are not the program's pace and stay out of the clean steps. ``0`` without a pattern;
    ``None`` while it cannot be told yet (no long step so far, fewer than the bound)."""
    modes = window.get("modes")
    if not modes or len(modes) < 2:
        return 0
    centers = [float(m["center_ms"]) for m in modes]
    split = math.sqrt(min(centers) * max(centers))
    bound = MAX_RESETTLE_CYCLES * (window.get("period") or window.get("settle") or 1)
    for i, x in enumerate(after_ms[:bound]):
        if x >= split:
            return i
    return bound if len(after_ms) >= bound else None


def covers(traced_ms: Sequence[float], window: dict[str, Any]) -> bool:
    """Whether traced steps (ms) show every mode of the clean pattern ``window`` names (each traced
    step counted in its nearest mode, on a log scale: tracing stretches the short steps most), in
    whole cycles where it has a period."""
    modes = window.get("modes")
    if not modes:
        return True
    centers = [float(m["center_ms"]) for m in modes]
    seen = set()
    for x in traced_ms:
        if x > 0:
            seen.add(min(range(len(centers)), key=lambda k: abs(math.log(x / centers[k])) if centers[k] > 0 else 1e9))
    period = window.get("period")
    whole = not period or len(traced_ms) % period == 0
    return whole and len(seen) == len(centers)
