"""The worker: one fresh process that builds one workload and measures it.

``python -m profiler.run.worker SPEC`` runs the :class:`Harness`: import, build, warm-up, measure
(clean steps: the headline), trace (the in-worker probes on, the window grown to whole cycles of a
step pattern), each phase a ``phase`` span, each step followed by the workload's ``sync()``; it saves
what it collected whatever happens. ``--describe FILE`` prints a user's scenario declaration as JSON,
so the parent never executes user code. The phases: ``docs/architecture.md`` ("Data flow").
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from profiler.analysis.stats import grown_limit, trace_window
from profiler.core.clock import epoch_offset_ns, now_ns
from profiler.core.events import PHASE, STEP, WARMUP, EventBuilder, EventTable
from profiler.core.protocol import (
    EVENTS_FILE,
    HARNESS_TID,
    PIN_CPUS_ENV,
    RESULT_FILE,
    ProgressChannel,
    WorkerSpec,
)
from profiler.core.scenario import Scenario, WorkloadSpec
from profiler.core.usage import usage_delta, usage_now

#: The harness's own track: phases, steps and regions the workload marks.

#: Partial results are saved at every phase change and at least this often while steps run, so a
#: worker that dies abruptly (segfault, OOM kill, SIGKILL after a timeout) still leaves its data.
CHECKPOINT_INTERVAL_NS = int(float(os.environ.get("PROFILER_CHECKPOINT_S", "2")) * 1e9)


class Terminated(BaseException):
    """SIGTERM from the parent (timeout or Ctrl-C): unwind, save, exit."""


class Context:
    """What ``build()`` and ``step()`` get: the spec, the parameters, and region marking."""

    def __init__(self, spec: WorkloadSpec, builder: EventBuilder, pid: int) -> None:
        self.spec = spec
        self._b = builder
        self._pid = pid
        self.messages: list[str] = []

    @property
    def params(self) -> dict[str, Any]:
        return self.spec.params

    @contextlib.contextmanager
    def region(self, category: str, name: str, **args: Any) -> Iterator[None]:
        t0 = now_ns()
        try:
            yield
        finally:
            self._b.span(category, name, t0, now_ns() - t0, self._pid, HARNESS_TID, args=args or None)

    def record_span(
        self, category: str, name: str, start_ns: int, dur_ns: int, pid: int, tid: int = 0, **args: Any
    ) -> None:
        """Add a span timed elsewhere, e.g. by a data-loader worker process (its own ``pid``).

        Times are on the run clock (``time.monotonic_ns``), which every process on the machine shares.
        """
        self._b.span(category, name, start_ns, dur_ns, pid, tid, args=args or None)

    def name_process(self, pid: int, name: str) -> None:
        """Label another process's track (e.g. ``DataLoader worker 0``) in the trace."""
        self._b.name_process(pid, name)

    def log(self, message: str) -> None:
        self.messages.append(message)
        print(message, file=sys.stderr, flush=True)


def load_user_scenario(path: str) -> tuple[Scenario, Any]:
    """Import a user's scenario file (worker side only)."""
    p = Path(path).resolve()
    spec = importlib.util.spec_from_file_location(f"user_scenario_{abs(hash(str(p)))}", p)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {p}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    sc = getattr(mod, "SCENARIO", None)
    if not isinstance(sc, Scenario):
        raise TypeError(f"{p.name} defines no SCENARIO = profiler.core.scenario.Scenario(...)")
    if not callable(getattr(mod, "build", None)):
        raise TypeError(f"{p.name} defines no build(ctx) function")
    return sc, mod


def _describe(path: str) -> int:
    try:
        sc, _ = load_user_scenario(path)
    except Exception as e:
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 2
    d = sc.to_dict()
    d["source"] = str(Path(path).resolve())
    print(json.dumps(d))
    return 0


class Harness:
    def __init__(self, spec: WorkerSpec, out_dir: Path) -> None:
        self.spec = spec
        self.out_dir = out_dir
        self.pid = os.getpid()
        self.b = EventBuilder()
        self.progress = ProgressChannel()
        self.result: dict[str, Any] = {
            "status": "running",
            "pid": self.pid,
            "phases": {},
            "warmup_ns": [],
            "step_ns": [],
            "traced_step_ns": [],
            "probes": {},
            "info": {},
            "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        }
        self.probe_tables: list[EventTable] = []
        wl = spec.workload
        self.b.name_process(self.pid, f"{wl.framework} · {wl.variant} · {wl.mode}")
        self.b.name_thread(self.pid, HARNESS_TID, "steps")
        self._phase: str | None = None
        self._phase_t0 = 0
        self._last_checkpoint = now_ns()

    # ------------------------------------------------------------------ phases
    def phase(self, name: str, **extra: Any) -> None:
        t = now_ns()
        previous = self._phase
        if previous is not None:
            self.b.span(PHASE, previous, self._phase_t0, t - self._phase_t0, self.pid, HARNESS_TID)
            self.result["phases"][previous] = (t - self._phase_t0) / 1e6
        # The checkpoint runs between the two phases, inside neither, and before the new phase is
        # announced: observers (the scale command's busy-thread reader opens its window on the
        # "measure" message) never count its CPU time.
        if previous is not None and name not in ("save", "import"):
            self.checkpoint()
        t_new = now_ns()
        self.progress.send(phase=name, t_ns=t_new, **extra)
        self._phase, self._phase_t0 = name, t_new

    def checkpoint(self) -> None:
        """Save what has been collected so far (status stays "running")."""
        from profiler.core.files import atomic_write_json

        self._last_checkpoint = now_ns()
        try:
            self.b.build().save(self.out_dir / EVENTS_FILE, compress=False)
            atomic_write_json(self.out_dir / RESULT_FILE, self.result)
        except Exception as e:  # a failed checkpoint must not fail the measurement
            self.result["checkpoint_error"] = f"{type(e).__name__}: {e}"

    def end_phase(self) -> None:
        if self._phase is not None:
            t = now_ns()
            self.b.span(PHASE, self._phase, self._phase_t0, t - self._phase_t0, self.pid, HARNESS_TID)
            self.result["phases"][self._phase] = (t - self._phase_t0) / 1e6
            self._phase = None

    # -------------------------------------------------------------------- run
    def run(self) -> int:
        spec = self.spec
        wl = spec.workload
        ctx = Context(wl, self.b, self.pid)
        try:
            self.phase("import")
            if spec.scenario_file:
                _, module = load_user_scenario(spec.scenario_file)
            else:
                assert spec.module is not None
                module = importlib.import_module(spec.module)
            self.phase("build")
            workload = self.after_build(module.build(ctx), ctx)
            sync = getattr(workload, "sync", None) or (lambda: None)
            self.result["info"] = dict(getattr(workload, "info", {}) or {})

            self.phase("warmup", total=spec.warmup)
            for i in range(spec.warmup):
                self._timed_step(workload.step, sync, WARMUP, i, traced=False, key="warmup_ns")

            self.phase("measure", total=spec.steps)
            n_clean = self._measure(workload.step, sync)

            # the traced window covers the clean steps' pattern (a loader cycle: whole cycles of it),
            # bounded; info["trace_window"] says how many and why
            window = trace_window([v / 1e6 for v in self.result["step_ns"]], spec.trace_steps)
            self.phase("trace", total=window["steps"])
            probes = self._start_probes()
            try:
                # The first step under a tracer pays its set-up (Kineto allocates buffers, CUPTI
                # subscribes): run it as a warm-up step, excluded like the others; a whole cycle of a
                # pattern (the pause let the input workers run ahead: trace_window's "settle").
                settle = max(1 if probes else 0, window["settle"]) if spec.trace_steps else 0
                for i in range(settle):
                    self._timed_step(workload.step, sync, WARMUP, n_clean + i, traced=True, key="warmup_ns")
                n_traced, limit = 0, window["steps"]
                while n_traced < limit:
                    self._timed_step(
                        workload.step, sync, STEP, n_clean + settle + n_traced, traced=True, key="traced_step_ns"
                    )
                    n_traced += 1
                    if n_traced == limit:
                        limit = grown_limit(window, [v / 1e6 for v in self.result["traced_step_ns"]], limit)
            finally:
                self._stop_probes(probes)
                if spec.trace_steps:
                    self.result["info"]["trace_window"] = window
            close = getattr(workload, "close", None)
            if close:
                close()
                # close() may add what is only known at the end (epochs run, loader spans merged)
                self.result["info"].update(getattr(workload, "info", {}) or {})
            self.result["status"] = "ok"
            code = 0
        except BaseException as e:
            stopped = isinstance(e, KeyboardInterrupt | Terminated)
            self.result["status"] = "interrupted" if stopped else "failed"
            self.result["error"] = f"{type(e).__name__}: {e}".strip()
            self.result["traceback"] = traceback.format_exc()[-4000:]
            print(self.result["traceback"], file=sys.stderr, flush=True)
            code = 130 if stopped else 1
        finally:
            self.end_phase()
            self.save()
            self.progress.send(phase="done", status=self.result["status"])
        return code

    def after_build(self, workload: Any, ctx: Context) -> Any:
        """The workload as built; a subclass may adapt it (the distributed rank harness wraps the
        model in DistributedDataParallel here when the implementation did not)."""
        return workload

    def _measure(self, step, sync) -> int:
        """The clean steps: ``steps`` of them, or — calibrated (``min_time_s`` > 0) — until they took
        ``min_time_s`` and at least ``min_steps`` ran, or ``max_time_s`` passed (``steps`` bounds both).
        Returns how many ran."""
        spec = self.spec
        t0 = now_ns()
        n = 0
        while n < spec.steps:
            self._timed_step(step, sync, STEP, n, traced=False, key="step_ns")
            n += 1
            elapsed = (now_ns() - t0) / 1e9
            done = spec.min_time_s > 0 and n >= spec.min_steps and elapsed >= spec.min_time_s
            over = spec.max_time_s is not None and elapsed >= spec.max_time_s
            if done or over or n == spec.steps:
                self.result["measured_s"] = elapsed
                self.progress.send(step=n, total=n, measured=True)
                break
            self.progress.send(step=n, total=spec.steps)
        return n

    def _timed_step(self, step, sync, cat: str, index: int, traced: bool, key: str) -> None:
        u0 = usage_now()
        t0 = now_ns()
        step()
        sync()
        t1 = now_ns()
        args: dict[str, Any] = {"index": index, "traced": traced}
        usage = usage_delta(u0, usage_now())
        if usage is not None:
            args["usage"] = usage  # page faults and context switches of this step (core.usage)
        self.b.span(cat, f"{cat} {index}", t0, t1 - t0, self.pid, HARNESS_TID, args=args)
        self.result[key].append(t1 - t0)
        if not traced and t1 - self._last_checkpoint > CHECKPOINT_INTERVAL_NS:
            self.checkpoint()

    def _start_probes(self) -> list[Any]:
        from profiler.probes import ProbeTarget, start_probes

        target = ProbeTarget(
            pid=self.pid, run_dir=str(self.out_dir), epoch_offset_ns=self.spec.epoch_offset_ns
        )
        # which other probes share this worker (the CUPTI probe defers to torch's own CUDA collection)
        target.extra["probes"] = list(self.spec.probes)
        target.extra["torch_cuda"] = bool((self.spec.probe_options.get("torch") or {}).get("cuda", True))
        return start_probes(self.spec.probes, self.spec.probe_options, target, self.result["probes"])

    def _stop_probes(self, probes: list[Any]) -> None:
        from profiler.probes import collect_probes, stop_probes

        stop_probes(probes)
        self.probe_tables += collect_probes(probes, self.result["probes"])

    def save(self) -> None:
        from profiler.core.files import atomic_write_json

        self.phase("save")
        self.end_phase()
        try:
            table = EventTable.concat([self.b.build(), *self.probe_tables])
            table.save(self.out_dir / EVENTS_FILE)
            self.result["n_events"] = len(table)
        except Exception as e:  # still write the result, which says what was lost
            self.result["save_error"] = f"{type(e).__name__}: {e}"
        self.result["epoch_offset_ns"] = epoch_offset_ns()
        atomic_write_json(self.out_dir / RESULT_FILE, self.result)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 2 and argv[0] == "--describe":
        return _describe(argv[1])
    if len(argv) != 1:
        print("usage: python -m profiler.run.worker SPEC_JSON | --describe FILE", file=sys.stderr)
        return 2
    def _terminate(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
        raise Terminated(f"stopped by signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, _terminate)
    spec_path = Path(argv[0])
    spec = WorkerSpec.from_json(spec_path.read_text())
    # Core pinning goes first, before any framework loads: threads inherit the affinity of the
    # thread that creates them, so every pool the framework starts later stays on these cores.
    pin = os.environ.get(PIN_CPUS_ENV)
    if pin:
        os.sched_setaffinity(0, {int(c) for c in pin.split(",")})
    # The workload's own threads (e.g. DataLoader workers) must not inherit the main thread's name.
    threading.current_thread().name = "profiler-worker"
    return Harness(spec, spec_path.parent).run()


if __name__ == "__main__":
    sys.exit(main())
