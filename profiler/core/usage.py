"""What the kernel counted for this process around each step: page faults and context switches.

``getrusage(RUSAGE_SELF)`` sums every thread of the process (the framework's intra-op threads too)
and ``getrusage(RUSAGE_THREAD)`` counts the calling thread alone (the one that runs the steps);
both together cost about 1.5 µs (measured: 1.55 µs a reading on this repository's 2-core machine,
0.7 µs for ``RUSAGE_SELF`` alone), so the harness reads them at every step boundary. The deltas
travel in each step span's ``args["usage"]``:

* ``minflt`` — minor page faults: first touch of memory the process was given (a fresh allocation
  the allocator got from the kernel) or of pages the kernel reclaimed; each costs about a
  microsecond of kernel time inside whatever op touched the page;
* ``majflt`` — major page faults (the page was read from disk);
* ``nvcsw`` / ``nivcsw`` — voluntary (waiting: I/O, locks, sleeps) and involuntary (preempted: the
  scheduler gave the core to someone else) context switches;
* ``utime_us`` / ``stime_us`` — CPU time in user code and in the kernel (all threads, so up to the
  thread count × the step's wall time). The kernel's share is where page faults are paid: a fault
  that is slow (memory the machine had never handed out, reclaim) shows here, however few there
  were. The kernel splits the two by sampling at its clock tick, so one step's split is coarse;
  a mean over several steps is not.
* ``thread_minflt`` / ``thread_utime_us`` / ``thread_stime_us`` — the same counters for the thread
  that ran the step alone (the rest of the process is the difference): where the faults were paid,
  so that their wall time is not the process's kernel time divided evenly over the threads
  (:func:`profiler.analysis.step_usage.kernel_excess`). Present only when both readings were taken
  on the same thread and the platform counts per thread (Linux).

Reading ``/proc/self/task/*/stat`` for every thread instead would name each thread's faults, but it
costs 13–17 µs a thread (measured: 33 µs for 2 threads and 68 µs for 5, with the files kept open
and re-read with ``pread``; 95–200 µs opening them each time): tens of microseconds at every step
boundary, against 1.5 µs here.

Where ``resource`` does not exist (not POSIX) the reading is ``None`` and steps carry no usage.
"""

from __future__ import annotations

import threading
from typing import Any

try:
    import resource
except ImportError:  # pragma: no cover - not POSIX
    resource = None  # type: ignore[assignment]

#: the process's counters, in the order :func:`usage_now` returns them (every usage carries them)
PROCESS_FIELDS = ("minflt", "majflt", "nvcsw", "nivcsw", "utime_us", "stime_us")
#: the stepping thread's own counters (present when measured on one thread, see the module doc)
THREAD_FIELDS = ("thread_minflt", "thread_utime_us", "thread_stime_us")
#: every counter a step's usage may carry
USAGE_FIELDS = PROCESS_FIELDS + THREAD_FIELDS

_RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", None) if resource is not None else None


def usage_now() -> tuple[int, ...] | None:
    """This process's counters now (all threads, :data:`PROCESS_FIELDS` first), then the calling
    thread's native id and its own :data:`THREAD_FIELDS` (absent where the platform has no
    per-thread counts); ``None`` where the platform has none at all."""
    if resource is None:
        return None
    r = resource.getrusage(resource.RUSAGE_SELF)
    out = (r.ru_minflt, r.ru_majflt, r.ru_nvcsw, r.ru_nivcsw, round(r.ru_utime * 1e6), round(r.ru_stime * 1e6))
    if _RUSAGE_THREAD is None:
        return out
    t = resource.getrusage(_RUSAGE_THREAD)
    return (*out, threading.get_native_id(), t.ru_minflt, round(t.ru_utime * 1e6), round(t.ru_stime * 1e6))


def usage_delta(
    before: tuple[int, ...] | None, after: tuple[int, ...] | None
) -> dict[str, int] | None:
    """The counters between two readings, by name; ``None`` when either is missing. The thread's
    own counters are included only when both readings were taken on the same thread."""
    if before is None or after is None:
        return None
    n = len(PROCESS_FIELDS)
    d = {k: int(b - a) for k, a, b in zip(PROCESS_FIELDS, before[:n], after[:n], strict=True)}
    if len(before) == len(after) == n + 1 + len(THREAD_FIELDS) and before[n] == after[n]:
        d.update({k: int(b - a) for k, a, b in zip(THREAD_FIELDS, before[n + 1:], after[n + 1:], strict=True)})
    return d


def usage_arg(d: dict[str, Any] | None) -> dict[str, int] | None:
    """A step span's ``usage`` argument read back (``None`` when absent or malformed; the thread's
    counters only when all of them are there)."""
    if not isinstance(d, dict):
        return None
    try:
        out = {k: int(d[k]) for k in PROCESS_FIELDS}
        if all(k in d for k in THREAD_FIELDS):
            out.update({k: int(d[k]) for k in THREAD_FIELDS})
    except (KeyError, TypeError, ValueError):
        return None
    return out
