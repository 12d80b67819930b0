"""From a plan (:mod:`profiler.run.plan`) to a saved, analysed run.

``execute`` creates the run directory, runs each job in its own worker, analyses what came back,
writes the Chrome trace and ``run.json``, and returns the run record. Failures of one worker are
recorded in its variant entry; the others still run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from profiler import __version__
from profiler.analysis.ranks import scaling_table
from profiler.analysis.variant import analyse_variant, comparisons
from profiler.core.calibration import load_cached, summary_line
from profiler.core.events import EventTable
from profiler.core.frameworks import framework_availability
from profiler.core.hardware import host_info
from profiler.core.rundir import RunDir, ensure_writable_root
from profiler.core.scenario import Scenario
from profiler.export.chrome import ChromeTraceExporter
from profiler.export.plots import write_run_plots
from profiler.probes import PROBES, availability_of
from profiler.run.plan import Plan
from profiler.run.process import JobOutcome, WorkerJob, run_job
from profiler.run.torchrun import run_distributed_job


def variant_entry(outcome: JobOutcome, run: RunDir, sc: Scenario) -> dict[str, Any]:
    job, res = outcome.job, outcome.result
    wl = job.workload
    entry: dict[str, Any] = {
        "key": job.key,
        "scenario": wl.scenario,
        "framework": wl.framework,
        "variant": wl.variant,
        "mode": wl.mode,
        "preset": wl.preset,
        "device": wl.device,
        "threads": wl.threads,
        "status": outcome.status,
        "error": outcome.error,
        "exit_code": outcome.exit_code,
        "pid": res.get("pid"),
        "wall_s": round(outcome.wall_s, 3),
        "phases_ms": res.get("phases", {}),
        "info": res.get("info", {}),
        "probes": {**res.get("probes", {}), **outcome.probe_records},
        "events": os.path.relpath(outcome.worker_dir / "events.npz", run.path)
        if (outcome.worker_dir / "events.npz").exists()
        else None,
        "worker_dir": os.path.relpath(outcome.worker_dir, run.path),
        "n_events": len(outcome.events),
    }
    items = wl.params.get(sc.items_key)
    entry["items_per_step"] = items
    entry.update(analyse_variant(outcome.events, entry, items, sc.unit, load_cached()))
    return entry


def run_status(variants: list[dict[str, Any]]) -> str:
    st = {v["status"] for v in variants if v["status"] != "unavailable"}
    if not st:
        return "unavailable"
    if st == {"ok"}:
        return "ok"
    if "interrupted" in st:
        return "interrupted"
    return "partial" if "ok" in st else "failed"


ProgressFn = Callable[[WorkerJob, dict[str, Any]], None]


def record_header(
    run: RunDir, kind: str, sc: Scenario, settings: dict[str, Any], command: list[str], frameworks: set[str]
) -> dict[str, Any]:
    """The fields every run record opens with: what ran, with which settings, where, with what."""
    return {
        "id": run.path.name,
        "kind": kind,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command or sys.argv,
        "scenario": sc.to_dict(),
        "settings": settings,
        "host": host_info(),
        "versions": {
            "profiler": __version__,
            "python": sys.version.split()[0],
            **{fw: framework_availability(fw).version for fw in frameworks},
        },
    }


def execute(
    p: Plan, progress: ProgressFn | None = None, on_job_done: Callable[[dict[str, Any]], None] | None = None
) -> tuple[dict[str, Any], RunDir]:
    req = p.request
    sc = req.scenario
    ensure_writable_root(req.out)
    run = RunDir.create(req.out, req.label or sc.name)
    if p.jobs:
        ensure_calibrated()
    record: dict[str, Any] = {
        **record_header(run, "trace", sc, p.settings, req.command, {j.workload.framework for j in p.jobs}),
        "probes": {n: availability_of(n).as_dict() for n in PROBES},
        "calibration": _calibration(),
        "probe_selection": p.probe_records,
        "status": "running",
        "variants": list(p.skipped),
        "trace": None,
    }
    run.write_record(record)
    tables: list[EventTable] = []
    try:
        _run_jobs(p, run, record, tables, progress, on_job_done)
    except KeyboardInterrupt:  # Ctrl-C between workers or during analysis: keep what we have
        record["status"] = "interrupted"
        run.write_record(record)
        raise
    record["comparisons"] = comparisons(record["variants"])
    if req.launches:
        record["scaling"] = scaling_table(record["variants"])
        # entries of one variant at several world sizes share a name: the scaling table, not a
        # variant-vs-variant explanation, is what compares them
        record["comparisons"] = []
    if tables:
        merged = EventTable.concat(tables)
        exporter = ChromeTraceExporter(
            metadata={"run": run.path.name, "scenario": sc.name}, budget_mb=req.trace_budget_mb
        )
        exporter.write(merged, run.trace_file)
        record["trace"] = run.trace_file.name
        if exporter.dropped:
            record["trace_budget"] = exporter.dropped
    record["plots"] = write_run_plots(record, run.path)
    record["status"] = run_status(record["variants"])
    run.write_record(record)
    return record, run


def _run_jobs(
    p: Plan,
    run: RunDir,
    record: dict[str, Any],
    tables: list[EventTable],
    progress: ProgressFn | None,
    on_job_done: Callable[[dict[str, Any]], None] | None,
) -> None:
    """Run every job in turn; after an interrupted one, the rest are recorded as not started."""
    sc = p.request.scenario
    interrupted = False
    for job in p.jobs:
        wl = job.workload
        if interrupted:
            record["variants"].append(
                {"key": job.key, "scenario": wl.scenario, "framework": wl.framework, "variant": wl.variant,
                 "mode": wl.mode, "preset": wl.preset, "status": "interrupted",
                 "error": "not started: interrupted"}
            )
            continue
        if job.launch is not None:
            outcome = run_distributed_job(job, run.worker_dir(job.key), progress)
        else:
            outcome = run_job(job, run.worker_dir(job.key), progress)
        entry = variant_entry(outcome, run, sc)
        if "distributed" in outcome.result:  # per-rank analysis, clocks, straggler, failure
            entry["distributed"] = outcome.result["distributed"]
        record["variants"].append(entry)
        tables.append(outcome.events)
        run.write_record(record)  # nothing measured so far is lost if a later worker fails
        if on_job_done:
            on_job_done(entry)
        if outcome.status == "interrupted":
            interrupted = True


AUTO_CALIBRATE_ENV = "PROFILER_AUTO_CALIBRATE"


def ensure_calibrated(timeout_s: float = 300.0) -> str | None:
    """Measure this machine's ceilings once (a few seconds), so the roofline split has them.

    Runs ``profiler calibrate`` in a child process (numba and the BLAS stay out of this one) before
    any worker starts; the result is cached per machine. ``PROFILER_AUTO_CALIBRATE=0`` turns it off.
    Returns why no calibration is available, or ``None``.
    """
    if load_cached() is not None:
        return None
    if os.environ.get(AUTO_CALIBRATE_ENV, "1") == "0":
        return f"not calibrated ({AUTO_CALIBRATE_ENV}=0)"
    print("profiler: measuring this machine's ceilings once (cached; `profiler calibrate --force` redoes it)",
          file=sys.stderr, flush=True)
    try:
        proc = subprocess.run([sys.executable, "-m", "profiler", "calibrate", "--json"],
                              capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return f"calibration timed out after {timeout_s:g} s"
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return f"calibration failed: {lines[-1] if lines else proc.returncode}"
    return None


def _calibration() -> dict[str, Any]:
    """This machine's cached ceilings (``profiler calibrate``), or why there are none."""
    cal = load_cached()
    return {"record": cal, "summary": summary_line(cal)}


def json_summary(record: dict[str, Any], run: RunDir) -> dict[str, Any]:
    """The ``--json`` document (schema in docs/cli.md)."""
    return {
        "run_dir": str(run.path),
        "trace": str(run.path / record["trace"]) if record.get("trace") else None,
        "status": record.get("status"),
        "scenario": record["scenario"]["name"],
        "settings": record.get("settings"),
        "variants": [
            {
                "scenario": v.get("scenario"),
                "framework": v.get("framework"),
                "variant": v.get("variant"),
                "mode": v.get("mode"),
                "preset": v.get("preset"),
                "status": v.get("status"),
                "error": v.get("error"),
                "step_ms": {k: (v.get("step_ms") or {}).get(k) for k in ("median", "min", "max")}
                if v.get("step_ms")
                else None,
                "traced_step_ms": (v.get("traced_step_ms") or {}).get("median"),
                "tracing_overhead_pct": v.get("tracing_overhead_pct"),
                "per_unit_ms": v.get("per_unit_ms"),
                "breakdown_ms": v.get("breakdown_ms"),
                "residual_pct": (v.get("breakdown") or {}).get("residual_pct"),
                "not_measured": (v.get("breakdown") or {}).get("not_measured"),
                "input_bound": ((v.get("breakdown") or {}).get("input_bound") or {}).get("verdict"),
                **({"distributed": v["distributed"]} if v.get("distributed") else {}),
            }
            for v in record["variants"]
        ],
        **({"scaling": record["scaling"]} if "scaling" in record else {}),
        "comparisons": [
            {k: c[k] for k in ("fast", "slow", "speedup", "gap_ms", "main_category", "sentence")}
            for c in record.get("comparisons", [])
        ],
    }
