"""Summary statistics of repeated timings, and how sure they are.

:func:`summarize_ms` is the plain summary of one sample (median/min/max/mean). :func:`step_stats`
is the headline of a variant measured in several worker processes: the pooled median with a 95%
bootstrap confidence interval (resampling processes, then steps within each resampled process, so
that a process that ran at another speed for its whole life widens the interval), the MAD and IQR,
and each process's median. :func:`ratio_verdict` compares two such variants: the ratio of their
medians with its bootstrap CI and a verdict. :func:`bimodality` flags a sample with two speeds.
"""

from __future__ import annotations

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


def bootstrap_medians(per_process: Sequence[Sequence[float]], n_boot: int = N_BOOT, seed: int = SEED) -> np.ndarray | None:
    """``n_boot`` medians of hierarchical resamples: processes with replacement, then the steps of
    each chosen process with replacement, pooled. ``None`` with fewer than two steps in all."""
    groups = _groups(per_process)
    if sum(len(g) for g in groups) < 2:
        return None
    rng = np.random.default_rng(seed)
    if len(groups) == 1:
        g = groups[0]
        return np.median(g[rng.integers(0, len(g), size=(n_boot, len(g)))], axis=1)
    out = np.empty(n_boot)
    p = len(groups)
    for b in range(n_boot):
        pick = rng.integers(0, p, size=p)
        out[b] = np.median(np.concatenate([groups[i][rng.integers(0, len(groups[i]), len(groups[i]))] for i in pick]))
    return out


def step_stats(per_process: Sequence[Sequence[float]]) -> dict[str, Any]:
    """The :class:`~profiler.core.record.StepStats` fields of step times in ms, one list per process."""
    groups = _groups(per_process)
    pooled = np.concatenate(groups) if groups else np.empty(0)
    out: dict[str, Any] = {
        "median": None, "min": None, "max": None, "mean": None, "spread_pct": None,
        "n_steps": len(pooled), "n_processes": len(groups), "ci95": None, "mad": None, "iqr": None,
        "per_process": [float(np.median(g)) for g in groups] or None,
        "statistic": MEDIAN,
    }
    if not len(pooled):
        return out
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
    boot = bootstrap_medians(groups)
    if boot is not None:
        lo, hi = np.percentile(boot, [2.5, 97.5])
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
    verdict = FASTER if lo > 1.0 else SLOWER if hi < 1.0 else NOT_SIGNIFICANT
    return ratio, [float(lo), float(hi)], verdict


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


def disturbed(values: Sequence[float]) -> list[bool]:
    """Which of a handful of step times are disturbed (see :data:`DISTURBED_SHARE`); none below
    three values (with two, which one is typical cannot be told). Only long steps are: nothing makes
    a step run faster than its work."""
    if len(values) < 3:
        return [False] * len(values)
    a = np.asarray(values, dtype=float)
    med = float(np.median(a))
    mad = 1.4826 * float(np.median(np.abs(a - med)))
    limit = med + max(DISTURBED_MADS * mad, DISTURBED_SHARE * med)
    return [bool(x > limit) for x in a.tolist()]
