"""What the kernel counted for this process around each step: page faults and context switches.

``getrusage(RUSAGE_SELF)`` sums every thread of the process (the framework's intra-op threads too)
and costs about a microsecond, so the harness reads it at every step boundary. The deltas travel in
each step span's ``args["usage"]``:

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

Where ``resource`` does not exist (not POSIX) the reading is ``None`` and steps carry no usage.
"""

from __future__ import annotations

from typing import Any

try:
    import resource
except ImportError:  # pragma: no cover - not POSIX
    resource = None  # type: ignore[assignment]

#: the counters, in the order :func:`usage_now` returns them
USAGE_FIELDS = ("minflt", "majflt", "nvcsw", "nivcsw", "utime_us", "stime_us")


def usage_now() -> tuple[int, ...] | None:
    """This process's counters now (all threads), ``None`` where the platform has none."""
    if resource is None:
        return None
    r = resource.getrusage(resource.RUSAGE_SELF)
    return (r.ru_minflt, r.ru_majflt, r.ru_nvcsw, r.ru_nivcsw, round(r.ru_utime * 1e6), round(r.ru_stime * 1e6))


def usage_delta(
    before: tuple[int, ...] | None, after: tuple[int, ...] | None
) -> dict[str, int] | None:
    """The counters between two readings, by name; ``None`` when either is missing."""
    if before is None or after is None:
        return None
    return {k: int(b - a) for k, a, b in zip(USAGE_FIELDS, before, after, strict=True)}


def usage_arg(d: dict[str, Any] | None) -> dict[str, int] | None:
    """A step span's ``usage`` argument read back (``None`` when absent or malformed)."""
    if not isinstance(d, dict):
        return None
    try:
        return {k: int(d[k]) for k in USAGE_FIELDS}
    except (KeyError, TypeError, ValueError):
        return None
