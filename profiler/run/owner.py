"""Who writes a run: the ``owner`` section of every record (pid, host, start time), and whether that
process still runs (:mod:`profiler.run.recover` reports a run whose writer died as ``killed``)."""

from __future__ import annotations

import os
import socket
from typing import Any


def _start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot, ``/proc/PID/stat`` field 22), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
        return int(raw[raw.rfind(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def owner_process() -> dict[str, Any]:
    """Who writes this run: the record's ``owner`` section."""
    pid = os.getpid()
    return {"pid": pid, "hostname": socket.gethostname(), "start_ticks": _start_ticks(pid)}


def owner_alive(owner: dict[str, Any]) -> bool | None:
    """Whether the run's writer still runs; None when this machine cannot tell (another host)."""
    pid = owner.get("pid")
    if not isinstance(pid, int) or owner.get("hostname") != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process with that pid: compare start times below
    ticks = _start_ticks(pid)
    want = owner.get("start_ticks")
    if ticks is not None and want is not None and ticks != want:
        return False  # the pid was reused by another process
    return True


# The run this process is writing now (one at a time): when saving it fails — a full disk, an I/O
# error — the command marks that run failed with the reason (profiler.run.execute.fail_run).
_active: tuple[Any, Any] | None = None


def begin(record: Any, run: Any) -> None:
    """``record`` (a RunRecord) is now being written into ``run`` (a RunDir) by this process."""
    global _active
    _active = (record, run)


def active() -> tuple[Any, Any] | None:
    """The (record, run directory) being written, or None."""
    return _active


def clear() -> None:
    global _active
    _active = None
