"""CUDA launch statistics (Holistic Trace Analysis's "CUDA kernel launch statistics"), per worker.

:func:`launch_stats` joins every device activity to the launch call that enqueued it by correlation
id (:func:`launch_calls`) and gives HTA's launch delay once per call (its distribution, per API and
over :data:`HTA_LAUNCH_NAMES`), the short kernels (shorter than their own launch call) and the
outliers beyond :data:`RUNTIME_CUTOFF_US` and :data:`LAUNCH_DELAY_CUTOFF_US`. A pure function of the
event table: no framework, no files. Definitions: ``docs/gpu-figures.md`` ("Launch statistics") and
``docs/traces.md`` ("Analyses").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from profiler.analysis.breakdown import StepWindow
from profiler.core.events import (
    DEVICE_TID_BASE,
    KERNEL,
    MEMCPY,
    MEMSET,
    RUNTIME,
    SPAN_CATEGORIES,
    SYNC,
    EventTable,
)

#: a launch call longer than this (µs) is an outlier (HTA's ``runtime_cutoff``)
RUNTIME_CUTOFF_US = 50.0
#: a launch delay longer than this (µs) is an outlier (HTA's ``launch_delay_cutoff``)
LAUNCH_DELAY_CUTOFF_US = 100.0
#: histogram bucket edges of the launch delay, µs
DELAY_BUCKETS_US = (0.0, 5.0, 20.0, 100.0, 500.0)
TOP = 5


def _pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) / 1e3


#: HTA's launch calls (``cuda_kernel_launch_stats``): its launch delay is over these only
HTA_LAUNCH_NAMES = ("cudaLaunchKernel", "cudaLaunchKernelExC", "cudaMemcpyAsync", "cudaMemsetAsync")
LAUNCH_DELAY_DEFINITION = ("HTA's launch delay: start of the call's (first) device activity − end of its launch "
                           "call, clipped at 0; one value per launch call")


@dataclass(frozen=True)
class LaunchCalls:
    """Host calls that enqueued device work, one entry per call, joined by correlation id."""

    rows: np.ndarray  # the call's span row
    name: list[str]
    start: np.ndarray  # ns
    dur: np.ndarray  # ns
    first_start: np.ndarray  # ns: start of its first device activity
    activities: np.ndarray  # device activities it enqueued (a graph launch: many)
    pairs: tuple[np.ndarray, np.ndarray]  # (device row, call row) per device activity

    @property
    def delay(self) -> np.ndarray:
        """HTA's launch delay per call, ns."""
        return np.maximum(self.first_start - (self.start + self.dur), 0)


def launch_calls(table: EventTable, pid: int | None = None,
                 steps: Sequence[StepWindow] | None = None) -> LaunchCalls | None:
    """Every host call of ``pid`` (runtime or sync, started inside ``steps`` when given) with the
    device activities it enqueued; ``None`` when there is none."""
    sp = table.spans
    pm = (sp["pid"] == pid) if pid is not None else np.ones(table.n_spans, bool)
    corr = sp["corr"]
    start, dur = sp["start_ns"], sp["dur_ns"]
    host = sp["tid"] < DEVICE_TID_BASE
    launch = np.flatnonzero(pm & host & table.cat_mask(RUNTIME, SYNC) & (corr >= 0))
    dev = np.flatnonzero(pm & ~host & table.cat_mask(KERNEL, MEMCPY, MEMSET) & (corr >= 0))
    if not len(launch) or not len(dev):
        return None
    if steps:
        ws = np.array([w.start_ns for w in steps], np.int64)
        we = np.array([w.end_ns for w in steps], np.int64)
        k = np.searchsorted(ws, start[launch], side="right") - 1
        ok = (k >= 0) & (start[launch] < we[np.maximum(k, 0)])
        launch = launch[ok]
    key_l = sp["pid"][launch] * (1 << 32) + corr[launch]
    order = np.argsort(key_l, kind="stable")
    launch, key_l = launch[order], key_l[order]
    if not len(launch):
        return None
    key_d = sp["pid"][dev] * (1 << 32) + corr[dev]
    k = np.minimum(np.searchsorted(key_l, key_d), len(key_l) - 1)
    hit = key_l[k] == key_d
    d_rows, l_rows = dev[hit], launch[k[hit]]
    if not len(d_rows):
        return None
    calls, inv = np.unique(l_rows, return_inverse=True)
    first = np.full(len(calls), np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first, inv, start[d_rows])
    names = table.strings.strings
    return LaunchCalls(rows=calls, name=[names[i] for i in sp["name"][calls].tolist()], start=start[calls],
                       dur=dur[calls], first_start=first, activities=np.bincount(inv, minlength=len(calls)),
                       pairs=(d_rows, l_rows))


def launch_stats(table: EventTable, pid: int | None = None,
                 steps: Sequence[StepWindow] | None = None) -> dict[str, Any] | None:
    """Launch delay distribution, short kernels and outliers of one process (``None``: no device
    activity with a launch to join it to). ``steps``: only launches inside them count (all when
    ``None``); per-step figures need them. Everything about calls is counted once per call (a
    ``cudaGraphLaunch`` that runs hundreds of kernels is one call, one delay)."""
    lc = launch_calls(table, pid, steps)
    if lc is None:
        return None
    sp = table.spans
    start, dur = sp["start_ns"], sp["dur_ns"]
    d_rows, l_rows = lc.pairs
    delay = lc.delay
    names = table.strings.strings
    is_kernel = sp["cat"][d_rows] == SPAN_CATEGORIES.index(KERNEL)
    kd, kl = d_rows[is_kernel], l_rows[is_kernel]
    short = dur[kd] < dur[kl]
    n_steps = len(steps) if steps else None
    edges = [e * 1e3 for e in DELAY_BUCKETS_US]
    hist = np.histogram(delay, bins=[*edges, max(float(delay.max()) + 1, edges[-1] + 1)])[0]
    labels = [f"{a:g}–{b:g} µs" for a, b in pairwise(DELAY_BUCKETS_US)]
    labels.append(f"≥ {DELAY_BUCKETS_US[-1]:g} µs")

    def top(rows: np.ndarray, value: np.ndarray) -> list[dict[str, Any]]:
        o = np.argsort(-value, kind="stable")[:TOP]
        return [{"name": names[int(sp["name"][rows[i]])], "us": float(value[i]) / 1e3, "start_ns": int(start[rows[i]])}
                for i in o.tolist()]

    rt_us = lc.dur / 1e3
    slow_rt = rt_us > RUNTIME_CUTOFF_US
    slow_delay = delay / 1e3 > LAUNCH_DELAY_CUTOFF_US
    k_time = float(dur[kd].sum())
    by_api: dict[str, dict[str, Any]] = {}
    api = np.array(lc.name, dtype=object)
    for n in sorted(set(lc.name)):
        m = api == n
        by_api[n] = {"calls": int(m.sum()), "activities": int(lc.activities[m].sum()),
                     "launch_delay_median_us": _pct(delay[m], 50), "call_median_us": _pct(lc.dur[m], 50)}
    hta = np.isin(api, HTA_LAUNCH_NAMES)
    out: dict[str, Any] = {
        "calls": len(lc.rows),
        "pairs": len(d_rows),
        "kernels": len(kd),
        "per_step": (len(lc.rows) / n_steps) if n_steps else None,
        "by_api": by_api,
        "launch_delay_us": {
            "definition": LAUNCH_DELAY_DEFINITION,
            "hta_calls_median": _pct(delay[hta], 50) if hta.any() else None,
            "median": _pct(delay, 50),
            "p90": _pct(delay, 90),
            "p99": _pct(delay, 99),
            "max": float(delay.max()) / 1e3,
            "histogram": dict(zip(labels, hist.tolist(), strict=True)),
        },
        "launch_call_us": {"median": _pct(lc.dur, 50), "p90": _pct(lc.dur, 90)},
        "short_kernels": {
            "definition": "kernel shorter than its own launch call",
            "count": int(short.sum()),
            "share_pct": 100.0 * float(short.mean()) if len(kd) else None,
            "time_share_pct": 100.0 * float(dur[kd][short].sum()) / k_time if k_time else None,
            "ms_per_step": (float(dur[kd][short].sum()) / 1e6 / n_steps) if n_steps else None,
            "top": [{"name": n, "count": c} for n, c in
                    Counter(names[int(sp["name"][r])] for r in kd[short].tolist()).most_common(TOP)],
        },
        "runtime_outliers": {"cutoff_us": RUNTIME_CUTOFF_US, "count": int(slow_rt.sum()), "counted": "per call",
                             "top": top(lc.rows[slow_rt], lc.dur[slow_rt])},
        "launch_delay_outliers": {"cutoff_us": LAUNCH_DELAY_CUTOFF_US, "count": int(slow_delay.sum()),
                                  "counted": "per call", "top": top(lc.rows[slow_delay], delay[slow_delay])},
    }
    s = out["short_kernels"]
    out["sentence"] = (
        f"{len(lc.rows):,} launch calls ({len(d_rows):,} device activities): HTA's launch delay median "
        f"{out['launch_delay_us']['median']:.1f} µs (p99 {out['launch_delay_us']['p99']:.1f} µs); "
        + (f"{s['count']:,} of {len(kd):,} kernels ({s['share_pct']:.0f}%) are shorter than their launch call"
           if len(kd) else "no kernels")
        + (f"; {out['launch_delay_outliers']['count']:,} delays over {LAUNCH_DELAY_CUTOFF_US:g} µs"
           if out["launch_delay_outliers"]["count"] else "")
    )
    return out
