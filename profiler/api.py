"""The Python API: profile a block of one's own program, or a function, from Python (scripts, notebooks).

:func:`profile` (a context manager, or a decorator that makes each call one run) returns a
:class:`Profile`; :func:`step` and :func:`mark` act on the active one; ``profiler.open``
(:func:`open_run`) opens a run's event store for queries. The run directory is the kind
``profiler trace -- COMMAND`` writes: steps are recorded by the same
:class:`profiler.inject.recorder.StepRecorder`, the entry and files made by the same functions
(:mod:`profiler.run.execute`). One profile at a time; misuse raises
:class:`profiler.core.errors.ProfilerError`. Usage, step rules and errors: ``docs/api.md``.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from profiler.core import defaults
from profiler.core.errors import InputError, ProfilerError

#: The run directory's label and the worker's key of a profile made from Python.
KEY = "python"

_ACTIVE: Profile | None = None
_LOCK = threading.Lock()


def active() -> Profile | None:
    """The profile now running in this process, or None."""
    return _ACTIVE


def _require_active(what: str) -> Profile:
    prof = _ACTIVE
    if prof is None or prof._state != "active":
        raise ProfilerError(f"{what} outside an active profiler.profile() block: start one first "
                            "(with profiler.profile() as prof: ...)")
    return prof


class Profile:
    """One profiled block: a run directory, its steps, and its report.

    ``out``: the folder of run directories; ``probes``: probe names (``profiler list --probes``;
    ``None``: every available one); ``steps``/``warmup``/``trace_steps``/``skip_steps``: the window,
    as ``profiler trace`` takes them; ``require``: probes that must run (else :class:`InputError`);
    ``probe_options``: per-probe options (``{"torch": {"record_shapes": False}}``).
    """

    def __init__(
        self,
        out: str | Path = defaults.OUT_DIR,
        probes: Sequence[str] | None = ("torch", "process"),
        *,
        steps: int | None = None,
        warmup: int | None = None,
        trace_steps: int | None = None,
        skip_steps: int = 0,
        require: Sequence[str] = (),
        probe_options: dict[str, Any] | None = None,
        label: str = KEY,
        device: str = "auto",
    ) -> None:
        from profiler.run.command import check_counts

        check_counts(steps=steps, warmup=warmup, trace_steps=trace_steps, skip_steps=skip_steps)
        if isinstance(probes, str):
            probes = [p.strip() for p in probes.split(",") if p.strip()]
        self._options = dict(out=out, probes=probes, steps=steps, warmup=warmup, trace_steps=trace_steps,
                             skip_steps=skip_steps, require=require, probe_options=probe_options, label=label,
                             device=device)
        self.out = Path(out)
        self.run_dir: Path | None = None
        self.record: Any = None  # the run record (profiler.core.record.RunRecord) once finished
        self.n_steps = 0  # step() calls
        self._state = "new"
        self._rec: Any = None
        self._import_hook: Any = None

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> Profile:
        self.start()
        return self

    def __exit__(self, tp: Any, value: Any, tb: Any) -> bool:
        self.stop(value if tp is not None else None)
        return False  # the program's own exception goes on

    # ------------------------------------------------------------------ decorator
    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``@profiler.profile(...)``: each call of ``fn`` is profiled as its own run."""
        if not callable(fn):
            raise InputError(f"profiler.profile(...) decorates a function, not a {type(fn).__name__}")
        options = dict(self._options)

        @functools.wraps(fn)
        def profiled(*args: Any, **kwargs: Any) -> Any:
            prof = Profile(**options)
            profiled.profile = prof  # type: ignore[attr-defined]
            with prof:
                return fn(*args, **kwargs)

        profiled.profile = None  # type: ignore[attr-defined]
        return profiled

    # ------------------------------------------------------------------ running
    def start(self) -> Profile:
        """Create the run directory and start recording (what ``with`` does)."""
        global _ACTIVE
        with _LOCK:
            if _ACTIVE is not None:
                raise ProfilerError(
                    f"profiler.profile() is already active (run {_ACTIVE.run_dir}); profiles do not "
                    "nest: use profiler.mark(name) for a region inside it"
                )
            if self._state != "new":
                raise ProfilerError("this profiler.profile() was already used; create a new one for another run")
            _ACTIVE = self
        try:
            self._begin()
        except BaseException:
            _ACTIVE = None
            self._state = "done"
            raise
        self._state = "active"
        atexit.register(self._at_exit)
        return self

    def _begin(self) -> None:
        from profiler.core.calibration import load_cached, summary_line
        from profiler.core.clock import epoch_offset_ns, now_ns
        from profiler.core.protocol import SPEC_FILE
        from profiler.core.rundir import RunDir
        from profiler.inject.recorder import StepRecorder
        from profiler.probes import PROBES, ProbeTarget, availability_of, select_probes, start_probes
        from profiler.run.command import command_job, command_settings, python_scenario, step_options
        from profiler.run.execute import ensure_calibrated, record_header
        from profiler.run.process import write_spec

        o = self._options
        probes = list(o["probes"]) if o["probes"] is not None else None
        chosen, records = select_probes(probes, list(o["require"] or []), "torch")
        job = self._job = command_job(
            KEY, chosen, device=o["device"], steps=o["steps"], warmup=o["warmup"], trace_steps=o["trace_steps"],
            probe_options=o["probe_options"], skip_steps=o["skip_steps"],
        )
        job.env.clear()  # the step options go straight to the recorder below
        run = self._run = RunDir.create(self.out, o["label"])
        self.run_dir = run.path
        ensure_calibrated()
        script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
        sc = self._scenario = python_scenario(script)
        settings = command_settings(job, o["device"], api=True, skip_steps=o["skip_steps"])
        record = self._record = record_header(run, "trace", sc, settings, list(sys.argv), {"torch"})
        record.probes = {n: availability_of(n).as_dict() for n in PROBES}
        cal = load_cached()
        record.calibration = {"record": cal, "summary": summary_line(cal)}
        record.probe_selection = {"torch": records}
        run.write_record(record)

        wdir = self._worker_dir = run.worker_dir(job.key)
        offset = epoch_offset_ns()
        import json

        spec = json.loads(write_spec(job, wdir, offset).read_text())
        spec.update(step_options(o["skip_steps"]))
        assert (wdir / SPEC_FILE).exists()
        rec = self._rec = StepRecorder(spec, wdir, process_name=f"python · {script}")
        rec.no_steps_note = ("no steps detected: prof.step() was never called, and no optimizer step or "
                             "DataLoader batch ran in the block")
        if "torch" in sys.modules:
            rec.hook_torch(sys.modules["torch"])
        else:
            from profiler.inject.recorder import _PostImportHook

            self._import_hook = _PostImportHook("torch", rec.hook_torch)
            sys.meta_path.insert(0, self._import_hook)
        self._probe_records: dict[str, Any] = {}
        target = ProbeTarget(pid=os.getpid(), run_dir=str(wdir), epoch_offset_ns=offset)
        self._parent = start_probes(job.parent_probes, job.probe_options, target, self._probe_records)
        rec.start_checkpoints()
        self._wall0 = time.monotonic()
        rec.t_start = now_ns()  # step 0 (or the whole block) starts here

    def step(self) -> None:
        """End the current step and start the next."""
        if self._state != "active" or _ACTIVE is not self:
            raise ProfilerError("prof.step() outside its profiler.profile() block "
                                + ("(it has ended)" if self._state == "done" else "(it has not started)"))
        self._rec.boundary("profile.step", start_ns=self._rec.t_start)
        self.n_steps += 1

    def stop(self, exc: BaseException | None = None) -> Profile:
        """Stop recording, analyse, write the run directory (what leaving ``with`` does).

        ``exc``: the exception that ended the block, if any (its entry then says ``failed``,
        ``interrupted`` or ``exited N``; what ran before it is kept)."""
        global _ACTIVE
        if self._state != "active":
            raise ProfilerError("this profiler.profile() is not running")
        self._state = "stopping"
        try:
            self._finish(exc)
        except Exception as e:
            if exc is None:
                raise ProfilerError(f"profiler: could not finish the run in {self.run_dir}: "
                                    f"{type(e).__name__}: {e}") from None
            print(f"profiler: could not finish the run in {self.run_dir}: {type(e).__name__}: {e}",
                  file=sys.stderr)
        finally:
            self._state = "done"
            _ACTIVE = None
            atexit.unregister(self._at_exit)
        return self

    def _at_exit(self) -> None:
        if self._state == "active":  # the program ended inside the block (sys.exit, or never left it)
            self.stop()

    def _finish(self, exc: BaseException | None) -> None:
        from profiler.core.events import EventTable
        from profiler.core.protocol import EVENTS_FILE
        from profiler.probes import collect_probes, stop_probes
        from profiler.run.command import settle_counts
        from profiler.run.execute import finish_record, variant_entry
        from profiler.run.process import JobOutcome

        rec = self._rec
        status, error, code = "ok", None, None
        if isinstance(exc, KeyboardInterrupt):
            status, error = "interrupted", "interrupted (KeyboardInterrupt); the steps before it are kept"
        elif isinstance(exc, SystemExit):
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            status = "ok" if code == 0 else f"exited {code}"
        elif exc is not None:
            status, error = "failed", f"{type(exc).__name__}: {exc}".strip()
        rec.status = {"ok": "ok", "interrupted": "interrupted"}.get(status, "failed")
        rec.error = error
        rec.unhook()
        if self._import_hook is not None:
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(self._import_hook)
        table, result = rec.finish() or (EventTable(), {})
        stop_probes(self._parent)
        tables = [table, *collect_probes(self._parent, self._probe_records)]
        events = EventTable.concat(tables)
        if len(tables) > 1:
            events.save(self._worker_dir / EVENTS_FILE)
        outcome = JobOutcome(self._job, status, result, events, self._worker_dir, code, error,
                             self._probe_records, time.monotonic() - self._wall0)
        record, run = self._record, self._run
        record.variants = [variant_entry(outcome, run, self._scenario)]
        run.write_record(record)  # the entry is saved before the files are made
        settle_counts(record)
        finish_record(record, run, [events], self._scenario.name)
        self.record = record

    # ------------------------------------------------------------------ reading
    def report(self, quiet: bool = False, top: int = 10, console: Any = None) -> None:
        """Print the terminal report (the same as ``profiler report RUN_DIR``)."""
        if self.record is None:
            raise ProfilerError("no report yet: the profile "
                                + ("is still running (leave the with block first)" if self._state == "active"
                                   else "has not run"))
        from rich.console import Console

        from profiler.report.run import render_record

        render_record(self.record, str(self.run_dir), console or Console(soft_wrap=False), quiet, top)

    def _repr_html_(self) -> str:
        """Jupyter's display: the run's HTML report (export/html.py)."""
        if self.record is None:
            import html

            return f"<p>profiler.profile: {html.escape(self._state)}, run directory {html.escape(str(self.run_dir))}</p>"
        from profiler.export.html import render_html

        return render_html(self.record.to_dict())

    def __repr__(self) -> str:
        status = self.record.status if self.record is not None else self._state
        return f"<profiler.profile {status} run_dir={self.run_dir}>"


def profile(out: Any = defaults.OUT_DIR, probes: Sequence[str] | None = ("torch", "process"), **options: Any) -> Any:
    """A :class:`Profile` (a context manager and a decorator); ``@profiler.profile`` works bare too."""
    if callable(out) and not isinstance(out, (str, Path)):
        return Profile(probes=probes, **options)(out)
    return Profile(out, probes, **options)


def step() -> None:
    """End the current step of the active profile and start the next (as ``prof.step()``)."""
    _require_active("profiler.step()").step()


@contextlib.contextmanager
def mark(name: str) -> Iterator[None]:
    """A named region of one's own code, recorded as a span on the thread that runs it."""
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"profiler.mark() needs a non-empty name, got {name!r}")
    prof = _require_active(f"profiler.mark({name!r})")
    from profiler.core.clock import now_ns

    t0 = now_ns()
    try:
        yield
    finally:
        prof._rec.region(name, t0, now_ns(), thread_name=threading.current_thread().name)


def open_run(run: str | Path, memory_limit: str | None = None, threads: int | None = None,
             scheduler: str | None = None) -> Any:
    """``profiler.open(RUN)``: a :class:`profiler.store.Store` over the event stores of ``run`` (a run
    directory, a folder of runs or stores, an ``events.parquet``, or a trace file or folder of
    per-rank traces, imported into stores once: :func:`profiler.run.fleet.stores_for_traces`).

    ``.sql(query)`` and ``.relation(name)`` are DuckDB relations (``.df()``, ``.pl()``,
    ``.to_arrow_table()``), ``.table(name)`` a ``pyarrow.Table``; the views are ``docs/store.md``'s.
    ``memory_limit`` (``"2GB"``) and ``threads`` bound DuckDB. Close it (or use ``with``) when done.
    """
    from profiler.store import Store, find_sources

    sources = find_sources(run)
    if not sources:
        from profiler.run.fleet import stores_for_traces

        where, _ = stores_for_traces(run, scheduler=scheduler)
        sources = find_sources(where)
    return Store(sources, memory_limit=memory_limit, threads=threads, where=str(run))
