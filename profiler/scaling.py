"""The thread-scaling sweep behind ``profiler scale``: plan the points, run them, collect the figures.

A *point* is one series (framework/variant) at one thread count; each point is measured ``repeats``
times, every time in a fresh worker, so the thread settings (environment variables, set by
:func:`profiler.runner.thread_env` before the framework loads, and the framework calls the scenario
makes from ``WorkloadSpec.threads``) never leak from one point to the next.

Order: the repeats alternate direction — repeat 0 runs the counts ascending, repeat 1 descending,
and so on, with the framework order reversed too — so that slow drift of the machine (turbo budget,
temperature, other tenants) lands on every point about equally instead of on the last ones.

Only the first repeat at the lowest and the highest count runs a traced window (the in-worker
framework tracer, after the clean steps, so it never touches the timed steps); that is what the op
explanation (:mod:`profiler.analysis.op_scaling`) reads. Parent-side samplers are not run: they
would compete for the cores being measured.

While a worker runs its clean steps, the parent reads each of the worker's threads' CPU time from
``/proc/<pid>/task/<tid>/schedstat`` (ns) or ``.../stat`` (clock ticks) when the ``measure`` phase
starts and when it ends, and counts the threads that ran busy (:func:`busy_threads`). A count that
differs from the request is reported next to the time, never hidden.

Outputs in the run directory: ``run.json`` (kind ``scale``: every worker's entry plus the result),
``scaling.json`` (the result, same document as ``--json``), ``scaling.csv`` and ``scaling.png``.
"""

from __future__ import annotations

import csv
import io
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from profiler.analysis.op_scaling import op_scaling
from profiler.analysis.scaling import (
    SPREAD_WARN_PCT,
    BusyThreads,
    Point,
    busy_threads,
    scaling_figures,
    spread_pct,
    thread_mismatch,
)
from profiler.errors import InputError
from profiler.hardware import usable_cores
from profiler.protocol import PIN_CPUS_ENV, SPEC_FILE
from profiler.rundir import RunDir, atomic_write_json, atomic_write_text, ensure_writable_root
from profiler.runner import WorkerJob, run_job, thread_env
from profiler.scenario import Scenario

DEFAULT_REPEATS = 5
#: A point whose threads got less than this share of the cores they could use gets a warning.
CONTENDED_SHARE = 0.6
SCALING_JSON = "scaling.json"
SCALING_CSV = "scaling.csv"
SCALING_PNG = "scaling.png"


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


def default_threads(cores: int) -> list[int]:
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
def _clk_tck() -> int:
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-Linux
        return 100


def thread_cpu_seconds(pid: int) -> tuple[dict[int, float], float]:
    """``({tid: CPU seconds}, resolution_s)`` of every thread of ``pid``, read from ``/proc``.

    ``schedstat``'s first field is the thread's time on a CPU in ns; where the kernel has no
    schedstat, ``stat``'s utime + stime in clock ticks. One source for all threads of a snapshot.
    """
    base = f"/proc/{pid}/task"
    tids = [int(t) for t in os.listdir(base)]
    out: dict[int, float] = {}
    use_schedstat = os.path.exists(f"{base}/{tids[0]}/schedstat") if tids else False
    tck = _clk_tck()
    for tid in tids:
        try:
            if use_schedstat:
                with open(f"{base}/{tid}/schedstat") as f:
                    out[tid] = int(f.read().split()[0]) / 1e9
            else:
                with open(f"{base}/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                out[tid] = (int(fields[11]) + int(fields[12])) / tck
        except (OSError, ValueError, IndexError):
            continue  # the thread exited between listdir and open
    return out, (1e-9 if use_schedstat else 1.0 / tck)


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
                    self.before, self.resolution_s = thread_cpu_seconds(self.pid)
                    self.t0 = time.monotonic()
                elif self.before is not None and self.after is None and self.pid is not None:
                    self.t1 = time.monotonic()
                    self.after, _ = thread_cpu_seconds(self.pid)
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
    threads: list[int] | None = None  # None: default_threads(cores)
    repeats: int = DEFAULT_REPEATS
    pin: bool = False
    mode: str | None = None
    preset: str | None = None
    device: str = "cpu"
    steps: int | None = None
    warmup: int | None = None
    trace_steps: int | None = None
    data: str = "ram"
    out: Path = Path("runs")
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
    skipped: list[dict[str, Any]]
    settings: dict[str, Any]


def plan_scale(req: ScaleRequest) -> ScalePlan:
    """Validate the request and lay out every worker run, in order (nothing runs yet)."""
    from profiler.orchestrate import TraceRequest, plan

    if req.repeats < 1:
        raise InputError(f"--repeats must be a positive integer, got {req.repeats}")
    cores = usable_cores()
    threads = list(req.threads) if req.threads is not None else default_threads(cores)
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
        or s.get("variant") == (sc.implementation(s["framework"]).variants[0].name)  # type: ignore[union-attr]
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


def _entry(sj: ScaleJob, outcome: Any, run: RunDir, sc: Scenario, watcher: MeasureWindowWatcher) -> dict:
    from profiler.orchestrate import variant_entry

    entry = variant_entry(outcome, run, sc)
    bt = watcher.result()
    entry.update(
        {
            "series": sj.series,
            "threads": sj.threads,
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
    on_job_done: Callable[[ScaleJob, int, dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], RunDir]:
    """Run every planned worker, then fit and explain; returns the run record and directory."""
    req = sp.request
    sc = req.scenario
    ensure_writable_root(req.out)
    run = RunDir.create(req.out, f"{sc.name}-scale")
    from profiler.orchestrate import record_header

    record: dict[str, Any] = {
        **record_header(run, "scale", sc, sp.settings, req.command, {sj.job.workload.framework for sj in sp.jobs}),
        "status": "running",
        "variants": list(sp.skipped),
        "trace": None,
    }
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
            record["variants"].append(entry)
            run.write_record(record)  # nothing measured is lost if a later worker fails
            if on_job_done is not None:
                on_job_done(sj, i, entry)
            if outcome.status == "interrupted":
                interrupted = True
                break
    except KeyboardInterrupt:  # Ctrl-C between workers: fit and save what was measured so far
        interrupted = True
    result = scaling_result(record["variants"], sp.series, sp.threads, sp.cores)
    result["not_run"] = len(sp.jobs) - sum(1 for v in record["variants"] if "repeat" in v)
    record["scaling"] = result
    record["status"] = "interrupted" if interrupted else _status(record["variants"])
    files = write_outputs(run, result, sc.name)
    record["scaling"]["files"] = files
    run.write_record(record)
    atomic_write_json(run.path / SCALING_JSON, json_summary(record, run))
    return record, run


def _status(variants: list[dict[str, Any]]) -> str:
    st = {v.get("status") for v in variants if v.get("status") != "unavailable"}
    if not st:
        return "unavailable"
    if st == {"ok"}:
        return "ok"
    return "partial" if "ok" in st else "failed"


# ------------------------------------------------------------------------------------ aggregating
def _median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def scaling_result(
    entries: list[dict[str, Any]], series: list[str], threads: list[int], cores: int
) -> dict[str, Any]:
    """Per series: each thread count's repeats summarised, the fits, and the op explanation.

    ``entries`` are the worker entries of run.json (``series``, ``threads``, ``repeat``, ``status``,
    ``step_ms``, ``busy_threads`` ...), so a saved run can be re-aggregated without re-running it.
    """
    out_series = []
    warnings: list[str] = []
    for s in series:
        fw, _, variant = s.partition("/")
        mine = [e for e in entries if e.get("series") == s]
        pts: list[dict[str, Any]] = []
        for t in threads:
            reps = [e for e in mine if e.get("threads") == t]
            ok = [e for e in reps if e.get("status") == "ok" and (e.get("step_ms") or {}).get("median")]
            meds = [float(e["step_ms"]["median"]) for e in ok]
            busy = [e["busy_threads"] for e in ok if e.get("busy_threads")]
            resolved = [b for b in busy if b.get("resolved")]
            busy_counts = [int(b["busy"]) for b in resolved]
            par = [float(b["cpu_parallelism"]) for b in busy]
            pt: dict[str, Any] = {
                "threads": t,
                "oversubscribed": t > cores,
                "repeats": len(reps),
                "repeats_ok": len(ok),
                "median_ms": _median(meds) if meds else None,
                "min_ms": min(meds) if meds else None,
                "max_ms": max(meds) if meds else None,
                "repeat_medians_ms": meds,
                "spread_pct": spread_pct(meds) if meds else None,
                "busy_threads": _median(busy_counts) if busy_counts else None,
                "busy_threads_range": [min(busy_counts), max(busy_counts)] if busy_counts else None,
                "cpu_parallelism": _median(par) if par else None,
                "pinned_cpus": next((e.get("pinned_cpus") for e in ok if e.get("pinned_cpus")), None),
                "errors": sorted({str(e.get("error")) for e in reps if e.get("status") != "ok"}),
            }
            if busy_counts:
                bmed = pt["busy_threads"]
                pt["thread_mismatch"] = None if bmed == t else f"{bmed:g} busy thread(s) for {t} requested"
            elif ok:
                notes = [e.get("thread_mismatch") or e.get("busy_error") for e in ok]
                pt["thread_mismatch"] = next((n for n in notes if n), "busy threads not measured")
            else:
                pt["thread_mismatch"] = None
            if pt["spread_pct"] is not None and pt["spread_pct"] > SPREAD_WARN_PCT and len(meds) > 1:
                warnings.append(
                    f"{s} at {t} thread(s): repeats spread {pt['spread_pct']:.0f}% (> {SPREAD_WARN_PCT:.0f}%)"
                    " — the machine was noisy; treat this point with care"
                )
            if pt["thread_mismatch"] and busy_counts:
                warnings.append(f"{s} at {t} thread(s): {pt['thread_mismatch']}")
            want = min(t, cores)
            if pt["cpu_parallelism"] is not None and pt["cpu_parallelism"] < CONTENDED_SHARE * want:
                # Threads that are busy but get little CPU time are waiting for a core: someone
                # else is using the machine, and this point's time is pessimistic.
                warnings.append(
                    f"{s} at {t} thread(s): the worker's threads got {pt['cpu_parallelism']:.2f} cores' worth "
                    f"of CPU time on average for {want} usable — other processes competed for the cores, "
                    "or the framework waited"
                )
            pts.append(pt)
        measured = [p for p in pts if p["median_ms"]]
        figures = None
        if measured:
            sf = scaling_figures(
                [Point(p["threads"], p["median_ms"], p["spread_pct"] or 0.0) for p in measured],
                fit_max_threads=cores,
            )
            figures = sf.to_dict()
            by_t = {f.threads: f for f in sf.points}
            for p in pts:
                f = by_t.get(p["threads"])
                p["speedup"] = f.speedup if f else None
                p["efficiency"] = f.efficiency if f else None
                p["karp_flatt"] = f.karp_flatt if f else None
        traced = {e.get("threads"): e for e in mine if e.get("traced") and e.get("status") == "ok"}
        if len(threads) >= 2 and threads[0] in traced and threads[-1] in traced:
            expl = op_scaling(traced[threads[0]], traced[threads[-1]], s)
        elif len(threads) < 2:
            expl = {"available": False, "reason": "needs two thread counts"}
        else:
            expl = {
                "available": False,
                "reason": "no traced run at both the lowest and the highest count "
                "(the framework has no in-worker tracer here, or that worker failed)",
            }
        out_series.append(
            {
                "series": s,
                "framework": fw,
                "variant": variant,
                "points": pts,
                "figures": figures,
                "explanation": expl,
            }
        )
    return {"threads": threads, "cores": cores, "series": out_series, "warnings": warnings}


# ---------------------------------------------------------------------------------------- outputs
CSV_COLUMNS = (
    "series",
    "framework",
    "variant",
    "threads",
    "oversubscribed",
    "median_ms",
    "min_ms",
    "max_ms",
    "spread_pct",
    "repeats_ok",
    "speedup",
    "efficiency",
    "karp_flatt",
    "busy_threads",
    "cpu_parallelism",
    "thread_mismatch",
    "pinned_cpus",
)


def to_csv(result: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for s in result["series"]:
        for p in s["points"]:
            row = {**p, "series": s["series"], "framework": s["framework"], "variant": s["variant"]}
            vals = []
            for c in CSV_COLUMNS:
                v = row.get(c)
                if isinstance(v, float):
                    v = f"{v:.6g}"
                elif isinstance(v, list):
                    v = " ".join(map(str, v))
                elif v is None:
                    v = ""
                vals.append(v)
            w.writerow(vals)
    return buf.getvalue()


def write_outputs(run: RunDir, result: dict[str, Any], scenario: str) -> dict[str, str | None]:
    """scaling.csv and scaling.png in the run directory; returns their paths (None: not written)."""
    files: dict[str, str | None] = {"json": str(run.path / SCALING_JSON)}
    atomic_write_text(run.path / SCALING_CSV, to_csv(result))
    files["csv"] = str(run.path / SCALING_CSV)
    from profiler.export.scaling_plot import write_scaling_png

    try:
        files["png"] = str(write_scaling_png(result, run.path / SCALING_PNG, title=f"{scenario}: speedup"))
    except ValueError as e:  # nothing measured: no plot, the reason goes in the record
        files["png"] = None
        result.setdefault("warnings", []).append(f"no plot: {e}")
    return files


def json_summary(record: dict[str, Any], run: RunDir) -> dict[str, Any]:
    """The ``--json`` document and ``scaling.json`` (schema in docs/scaling.md)."""
    res = record.get("scaling") or {}
    return {
        "kind": "scale",
        "run_dir": str(run.path),
        "status": record.get("status"),
        "scenario": record["scenario"]["name"],
        "settings": record.get("settings"),
        "host": {k: record.get("host", {}).get(k) for k in ("cpu", "cores")},
        "threads": res.get("threads"),
        "cores": res.get("cores"),
        "series": res.get("series", []),
        "warnings": res.get("warnings", []),
        "unavailable": [
            {k: v.get(k) for k in ("framework", "variant", "error")}
            for v in record.get("variants", [])
            if v.get("status") == "unavailable"
        ],
        "files": res.get("files"),
    }


def saved_summary(record: dict[str, Any], run: RunDir, reanalyse: bool = False) -> dict[str, Any]:
    """The ``--json`` document of a saved sweep; ``reanalyse`` recomputes it from the saved events."""
    from profiler.errors import InputError
    from profiler.orchestrate import analyse_variant

    try:
        if reanalyse:
            unit = record.get("scenario", {}).get("unit", "step")
            for v in record["variants"]:
                if v.get("events"):
                    v.update(analyse_variant(run.load_events(v), v, v.get("items_per_step"), unit))
            s = record["settings"]
            series = list(dict.fromkeys(v["series"] for v in record["variants"] if v.get("series")))
            files = (record.get("scaling") or {}).get("files")
            record["scaling"] = scaling_result(record["variants"], series, s["threads"], s["cores"])
            record["scaling"]["files"] = files
        return json_summary(record, run)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise InputError(f"{run.run_file}: malformed scaling record ({type(e).__name__}: {e})") from None


__all__ = [
    "DEFAULT_REPEATS",
    "MeasureWindowWatcher",
    "ScaleJob",
    "ScalePlan",
    "ScaleRequest",
    "default_threads",
    "execute_scale",
    "json_summary",
    "parse_threads",
    "pin_cpus",
    "plan_scale",
    "run_order",
    "saved_summary",
    "scaling_result",
    "thread_cpu_seconds",
    "to_csv",
]
