"""The thread-scaling sweep behind ``profiler scale``: plan the points, run them, collect the figures.

A *point* is one series (framework/variant) at one thread count, measured ``repeats`` times, each in
a fresh worker with its thread settings in the environment (:func:`profiler.run.process.thread_env`);
repeats alternate direction; only the first repeat at the lowest and highest count is traced (for
:mod:`profiler.analysis.op_scaling`); parent samplers stay off; each worker's busy threads are
counted from ``/proc`` (:func:`profiler.analysis.thread_fits.busy_threads`). Writes ``run.json``
(kind ``scale``), ``scaling.json``, ``scaling.csv`` and ``scaling.png``. Method and outputs:
``docs/scaling.md``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from profiler.analysis.thread_fits import (
    BusyThreads,
    busy_threads,
    thread_mismatch,
)
from profiler.analysis.thread_scaling import scaling_result
from profiler.core import defaults
from profiler.core.calibration import load_cached
from profiler.core.errors import InputError
from profiler.core.files import atomic_write_json
from profiler.core.hardware import usable_cores
from profiler.core.protocol import PIN_CPUS_ENV, SPEC_FILE
from profiler.core.record import RunRecord, VariantEntry, json_document
from profiler.core.rundir import RunDir, ensure_writable_root
from profiler.core.scenario import Scenario
from profiler.export.thread_sweep import SCALING_JSON, write_outputs
from profiler.probes.process import thread_cpu_times
from profiler.run.execute import export_pages, record_header, run_status, variant_entry
from profiler.run.plan import TraceRequest, plan
from profiler.run.process import WorkerJob, run_job, thread_env
from profiler.sections.compute import analyse

DEFAULT_REPEATS = defaults.REPEAT["scale"]


# ------------------------------------------------------------------------------------ thread list
def parse_threads(text: str | None) -> list[int] | None:
    """``"1,2,4"`` → ``[1, 2, 4]`` (sorted, unique); ``None`` → ``None`` (use the default list).

    Anything that is not a comma-separated list of positive integers is an :class:`InputError`.
    """
    if text is None:
        return None
    items = [s.strip() for s in text.split(",")]
    if not any(items):
        raise InputError("--threads: empty list; give positive integers such as 1,2,4")
    out: set[int] = set()
    for s in items:
        if not s:
            raise InputError(f"--threads {text!r}: empty item in the list")
        try:
            n = int(s)
        except ValueError:
            raise InputError(f"--threads: {s!r} is not a positive integer") from None
        if n < 1:
            raise InputError(f"--threads: {s!r} is not a positive integer")
        out.add(n)
    return sorted(out)


def default_thread_counts(cores: int) -> list[int]:
    """Powers of two up to the core count, plus the core count itself."""
    cores = max(1, cores)
    out, p = [], 1
    while p <= cores:
        out.append(p)
        p *= 2
    if out[-1] != cores:
        out.append(cores)
    return out


def pin_cpus(threads: int, allowed: list[int]) -> list[int]:
    """The cores a pinned point at ``threads`` threads may use: the first ``threads`` allowed ones
    (all of them when oversubscribed)."""
    return allowed[: max(1, min(threads, len(allowed)))]


def run_order(series: list[str], threads: list[int], repeats: int) -> list[tuple[int, int, str]]:
    """``(repeat, threads, series)`` in execution order: directions alternate between repeats."""
    order = []
    for r in range(repeats):
        ts = threads if r % 2 == 0 else list(reversed(threads))
        ss = series if r % 2 == 0 else list(reversed(series))
        for t in ts:
            for s in ss:
                order.append((r, t, s))
    return order


# ------------------------------------------------------------------------------ busy-thread probe
class MeasureWindowWatcher:
    """Snapshots a worker's per-thread CPU times when its ``measure`` phase starts and ends.

    Fed the worker's progress messages (it runs on the parent's progress-reader thread). The worker's
    pid is found among this process's children by the spec path on its command line.
    """

    def __init__(self, spec_path: Path) -> None:
        self.spec_path = str(spec_path)
        self.pid: int | None = None
        self.before: dict[int, float] | None = None
        self.after: dict[int, float] | None = None
        self.t0 = self.t1 = 0.0
        self.resolution_s = 1e-9
        self.error: str | None = None
        self._lock = threading.Lock()

    def _find_pid(self) -> int | None:
        import psutil

        for child in psutil.Process().children(recursive=False):
            try:
                if self.spec_path in child.cmdline():
                    return child.pid
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return None

    def on_progress(self, msg: dict[str, Any]) -> None:
        phase = msg.get("phase")
        # The window closes at the last measured step's message (sent right after that step) or,
        # failing that, at the next phase; either way before the traced window starts.
        last_step = phase is None and msg.get("step") is not None and msg.get("step") == msg.get("total")
        if phase is None and not last_step:
            return
        with self._lock:
            try:
                if phase == "measure" and self.before is None:
                    self.pid = self._find_pid()
                    if self.pid is None:
                        self.error = "worker pid not found"
                        return
                    self.before, self.resolution_s = thread_cpu_times(self.pid)
                    self.t0 = time.monotonic()
                elif self.before is not None and self.after is None and self.pid is not None:
                    self.t1 = time.monotonic()
                    self.after, _ = thread_cpu_times(self.pid)
            except OSError as e:
                self.error = f"cannot read /proc/{self.pid}/task: {e.strerror or e}"

    def result(self) -> BusyThreads | None:
        if self.before is None or self.after is None or self.t1 <= self.t0:
            return None
        return busy_threads(self.before, self.after, self.t1 - self.t0, self.resolution_s)


# -------------------------------------------------------------------------------------- planning
@dataclass
class ScaleRequest:
    scenario: Scenario
    frameworks: list[str] | None = None
    variants: list[str] | None = None  # None: each framework's first variant
    threads: list[int] | None = None  # None: default_thread_counts(cores)
    repeats: int = DEFAULT_REPEATS
    pin: bool = False
    mode: str | None = None
    preset: str | None = None
    device: str = "cpu"
    steps: int | None = None
    warmup: int | None = None
    trace_steps: int | None = None
    data: str = "ram"
    out: Path = defaults.OUT_DIR
    timeout_s: float | None = None
    command: list[str] = field(default_factory=list)


@dataclass
class ScaleJob:
    job: WorkerJob
    series: str  # "framework/variant"
    threads: int
    repeat: int
    traced: bool
    pinned: list[int] | None


@dataclass
class ScalePlan:
    request: ScaleRequest
    jobs: list[ScaleJob]  # in execution order
    series: list[str]
    threads: list[int]
    cores: int
    skipped: list[VariantEntry]
    settings: dict[str, Any]


def plan_scale(req: ScaleRequest) -> ScalePlan:
    """Validate the request and lay out every worker run, in order (nothing runs yet)."""
    if req.repeats < 1:
        raise InputError(f"--repeat must be a positive integer, got {req.repeats}")
    cores = usable_cores()
    threads = list(req.threads) if req.threads is not None else default_thread_counts(cores)
    if not threads:
        raise InputError("--threads: empty list; give positive integers such as 1,2,4")
    for t in threads:
        if not isinstance(t, int) or t < 1:
            raise InputError(f"--threads: {t!r} is not a positive integer")
    sc = req.scenario
    frameworks = req.frameworks or sc.frameworks
    variants = req.variants
    if variants is None:  # one series per framework: its first variant
        variants = []
        for fw in frameworks:
            impl = sc.implementation(fw)
            if impl is not None and impl.variants and impl.variants[0].name not in variants:
                variants.append(impl.variants[0].name)
    # One plan validates the request and chooses the workers; each thread count is that plan with
    # the count in the workload spec (the runner turns it into the environment, the scenario into
    # framework calls).
    base = plan(
        TraceRequest(
            scenario=sc,
            frameworks=frameworks,
            variants=variants,
            mode=req.mode,
            preset=req.preset,
            device=req.device,
            steps=req.steps,
            warmup=req.warmup,
            trace_steps=req.trace_steps,
            threads=threads[0],
            data=req.data,
            out=req.out,
            timeout_s=req.timeout_s,
        )
    )
    jobs0 = base.jobs
    if req.variants is None:  # the first variant of one framework may not exist in another
        jobs0 = [
            j
            for j in jobs0
            if j.workload.variant == sc.implementation(j.workload.framework).variants[0].name  # type: ignore[union-attr]
        ]
    per_thread = {t: [replace(j, workload=replace(j.workload, threads=t)) for j in jobs0] for t in threads}
    series = []
    for j in per_thread[threads[0]]:
        s = f"{j.workload.framework}/{j.workload.variant}"
        if s not in series:
            series.append(s)
    skipped = [
        s
        for s in base.skipped
        if req.variants is not None
        or s.variant == (sc.implementation(s.framework).variants[0].name)  # type: ignore[union-attr]
    ]
    if not series and not skipped:
        raise InputError("nothing to run")
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(cores))
    lo, hi = threads[0], threads[-1]
    by_key = {(t, f"{j.workload.framework}/{j.workload.variant}"): j for t in threads for j in per_thread[t]}
    jobs: list[ScaleJob] = []
    for r, t, s in run_order(series, threads, req.repeats):
        j = by_key[(t, s)]
        traced = r == 0 and t in (lo, hi) and bool(j.worker_probes) and j.trace_steps > 0
        pinned = pin_cpus(t, allowed) if req.pin else None
        env = dict(j.env)
        if pinned is not None:
            env[PIN_CPUS_ENV] = ",".join(map(str, pinned))
        jobs.append(
            ScaleJob(
                job=replace(
                    j,
                    key=f"{j.key}-t{t}-r{r}",
                    worker_probes=list(j.worker_probes) if traced else [],
                    parent_probes=[],
                    trace_steps=j.trace_steps if traced else 0,
                    env=env,
                ),
                series=s,
                threads=t,
                repeat=r,
                traced=traced,
                pinned=pinned,
            )
        )
    settings = {
        **{k: v for k, v in base.settings.items() if k != "threads"},
        "threads": threads,
        "repeats": req.repeats,
        "pin": req.pin,
        "cores": cores,
        "allowed_cpus": allowed,
        "oversubscribed": [t for t in threads if t > cores],
        # what each worker's environment carries (set to the point's count; TF's inter-op pool to 1)
        "thread_env_vars": sorted(thread_env(1)),
        "order": "alternating: repeats alternate ascending/descending thread counts and framework order",
    }
    return ScalePlan(req, jobs, series, threads, cores, skipped, settings)


# ------------------------------------------------------------------------------------- executing
ScaleProgress = Callable[[ScaleJob, int, dict[str, Any]], None]  # (job, index, message)


def _entry(sj: ScaleJob, outcome: Any, run: RunDir, sc: Scenario, watcher: MeasureWindowWatcher) -> VariantEntry:
    entry = variant_entry(outcome, run, sc)
    bt = watcher.result()
    entry.threads = sj.threads
    entry.sections.update(
        {
            "series": sj.series,
            "repeat": sj.repeat,
            "traced": sj.traced,
            "pinned_cpus": sj.pinned,
            "affinity": outcome.result.get("affinity"),
            "busy_threads": bt.to_dict() if bt else None,
            "busy_error": watcher.error,
            "thread_mismatch": thread_mismatch(sj.threads, bt) if outcome.status == "ok" else None,
        }
    )
    return entry


def execute_scale(
    sp: ScalePlan,
    progress: ScaleProgress | None = None,
    on_job_done: Callable[[ScaleJob, int, VariantEntry], None] | None = None,
) -> tuple[RunRecord, RunDir]:
    """Run every planned worker, then fit and explain; returns the run record and directory."""
    req = sp.request
    sc = req.scenario
    ensure_writable_root(req.out)
    run = RunDir.create(req.out, f"{sc.name}-scale")
    record = record_header(run, "scale", sc, sp.settings, req.command, {sj.job.workload.framework for sj in sp.jobs})
    record.variants = list(sp.skipped)
    run.write_record(record)
    interrupted = False
    try:
        for i, sj in enumerate(sp.jobs):
            wdir = run.worker_dir(sj.job.key)
            watcher = MeasureWindowWatcher(wdir / SPEC_FILE)

            def relay(job: WorkerJob, msg: dict[str, Any], sj: ScaleJob = sj, i: int = i, w=watcher) -> None:
                w.on_progress(msg)
                if progress is not None:
                    progress(sj, i, msg)

            outcome = run_job(sj.job, wdir, relay)
            entry = _entry(sj, outcome, run, sc, watcher)
            record.variants.append(entry)
            run.write_record(record)  # nothing measured is lost if a later worker fails
            if on_job_done is not None:
                on_job_done(sj, i, entry)
            if outcome.status == "interrupted":
                interrupted = True
                break
    except KeyboardInterrupt:  # Ctrl-C between workers: fit and save what was measured so far
        interrupted = True
    result = scaling_result([v.to_dict() for v in record.variants], sp.series, sp.threads, sp.cores)
    result["not_run"] = len(sp.jobs) - sum(1 for v in record.variants if "repeat" in v.sections)
    record.sections["scaling"] = result
    record.warnings = list(result.get("warnings", []))
    record.status = "interrupted" if interrupted else run_status(record.variants)
    files = write_outputs(run.path, result, sc.name)
    result["files"] = files
    export_pages(record, run)  # report.html: the sweep's chart and table
    run.write_record(record)
    atomic_write_json(run.path / SCALING_JSON, json_summary(record, run))
    return record, run


def json_summary(record: RunRecord, run: RunDir) -> dict[str, Any]:
    """The ``--json`` document and ``scaling.json``: the common document (``variants`` one entry per
    worker) plus the sweep's own ``threads``, ``cores``, ``series`` and ``files`` (docs/scaling.md)."""
    res = record.sections.get("scaling") or {}
    return json_document(
        record,
        run.path,
        host={k: record.host.get(k) for k in ("cpu", "cores")},
        threads=res.get("threads"),
        cores=res.get("cores"),
        series=res.get("series", []),
        unavailable=[
            {"framework": v.framework, "variant": v.variant, "error": v.error}
            for v in record.variants
            if v.status == "unavailable"
        ],
        files=res.get("files"),
    )


def saved_summary(record: RunRecord, run: RunDir, reanalyse: bool = False) -> dict[str, Any]:
    """The ``--json`` document of a saved sweep; ``reanalyse`` recomputes it from the saved events."""
    try:
        if reanalyse:
            for v in record.variants:
                if v.events:
                    v.update(analyse(run.load_events(v), v.to_dict(), v.items_per_step, record.unit, load_cached()))
            s = record.settings
            series = list(dict.fromkeys(v.sections["series"] for v in record.variants if v.sections.get("series")))
            files = (record.sections.get("scaling") or {}).get("files")
            result = scaling_result([v.to_dict() for v in record.variants], series, s["threads"], s["cores"])
            result["files"] = files
            record.sections["scaling"] = result
            record.warnings = list(result.get("warnings", []))
        return json_summary(record, run)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise InputError(f"{run.run_file}: malformed scaling record ({type(e).__name__}: {e})") from None
