"""Process probe: what the worker's process tree did to the CPUs, memory and disk, sampled from outside.

:class:`ProcessProbe` runs in the parent (psutil and ``/proc``, 10 Hz by default) and writes
per-core and process-tree CPU, RSS, threads, busy threads, context switches and storage I/O as
counters on the worker's pid; :func:`process_summary` gives the report's figures.
:func:`busy_threads` reads the busy-threads counter back over a window; :func:`thread_cpu_seconds`
and :func:`count_busy_threads` measure it directly. Counters and thresholds: ``docs/probes.md``
("Process").
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from profiler.core.events import EventTable
from profiler.core.frameworks import Availability, _dist_version
from profiler.probes.base import ProbeTarget, in_windows
from profiler.probes.sampling import SamplerProbe, StopSampling

CPU_CORE = "cpu % core {}"
CPU_TREE = "cpu % process tree"
RSS = "rss MiB"
THREADS = "threads"
BUSY_THREADS = "busy threads"
CTX = "ctx switches /s"
READ = "read MiB/s"
WRITE = "write MiB/s"

#: Clock ticks per second of /proc/*/stat times.
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def thread_cpu_times(pid: int) -> tuple[dict[int, float], float]:
    """``({tid: CPU seconds}, resolution_s)`` of every thread of ``pid``, read from ``/proc``.

    ``schedstat``'s first field is the thread's time on a CPU in ns; where the kernel has no
    schedstat, ``stat``'s utime + stime in clock ticks. One source for all threads of a snapshot.
    :class:`OSError` when the process's task directory cannot be read (it ended).
    """
    base = f"/proc/{pid}/task"
    tids = [int(t) for t in os.listdir(base)]
    out: dict[int, float] = {}
    use_schedstat = os.path.exists(f"{base}/{tids[0]}/schedstat") if tids else False
    for tid in tids:
        try:
            if use_schedstat:
                with open(f"{base}/{tid}/schedstat") as f:
                    out[tid] = int(f.read().split()[0]) / 1e9
            else:
                with open(f"{base}/{tid}/stat", "rb") as f:
                    raw = f.read()
                # the command name may contain spaces and parentheses: fields start after the last ')'
                fields = raw[raw.rfind(b")") + 2 :].split()
                # fields[0] is field 3 (state); utime and stime are fields 14 and 15
                out[tid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, ValueError, IndexError):
            continue  # the thread ended between listdir and open
    return out, (1e-9 if use_schedstat else 1.0 / CLK_TCK)


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of every thread of ``pid`` (:func:`thread_cpu_times`); ``{}`` once it has ended."""
    try:
        return thread_cpu_times(pid)[0]
    except OSError:
        return {}


def count_busy_threads(
    before: dict[int, float], after: dict[int, float], interval_s: float, threshold: float = 0.5
) -> int:
    """Threads whose CPU time grew by at least ``threshold × interval_s`` between two readings."""
    if interval_s <= 0:
        return 0
    return sum(1 for tid, t in after.items() if t - before.get(tid, t) >= threshold * interval_s)


def busy_threads(
    events: EventTable, pid: int, start_ns: int, end_ns: int, stat: str = "median"
) -> float | None:
    """How many threads of worker ``pid`` were busy between ``start_ns`` and ``end_ns``.

    Reads the process probe's ``busy threads`` counter (each value counts the threads that used at
    least half a core over the preceding sampling interval). ``stat`` is ``"median"`` (the typical
    parallelism of the window) or ``"max"`` (its peak). ``None`` when the probe did not sample the
    window. The counter's resolution is the probe's interval: windows shorter than two intervals
    give no reliable answer.
    """
    ts, v = events.counter_series(BUSY_THREADS, pid)
    m = (ts > start_ns) & (ts <= end_ns)
    if not m.any():
        return None
    if stat == "max":
        return float(v[m].max())
    if stat == "median":
        return float(np.median(v[m]))
    raise ValueError(f"stat must be 'median' or 'max', got {stat!r}")


class ProcessProbe(SamplerProbe):
    name: ClassVar[str] = "process"
    where: ClassVar[str] = "parent"

    @classmethod
    def summarise(cls, events: EventTable, pid: int, windows: Sequence[tuple[int, int]]) -> Any:
        return process_summary(events, pid, windows)

    @classmethod
    def summary_lines(cls, figures: Any) -> list[str]:
        return process_summary_lines(figures)
    summary: ClassVar[str] = "psutil + /proc: per-core CPU, process-tree CPU, RSS, threads, I/O"
    overhead_note: ClassVar[str] = (
        "runs in the parent, nothing inside the worker; ~2.6 ms of parent CPU per sample (measured on a "
        "2-core host): ~2.6% of one core at the default 10 Hz"
    )
    default_rate_hz = 10.0

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.threshold = float(self.options.get("busy_threshold", 0.5))
        self._proc: Any = None
        self._prev: dict[str, Any] | None = None
        self.peak_rss_mib = 0.0

    @classmethod
    def availability(cls) -> Availability:
        try:
            import psutil
        except ImportError:
            return Availability(False, "psutil is not installed; install with pip install psutil")
        if not os.path.isdir("/proc/self/task"):
            return Availability(False, "no /proc filesystem (Linux only)")
        return Availability(True, None, _dist_version("psutil") or psutil.__version__)

    def setup(self, target: ProbeTarget) -> None:
        import psutil

        self._proc = psutil.Process(target.pid)
        psutil.cpu_percent(percpu=True)  # prime: the next call reports since now
        self.b.name_process(target.pid, f"worker {target.pid}")

    def _tree(self) -> list[Any]:
        import psutil

        procs = [self._proc]
        try:
            procs += self._proc.children(recursive=True)
        except psutil.Error:
            pass
        return procs

    def sample(self, t_ns: int) -> None:
        import psutil

        pid = self._proc.pid
        if not self._proc.is_running():
            raise StopSampling
        cpu = 0.0
        rss = 0
        nthreads = 0
        ctx = 0
        rd = wr = 0
        tcpu: dict[tuple[int, int], float] = {}
        for p in self._tree():
            try:
                with p.oneshot():
                    ct = p.cpu_times()
                    cpu += ct.user + ct.system
                    rss += p.memory_info().rss
                    nthreads += p.num_threads()
                    cs = p.num_ctx_switches()
                    ctx += cs.voluntary + cs.involuntary
                    try:
                        io = p.io_counters()
                        rd += io.read_bytes
                        wr += io.write_bytes
                    except (psutil.AccessDenied, AttributeError):
                        pass
            except psutil.NoSuchProcess:
                if p is self._proc:
                    raise StopSampling from None
                continue
            tcpu.update({(p.pid, tid): s for tid, s in thread_cpu_seconds(p.pid).items()})
        b = self.b
        for i, pct in enumerate(psutil.cpu_percent(percpu=True)):
            b.counter(CPU_CORE.format(i), t_ns, pct, pid)
        rss_mib = rss / 2**20
        self.peak_rss_mib = max(self.peak_rss_mib, rss_mib)
        b.counter(RSS, t_ns, rss_mib, pid)
        b.counter(THREADS, t_ns, nthreads, pid)
        prev = self._prev
        if prev is not None:
            dt = (t_ns - prev["t"]) / 1e9
            if dt > 0:
                b.counter(CPU_TREE, t_ns, 100.0 * (cpu - prev["cpu"]) / dt, pid)
                b.counter(CTX, t_ns, (ctx - prev["ctx"]) / dt, pid)
                b.counter(READ, t_ns, (rd - prev["rd"]) / dt / 2**20, pid)
                b.counter(WRITE, t_ns, (wr - prev["wr"]) / dt / 2**20, pid)
                busy = sum(1 for k, s in tcpu.items() if s - prev["tcpu"].get(k, s) >= self.threshold * dt)
                b.counter(BUSY_THREADS, t_ns, busy, pid)
        self._prev = {"t": t_ns, "cpu": cpu, "ctx": ctx, "rd": rd, "wr": wr, "tcpu": tcpu}

    def info(self) -> dict[str, Any]:
        return {
            **super().info(),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "busy_threshold": self.threshold,
        }


def process_summary(
    events: EventTable, pid: int, windows: Sequence[tuple[int, int]]
) -> dict[str, Any] | None:
    """Peak RSS, mean CPU and busy threads of the worker's process tree (``None`` without data)."""
    rts, rss = events.counter_series(RSS, pid)
    if not len(rts):
        return None
    out: dict[str, Any] = {"peak_rss_mib": float(rss.max())}
    cts, cpu = events.counter_series(CPU_TREE, pid)
    m = in_windows(cts, windows)
    if m.any():
        out["mean_cpu_pct"] = float(cpu[m].mean())
    cores = [n for n in events.counter_names() if n.startswith("cpu % core ")]
    if cores:
        per = []
        for n in cores:
            ts, v = events.counter_series(n, pid)
            mm = in_windows(ts, windows)
            if mm.any():
                per.append(float(v[mm].mean()))
        if per:
            out["mean_machine_cpu_pct"] = float(np.mean(per))
            out["cores"] = len(cores)
    bts, bv = events.counter_series(BUSY_THREADS, pid)
    bm = in_windows(bts, windows)
    if bm.any():
        out["busy_threads_median"] = float(np.median(bv[bm]))
    return out


def process_summary_lines(figures: Any) -> list[str]:
    """The report's lines for :func:`process_summary`'s figures."""
    summary = {"process": figures}
    lines: list[str] = []
    p = summary.get("process")
    if p:
        s = f"process: peak RSS {p['peak_rss_mib']:,.0f} MiB"
        if p.get("mean_cpu_pct") is not None:
            s += f" · CPU {p['mean_cpu_pct']:.0f}% of a core (process tree)"
        if p.get("mean_machine_cpu_pct") is not None:
            s += f" · machine {p['mean_machine_cpu_pct']:.0f}% of {p['cores']} cores"
        if p.get("busy_threads") is not None:  # over the clean steps, by scale's rule (run/window.py)
            s += f" · {p['busy_threads']:.0f} busy threads"
        elif p.get("busy_threads_median") is not None:
            s += f" · {p['busy_threads_median']:.0f} busy threads"
        lines.append(s)
    return lines
