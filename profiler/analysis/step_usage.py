"""Page faults and context switches per step, clean against traced (pure functions).

:func:`usage_summary` summarises the counters the harness reads at every step boundary
(:mod:`profiler.core.usage`); :func:`kernel_excess` is the wall time of the kernel CPU a traced step
spent beyond the clean step's (per thread where the steps carry the stepping thread's counters,
else spread evenly over the op threads), which the compensation takes from memory I/O;
:func:`page_fault_cost_us` is the price per fault that implies. Why tracing faults, the per-thread
rule and the measurements: ``docs/breakdown.md`` ("What tracing does to memory").
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from profiler.analysis.breakdown import StepWindow
from profiler.core.usage import USAGE_FIELDS

#: extra minor faults per traced step below this are not worth a note (a few pages of the tracer's)
FAULTS_WORTH_NOTING = 100


def usage_summary(clean: Sequence[StepWindow], traced: Sequence[StepWindow]) -> dict[str, Any] | None:
    """Counters per step: the median over the clean steps (the headline is their median) and the
    mean over the traced steps (the breakdown is their mean). ``None`` when no step carries them.
    A counter is summarised only where every step of that side carries it (the stepping thread's
    own counters, :data:`profiler.core.usage.THREAD_FIELDS`, may be missing)."""
    c = [w.usage for w in clean if w.usage]
    t = [w.usage for w in traced if w.usage]
    if not c and not t:
        return None

    def fields(us: list[dict[str, int]]) -> list[str]:
        return [k for k in USAGE_FIELDS if all(k in u for u in us)]

    return {
        "clean": {k: statistics.median(u[k] for u in c) for k in fields(c)} if c else None,
        "traced": {k: statistics.fmean(u[k] for u in t) for k in fields(t)} if t else None,
        "clean_max": {k: max(u[k] for u in c) for k in fields(c)} if c else None,
        # the counters add up over steps, and the kernel samples the user/kernel split at its clock
        # tick (most steps show 0 or one tick): set against the traced mean, the clean mean is the
        # like-for-like figure (:func:`kernel_excess` with ``clean_statistic="mean"``)
        "clean_mean": {k: statistics.fmean(u[k] for u in c) for k in fields(c)} if c else None,
        "n_clean": len(c),
        "n_traced": len(t),
    }


def page_fault_cost_us(calibration: dict[str, Any] | None) -> float | None:
    """This machine's calibrated wall cost of one minor page fault (µs, median, all cores), ``None``
    if not measured."""
    pf = ((calibration or {}).get("cpu") or {}).get("page_fault_us")
    if isinstance(pf, dict) and pf.get("median") is not None:
        return float(pf["median"])
    return None


def kernel_excess(
    summary: dict[str, Any] | None, threads: int, calibrated_us: float | None = None,
    clean_statistic: str = "median",
) -> dict[str, Any] | None:
    """What a traced step spent in the kernel beyond the clean step: minor faults, kernel CPU ms, and
    the wall ms that is (negative when the clean step spends more; per thread where the steps carry
    the stepping thread's counters, ``split: "per thread"``, else the kernel CPU over ``threads``,
    ``split: "even"``); ``remove_ms``: what the compensation takes from memory I/O, only when the
    traced steps faulted by at least :data:`FAULTS_WORTH_NOTING` more (or fewer) than the clean
    step, so that the faults explain the kernel time, else ``None``. ``None`` without counters on
    both sides. ``clean_statistic``: the clean steps' ``median`` (the headline's) or ``mean`` (the
    traced side's statistic: the in-run compensation sets mean against mean)."""
    if not summary or not summary.get("clean") or not summary.get("traced"):
        return None
    c, t = summary["clean"], summary["traced"]
    if clean_statistic == "mean" and summary.get("clean_mean"):
        c = summary["clean_mean"]
    faults = t["minflt"] - c["minflt"]
    sys_ms = (t["stime_us"] - c["stime_us"]) / 1e3
    threads = max(1, int(threads))
    per_thread = None
    if all(k in c and k in t for k in ("thread_minflt", "thread_stime_us")):
        own_ms = (t["thread_stime_us"] - c["thread_stime_us"]) / 1e3
        own_faults = t["thread_minflt"] - c["thread_minflt"]
        others_ms = sys_ms - own_ms
        per_thread = {
            "stepping_thread_kernel_ms": own_ms,
            "stepping_thread_faults": own_faults,
            "other_threads_kernel_ms": others_ms,
            "other_threads_faults": faults - own_faults,
            "other_threads_over": threads,
        }
        # the larger in size, with its sign (the clean step may be the one that faults more)
        ms = max(own_ms, others_ms / threads, key=abs)
    else:
        ms = sys_ms / threads
    explained = abs(faults) >= FAULTS_WORTH_NOTING and ms * faults > 0
    return {
        "faults_per_step": faults,
        "clean_faults_per_step": c["minflt"],
        "kernel_cpu_ms": sys_ms,
        "threads": threads,
        "split": "per thread" if per_thread else "even",
        "clean_statistic": "mean" if c is summary.get("clean_mean") else "median",
        "per_thread": per_thread,
        "ms": ms,
        "remove_ms": ms if explained else None,
        # the wall cost of one extra fault, as measured in these steps
        "per_fault_us": (1e3 * ms / faults) if faults >= FAULTS_WORTH_NOTING else None,
        "calibrated_us": calibrated_us,
    }
