"""What the machine did while one worker ran its clean steps: read by the parent from ``/proc``.

:class:`MeasureWindow` is fed the worker's progress messages and, when the ``measure`` phase starts
and when the last clean step is done, reads the machine's busy, idle and steal time, the CPU time of
the profiler's own process tree, the worker's per-thread CPU time and the CPU frequency where shown;
:meth:`MeasureWindow.figures` turns the two snapshots into figures (``None`` where unread). What
they feed: ``docs/compare.md`` ("Noise warnings").
"""

from __future__ import annotations

import glob
import threading
import time
from typing import Any

from profiler.analysis.thread_fits import busy_threads
from profiler.probes.process import CLK_TCK, thread_cpu_times


def machine_times() -> dict[str, float] | None:
    """Seconds of busy, idle and steal time over all cores since boot (``/proc/stat``), or ``None``."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    v = [int(x) / CLK_TCK for x in fields[1:]]
    v += [0.0] * (8 - len(v))
    user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
    return {"busy": user + nice + system + irq + softirq, "idle": idle + iowait, "steal": steal}


def own_tree_cpu_s() -> float | None:
    """CPU seconds of this process and all its live descendants (psutil)."""
    try:
        import psutil

        me = psutil.Process()
        total = sum(me.cpu_times()[:2])
        for c in me.children(recursive=True):
            try:
                total += sum(c.cpu_times()[:2])
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return total
    except Exception:
        return None


def cpu_freq_mhz() -> tuple[float | None, float | None]:
    """Mean current and mean maximum CPU frequency in MHz, where ``cpufreq`` is readable."""
    cur, mx = [], []
    for d in glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq"):
        try:
            with open(f"{d}/scaling_cur_freq") as f:
                cur.append(int(f.read()) / 1e3)
            with open(f"{d}/cpuinfo_max_freq") as f:
                mx.append(int(f.read()) / 1e3)
        except (OSError, ValueError):
            continue
    if not cur:
        return None, None
    return sum(cur) / len(cur), (sum(mx) / len(mx) if mx else None)


class MeasureWindow:
    """Two snapshots of the machine around one worker's clean steps (see the module doc)."""

    def __init__(self, pid: int, opens: str = "measure") -> None:
        self.pid = pid
        self.opens = opens  # the phase whose steps it surrounds: "measure" (clean) or "trace"
        self.snaps: list[dict[str, Any]] = []
        self.error: str | None = None
        self._lock = threading.Lock()

    def _snap(self) -> dict[str, Any]:
        s: dict[str, Any] = {"t": time.monotonic(), "machine": machine_times(), "ours": own_tree_cpu_s()}
        try:
            s["threads"], s["resolution_s"] = thread_cpu_times(self.pid)
        except OSError as e:
            self.error = f"cannot read /proc/{self.pid}/task: {e.strerror or e}"
        s["freq"] = cpu_freq_mhz()
        return s

    def on_progress(self, msg: dict[str, Any]) -> None:
        phase = msg.get("phase")
        last_step = phase is None and msg.get("step") is not None and msg.get("step") == msg.get("total")
        with self._lock:
            if phase == self.opens and not self.snaps:
                self.snaps.append(self._snap())
            elif len(self.snaps) == 1 and (last_step or msg.get("measured") or phase is not None):
                self.snaps.append(self._snap())

    def figures(self, cores: int) -> dict[str, Any] | None:
        """Other processes' CPU (cores), steal (% of the machine's time), busy threads, frequency."""
        if len(self.snaps) < 2:
            return None
        a, b = self.snaps
        window = b["t"] - a["t"]
        if window <= 0:
            return None
        out: dict[str, Any] = {"window_s": round(window, 3), "other_cores": None, "steal_pct": None,
                               "busy_threads": None, "cpu_parallelism": None, "freq_mhz": None,
                               "freq_max_mhz": None}
        ma, mb = a["machine"], b["machine"]
        if ma and mb:
            busy = mb["busy"] - ma["busy"]
            total = busy + (mb["idle"] - ma["idle"]) + (mb["steal"] - ma["steal"])
            if a["ours"] is not None and b["ours"] is not None:
                out["other_cores"] = round(max(0.0, busy - (b["ours"] - a["ours"])) / window, 3)
            if total > 0:
                out["steal_pct"] = round(100.0 * (mb["steal"] - ma["steal"]) / total, 2)
        if "threads" in a and "threads" in b:
            bt = busy_threads(a["threads"], b["threads"], window, a.get("resolution_s", 1e-9))
            out["busy_threads"] = bt.busy
            out["cpu_parallelism"] = round(bt.cpu_parallelism, 3)
        f = b.get("freq") or (None, None)
        out["freq_mhz"], out["freq_max_mhz"] = f
        out["cores"] = cores
        return out
