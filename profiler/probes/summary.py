"""What the low-level probes say about a worker's steps: pure functions of its events.

:func:`probe_summary` returns the figures the report prints under a variant (and ``run.json`` keeps):

* ``nvml``    — per GPU: mean and max power (W) during the steps, energy per step (J: differences of
  NVML's energy counter at the step bounds where the GPU has one, else power integrated over the
  steps), and which throttle reasons were active during them;
* ``process`` — peak RSS (MiB, whole run), mean CPU of the process tree during the steps (% of one
  core), mean machine CPU (% of all cores) and the median number of busy threads;
* ``pyspy``   — share of step time whose innermost Python frame was in the workload's own code.

Windows are the clean (untraced) steps when there are any, else the traced ones. No framework import.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from profiler.core.events import EventTable

_GPU_RE = re.compile(r"^gpu(\d+) power W$")


def _in_windows(ts: np.ndarray, windows: Sequence[tuple[int, int]]) -> np.ndarray:
    m = np.zeros(len(ts), dtype=bool)
    for a, b in windows:
        m |= (ts >= a) & (ts <= b)
    return m


def _energy_from_counter(
    ts: np.ndarray, joules: np.ndarray, windows: Sequence[tuple[int, int]]
) -> float | None:
    if len(ts) < 2:
        return None
    total = 0.0
    for a, b in windows:
        if a < ts[0] or b > ts[-1]:
            return None  # a window outside the sampled range: no honest interpolation
        total += float(np.interp(b, ts, joules) - np.interp(a, ts, joules))
    return total


def _energy_from_power(ts: np.ndarray, watts: np.ndarray, windows: Sequence[tuple[int, int]]) -> float | None:
    if len(ts) < 2:
        return None
    total = 0.0
    for a, b in windows:
        if a < ts[0] or b > ts[-1]:
            return None
        inner = (ts > a) & (ts < b)
        t = np.concatenate([[a], ts[inner], [b]])
        p = np.concatenate([[np.interp(a, ts, watts)], watts[inner], [np.interp(b, ts, watts)]])
        total += float(np.sum((p[1:] + p[:-1]) / 2 * np.diff(t)) / 1e9)
    return total


def nvml_summary(events: EventTable, pid: int, windows: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    """Per-GPU power, energy per step and throttling during ``windows`` (empty without NVML data)."""
    from profiler.probes.nvml import THROTTLING_MASK, decode_reasons

    out = []
    gpus = sorted({int(m.group(1)) for n in events.counter_names() if (m := _GPU_RE.match(n))})
    for i in gpus:
        ts, w = events.counter_series(f"gpu{i} power W", pid)
        m = _in_windows(ts, windows)
        rec: dict[str, Any] = {"gpu": i, "samples": int(m.sum())}
        if m.any():
            rec["mean_power_w"] = float(w[m].mean())
            rec["max_power_w"] = float(w[m].max())
        ets, ej = events.counter_series(f"gpu{i} energy J", pid)
        energy = _energy_from_counter(ets, ej, windows)
        rec["energy_source"] = "energy counter"
        if energy is None:
            energy = _energy_from_power(ts, w, windows)
            rec["energy_source"] = "integrated power"
        rec["energy_per_step_j"] = energy / len(windows) if energy is not None and windows else None
        rts, rv = events.counter_series(f"gpu{i} throttle reasons", pid)
        rm = _in_windows(rts, windows)
        mask = int(np.bitwise_or.reduce(rv[rm].astype(np.int64))) if rm.any() else 0
        rec["throttle_reasons"] = decode_reasons(mask & THROTTLING_MASK)
        if rm.any():
            rec["throttled_pct"] = float(100.0 * np.mean((rv[rm].astype(np.int64) & THROTTLING_MASK) != 0))
        ut, uv = events.counter_series(f"gpu{i} util %", pid)
        um = _in_windows(ut, windows)
        if um.any():
            rec["mean_util_pct"] = float(uv[um].mean())
        out.append(rec)
    return out


def process_summary(
    events: EventTable, pid: int, windows: Sequence[tuple[int, int]]
) -> dict[str, Any] | None:
    """Peak RSS, mean CPU and busy threads of the worker's process tree (``None`` without data)."""
    from profiler.probes.process import BUSY_THREADS, CPU_TREE, RSS

    rts, rss = events.counter_series(RSS, pid)
    if not len(rts):
        return None
    out: dict[str, Any] = {"peak_rss_mib": float(rss.max())}
    cts, cpu = events.counter_series(CPU_TREE, pid)
    m = _in_windows(cts, windows)
    if m.any():
        out["mean_cpu_pct"] = float(cpu[m].mean())
    cores = [n for n in events.counter_names() if n.startswith("cpu % core ")]
    if cores:
        per = []
        for n in cores:
            ts, v = events.counter_series(n, pid)
            mm = _in_windows(ts, windows)
            if mm.any():
                per.append(float(v[mm].mean()))
        if per:
            out["mean_machine_cpu_pct"] = float(np.mean(per))
            out["cores"] = len(cores)
    bts, bv = events.counter_series(BUSY_THREADS, pid)
    bm = _in_windows(bts, windows)
    if bm.any():
        out["busy_threads_median"] = float(np.median(bv[bm]))
    return out


def probe_summary(events: EventTable, pid: int | None, windows: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """Every probe's figures for one worker's steps (keys only for probes that left data)."""
    if pid is None or not windows:
        return {}
    out: dict[str, Any] = {}
    g = nvml_summary(events, pid, windows)
    if g:
        out["nvml"] = g
    p = process_summary(events, pid, windows)
    if p:
        out["process"] = p
    if len(events.samples["ts_ns"]):
        from profiler.probes.pyspy import workload_python_share

        share = workload_python_share(events, pid, windows)
        if share is not None:
            out["pyspy"] = {"workload_python_share": share}
    return out


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The report's lines for a :func:`probe_summary` result."""
    lines = []
    for g in summary.get("nvml", []):
        parts = [f"GPU {g['gpu']}"]
        if g.get("mean_power_w") is not None:
            parts.append(f"power mean {g['mean_power_w']:.0f} W, max {g['max_power_w']:.0f} W")
        if g.get("energy_per_step_j") is not None:
            parts.append(f"energy {g['energy_per_step_j']:.2f} J/step ({g['energy_source']})")
        if g.get("mean_util_pct") is not None:
            parts.append(f"kernel-active {g['mean_util_pct']:.0f}% (utilization.gpu, not SM occupancy)")
        reasons = g.get("throttle_reasons") or []
        parts.append(
            f"throttled {g.get('throttled_pct', 0):.0f}% of samples: {', '.join(reasons)}"
            if reasons
            else "no throttling"
        )
        lines.append(" · ".join(parts))
    p = summary.get("process")
    if p:
        s = f"process: peak RSS {p['peak_rss_mib']:,.0f} MiB"
        if p.get("mean_cpu_pct") is not None:
            s += f" · CPU {p['mean_cpu_pct']:.0f}% of a core (process tree)"
        if p.get("mean_machine_cpu_pct") is not None:
            s += f" · machine {p['mean_machine_cpu_pct']:.0f}% of {p['cores']} cores"
        if p.get("busy_threads_median") is not None:
            s += f" · {p['busy_threads_median']:.0f} busy threads"
        lines.append(s)
    py = summary.get("pyspy")
    if py:
        lines.append(
            f"py-spy: {100 * py['workload_python_share']:.0f}% of step time with the innermost Python "
            f"frame in the workload's own code"
        )
    return lines
