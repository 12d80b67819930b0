"""Page faults and context switches per step, clean against traced (pure functions).

The harness reads the process's counters at every step boundary (:mod:`profiler.core.usage`). A
tracer changes how a program uses memory: its own buffers grow, and the allocator, with the tracer's
allocations between the program's, may hand a large buffer back to the kernel and fault it in again
on the next step. Those faults are paid inside the ops that first touch the memory (a ``fill_`` of
a freshly allocated gradient, a copy into a new output) and are not a cost per record, so removing
the measured per-record cost leaves them in the traced breakdown.

:func:`kernel_excess` measures what they cost where they happened: the kernel CPU time a traced step
took beyond the clean step's (the tracer itself makes no system calls per record; the faults are the
kernel work it causes), in wall time over the threads that fault in parallel (a framework's large
ops, which touch fresh buffers, run on its intra-op threads). The price per fault it implies is set
beside this machine's calibrated price on memory it had handed out before
(``calibration["cpu"]["page_fault_us"]``): far above it, the machine was slow to supply memory (a
virtual machine's memory touched for the first time since boot, reclaim). The compensation removes
that time from memory I/O (a fault is the kernel supplying memory on first touch).
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
    mean over the traced steps (the breakdown is their mean). ``None`` when no step carries them."""
    c = [w.usage for w in clean if w.usage]
    t = [w.usage for w in traced if w.usage]
    if not c and not t:
        return None
    return {
        "clean": {k: statistics.median(u[k] for u in c) for k in USAGE_FIELDS} if c else None,
        "traced": {k: statistics.fmean(u[k] for u in t) for k in USAGE_FIELDS} if t else None,
        "clean_max": {k: max(u[k] for u in c) for k in USAGE_FIELDS} if c else None,
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
    summary: dict[str, Any] | None, threads: int, calibrated_us: float | None = None
) -> dict[str, Any] | None:
    """What a traced step spent in the kernel beyond the clean step: minor faults, kernel CPU ms, and
    the wall ms that is over ``threads`` (negative when the clean step spends more); ``remove_ms``:
    what the compensation takes from memory I/O, only when the traced steps faulted by at least
    :data:`FAULTS_WORTH_NOTING` more (or fewer) than the clean step, so that the faults explain the
    kernel time, else ``None``. ``None`` without counters on both sides."""
    if not summary or not summary.get("clean") or not summary.get("traced"):
        return None
    c, t = summary["clean"], summary["traced"]
    faults = t["minflt"] - c["minflt"]
    sys_ms = (t["stime_us"] - c["stime_us"]) / 1e3
    threads = max(1, int(threads))
    ms = sys_ms / threads
    explained = abs(faults) >= FAULTS_WORTH_NOTING and ms * faults > 0
    return {
        "faults_per_step": faults,
        "clean_faults_per_step": c["minflt"],
        "kernel_cpu_ms": sys_ms,
        "threads": threads,
        "ms": ms,
        "remove_ms": ms if explained else None,
        # the wall cost of one extra fault, as measured in these steps
        "per_fault_us": (1e3 * sys_ms / threads / faults) if faults >= FAULTS_WORTH_NOTING else None,
        "calibrated_us": calibrated_us,
    }
