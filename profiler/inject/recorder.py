"""Profile any command, child side: the recorder the start-up shim installs inside the user's program.

Parent side (:func:`resolve_command`, :func:`plan_command`): the program is started directly (so the
parent probes — NVML, process, py-spy — watch its pid) with two additions to its environment:

* ``PYTHONPATH`` starts with ``profiler/inject``, whose ``sitecustomize.py`` runs at interpreter
  start and calls :func:`activate` when ``PROFILER_COMMAND_SPEC`` names a spec file;
* ``PROFILER_COMMAND_SPEC`` — the worker spec (steps, warm-up, traced window, in-worker probes).

``--no-inject`` leaves both out: the program then runs untouched and only the parent probes see it
(no steps, no breakdown). A leading ``python``/``python3`` means the interpreter running profiler.

Worker side (:class:`CommandRecorder`, installed by :func:`activate`), in the user's process:

* **steps** are detected from, in order of preference, ``torch.profiler`` step markers the program
  already calls (``prof.step()``), optimizer steps (a global ``torch.optim`` step post-hook), or
  DataLoader batches (each ``next()`` on a DataLoader iterator starts a step). A step runs from one
  boundary to the next, so the wait for the next batch falls into the step it feeds;
* every ``next()`` on a DataLoader iterator is a ``data_loading`` span: time the program waits on its
  DataLoader counts as data loading in the breakdown, whether the loading runs in worker processes or
  not;
* the first ``warmup`` steps are warm-up, the next ``steps`` are clean (the headline), then the
  in-worker probes (torch.profiler; CUPTI) run for one warm-up step plus ``trace_steps`` traced steps,
  and any later steps are clean again;
* at exit (normal, exception or SIGTERM from the parent's timeout) the events and ``result.json`` are
  written to the worker directory, exactly as ``profiler.run.worker`` leaves them.

The spec variable is removed from the environment once read, so the program's own subprocesses
(DataLoader workers, tools it runs) are not instrumented. torch is hooked when the program imports it,
never imported by the shim.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from profiler.core import defaults
from profiler.core.clock import now_ns
from profiler.core.events import DATA_LOADING, STEP, WARMUP, EventBuilder, EventTable
from profiler.core.protocol import COMMAND_SPEC_ENV

HARNESS_TID = 0  # the same "steps" track as profiler.run.worker

#: Step sources, lowest to highest preference.
SOURCES = ("dataloader", "optimizer.step", "torch.profiler.step")


class CommandRecorder:
    """Step detection, data-loading spans and the traced window inside the user's program."""

    def __init__(self, spec: dict[str, Any], out_dir: Path) -> None:
        self.spec = spec
        self.out_dir = out_dir
        self.pid = os.getpid()
        self.t_start = now_ns()
        self.b = EventBuilder()
        self.b.name_process(self.pid, f"command · {os.path.basename(sys.argv[0] or 'python')}")
        self.b.name_thread(self.pid, HARNESS_TID, "steps")
        self.warmup = int(spec.get("warmup", 2))
        self.steps = int(spec.get("steps", defaults.STEPS))
        self.trace_steps = int(spec.get("trace_steps", 3))
        self.probe_names = [p for p in spec.get("probes", []) if p in ("torch", "cupti")]
        self.bounds: list[int] = []
        self.resume: dict[int, int] = {}  # step index -> its start when it is not the previous end
        self.source: str | None = None
        self.sources_seen: dict[str, int] = {}
        self.trace_start: int | None = None
        self.trace_stop: int | None = None
        self.active: list[Any] = []
        self.probe_tables: list[EventTable] = []
        self.lock = threading.RLock()
        self.finished = False
        self.status = "ok"
        self.error: str | None = None
        self.result: dict[str, Any] = {"status": "running", "pid": self.pid, "phases": {}, "probes": {}}

    # boundaries --------------------------------------------------------------------------------
    def boundary(self, source: str, t_ns: int | None = None) -> None:
        t = now_ns() if t_ns is None else t_ns
        with self.lock:
            self.sources_seen[source] = self.sources_seen.get(source, 0) + 1
            if self.source is None or SOURCES.index(source) > SOURCES.index(self.source):
                if self.source is not None:
                    # a better source appeared: keep only the first boundary as the start of step 0
                    self.bounds = self.bounds[:1]
                    self.resume.clear()
                self.source = source
            elif source != self.source:
                return
            self.bounds.append(t)
            self._window()

    def _window(self) -> None:
        done = len(self.bounds) - 1
        if (
            self.probe_names
            and self.trace_start is None
            and self.trace_steps > 0
            and done >= self.warmup + self.steps
        ):
            self.trace_start = done
            self._start_probes()
        elif (
            self.trace_start is not None
            and self.trace_stop is None
            and done >= self.trace_start + 1 + self.trace_steps
        ):
            self.trace_stop = done
            self._stop_probes()
        else:
            return
        # starting or stopping a tracer (converting its events) is the profiler's time, not the
        # program's: the next step starts when it is done
        self.resume[done] = now_ns()

    def data_wait(self, t0: int, t1: int, exhausted: bool) -> None:
        self.b.span(
            DATA_LOADING,
            "DataLoader next",
            t0,
            t1 - t0,
            self.pid,
            HARNESS_TID,
            args={"exhausted": True} if exhausted else None,
        )
        self.boundary("dataloader", t0)

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
        """Install the step and data-loading hooks once torch is imported."""
        rec = self

        try:
            from torch.optim.optimizer import register_optimizer_step_post_hook

            register_optimizer_step_post_hook(lambda opt, args, kwargs: rec.boundary("optimizer.step"))
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
        except Exception as e:
            self.result.setdefault("hook_errors", []).append(f"torch.profiler hook: {type(e).__name__}: {e}")

    # exit --------------------------------------------------------------------------------------
    def finish(self) -> None:
        with self.lock:
            if self.finished:
                return
            self.finished = True
            self._stop_probes()
            res = self.result
            res.update(warmup_ns=[], step_ns=[], traced_step_ns=[])
            for k in range(len(self.bounds) - 1):
                a, z = self.resume.get(k, self.bounds[k]), self.bounds[k + 1]
                # the in-worker probes ran for steps trace_start .. trace_stop-1; the first of them
                # pays the tracer's set-up and is a warm-up step, like in profiler.run.worker
                ts0, ts1 = self.trace_start, self.trace_stop
                traced = ts0 is not None and k >= ts0 and (ts1 is None or k < ts1)
                first_traced = ts0 is not None and k == ts0
                if k < self.warmup or first_traced:
                    cat, key = WARMUP, "warmup_ns"
                else:
                    cat, key = STEP, ("traced_step_ns" if traced else "step_ns")
                self.b.span(
                    cat,
                    f"{cat} {k}",
                    a,
                    z - a,
                    self.pid,
                    HARNESS_TID,
                    args={"index": k, "traced": bool(traced), "source": self.source},
                )
                res[key].append(z - a)
            res["status"] = self.status
            if self.error:
                res["error"] = self.error
            res["info"] = {
                "command": list(sys.argv),
                "step_source": self.source,
                "boundaries_seen": dict(self.sources_seen),
            }
            if len(self.bounds) < 2:
                # said, and the whole run (interpreter start-up to exit) is reported as one step
                res["info"]["note"] = (
                    "no steps detected: no torch.profiler step, optimizer step or DataLoader batch; "
                    "the whole run is reported as one step"
                )
                t_end = now_ns()
                self.b.span(STEP, "whole run", self.t_start, t_end - self.t_start, self.pid, HARNESS_TID,
                            args={"index": 0, "traced": False, "whole_run": True})
                res["step_ns"] = [t_end - self.t_start]
            try:
                table = EventTable.concat([self.b.build(), *self.probe_tables])
                table.save(self.out_dir / "events.npz")
                res["n_events"] = len(table)
            except Exception as e:
                res["save_error"] = f"{type(e).__name__}: {e}"
            from profiler.core.clock import epoch_offset_ns
            from profiler.core.files import atomic_write_json

            res["epoch_offset_ns"] = epoch_offset_ns()
            atomic_write_json(self.out_dir / "result.json", res)


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


_RECORDER: CommandRecorder | None = None


def activate() -> CommandRecorder | None:
    """Called by ``profiler/inject/sitecustomize.py`` at interpreter start."""
    global _RECORDER
    spec_path = os.environ.pop(COMMAND_SPEC_ENV, None)  # children of the program stay uninstrumented
    if not spec_path or _RECORDER is not None:
        return _RECORDER
    path = Path(spec_path)
    spec = json.loads(path.read_text())
    rec = _RECORDER = CommandRecorder(spec, path.parent)
    if "torch" in sys.modules:
        rec.hook_torch(sys.modules["torch"])
    else:
        sys.meta_path.insert(0, _PostImportHook("torch", rec.hook_torch))

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
    return rec
