"""Children that die with the profiler, whatever kills it.

:func:`spawn` starts every process the profiler starts (workers, the user's program, the launcher
and its ranks, py-spy; short-lived helpers through :func:`run`) in its own process group, with a
parent-death signal where Linux has one, and registers its group with one :class:`Guardian` per
profiler process, which SIGTERMs, then after :data:`GRACE_S` SIGKILLs, every registered group when
the profiler dies. :func:`stop_group` and :func:`reaped` stop and unregister groups. The guarantees,
their limits and tests: ``docs/reliability.md`` (the lifeline row and "The lifeline in detail").
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1
#: seconds between the guardian's SIGTERM and SIGKILL of a dead profiler's groups
GRACE_S = 3.0
#: set to 0 to start children without a guardian (the parent-death signal still applies)
GUARDIAN_ENV = "PROFILER_GUARDIAN"


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


_prctl = _load_prctl()


def pdeathsig_supported() -> bool:
    return _prctl is not None


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive ``sig`` when this process (thread) dies; None
    where that cannot be done (not Linux, or not called from the main thread)."""
    prctl = _prctl
    if prctl is None or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above: act as it would have
            os.kill(os.getpid(), sig)

    return preexec


def _guard(grace_s: float) -> None:
    """The guardian's loop (``python -I -S lifeline.py --guardian GRACE``): read ``+PGID``/``-PGID``
    lines until the pipe closes, then SIGTERM the groups left, wait ``grace_s``, SIGKILL the rest."""
    _deaf()
    groups: set[int] = set()
    buf = b""
    while True:
        try:
            chunk = os.read(0, 4096)
        except InterruptedError:
            continue
        except OSError:
            chunk = b""
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            try:
                op, pgid = line[:1], int(line[1:])
            except ValueError:
                continue
            if op == b"+":
                groups.add(pgid)
            else:
                groups.discard(pgid)
    left = [g for g in groups if _group_exists(g)]
    for g in left:
        with contextlib.suppress(OSError):
            os.killpg(g, signal.SIGTERM)
    end = time.monotonic() + grace_s
    while left and time.monotonic() < end:
        time.sleep(0.05)
        left = [g for g in left if _group_exists(g)]
    for g in left:
        with contextlib.suppress(OSError):
            os.killpg(g, signal.SIGKILL)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _deaf() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


class Guardian:
    """The one guardian of this process (started on first use; see the module's docstring)."""

    _lock = threading.Lock()
    _proc: subprocess.Popen | None = None
    _owner_pid: int | None = None

    @classmethod
    def _ensure(cls) -> subprocess.Popen | None:
        if os.environ.get(GUARDIAN_ENV, "1") == "0" or os.name != "posix":
            return None
        if cls._proc is not None and cls._owner_pid == os.getpid() and cls._proc.poll() is None:
            return cls._proc
        try:
            cls._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", os.path.abspath(__file__), "--guardian", str(GRACE_S)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
                preexec_fn=_deaf,  # ignored from the first instruction, not once the code runs
            )
        except OSError:
            cls._proc = None
            return None
        cls._owner_pid = os.getpid()
        return cls._proc

    @classmethod
    def _send(cls, line: str) -> None:
        with cls._lock:
            proc = cls._ensure()
            if proc is None or proc.stdin is None:
                return
            with contextlib.suppress(OSError, ValueError):
                proc.stdin.write(line.encode())
                proc.stdin.flush()

    @classmethod
    def watch(cls, pgid: int) -> None:
        """Kill this process group if the profiler dies before :meth:`release`."""
        cls._send(f"+{pgid}\n")

    @classmethod
    def release(cls, pgid: int) -> None:
        cls._send(f"-{pgid}\n")

    @classmethod
    def pid(cls) -> int | None:
        return cls._proc.pid if cls._proc is not None else None


def spawn(argv: list[str], *, death_signal: int = signal.SIGTERM, **kwargs: Any) -> subprocess.Popen:
    """``subprocess.Popen`` in a new session, with the parent-death signal, watched by the guardian.

    Call :func:`reaped` with the process once it has been waited for."""
    kwargs.setdefault("start_new_session", True)
    preexec = die_with_parent(death_signal)
    if preexec is not None and kwargs.get("preexec_fn") is None:
        kwargs["preexec_fn"] = preexec
    proc = subprocess.Popen(argv, **kwargs)
    if kwargs.get("start_new_session"):
        Guardian.watch(proc.pid)
    return proc


def reaped(proc: subprocess.Popen) -> None:
    """The process was waited for: its group no longer needs the guardian (a child of it that is
    still running is the caller's to kill first, e.g. :func:`profiler.run.process.kill_tree`)."""
    Guardian.release(proc.pid)


def stop_group(proc: subprocess.Popen, grace_s: float = GRACE_S) -> None:
    """SIGTERM ``proc``'s process group (it leads one: :func:`spawn`), wait up to ``grace_s``
    seconds for the whole group to end, SIGKILL what is left, reap the leader and release the group.
    Used when the leader has exited too: what it left running in its group is stopped the same way."""
    pgid = proc.pid
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    end = time.monotonic() + grace_s
    while time.monotonic() < end:
        proc.poll()  # reap the leader once it exits, so the group can empty
        if proc.returncode is not None and not group_alive(pgid):
            break
        time.sleep(0.02)
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5.0)
    reaped(proc)


def run(argv: list[str], *, timeout: float | None = None, capture_output: bool = False,
        grace_s: float = GRACE_S, death_signal: int = signal.SIGTERM, **kwargs: Any) -> subprocess.CompletedProcess:
    """``subprocess.run`` for a short-lived helper, started by :func:`spawn` (its own group, the
    parent-death signal, the guardian): it dies with the profiler, whatever kills it.

    On ``timeout`` its whole group is stopped (:func:`stop_group`) and
    :class:`subprocess.TimeoutExpired` raised, as ``subprocess.run`` does; on any other exception
    (Ctrl-C, SIGTERM turned into an interrupt) the group is stopped and the exception goes on. When
    the helper exits, whatever it left running in its group is stopped too. Standard input is
    ``/dev/null`` unless given."""
    if capture_output:
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    proc = spawn(argv, death_signal=death_signal, **kwargs)
    # the pipes are read by threads and the leader waited for alone: a child it left running with
    # the pipes open (stopped below) must not keep this waiting, as it would ``communicate``
    got: dict[str, Any] = {}
    readers = []
    for name, stream in (("out", proc.stdout), ("err", proc.stderr)):
        if stream is not None:
            t = threading.Thread(target=_drain, args=(stream, name, got), name=f"lifeline-{name}", daemon=True)
            t.start()
            readers.append(t)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(proc, grace_s)
        raise subprocess.TimeoutExpired(argv, timeout or 0.0) from None
    except BaseException:
        stop_group(proc, grace_s)
        raise
    if group_alive(proc.pid):
        stop_group(proc, grace_s)
    else:
        reaped(proc)
    for t in readers:
        t.join(timeout=grace_s + 5.0)  # a process that left the group may hold a pipe: not forever
    return subprocess.CompletedProcess(argv, proc.returncode, got.get("out"), got.get("err"))


def _drain(stream: Any, name: str, got: dict[str, Any]) -> None:
    with contextlib.suppress(OSError, ValueError), stream:
        got[name] = stream.read()


def group_alive(pgid: int) -> bool:
    """Whether any process of the group ``pgid`` still runs."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


if __name__ == "__main__" and sys.argv[1:2] == ["--guardian"]:
    _guard(float(sys.argv[2]))
