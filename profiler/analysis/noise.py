"""Is this measurement trustworthy? Plain warnings, each with the figure that triggered it.

Pure functions of what the run already collected: the step times of each worker process, the
machine window the parent read around each process's clean steps (other processes' CPU, steal
time, the worker's busy threads, CPU frequency; :mod:`profiler.run.window`) and the tracing
overhead. The thresholds are module constants, named in docs/compare.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from profiler.analysis.stats import bimodality

#: Other processes' CPU during a worker's clean steps, in cores, above which its times are unreliable.
CONTENTION_CORES = 0.25
#: Share of the machine's CPU time taken by the hypervisor (steal) above which times are unreliable.
STEAL_PCT = 5.0
#: IQR over median above which step times vary too much (torch.utils.benchmark warns at 10%).
IQR_PCT = 10.0
#: Process medians further apart than this (max/min - 1) ran at different speeds.
PROCESS_SPREAD_PCT = 20.0
#: Process medians that move monotonically by more than this across the run drift.
DRIFT_PCT = 10.0
#: Tracing overhead outside this range (%) says the clean or the traced steps were disturbed.
OVERHEAD_RANGE_PCT = (-10.0, 1000.0)
#: CPU frequency below this share of its maximum: throttled or power-saving.
FREQ_SHARE = 0.8


def window_warnings(label: str, window: dict[str, Any] | None, cores: int, threads_requested: int | None) -> list[str]:
    """Warnings from one process's machine window (see :func:`profiler.run.window.MeasureWindow.figures`)."""
    if not window:
        return []
    where = f"{label} (process {window['process']})" if window.get("process") else label
    out = _shared_cpu_warnings(window, cores, where, "its times are unreliable")
    busy = window.get("busy_threads")
    if busy is not None and threads_requested and busy > threads_requested:
        out.append(f"{where} ran {busy} busy threads for {threads_requested} requested "
                   f"({cores} cores): threads compete for cores")
    elif busy is not None and not threads_requested and cores and busy > cores:
        out.append(f"{where} ran {busy} busy threads on {cores} cores (framework default thread count): "
                   "threads compete for cores")
    f, fmax = window.get("freq_mhz"), window.get("freq_max_mhz")
    if f and fmax and f < FREQ_SHARE * fmax:
        out.append(f"CPU frequency {f:.0f} MHz during {where}, {100 * f / fmax:.0f}% of its {fmax:.0f} MHz "
                   "maximum: throttled or power-saving")
    return out


def traced_window_warnings(label: str, window: dict[str, Any] | None, cores: int) -> list[str]:
    """Warnings from the machine around the traced steps, which the breakdown is made of: other
    processes' CPU or the hypervisor's steal there make the breakdown unreliable even where the
    clean steps (the headline) were left alone."""
    if not window:
        return []
    return _shared_cpu_warnings(window, cores, f"the traced steps of {label}", "its breakdown is unreliable")


def _shared_cpu_warnings(window: dict[str, Any], cores: int, where: str, verdict: str) -> list[str]:
    """Other processes' CPU and the hypervisor's steal in one machine window, each with ``verdict``."""
    out: list[str] = []
    other = window.get("other_cores")
    if other is not None and other > CONTENTION_CORES:
        out.append(f"other processes used {other:.2f} of {cores} cores during {where}: {verdict}")
    steal = window.get("steal_pct")
    if steal is not None and steal > STEAL_PCT:
        out.append(f"the hypervisor stole {steal:.0f}% of the CPU time during {where}: {verdict}")
    return out


def sample_warnings(label: str, per_process: Sequence[Sequence[float]], stats: dict[str, Any]) -> list[str]:
    """Warnings from the step times themselves: two speeds, processes apart or drifting, wide IQR."""
    out: list[str] = []
    groups = [list(g) for g in per_process if len(g)]
    pooled = [x for g in groups for x in g]
    med = stats.get("median")
    bi = bimodality(pooled)
    if stats.get("modes"):  # the program's own pattern, named in the headline: not two speeds of the machine
        bi = None
    if bi:
        out.append(f"{label}: step times are bimodal ({bi['low']:.3g} ms for {100 * bi['low_fraction']:.0f}% "
                   f"of steps, {bi['high']:.3g} ms for the rest): the machine or the workload ran at two speeds")
    meds = [float(np.median(g)) for g in groups]
    if len(meds) >= 2 and min(meds) > 0:
        apart = 100.0 * (max(meds) / min(meds) - 1)
        if apart > PROCESS_SPREAD_PCT:
            out.append(f"{label}: process medians {', '.join(f'{m:.3g}' for m in meds)} ms are {apart:.0f}% "
                       "apart: the processes ran at different speeds")
    if len(meds) >= 3:
        d = np.diff(meds)
        change = 100.0 * (meds[-1] / meds[0] - 1) if meds[0] else 0.0
        if (np.all(d > 0) or np.all(d < 0)) and abs(change) > DRIFT_PCT:
            out.append(f"{label}: process medians drift by {change:+.0f}% across the run "
                       f"({meds[0]:.3g} → {meds[-1]:.3g} ms)")
    iqr = stats.get("iqr")
    if med and iqr is not None and not stats.get("modes") and stats.get("n_steps", 0) >= 4 and 100.0 * iqr / med > IQR_PCT:
        out.append(f"{label}: the IQR of step times is {100.0 * iqr / med:.0f}% of the median "
                   f"(over {IQR_PCT:.0f}%): the benchmark may be unstable")
    return out


def overhead_warning(label: str, overhead_pct: float | None) -> list[str]:
    lo, hi = OVERHEAD_RANGE_PCT
    if overhead_pct is None:
        return []
    if overhead_pct < lo:
        return [f"{label}: tracing overhead is {overhead_pct:+.0f}% (traced steps faster than clean ones): "
                "the clean steps were disturbed"]
    if overhead_pct > hi:
        return [f"{label}: tracing overhead is {overhead_pct:+.0f}%: the traced breakdown describes a much "
                "slower run than the headline"]
    return []


def windows_warnings(label: str, windows: Sequence[dict[str, Any] | None], cores: int,
                     threads_requested: int | None) -> list[str]:
    """:func:`window_warnings` over a variant's processes, one line per kind: the range of the
    figure and which processes (of how many) crossed the threshold."""
    if len(windows) <= 1:
        return window_warnings(label, windows[0] if windows else None, cores, threads_requested)
    per_kind: dict[str, list[tuple[int, str]]] = {}
    for n, w in enumerate(windows, 1):
        for line in window_warnings(label, dict(w, process=None) if w else None, cores, threads_requested):
            per_kind.setdefault(line.split(" ")[0] + line.split(" ")[2], []).append((n, line))
    out = []
    for hits in per_kind.values():
        if len(hits) == 1:
            n, line = hits[0]
            out.append(line.replace(f"during {label}", f"during {label} (process {n} of {len(windows)})", 1)
                       .replace(f"{label} ran", f"{label} (process {n} of {len(windows)}) ran", 1))
            continue
        which = ", ".join(str(n) for n, _ in hits)
        worst = max(hits, key=lambda h: _figure(h[1]))[1]
        out.append(worst.replace(f"during {label}", f"during {label} (worst; processes {which} of {len(windows)})", 1)
                   .replace(f"{label} ran", f"{label} (worst; processes {which} of {len(windows)}) ran", 1))
    return out


def _figure(line: str) -> float:
    """The first number in a warning line (its triggering figure)."""
    for tok in line.replace("%", " ").split():
        try:
            return float(tok)
        except ValueError:
            continue
    return 0.0
