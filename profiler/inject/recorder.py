"""Profile any command: the recorder the start-up shim installs inside the user's program.

Parent side (:func:`resolve_command`, :func:`plan_command`): the program is started directly, with
``profiler/inject`` first on its ``PYTHONPATH`` and ``PROFILER_COMMAND_SPEC`` naming the worker spec
(``--no-inject`` leaves both out). Child side (:func:`activate`, :class:`CommandRecorder`): steps
from torch.profiler markers, optimizer steps or DataLoader batches (or :class:`FunctionMarker`),
DataLoader waits as data loading, the clean/traced window, checkpoints, and the worker's files at
exit. The Python API uses the same :class:`StepRecorder`. torch is hooked when the program imports
it, never imported here; the program's own subprocesses are not instrumented. Rules:
``docs/probes.md`` ("Profiling any command") and ``docs/cli.md``.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from profiler.core import defaults
from profiler.core.clock import now_ns
from profiler.core.events import DATA_LOADING, REGION, STEP, WARMUP, EventBuilder, EventTable
from profiler.core.protocol import (
    COMMAND_SPEC_ENV,
    COMMAND_STEPS_ENV,
    EVENTS_FILE,
    HARNESS_TID,
    RESULT_FILE,
    ProgressChannel,
)
from profiler.core.usage import usage_delta, usage_now

#: Step sources, lowest to highest preference. ``marker`` (``--step-marker``) and ``profile.step``
#: (``prof.step()`` of the Python API) are chosen by the user: once seen, nothing else delimits steps.
SOURCES = ("dataloader", "optimizer.step", "torch.profiler.step", "marker", "profile.step")

#: What each detected step was used for (``info["steps"]``), in window order.
STEP_KINDS = ("skipped", "warmup", "clean", "traced_warmup", "traced", "after_trace")

#: Seconds between checkpoints of the recorder's data (events and result so far), so a program
#: killed with SIGKILL still leaves its completed steps; the same variable as the worker's.
CHECKPOINT_ENV = "PROFILER_CHECKPOINT_S"


def checkpoint_interval_s() -> float:
    try:
        return max(0.05, float(os.environ.get(CHECKPOINT_ENV, "2")))
    except ValueError:
        return 2.0


def marker_matches(marker: str, label: str) -> bool:
    """A ``record_function`` label matches ``marker`` itself or numbered (``ProfilerStep#3``)."""
    return label == marker or label.startswith(marker + "#")


class StepRecorder:
    """Steps, data-loading spans, named regions and the traced window of one Python process.

    Used inside a profiled command (installed by :func:`activate`) and by the Python API
    (``profiler.profile()``), so both leave the same ``events.npz`` and ``result.json``.

    Steps come from boundaries (each one ends a step and starts the next: DataLoader batches,
    optimizer steps, ``torch.profiler`` steps, ``prof.step()``) or from marker spans (``begin``/``end``
    of a function call or a ``record_function`` region: each call is one step).
    """

    def __init__(self, spec: dict[str, Any], out_dir: Path, process_name: str | None = None) -> None:
        self.spec = spec
        self.out_dir = Path(out_dir)
        self.pid = os.getpid()
        self.t_start = now_ns()
        self.b = EventBuilder()
        self.b.name_process(self.pid, process_name or f"command · {os.path.basename(sys.argv[0] or 'python')}")
        self.b.name_thread(self.pid, HARNESS_TID, "steps")
        self.warmup = int(spec.get("warmup", defaults.WARMUP))
        self.steps = int(spec.get("steps", defaults.STEPS))
        self.trace_steps = int(spec.get("trace_steps", defaults.TRACE_STEPS))
        self.skip = int(spec.get("skip_steps") or 0)
        self.marker: str | None = spec.get("step_marker") or None
        self.fixed: str | None = "marker" if self.marker else None
        self.probe_names = [p for p in spec.get("probes", []) if p in ("torch", "cupti")]
        self.bounds: list[int] = []
        self.resume: dict[int, int] = {}  # step index -> its start when it is not the previous end
        #: boundary time -> the process's page faults and context switches then (core.usage)
        self.usage_at: dict[int, tuple[int, ...] | None] = {}
        self.depth = 0  # nesting of marker spans (only the outermost is a step)
        self.source: str | None = None
        self.sources_seen: dict[str, int] = {}
        self.trace_start: int | None = None
        self.trace_stop: int | None = None
        #: the traced window as planned from the clean steps (analysis.stats.trace_window): its
        #: ``steps`` grows to cover a multi-modal pattern of the program's (a loader cycle), bounded
        self.trace_plan: dict[str, Any] | None = None
        self.trace_limit = self.trace_steps
        self.trace_settle = 1  # traced warm-up steps: the tracer's set-up; a whole cycle of a pattern
        self._resettle: int | None = None  # steps after the window that ride on the tracer's stop
        self.active: list[Any] = []
        self.probe_tables: list[EventTable] = []
        self.lock = threading.RLock()
        self.finished = False
        self.status = "ok"
        self.error: str | None = None
        self.no_steps_note = (
            f"no steps detected: the step marker {self.marker!r} never ran"
            if self.marker
            else "no steps detected: no torch.profiler step, optimizer step or DataLoader batch"
        )
        self.checkpoints = 0
        self.function_marker: FunctionMarker | None = None  # --step-marker as a function name
        self.marker_hook: str | None = None  # how a function marker is timed (FunctionMarker.mode)
        self._ticker: threading.Thread | None = None
        self._stop_ticking = threading.Event()
        self._undo: list[Callable[[], None]] = []
        self.result: dict[str, Any] = {"status": "running", "pid": self.pid, "phases": {}, "probes": {}}
        #: the parent reads the machine around the clean steps (run/window.py) on these messages,
        #: as it does for a scenario's worker
        self.progress = ProgressChannel()

    # boundaries --------------------------------------------------------------------------------
    def boundary(self, source: str, t_ns: int | None = None, start_ns: int | None = None) -> None:
        """A step boundary from ``source``; ``start_ns``: where step 0 starts when this source takes over."""
        t = now_ns() if t_ns is None else t_ns
        with self.lock:
            if self.finished:
                return
            self.sources_seen[source] = self.sources_seen.get(source, 0) + 1
            if self.fixed is not None and source != self.fixed:
                return
            if self.source is None or SOURCES.index(source) > SOURCES.index(self.source):
                if self.source is not None or start_ns is not None:
                    # a better source appeared: step 0 starts at the first boundary (or start_ns)
                    self.bounds = [start_ns] if start_ns is not None else self.bounds[:1]
                    self.resume.clear()
                    self._restart_window()
                self.source = source
            elif source != self.source:
                return
            self.bounds.append(t)
            self.usage_at[t] = usage_now()
            self._window()

    def begin(self, t_ns: int | None = None) -> None:
        """A marker span starts (a step, unless it is nested in another marker span)."""
        t = now_ns() if t_ns is None else t_ns
        with self.lock:
            if self.finished:
                return
            self.depth += 1
            if self.depth != 1:
                return
            self.sources_seen["marker"] = self.sources_seen.get("marker", 0) + 1
            if self.source != "marker":
                self.bounds, self.source = [], "marker"
                self.resume.clear()
                self._restart_window()
            if not self.bounds:
                self.bounds.append(t)
            else:  # the time between two marker calls belongs to no step
                k = len(self.bounds) - 1
                self.resume[k] = t = max(t, self.resume.get(k, t))
            self.usage_at[t] = usage_now()

    def end(self, t_ns: int | None = None) -> None:
        t = now_ns() if t_ns is None else t_ns
        with self.lock:
            if self.finished or self.depth == 0:
                return
            self.depth -= 1
            if self.depth == 0 and self.bounds:
                self.bounds.append(t)
                self.usage_at[t] = usage_now()
                self._window()

    def _restart_window(self) -> None:
        if self.active:
            self._stop_probes()
        self.trace_start = self.trace_stop = None
        self.trace_plan, self.trace_limit, self.trace_settle, self._resettle = None, self.trace_steps, 1, None

    def _step_ms(self, k: int) -> float:
        return (self.bounds[k + 1] - self.resume.get(k, self.bounds[k])) / 1e6

    def _window(self) -> None:
        done = len(self.bounds) - 1
        first_clean = self.skip + self.warmup
        if done == first_clean:
            self.progress.send(phase="measure", t_ns=now_ns())
        elif done == first_clean + self.steps:
            self.progress.send(measured=True, t_ns=now_ns())
        if (
            self.probe_names
            and self.trace_start is None
            and self.trace_steps > 0
            and done >= self.skip + self.warmup + self.steps
        ):
            from profiler.analysis.stats import trace_window

            # as many traced steps as the clean steps' pattern needs (whole loader cycles), bounded
            first = self.skip + self.warmup
            self.trace_plan = trace_window([self._step_ms(k) for k in range(first, done)], self.trace_steps)
            self.trace_limit = self.trace_plan["steps"]
            self.trace_settle = max(1, self.trace_plan["settle"])
            self.trace_start = done
            self._start_probes()
            self.progress.send(phase="trace", t_ns=now_ns())  # the parent's window around the traced steps
        elif (
            self.trace_start is not None
            and self.trace_stop is None
            and done >= self.trace_start + self.trace_settle + self.trace_limit
        ):
            if self.trace_plan is not None:
                from profiler.analysis.stats import grown_limit

                traced = [self._step_ms(k) for k in range(self.trace_start + self.trace_settle, done)]
                self.trace_limit = grown_limit(self.trace_plan, traced, self.trace_limit)
                if done < self.trace_start + self.trace_settle + self.trace_limit:
                    return  # the window grows: the pattern is not covered yet
            self.trace_stop = done
            self._stop_probes()
            self.progress.send(phase="traced", t_ns=now_ns())
        else:
            return
        # starting or stopping a tracer (converting its events) is the profiler's time, not the
        # program's: the next step starts when it is done
        t = self.resume[done] = now_ns()
        self.usage_at[t] = usage_now()

    def _resettled(self, ts1: int) -> int | None:
        """Steps after the traced window still riding on the tracer's stop (stats.resettled), once known."""
        from profiler.analysis.stats import MAX_RESETTLE_CYCLES, resettled

        if self._resettle is None and self.trace_plan is not None:
            plan = self.trace_plan
            bound = MAX_RESETTLE_CYCLES * (plan.get("period") or plan.get("settle") or 1)
            end = min(len(self.bounds) - 1, ts1 + bound)
            self._resettle = resettled([self._step_ms(j) for j in range(ts1, end)], plan)
        return self._resettle

    def kind(self, k: int) -> str:
        """What step ``k`` was used for (one of :data:`STEP_KINDS`)."""
        if k < self.skip:
            return "skipped"
        if k < self.skip + self.warmup:
            return "warmup"
        ts0, ts1 = self.trace_start, self.trace_stop
        if ts0 is not None and k >= ts0 and (ts1 is None or k < ts1):
            # the first traced step pays the tracer's set-up: a warm-up step, as in profiler.run.worker
            # (a whole cycle of a multi-modal pattern: the input workers ran ahead meanwhile)
            settle = self.trace_settle
            if ts1 is None and len(self.bounds) - 1 - ts0 <= settle:
                # the program ended inside the settling cycle: only the set-up step is left out, so the
                # breakdown has steps to describe (the window's `covered` says it missed the pattern)
                settle = 1
            return "traced_warmup" if k < ts0 + settle else "traced"
        if ts1 is not None and k == ts1 and self.source == "dataloader":
            # a DataLoader step begins with its input wait, but the tracer stopped after that wait
            # and the step starts once the tracer is done: not a whole step (kept with the
            # warm-ups, out of every figure)
            return "after_trace"
        if ts1 is not None and k >= ts1 and self.trace_plan is not None and self.trace_plan.get("modes"):
            # a multi-modal pattern (a loader's cycle): its input workers ran ahead while the tracer
            # stopped, and the steps find their batches ready until the long step is back
            # (stats.resettled): not the program's pace, out of every figure like the warm-ups
            n = self._resettled(ts1)
            if n is None or k < ts1 + n:
                return "after_trace"
        return "clean"  # before the traced window, and again after it

    # spans -------------------------------------------------------------------------------------
    def data_wait(self, t0: int, t1: int, exhausted: bool) -> None:
        with self.lock:
            self.b.span(DATA_LOADING, "DataLoader next", t0, t1 - t0, self.pid, HARNESS_TID,
                        args={"exhausted": True} if exhausted else None)
        self.boundary("dataloader", t0)

    def region(self, name: str, t0: int, t1: int, tid: int | None = None, thread_name: str | None = None) -> None:
        """A named region of the program's own (``profiler.mark``), on the thread that ran it."""
        with self.lock:
            if self.finished:
                return
            tid = threading.get_native_id() if tid is None else tid
            if thread_name and (self.pid, tid) not in self.b.threads:
                self.b.name_thread(self.pid, tid, thread_name)
            self.b.span(REGION, name, t0, t1 - t0, self.pid, tid, args={"mark": True})

    # probes ------------------------------------------------------------------------------------
    def _start_probes(self) -> None:
        from profiler.probes import ProbeTarget, start_probes

        target = ProbeTarget(
            pid=self.pid, run_dir=str(self.out_dir), epoch_offset_ns=int(self.spec.get("epoch_offset_ns", 0))
        )
        target.extra["probes"] = list(self.probe_names)
        self.active += start_probes(self.probe_names, self.spec.get("probe_options") or {}, target,
                                    self.result["probes"])

    def _stop_probes(self) -> None:
        from profiler.probes import collect_probes, stop_probes

        active, self.active = self.active, []
        stop_probes(active)
        self.probe_tables += collect_probes(active, self.result["probes"])

    # hooks -------------------------------------------------------------------------------------
    def hook_torch(self, torch: Any) -> None:
        """Install the step and data-loading hooks once torch is imported (:meth:`unhook` removes them)."""
        rec = self

        try:
            from torch.optim.optimizer import register_optimizer_step_post_hook

            handle = register_optimizer_step_post_hook(lambda opt, args, kwargs: rec.boundary("optimizer.step"))
            self._undo.append(handle.remove)
        except Exception as e:
            self.result.setdefault("hook_errors", []).append(f"optimizer hook: {type(e).__name__}: {e}")
        try:
            from torch.utils.data import dataloader as dl

            orig_next = dl._BaseDataLoaderIter.__next__

            def __next__(self: Any) -> Any:
                t0 = now_ns()
                try:
                    batch = orig_next(self)
                except StopIteration:
                    rec.data_wait(t0, now_ns(), exhausted=True)
                    raise
                rec.data_wait(t0, now_ns(), exhausted=False)
                return batch

            dl._BaseDataLoaderIter.__next__ = __next__
            self._undo.append(lambda: setattr(dl._BaseDataLoaderIter, "__next__", orig_next))
        except Exception as e:
            self.result.setdefault("hook_errors", []).append(f"DataLoader hook: {type(e).__name__}: {e}")
        try:
            import torch.profiler as tp

            orig_step = tp.profile.step

            def step(self: Any) -> Any:
                out = orig_step(self)
                rec.boundary("torch.profiler.step")
                return out

            tp.profile.step = step
            self._undo.append(lambda: setattr(tp.profile, "step", orig_step))
        except Exception as e:
            self.result.setdefault("hook_errors", []).append(f"torch.profiler hook: {type(e).__name__}: {e}")
        if self.marker:
            self._hook_record_function()

    def _hook_record_function(self) -> None:
        """``--step-marker LABEL``: each ``record_function(LABEL)`` region (``ProfilerStep#N`` included)
        is one step."""
        rec, marker = self, self.marker
        assert marker is not None
        try:
            from torch.autograd import profiler as ap

            cls = ap.record_function
            orig_enter, orig_exit = cls.__enter__, cls.__exit__

            def __enter__(self: Any) -> Any:
                out = orig_enter(self)
                if marker_matches(marker, str(getattr(self, "name", ""))):
                    fm = rec.function_marker
                    if fm is not None and fm.mode == "searching":  # a label, not a function: stop looking
                        fm.uninstall()
                    rec.begin()
                return out

            def __exit__(self: Any, *exc: Any) -> Any:
                if marker_matches(marker, str(getattr(self, "name", ""))):
                    rec.end()
                return orig_exit(self, *exc)

            cls.__enter__, cls.__exit__ = __enter__, __exit__

            def undo() -> None:
                cls.__enter__, cls.__exit__ = orig_enter, orig_exit

            self._undo.append(undo)
        except Exception as e:
            self.result.setdefault("hook_errors", []).append(f"record_function hook: {type(e).__name__}: {e}")

    def unhook(self) -> None:
        for undo in reversed(self._undo):
            try:
                undo()
            except Exception:
                pass
        self._undo.clear()

    # saving ------------------------------------------------------------------------------------
    def start_checkpoints(self, interval_s: float | None = None) -> None:
        """Save what was collected every ``interval_s`` seconds (:data:`CHECKPOINT_ENV`), from a thread."""
        interval = checkpoint_interval_s() if interval_s is None else interval_s

        def tick() -> None:
            while not self._stop_ticking.wait(interval):
                if self.finished:
                    return
                self.checkpoint()

        self._ticker = threading.Thread(target=tick, name="profiler-checkpoint", daemon=True)
        self._ticker.start()

    def snapshot(self, final: bool) -> tuple[EventTable, dict[str, Any]]:
        """Everything collected so far (the builder is not changed: steps are built apart)."""
        with self.lock:
            res = {**self.result, "probes": dict(self.result["probes"])}
            res.update(warmup_ns=[], step_ns=[], traced_step_ns=[], skipped_ns=[])
            steps = EventBuilder()
            counts = dict.fromkeys(STEP_KINDS, 0)
            for k in range(len(self.bounds) - 1):
                a, z = self.resume.get(k, self.bounds[k]), self.bounds[k + 1]
                kind = self.kind(k)
                counts[kind] += 1
                traced = kind in ("traced_warmup", "traced")
                args = {"index": k, "traced": traced, "source": self.source}
                if kind == "skipped":
                    args["skipped"] = True
                usage = usage_delta(self.usage_at.get(a), self.usage_at.get(z))
                if usage is not None:
                    args["usage"] = usage
                cat = WARMUP if kind in ("skipped", "warmup", "traced_warmup", "after_trace") else STEP
                key = {"skipped": "skipped_ns", "warmup": "warmup_ns", "traced_warmup": "warmup_ns",
                       "after_trace": "warmup_ns", "clean": "step_ns", "traced": "traced_step_ns"}[kind]
                steps.span(cat, f"{cat} {k}", a, z - a, self.pid, HARNESS_TID, args=args)
                res[key].append(z - a)
            n = max(0, len(self.bounds) - 1)
            res["info"] = {
                "command": list(sys.argv),
                "step_source": self.source,
                "step_marker": self.marker,
                "boundaries_seen": dict(self.sources_seen),
                "steps_detected": n,
                "steps": counts,
                "checkpoints": self.checkpoints,
            }
            if self.marker_hook:
                res["info"]["step_marker_hook"] = self.marker_hook
            if self.trace_plan is not None:
                res["info"]["trace_window"] = dict(self.trace_plan)
                if final and self.trace_stop is None and self.trace_plan.get("modes"):
                    # the program ended before the window held its whole cycles
                    res["info"]["trace_window"].update(
                        covered=False, bound="the program ended before the traced window was complete")
            if n == 0:
                # said, and the whole run (start to now) is reported as one step
                res["info"]["note"] = self.no_steps_note + "; the whole run is reported as one step"
                t_end = now_ns()
                steps.span(STEP, "whole run", self.t_start, t_end - self.t_start, self.pid, HARNESS_TID,
                           args={"index": 0, "traced": False, "whole_run": True})
                res["step_ns"] = [t_end - self.t_start]
            tables = [self.b.build(), steps.build(), *self.probe_tables]
        return EventTable.concat(tables), res

    def _save(self, table: EventTable, res: dict[str, Any], final: bool) -> None:
        from profiler.core.clock import epoch_offset_ns
        from profiler.core.files import atomic_write_json

        try:
            table.save(self.out_dir / EVENTS_FILE, compress=final)
            res["n_events"] = len(table)
        except Exception as e:
            res["save_error"] = f"{type(e).__name__}: {e}"
        res["epoch_offset_ns"] = epoch_offset_ns()
        atomic_write_json(self.out_dir / RESULT_FILE, res)

    def checkpoint(self) -> None:
        """Save what has been collected so far (status stays "running")."""
        try:
            table, res = self.snapshot(final=False)
            res["status"] = "running"
            with self.lock:
                if self.finished:  # the final save owns the files now
                    return
                self.checkpoints += 1
            self._save(table, res, final=False)
        except Exception as e:  # a failed checkpoint must not fail the program
            self.result["checkpoint_error"] = f"{type(e).__name__}: {e}"

    def finish(self) -> tuple[EventTable, dict[str, Any]] | None:
        """Stop the tracer and the checkpoints, save events and ``result.json``; once."""
        with self.lock:
            if self.finished:
                return None
            self.finished = True
        self._stop_ticking.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=30)
        with self.lock:
            self._stop_probes()
            table, res = self.snapshot(final=True)
        res["status"] = self.status
        if self.error:
            res["error"] = self.error
        self._save(table, res, final=True)
        return table, res


#: The name this class had when only ``profiler trace -- COMMAND`` used it.
CommandRecorder = StepRecorder


class FunctionMarker:
    """``--step-marker NAME`` for a Python function: each call of it is one step.

    The first call is found with a profile hook (``sys.setprofile``, main thread); then the function
    is replaced, where the program looks it up (its module's globals, its class), by a wrapper
    timing each call, and the hook is removed. A function that cannot be rebound (a local function)
    keeps the hook, which costs time on every Python call; ``info["step_marker_hook"]`` says which.
    """

    def __init__(self, rec: StepRecorder, name: str) -> None:
        self.rec = rec
        self.name = name
        self.short = name.rpartition(".")[2]
        self.code: Any = None
        self.frame: Any = None
        self.mode = "searching"

    def matches(self, frame: Any) -> bool:
        code = frame.f_code
        if code.co_name != self.short:
            return False
        qual = getattr(code, "co_qualname", code.co_name)
        mod = frame.f_globals.get("__name__", "")
        return self.name in (code.co_name, qual, f"{mod}.{qual}")

    def install(self) -> None:
        self.rec.function_marker = self
        if sys.getprofile() is None:
            sys.setprofile(self._profile)

    def uninstall(self) -> None:
        self.mode = "not a function"
        if sys.getprofile() == self._profile:
            sys.setprofile(None)

    def _profile(self, frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            if (self.code is not None and frame.f_code is self.code) or (self.code is None and self.matches(frame)):
                self.code = frame.f_code
                if self.frame is None:
                    self.frame = frame
                    self.rec.begin()
        elif event == "return" and frame is self.frame:
            self.frame = None
            self.rec.end()
            if self.mode == "searching":
                self._rebind()

    def _rebind(self) -> None:
        import gc
        import types

        rec = self.rec
        funcs = [f for f in gc.get_referrers(self.code) if isinstance(f, types.FunctionType) and f.__code__ is self.code]
        done = 0
        for f in funcs:
            parts = f.__qualname__.split(".")
            if "<locals>" in parts:
                continue
            owner: Any = f.__globals__
            for p in parts[:-1]:
                owner = owner.get(p) if isinstance(owner, dict) else getattr(owner, "__dict__", {}).get(p)
            where = owner if isinstance(owner, dict) else getattr(owner, "__dict__", {})
            if where.get(parts[-1]) is not f:
                continue

            timed = _timed(rec, f)
            if isinstance(owner, dict):
                owner[parts[-1]] = timed
            else:
                setattr(owner, parts[-1], timed)
            done += 1
        if funcs and done == len(funcs):
            self.mode = "wrapped"
            if sys.getprofile() == self._profile:
                sys.setprofile(None)
        else:
            self.mode = "profile hook"
        rec.marker_hook = self.mode


def _timed(rec: StepRecorder, f: Any) -> Any:
    @functools.wraps(f)
    def timed(*a: Any, **k: Any) -> Any:
        rec.begin()
        try:
            return f(*a, **k)
        finally:
            rec.end()

    return timed


class _PostImportHook:
    """A meta-path finder that calls ``callback(module)`` right after ``name`` finishes importing."""

    def __init__(self, name: str, callback: Any) -> None:
        self.name = name
        self.callback = callback
        self.done = False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name or self.done:
            return None
        import importlib.util

        self.done = True  # let the normal finders resolve it (find_spec below recurses into us)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return None
        orig = spec.loader.exec_module
        cb = self.callback

        def exec_module(module: Any) -> None:
            orig(module)
            try:
                cb(module)
            except Exception as e:  # never break the user's import
                print(f"profiler: could not hook {fullname}: {type(e).__name__}: {e}", file=sys.stderr)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


_RECORDER: StepRecorder | None = None


def is_identifier_path(name: str) -> bool:
    """``train_step``, ``Trainer.step``, ``mymodule.train_step``: could name a Python function."""
    return all(p.isidentifier() for p in name.split("."))


def activate() -> StepRecorder | None:
    """Called by ``profiler/inject/sitecustomize.py`` at interpreter start."""
    global _RECORDER
    spec_path = os.environ.pop(COMMAND_SPEC_ENV, None)  # children of the program stay uninstrumented
    steps_opts = os.environ.pop(COMMAND_STEPS_ENV, None)
    if not spec_path or _RECORDER is not None:
        return _RECORDER
    path = Path(spec_path)
    spec = json.loads(path.read_text())
    if steps_opts:  # --skip-steps, --step-marker
        spec.update(json.loads(steps_opts))
    rec = _RECORDER = StepRecorder(spec, path.parent)
    if "torch" in sys.modules:
        rec.hook_torch(sys.modules["torch"])
    else:
        sys.meta_path.insert(0, _PostImportHook("torch", rec.hook_torch))
    if rec.marker and is_identifier_path(rec.marker):
        FunctionMarker(rec, rec.marker).install()

    prev_hook = sys.excepthook

    def excepthook(tp: Any, value: Any, tb: Any) -> None:
        rec.status = "failed"
        rec.error = f"{tp.__name__}: {value}".strip()
        prev_hook(tp, value, tb)

    sys.excepthook = excepthook

    def on_term(signum: int, frame: Any) -> None:
        rec.status = "interrupted"
        rec.error = "stopped by the parent (timeout or Ctrl-C)"
        raise SystemExit(128 + signum)

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, on_term)
    atexit.register(rec.finish)
    rec.start_checkpoints()
    return rec
