"""The parent side: start one worker per measured run, watch it, collect what it and the probes left.

A :class:`WorkerJob` is one scenario × framework × variant × mode × settings. :func:`run_job` writes
its spec, starts ``python -m profiler.run.worker`` through :func:`profiler.core.lifeline.spawn` (its
own process group, dying with the profiler), sets the thread environment before any framework
loads, starts the parent probes against its pid, relays progress, enforces the timeout and returns
a :class:`JobOutcome` whatever happened. See ``docs/architecture.md`` ("Data flow") and
``docs/reliability.md``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler.core import defaults
from profiler.core.clock import epoch_offset_ns
from profiler.core.events import EventTable
from profiler.core.frameworks import thread_env_of
from profiler.core.hardware import usable_cores
from profiler.core.lifeline import group_alive, reaped, spawn
from profiler.core.protocol import (
    EVENTS_FILE,
    PROGRESS_FD_ENV,
    RESULT_FILE,
    SPEC_FILE,
    STDERR_FILE,
    STDOUT_FILE,
    WorkerSpec,
    command_env,
)
from profiler.core.scenario import WorkloadSpec
from profiler.probes import ProbeTarget, collect_probes, start_probes, stop_probes
from profiler.run.window import MeasureWindow

#: Environment variables that set the math libraries' thread count (OpenMP, MKL, OpenBLAS, Accelerate).
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def thread_env(threads: int | None) -> dict[str, str]:
    """A worker's thread variables, set before any framework loads: the math libraries' and every
    framework's own (``thread_env`` in its descriptor, core/frameworks.py)."""
    if not threads:
        return {}
    return {**{k: str(threads) for k in THREAD_ENV_VARS}, **thread_env_of(threads)}


@dataclass
class WorkerJob:
    key: str  # directory name under workers/, unique in the run
    workload: WorkloadSpec
    module: str | None
    scenario_file: str | None = None
    warmup: int = defaults.WARMUP
    steps: int = defaults.STEPS
    trace_steps: int = defaults.TRACE_STEPS
    worker_probes: list[str] = field(default_factory=list)
    parent_probes: list[str] = field(default_factory=list)
    probe_options: dict[str, Any] = field(default_factory=dict)
    timeout_s: float | None = None
    env: dict[str, str] = field(default_factory=dict)
    #: a profiler.run.torchrun.Launch: run the ranks under torch.distributed.run (None: one worker)
    launch: Any = None
    #: run this program as the worker instead of profiler.run.worker (run/command.py)
    command: list[str] | None = None
    inject: bool = True  # with a command: install the start-up shim (steps, torch/CUPTI probes)
    #: clean-step calibration (WorkerSpec.min_time_s / max_time_s / min_steps)
    min_time_s: float = 0.0
    max_time_s: float | None = None
    min_steps: int = 1
    #: repeats: the key of the variant this process measures (None: a single process) and its index
    group: str | None = None
    repeat_index: int = 0
    #: with a command: pass its output through live ("terminal"; "stderr" sends its stdout to our
    #: stderr, so a ``--json`` document on stdout stays intact); None keeps it in the logs only
    echo: str | None = None


@dataclass
class JobOutcome:
    job: WorkerJob
    status: str  # ok | failed | timeout | interrupted
    result: dict[str, Any]
    events: EventTable
    worker_dir: Path
    exit_code: int | None
    error: str | None = None
    probe_records: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    #: the machine around the clean steps (profiler.run.window.MeasureWindow.figures), or None
    window: dict[str, Any] | None = None
    #: the same around the traced steps (the breakdown's), or None
    trace_window: dict[str, Any] | None = None


ProgressCallback = Callable[[WorkerJob, dict[str, Any]], None]


def _stderr_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _last_error_line(tail: str) -> str | None:
    for line in reversed(tail.splitlines()):
        s = line.strip()
        if s and not s.startswith(("File ", "^", "~")):
            return s
    return None


def _tee(src: Any, log: Any, term: Any) -> None:
    """Copy the program's output to its log file and to our terminal as it comes."""
    try:
        fd = src.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            log.write(chunk)
            log.flush()
            try:
                term.buffer.write(chunk) if hasattr(term, "buffer") else term.write(chunk.decode(errors="replace"))
                term.flush()
            except (OSError, ValueError):  # our terminal went away: the log still gets everything
                pass
    except (OSError, ValueError):
        pass


def command_status(code: int | None, result: dict[str, Any]) -> str:
    """How the user's program ended: ``ok`` (exit 0 and its record saved), ``exited N``,
    ``killed`` (by a signal), ``interrupted`` (stopped by us), or ``failed`` (exit 0, nothing saved)."""
    if result.get("status") == "interrupted":
        return "interrupted"
    if code is not None and code < 0:
        return "killed"
    if code:
        return f"exited {code}"
    return "ok" if result.get("status") in ("ok", "failed") or not result else "failed"


def kill_tree(proc: subprocess.Popen, grace_s: float = 3.0) -> None:
    """SIGTERM the worker's process group, then SIGKILL what is left."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    if pgid != proc.pid:  # not a group leader (started without a session): signal it alone
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                proc.send_signal(sig)
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue
        return
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            # the leader is gone; make sure its children (loader workers) are too
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return
        except subprocess.TimeoutExpired:
            continue


def end_group(proc: subprocess.Popen, grace_s: float = 1.0) -> None:
    """The leader has exited: stop what it left running in its group (SIGTERM, then SIGKILL), and
    tell the guardian the group is done."""
    pgid = proc.pid
    try:
        if group_alive(pgid):
            os.killpg(pgid, signal.SIGTERM)
            end = time.monotonic() + grace_s
            while group_alive(pgid) and time.monotonic() < end:
                time.sleep(0.02)
            if group_alive(pgid):
                os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    reaped(proc)


def write_spec(job: WorkerJob, worker_dir: Path, offset_ns: int) -> Path:
    """Write the worker spec of ``job`` into ``worker_dir``; returns its path."""
    worker_dir.mkdir(parents=True, exist_ok=True)
    spec = WorkerSpec(
        workload=job.workload,
        module=job.module,
        scenario_file=job.scenario_file,
        warmup=job.warmup,
        steps=job.steps,
        trace_steps=job.trace_steps,
        min_time_s=job.min_time_s,
        max_time_s=job.max_time_s,
        min_steps=job.min_steps,
        probes=list(job.worker_probes),
        probe_options=job.probe_options,
        epoch_offset_ns=offset_ns,
    )
    spec_path = worker_dir / SPEC_FILE
    spec.write(spec_path)
    return spec_path


def run_job(job: WorkerJob, worker_dir: Path, on_progress: ProgressCallback | None = None) -> JobOutcome:
    offset = epoch_offset_ns()
    spec_path = write_spec(job, worker_dir, offset)

    env = dict(os.environ)
    env.update(thread_env(job.workload.threads))
    env.update(job.env)
    env.setdefault("PYTHONUNBUFFERED", "1")
    read_fd, write_fd = os.pipe()
    env[PROGRESS_FD_ENV] = str(write_fd)
    argv = [sys.executable, "-m", "profiler.run.worker", str(spec_path)]
    if job.command:
        argv = list(job.command)
        env.update(command_env(spec_path, job.inject))

    t0 = time.monotonic()
    echo = job.echo if job.command else None
    with open(worker_dir / STDOUT_FILE, "wb") as out, open(worker_dir / STDERR_FILE, "wb") as err:
        try:
            proc = spawn(
                argv,
                stdout=subprocess.PIPE if echo else out,
                stderr=subprocess.PIPE if echo else err,
                stdin=subprocess.DEVNULL,
                env=env,
                pass_fds=(write_fd,),
                start_new_session=True,
                cwd=os.getcwd(),
            )
        finally:
            os.close(write_fd)

        probe_records: dict[str, Any] = {}
        window = MeasureWindow(proc.pid)
        traced = MeasureWindow(proc.pid, opens="trace")
        target = ProbeTarget(pid=proc.pid, run_dir=str(worker_dir), epoch_offset_ns=offset)
        parent_probes = start_probes(job.parent_probes, job.probe_options, target, probe_records)

        def pump() -> None:
            with os.fdopen(read_fd, "r") as f:
                for line in f:
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        continue
                    window.on_progress(msg)
                    traced.on_progress(msg)
                    if on_progress is not None:
                        on_progress(job, msg)

        reader = threading.Thread(target=pump, name="progress-reader", daemon=True)
        reader.start()
        tees = []
        if echo:
            to_out = sys.stderr if echo == "stderr" else sys.stdout
            for src, log, term in ((proc.stdout, out, to_out), (proc.stderr, err, sys.stderr)):
                t = threading.Thread(target=_tee, args=(src, log, term), name="output-tee", daemon=True)
                t.start()
                tees.append(t)

        status: str | None = None
        try:
            proc.wait(timeout=job.timeout_s)
        except subprocess.TimeoutExpired:
            status = "timeout"
            kill_tree(proc)
        except KeyboardInterrupt:
            # First Ctrl-C: ask the worker to stop (it saves what it has), then collect. A second
            # Ctrl-C while we wait kills the whole tree and leaves at once.
            status = "interrupted"
            try:
                kill_tree(proc, grace_s=5.0)
            except KeyboardInterrupt:
                try:
                    os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
                raise SystemExit(130) from None
        finally:
            if proc.returncode is not None:
                end_group(proc)
            stop_probes(parent_probes)
            reader.join(timeout=2.0)
            for t in tees:  # the program's last lines reach the log and the terminal
                t.join(timeout=5.0)
    wall = time.monotonic() - t0

    result: dict[str, Any] = {}
    if (worker_dir / RESULT_FILE).exists():
        try:
            result = json.loads((worker_dir / RESULT_FILE).read_text())
        except (OSError, ValueError):
            result = {}
    tables: list[EventTable] = []
    if (worker_dir / EVENTS_FILE).exists():
        try:
            tables.append(EventTable.load(worker_dir / EVENTS_FILE))
        except Exception as e:  # keep going with what the parent collected
            result.setdefault("load_error", str(e))
    tables += collect_probes(parent_probes, probe_records)
    events = EventTable.concat(tables) if tables else EventTable()
    if len(tables) > 1:  # the merged table is what later readers get
        events.save(worker_dir / EVENTS_FILE)

    code = proc.returncode
    error = result.get("error")
    if status == "timeout":
        error = f"timed out after {job.timeout_s:g} s; worker tree killed"
    elif status == "interrupted":
        error = "interrupted by Ctrl-C; worker stopped"
    if status is None and job.command:
        status = command_status(code, result)
    if status is None:
        if code == 0 and result.get("status") == "ok":
            status = "ok"
        elif result.get("status") == "interrupted":
            status = "interrupted"
        else:
            status = "failed"
    if status != "ok" and not error:
        tail = _stderr_tail(worker_dir / STDERR_FILE)
        if status == "timeout":
            error = f"timed out after {job.timeout_s:g} s; worker tree killed"
        elif code is not None and code < 0:
            error = f"{'program' if job.command else 'worker'} killed by signal {signal.Signals(-code).name}"
        elif job.command and status.startswith("exited"):
            error = f"program {status}" + (f": {_last_error_line(tail)}" if result.get("error") else "")
        else:
            error = _last_error_line(tail) or f"worker exited with code {code}"
    return JobOutcome(job, status, result, events, worker_dir, code, error, probe_records, wall,
                      window.figures(usable_cores()), traced.figures(usable_cores()))
