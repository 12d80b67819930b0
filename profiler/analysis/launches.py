"""CUDA launch statistics (Holistic Trace Analysis's "CUDA kernel launch statistics"), per worker.

Every device activity (kernel, memcpy, memset) is joined to the host call that enqueued it by
correlation id (CUPTI's, as Kineto and our CUPTI probe record it). Per pair:

* **launch delay**: device start − end of the launch call (how long the enqueued work waited for the
  device: queueing behind earlier work, a dependency, the driver); its distribution (median, p90,
  p99, max and a histogram) over the steps;
* **short kernels**: kernels that run for less time than their own launch call took on the host
  (HTA's definition): for them the host's launch cost, not the device, sets the pace; their count,
  their share of kernels and of kernel time, and the most frequent names are reported;
* **outliers**: launch calls longer than :data:`RUNTIME_CUTOFF_US` and launch delays longer than
  :data:`LAUNCH_DELAY_CUTOFF_US` (HTA's default cut-offs), with the worst few named.

A pure function of the event table: no framework, no files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from profiler.analysis.breakdown import StepWindow
from profiler.core.events import KERNEL, MEMCPY, MEMSET, RUNTIME, SPAN_CATEGORIES, SYNC, EventTable

#: a launch call longer than this (µs) is an outlier (HTA's ``runtime_cutoff``)
RUNTIME_CUTOFF_US = 50.0
#: a launch delay longer than this (µs) is an outlier (HTA's ``launch_delay_cutoff``)
LAUNCH_DELAY_CUTOFF_US = 100.0
#: histogram bucket edges of the launch delay, µs
DELAY_BUCKETS_US = (0.0, 5.0, 20.0, 100.0, 500.0)
TOP = 5


def _pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) / 1e3


def launch_stats(table: EventTable, pid: int | None = None,
                 steps: Sequence[StepWindow] | None = None) -> dict[str, Any] | None:
    """Launch delay distribution, short kernels and outliers of one process (``None``: no device
    activity with a launch to join it to). ``steps``: only launches inside them count (all when
    ``None``); per-step figures need them."""
    sp = table.spans
    pm = (sp["pid"] == pid) if pid is not None else np.ones(table.n_spans, bool)
    corr = sp["corr"]
    start, dur = sp["start_ns"], sp["dur_ns"]
    launch = np.flatnonzero(pm & table.cat_mask(RUNTIME, SYNC) & (corr >= 0))
    dev = np.flatnonzero(pm & table.cat_mask(KERNEL, MEMCPY, MEMSET) & (corr >= 0))
    if not len(launch) or not len(dev):
        return None
    if steps:
        ws = np.array([w.start_ns for w in steps], np.int64)
        we = np.array([w.end_ns for w in steps], np.int64)
        k = np.searchsorted(ws, start[launch], side="right") - 1
        ok = (k >= 0) & (start[launch] < we[np.maximum(k, 0)])
        launch = launch[ok]
    lc = corr[launch]
    order = np.argsort(lc, kind="stable")
    launch, lc = launch[order], lc[order]
    if not len(launch):
        return None
    k = np.minimum(np.searchsorted(lc, corr[dev]), len(lc) - 1)
    hit = lc[k] == corr[dev]
    d_rows, l_rows = dev[hit], launch[k[hit]]
    if not len(d_rows):
        return None
    delay = start[d_rows] - (start[l_rows] + dur[l_rows])
    names = table.strings.strings
    is_kernel = sp["cat"][d_rows] == SPAN_CATEGORIES.index(KERNEL)
    kd, kl = d_rows[is_kernel], l_rows[is_kernel]
    short = dur[kd] < dur[kl]
    n_steps = len(steps) if steps else None
    edges = [e * 1e3 for e in DELAY_BUCKETS_US]
    hist = np.histogram(np.maximum(delay, 0), bins=[*edges, max(float(delay.max()) + 1, edges[-1] + 1)])[0]
    labels = [f"{a:g}–{b:g} µs" for a, b in pairwise(DELAY_BUCKETS_US)]
    labels.append(f"≥ {DELAY_BUCKETS_US[-1]:g} µs")

    def top(rows: np.ndarray, value: np.ndarray) -> list[dict[str, Any]]:
        o = np.argsort(-value, kind="stable")[:TOP]
        return [{"name": names[int(sp["name"][rows[i]])], "us": float(value[i]) / 1e3, "start_ns": int(start[rows[i]])}
                for i in o.tolist()]

    rt_us = dur[l_rows] / 1e3
    slow_rt = rt_us > RUNTIME_CUTOFF_US
    slow_delay = delay / 1e3 > LAUNCH_DELAY_CUTOFF_US
    k_time = float(dur[kd].sum())
    out: dict[str, Any] = {
        "pairs": len(d_rows),
        "kernels": len(kd),
        "per_step": (len(d_rows) / n_steps) if n_steps else None,
        "launch_delay_us": {
            "definition": "device start − end of its launch call",
            "median": _pct(delay, 50),
            "p90": _pct(delay, 90),
            "p99": _pct(delay, 99),
            "max": float(delay.max()) / 1e3,
            "histogram": dict(zip(labels, hist.tolist(), strict=True)),
        },
        "launch_call_us": {"median": _pct(dur[l_rows], 50), "p90": _pct(dur[l_rows], 90)},
        "short_kernels": {
            "definition": "kernel shorter than its own launch call",
            "count": int(short.sum()),
            "share_pct": 100.0 * float(short.mean()) if len(kd) else None,
            "time_share_pct": 100.0 * float(dur[kd][short].sum()) / k_time if k_time else None,
            "ms_per_step": (float(dur[kd][short].sum()) / 1e6 / n_steps) if n_steps else None,
            "top": [{"name": n, "count": c} for n, c in
                    Counter(names[int(sp["name"][r])] for r in kd[short].tolist()).most_common(TOP)],
        },
        "runtime_outliers": {"cutoff_us": RUNTIME_CUTOFF_US, "count": int(slow_rt.sum()),
                             "top": top(l_rows[slow_rt], dur[l_rows][slow_rt])},
        "launch_delay_outliers": {"cutoff_us": LAUNCH_DELAY_CUTOFF_US, "count": int(slow_delay.sum()),
                                  "top": top(d_rows[slow_delay], delay[slow_delay])},
    }
    s = out["short_kernels"]
    out["sentence"] = (
        f"{len(d_rows):,} launches joined to their device work: launch delay median "
        f"{out['launch_delay_us']['median']:.1f} µs (p99 {out['launch_delay_us']['p99']:.1f} µs); "
        + (f"{s['count']:,} of {len(kd):,} kernels ({s['share_pct']:.0f}%) are shorter than their launch call"
           if len(kd) else "no kernels")
        + (f"; {out['launch_delay_outliers']['count']:,} delays over {LAUNCH_DELAY_CUTOFF_US:g} µs"
           if out["launch_delay_outliers"]["count"] else "")
    )
    return out
