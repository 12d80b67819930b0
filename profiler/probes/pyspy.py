"""py-spy probe: the worker's Python stacks, sampled from the parent, on the run clock.

:class:`PySpyProbe` runs ``py-spy record`` against the worker (nonblocking, 50 Hz by default) and
reads its Chrome trace when the worker exits (:func:`parse_chrometrace`): stack samples per
thread, nested ``python`` spans (:func:`samples_to_spans`) and a speedscope file
(:func:`speedscope_document`). :func:`workload_python_share` is the report's share of step time in
the workload's own Python frames. Command line, clock mapping and permissions: ``docs/probes.md``
("py-spy").
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from profiler.core.clock import now_ns
from profiler.core.errors import InputError
from profiler.core.events import PYTHON, EventBuilder, EventTable
from profiler.core.frameworks import FRAMEWORKS, Availability, _dist_version
from profiler.core.lifeline import reaped, spawn
from profiler.probes.base import Probe, ProbeTarget

CHROME_FILE = "pyspy.chrome.json"
SPEEDSCOPE_FILE = "pyspy.speedscope.json"
LOG_FILE = "pyspy.log"

#: Top-level packages whose frames count as "framework", not the workload's own Python: every
#: framework's (core/frameworks.py) and the array libraries'.
FRAMEWORK_PACKAGES = frozenset({fw.module for fw in FRAMEWORKS.values() if fw.distribution} | {"numpy", "cupy", "jax", "scipy"})

PTRACE_FIX = (
    "run as root, or allow tracing: 'sudo sysctl kernel.yama.ptrace_scope=0', or give py-spy the "
    "capability: 'sudo setcap cap_sys_ptrace+ep $(which py-spy)'; in a container add --cap-add SYS_PTRACE"
)


def pyspy_binary() -> str | None:
    """The py-spy executable: next to this interpreter first (a venv), then on PATH."""
    here = Path(sys.executable).parent / "py-spy"
    if here.exists():
        return str(here)
    return shutil.which("py-spy")


def ptrace_problem() -> str | None:
    """Why py-spy would be refused access to a sibling process here, or ``None``."""
    if os.geteuid() == 0:
        return None
    try:
        scope = int(Path("/proc/sys/kernel/yama/ptrace_scope").read_text().strip())
    except (OSError, ValueError):
        return None  # no Yama: ordinary same-user ptrace rules apply
    if scope == 0:
        return None
    return (
        f"kernel.yama.ptrace_scope={scope} forbids py-spy from reading the worker "
        f"(not its parent) without CAP_SYS_PTRACE; fix: {PTRACE_FIX}"
    )


def short_path(filename: str) -> str:
    """``torch/nn/modules/rnn.py`` for installed packages, a path relative to cwd for local files."""
    for marker in ("site-packages/", "dist-packages/"):
        i = filename.rfind(marker)
        if i >= 0:
            return filename[i + len(marker) :]
    try:
        rel = os.path.relpath(filename)
        if not rel.startswith(".."):
            return rel
    except ValueError:
        pass
    return os.path.basename(filename) or filename


def frame_label(name: str, filename: str, line: int | None) -> str:
    loc = short_path(filename)
    return f"{name} ({loc}:{line})" if line else f"{name} ({loc})"


def frame_package(label: str) -> str:
    """Top-level package (or first path component) of a frame label's file."""
    i = label.rfind(" (")
    loc = label[i + 2 : -1] if i >= 0 else label
    return loc.split("/", 1)[0].split(":", 1)[0]


def read_pyspy_chrometrace(path: str | Path) -> list[dict[str, Any]]:
    """The events of a py-spy ``--format chrometrace`` file; :class:`InputError` when it is not one."""
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"{path}: not a py-spy chrometrace file ({type(e).__name__})") from None
    evs = raw.get("traceEvents") if isinstance(raw, dict) else raw
    if not isinstance(evs, list) or not all(isinstance(e, dict) for e in evs):
        raise InputError(f"{path}: not a py-spy chrometrace file (no list of trace events)")
    return evs


def load_pyspy_chrometrace(path: str | Path, pid: int = 0, base_ns: int = 0) -> EventTable:
    """A py-spy chrometrace file as stack samples and nested Python spans (one line on bad input)."""
    evs = read_pyspy_chrometrace(path)
    try:
        return pyspy_events(evs, base_ns, pid)[0]
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as e:
        raise InputError(f"{path}: malformed py-spy chrometrace ({type(e).__name__}: {e})") from None


def pyspy_events(
    evs: Sequence[dict[str, Any]], base_ns: int, pid: int
) -> tuple[EventTable, list[tuple[int, int, tuple[str, ...]]], dict[int, str], list[Any]]:
    """py-spy chrometrace events as ``(table, samples, thread names, spans)``: stack samples plus
    the nested Python spans made from them, on ``pid``."""
    samples, names, end_ns = parse_chrometrace(evs, base_ns)
    b = EventBuilder()
    for ts, tid, frames in samples:
        b.sample(ts, pid, tid, frames)
    for tid, n in names.items():
        b.name_thread(pid, tid, f"{n} (python)")
    spans = samples_to_spans(samples, end_ns)
    for t0, dur, tid, depth, f in spans:
        b.span(PYTHON, f, t0, dur, pid, tid, args={"depth": depth})
    return b.build(), samples, names, spans


def parse_chrometrace(
    events: Sequence[dict[str, Any]], base_ns: int
) -> tuple[list[tuple[int, int, tuple[str, ...]]], dict[int, str], int]:
    """Stack samples from py-spy's ``--format chrometrace --threads`` output.

    Returns ``(samples, thread_names, end_ns)``: ``samples`` are ``(ts_ns, os_tid, frames)`` with
    frames outermost first (an empty tuple when a thread's stack emptied), ``end_ns`` the last
    timestamp. ``base_ns`` is the run-clock time of py-spy's start (its ``ts`` count µs from it).
    The thread frame py-spy adds with ``--threads`` (``thread (TID): NAME``) gives the OS thread id
    and name; without it the trace's own tid is used.
    """
    stacks: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    samples: list[tuple[int, int, tuple[str, ...]]] = []
    pending: dict[int, int] = {}  # tid -> ts of changes not yet emitted
    end_ns = base_ns
    tid_of: dict[Any, int] = {}

    def flush(tid: int) -> None:
        ts = pending.pop(tid, None)
        if ts is not None:
            samples.append((ts, tid, tuple(stacks.get(tid, ()))))

    for e in events:
        ph = e.get("ph")
        if ph not in ("B", "E"):
            continue
        raw_tid = e.get("tid")
        name = str(e.get("name", ""))
        ts = base_ns + round(float(e.get("ts", 0)) * 1000)
        end_ns = max(end_ns, ts)
        is_thread_frame = name.startswith("thread (") and not (e.get("args") or {}).get("filename")
        if is_thread_frame:
            inner = name[len("thread (") :]
            tid_txt, _, tname = inner.partition(")")
            try:
                os_tid = int(tid_txt, 0)
            except ValueError:
                os_tid = int(raw_tid or 0)
            tid_of[raw_tid] = os_tid
            names[os_tid] = tname.lstrip(": ").strip() or f"thread {os_tid}"
        tid = tid_of.get(raw_tid, int(raw_tid or 0))
        if tid in pending and pending[tid] != ts:
            flush(tid)
        if is_thread_frame:
            pending[tid] = ts
            if ph == "E":
                stacks[tid] = []
            continue
        args = e.get("args") or {}
        label = frame_label(name, str(args.get("filename", "")), args.get("line"))
        st = stacks.setdefault(tid, [])
        if ph == "B":
            st.append(label)
        elif st:
            # E closes the innermost open frame with this label (py-spy emits them innermost first)
            for k in range(len(st) - 1, -1, -1):
                if st[k] == label:
                    del st[k:]
                    break
        pending[tid] = ts
    for tid in list(pending):
        flush(tid)
    samples.sort(key=lambda s: (s[1], s[0]))
    return samples, names, end_ns


def samples_to_spans(
    samples: Iterable[tuple[int, int, Sequence[str]]], end_ns: int
) -> list[tuple[int, int, int, int, str]]:
    """Nested slices ``(start_ns, dur_ns, tid, depth, frame)`` from stack samples.

    Per thread, in time order: a frame that is the same (same label at the same depth under the same
    parents) in consecutive samples continues one slice; frames that change end at the sample where
    they changed; frames still open at ``end_ns`` are closed there.
    """
    by_tid: dict[int, list[tuple[int, Sequence[str]]]] = {}
    for ts, tid, frames in samples:
        by_tid.setdefault(tid, []).append((ts, frames))
    out: list[tuple[int, int, int, int, str]] = []
    for tid, seq in by_tid.items():
        seq.sort(key=lambda s: s[0])
        open_: list[tuple[str, int]] = []  # (frame, start)
        for ts, frames in seq:
            common = 0
            while common < len(open_) and common < len(frames) and open_[common][0] == frames[common]:
                common += 1
            for depth in range(len(open_) - 1, common - 1, -1):
                f, t0 = open_.pop()
                out.append((t0, ts - t0, tid, depth, f))
            for f in frames[common:]:
                open_.append((f, ts))
        for depth in range(len(open_) - 1, -1, -1):
            f, t0 = open_.pop()
            out.append((t0, max(0, end_ns - t0), tid, depth, f))
    out.sort(key=lambda s: (s[2], s[0], s[3]))
    return out


def speedscope_document(
    spans: Sequence[tuple[int, int, int, int, str]], thread_names: dict[int, str], name: str
) -> dict[str, Any]:
    """A speedscope "evented" profile per thread from :func:`samples_to_spans` output."""
    frames: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    profiles = []
    for tid in sorted({s[2] for s in spans}):
        evs: list[tuple[int, int, str, int]] = []
        for t0, dur, _, depth, f in (s for s in spans if s[2] == tid):
            if f not in index:
                index[f] = len(frames)
                i = f.rfind(" (")
                frames.append({"name": f[:i] if i > 0 else f, "file": f[i + 2 : -1] if i > 0 else None})
            # order at equal times: closes (deepest first) before opens (outermost first)
            evs.append((t0, 1, "O", depth, index[f]))  # type: ignore[arg-type]
            evs.append((t0 + dur, 0, "C", -depth, index[f]))  # type: ignore[arg-type]
        evs.sort(key=lambda e: (e[0], e[1], e[3]))
        if not evs:
            continue
        profiles.append(
            {
                "type": "evented",
                "name": f"{thread_names.get(tid, 'thread')} ({tid})",
                "unit": "nanoseconds",
                "startValue": evs[0][0],
                "endValue": evs[-1][0],
                "events": [{"type": e[2], "frame": e[4], "at": e[0]} for e in evs],
            }
        )
    return {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": frames},
        "profiles": profiles,
        "name": name,
        "exporter": "profiler",
    }


def workload_python_share(
    events: EventTable, pid: int, windows: Sequence[tuple[int, int]], tid: int | None = None
) -> float | None:
    """Share of the windows' time during which the thread's innermost sampled Python frame was in
    the workload's own code (outside :data:`FRAMEWORK_PACKAGES`).

    Uses the stack samples of thread ``tid`` (default: the main thread, whose OS tid is ``pid``);
    each sample's stack holds until the next sample. ``None`` without samples in the windows.
    """
    tid = pid if tid is None else tid
    sm = events.samples
    m = (sm["pid"] == pid) & (sm["tid"] == tid)
    if not m.any() or not windows:
        return None
    order = np.argsort(sm["ts_ns"][m], kind="stable")
    ts = sm["ts_ns"][m][order]
    stack_ids = sm["stack"][m][order]
    strings = events.strings
    own = np.zeros(len(ts), dtype=bool)
    for k, sid in enumerate(stack_ids.tolist()):
        st = events.stacks[sid]
        if st:
            own[k] = frame_package(strings[st[-1]]) not in FRAMEWORK_PACKAGES
    ends = np.append(ts[1:], ts[-1])
    covered = inside = 0
    for w0, w1 in windows:
        lo = np.clip(ts, w0, w1)
        hi = np.clip(ends, w0, w1)
        d = hi - lo
        covered += int(d.sum())
        inside += int(d[own].sum())
    return inside / covered if covered else None


class PySpyProbe(Probe):
    name: ClassVar[str] = "pyspy"
    where: ClassVar[str] = "parent"

    @classmethod
    def summarise(cls, events: EventTable, pid: int, windows: Sequence[tuple[int, int]]) -> Any:
        return pyspy_summary(events, pid, windows)

    @classmethod
    def summary_lines(cls, figures: Any) -> list[str]:
        return pyspy_summary_lines(figures)
    summary: ClassVar[str] = "py-spy: Python stacks of every worker thread, as nested slices + speedscope"
    overhead_note: ClassVar[str] = (
        "nonblocking 50 Hz: the worker is never paused; py-spy itself used ~1% of a core (measured); "
        "blocking or --native modes pause the worker for every sample"
    )

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.rate_hz = int(self.options.get("rate_hz", 50))
        if self.rate_hz <= 0:
            raise ValueError(f"pyspy: rate_hz must be positive, got {self.rate_hz}")
        self.nonblocking = bool(self.options.get("nonblocking", True))
        self.native = bool(self.options.get("native", False))
        self._proc: subprocess.Popen | None = None
        self._spawn_ns = 0
        self._dir: Path | None = None
        self._target: ProbeTarget | None = None
        self._table = EventTable()
        self._info: dict[str, Any] = {}

    @classmethod
    def availability(cls) -> Availability:
        exe = pyspy_binary()
        if exe is None:
            return Availability(False, "py-spy is not installed; install with pip install py-spy")
        version = _dist_version("py-spy")
        problem = ptrace_problem()
        if problem:
            return Availability(False, problem, version)
        return Availability(True, None, version)

    def command(self, pid: int, out: Path) -> list[str]:
        exe = pyspy_binary() or "py-spy"
        cmd = [exe, "record", "--pid", str(pid), "--rate", str(self.rate_hz), "--format", "chrometrace"]
        cmd += ["--output", str(out), "--threads", "--idle"]
        if self.native:
            cmd.append("--native")  # py-spy cannot unwind native stacks without pausing
        elif self.nonblocking:
            cmd.append("--nonblocking")
        return cmd

    def start(self, target: ProbeTarget) -> None:
        self._target = target
        self._dir = Path(target.run_dir or ".")
        self._dir.mkdir(parents=True, exist_ok=True)
        log = open(self._dir / LOG_FILE, "wb")
        try:
            self._spawn_ns = now_ns()
            # its own group, SIGINT (py-spy then writes what it has) if the profiler dies, and the
            # guardian's SIGKILL after that (core/lifeline.py): py-spy never outlives the run
            self._proc = spawn(
                self.command(target.pid, self._dir / CHROME_FILE),
                death_signal=signal.SIGINT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            # py-spy stops by itself when the worker exits; a live worker (timeout, Ctrl-C) gets
            # SIGINT, on which py-spy writes what it has
            proc.wait(timeout=float(self.options.get("exit_wait_s", 10.0)))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reaped(proc)
        assert self._dir is not None and self._target is not None
        log = (self._dir / LOG_FILE).read_text(errors="replace") if (self._dir / LOG_FILE).exists() else ""
        path = self._dir / CHROME_FILE
        if not path.exists():
            self.errors.append(self._failure(log, proc.returncode))
            return
        try:
            evs = read_pyspy_chrometrace(path)
            self._table = self.convert(evs, self._spawn_ns, self._target.pid)
            path.unlink()  # the speedscope file and the events keep everything it held
        except (OSError, InputError) as e:
            self.errors.append(f"py-spy output unreadable: {e}")
        for line in log.splitlines():
            if "Samples:" in line:
                self._info["pyspy_says"] = line.replace("py-spy> ", "").strip()

    def _failure(self, log: str, code: int | None) -> str:
        low = log.lower()
        if "permission denied" in low or "operation not permitted" in low:
            return f"py-spy was denied access to the worker (ptrace): {PTRACE_FIX}"
        last = next((ln.strip() for ln in reversed(log.splitlines()) if ln.strip()), "")
        return f"py-spy wrote nothing (exit code {code}): {last or 'no output'}"

    def convert(self, evs: Sequence[dict[str, Any]], base_ns: int, pid: int) -> EventTable:
        table, samples, names, spans = pyspy_events(evs, base_ns, pid)
        if self._dir is not None:
            from profiler.core.files import atomic_write_text

            doc = speedscope_document(spans, names, f"worker {pid}")
            atomic_write_text(self._dir / SPEEDSCOPE_FILE, json.dumps(doc))
            self._info["speedscope"] = SPEEDSCOPE_FILE
        self._info.update(
            {
                "samples": len(samples),
                "threads": len(names),
                "rate_hz": self.rate_hz,
                "mode": "native (blocking)"
                if self.native
                else ("nonblocking" if self.nonblocking else "blocking"),
            }
        )
        return table

    def events(self) -> EventTable:
        return self._table

    def info(self) -> dict[str, Any]:
        return dict(self._info)


def pyspy_summary(events: EventTable, pid: int, windows: Sequence[tuple[int, int]]) -> dict[str, Any] | None:
    """Share of step time whose innermost Python frame was in the workload's own code."""
    if not len(events.samples["ts_ns"]):
        return None
    share = workload_python_share(events, pid, windows)
    return None if share is None else {"workload_python_share": share}


def pyspy_summary_lines(figures: Any) -> list[str]:
    """The report's lines for :func:`pyspy_summary`'s figures."""
    summary = {"pyspy": figures}
    lines: list[str] = []
    py = summary.get("pyspy")
    if py:
        lines.append(
            f"py-spy: {100 * py['workload_python_share']:.0f}% of step time with the innermost Python "
            f"frame in the workload's own code"
        )
    return lines
