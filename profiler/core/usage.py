"""What the kernel counted for this process around each step: page faults and context switches.

:func:`usage_now` reads ``getrusage`` for the process (every thread) and for the calling thread
(about 1.5 µs for both, cheap enough for every step boundary); :func:`usage_delta` and
:func:`usage_arg` give the deltas a step span carries in ``args["usage"]`` (:data:`USAGE_FIELDS`;
the ``thread_*`` fields only where both readings were on one thread). ``None`` where ``resource``
does not exist. The fields, the costs measured and why not per-thread ``/proc``:
``docs/breakdown.md`` ("What tracing does to memory").
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
