"""From a plan (:mod:`profiler.run.plan`) to a saved, analysed run.

``execute`` creates the run directory, runs each job in its own worker, analyses what came back,
writes the Chrome trace and ``run.json``, and returns the run record. Failures of one worker are
recorded in its variant entry; the others still run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from profiler import __version__
from profiler.core.calibration import load_cached, summary_line
from profiler.core.errors import ProfilerError, RunFailed, os_error_line
from profiler.core.events import EventTable
from profiler.core.frameworks import framework_availability
from profiler.core.hardware import host_info
from profiler.core.lifeline import reaped, spawn
from profiler.core.protocol import EVENTS_FILE
from profiler.core.record import RunRecord, VariantEntry, json_document
from profiler.core.rundir import RunDir, ensure_writable_root
from profiler.core.scenario import Scenario
from profiler.export import RECORD_EXPORTERS, export_record
from profiler.export.chrome import ChromeTraceExporter
from profiler.probes import PROBES, availability_of
from profiler.run import owner, remeasure
from profiler.run.owner import owner_process
from profiler.run.plan import Plan
from profiler.run.process import JobOutcome, WorkerJob, kill_tree, run_job
from profiler.run.repeats import Group, process_entry
from profiler.run.torchrun import run_distributed_job
from profiler.sections.compute import analyse, analyse_run


def variant_entry(outcome: JobOutcome, run: RunDir, sc: Scenario) -> VariantEntry:
    """The entry of one finished worker: who it was, how it ended, and the analysis of its events."""
    job, res = outcome.job, outcome.result
    wl = job.workload
    events = outcome.worker_dir / EVENTS_FILE
    entry = VariantEntry.from_job(
        job.key,
        wl,
        status=outcome.status,
        error=outcome.error,
        exit_code=outcome.exit_code,
        pid=res.get("pid"),
        wall_s=round(outcome.wall_s, 3),
        phases_ms=res.get("phases", {}),
        info=res.get("info", {}),
        probes={**res.get("probes", {}), **outcome.probe_records},
        events=os.path.relpath(events, run.path) if events.exists() else None,
        worker_dir=os.path.relpath(outcome.worker_dir, run.path),
        n_events=len(outcome.events),
        items_per_step=wl.params.get(sc.items_key),
    )
    entry.update(analyse(outcome.events, entry.to_dict(), entry.items_per_step, sc.unit, load_cached()))
    if "distributed" in res:  # per-rank analysis, clocks, straggler, failure
        entry.sections["distributed"] = res["distributed"]
    return entry


def run_status(variants: list[VariantEntry]) -> str:
    st = {v.status for v in variants if v.status != "unavailable"}
    if not st:
        return "unavailable"
    if st == {"ok"}:
        return "ok"
    if len(st) == 1 and next(iter(st)).startswith(("exited ", "killed")):  # profiler trace -- CMD
        return f"program {next(iter(st))}"
    if "interrupted" in st:
        return "interrupted"
    return "partial" if "ok" in st else "failed"


ProgressFn = Callable[[WorkerJob, dict[str, Any]], None]
EntryFn = Callable[[VariantEntry], None]


def record_header(
    run: RunDir, kind: str, sc: Scenario, settings: dict[str, Any], command: list[str], frameworks: set[str]
) -> RunRecord:
    """A new run record with the fields every record opens with: what ran, how, where, with what."""
    record = RunRecord(
        id=run.path.name,
        kind=kind,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        command=list(command or sys.argv),
        scenario=sc.to_dict(),
        settings=settings,
        host=host_info(),
        versions={
            "profiler": __version__,
            "python": sys.version.split()[0],
            **{fw: framework_availability(fw).version for fw in frameworks},
        },
        sections={"owner": owner_process()},  # a killed profiler is told apart (run/recover.py)
    )
    owner.begin(record, run)  # a failed save marks this run failed (fail_run)
    return record


def execute(p: Plan, progress: ProgressFn | None = None, on_job_done: EntryFn | None = None) -> tuple[RunRecord, RunDir]:
    req = p.request
    sc = req.scenario
    ensure_writable_root(req.out)
    run = RunDir.create(req.out, req.label or sc.name)
    if p.jobs:
        ensure_calibrated()
    record = record_header(run, "trace", sc, p.settings, req.command, {j.workload.framework for j in p.jobs})
    record.probes = {n: availability_of(n).as_dict() for n in PROBES}
    record.calibration = _calibration()
    record.probe_selection = p.probe_records
    record.variants = list(p.skipped)
    tables: list[EventTable] = []
    try:
        run.write_record(record)
        _run_jobs(p, run, record, tables, progress, on_job_done)
        for settle in getattr(p, "settle", ()):  # e.g. a command's step counts (run/command.py)
            settle(record)
    except KeyboardInterrupt:  # Ctrl-C between workers or during analysis: keep what we have
        record.status = "interrupted"
        run.write_record(record)
        raise
    except (OSError, ProfilerError) as e:  # a full disk, an I/O error: the run failed, what was saved stays
        raise fail_run(record, run, e) from None
    try:
        finish_record(record, run, tables, sc.name, req.trace_budget_mb, distributed=bool(req.launches))
    except (OSError, ProfilerError) as e:
        raise fail_run(record, run, e) from None
    return record, run


def fail_run(record: RunRecord, run: RunDir, e: OSError | ProfilerError) -> RunFailed:
    """The run could not go on or be saved (``e``: an :class:`OSError` such as a full disk, or the
    toolkit's own one-line error, e.g. the event store's): mark it ``failed`` with the reason (in
    ``run.json`` when the disk still takes it; otherwise the last complete ``run.json`` stays) and
    return the one-line error for the command to raise (exit code 1)."""
    if isinstance(e, RunFailed):
        return e
    if isinstance(e, OSError):
        if e.filename is None:  # a write that did not say which file: the run directory, at least
            e.filename = str(run.path)
        line = os_error_line(e)
        code = errno.errorcode.get(e.errno or 0)
        path = os.fsdecode(e.filename) if isinstance(e.filename, (str, bytes)) else None
    else:
        line, code, path = str(e), None, None
    record.status = "failed"
    record.sections["failure"] = {"reason": line, "errno": code, "path": path}
    why = f"the run could not be saved: {line}"
    if why not in record.warnings:
        record.warnings.append(why)
    saved = True
    try:
        run.write_record(record)
    except OSError:
        saved = False
    owner.clear()
    if saved:
        where = f"run {run.path} saved as failed"
    elif _mark_failed_in_place(run.run_file):
        where = f"run {run.path} marked failed in its last complete run.json"
    elif run.run_file.exists():
        where = f"run {run.path} keeps its last complete run.json"
    else:
        where = f"nothing was saved; {_remove_empty_dirs(run.path)}"
    return RunFailed(f"{line} ({where})")


# run.json is written with indent=2: the record's own keys, and only they, start two spaces in
_RUNNING = b'\n  "status": "running",'
_FAILED = b'\n  "status": "failed" ,'  # the same length: rewritten in place, no new block needed


def _mark_failed_in_place(path: Any) -> bool:
    """With the disk too full for a new ``run.json``: change the last complete one's top-level
    ``"status": "running"`` to ``failed`` byte for byte, so the run is not left running forever."""
    try:
        with open(path, "r+b") as f:
            data = f.read()
            at = data.find(_RUNNING)
            if at < 0:
                return False
            f.seek(at)
            f.write(_FAILED)
            f.flush()
            os.fsync(f.fileno())
        return True
    except OSError:
        return False


def _remove_empty_dirs(root: Any) -> str:
    """Remove ``root`` and the folders under it when no file is in them (a run directory whose
    first write failed); a folder holding anything stays."""
    for d, _subdirs, _files in sorted(os.walk(root), key=lambda t: -len(t[0])):
        with contextlib.suppress(OSError):
            os.rmdir(d)
    return f"{root} left with what was written" if os.path.exists(root) else f"empty run directory {root} removed"


def finish_record(
    record: RunRecord,
    run: RunDir,
    tables: list[EventTable],
    name: str,
    trace_budget_mb: float | None = None,
    distributed: bool = False,
) -> None:
    """The run's sections (comparisons; the world-size table where ``distributed`` launched the
    variants at several world sizes), the Chrome trace, the plots and the status; then the record is
    written."""
    analyse_run(record, by_world_size=distributed)
    if tables:
        merged = EventTable.concat(tables)
        distributed = any(v.sections.get("distributed") for v in record.variants)
        exporter = ChromeTraceExporter(
            metadata={"run": run.path.name, "scenario": name},
            budget_mb=trace_budget_mb,
            # one file of the whole run, read by Kineto tools (HTA) as rank 0 of a world of one;
            # a data-parallel run's ranks are processes of this file and say so in their names
            distributed_info=None if distributed else {"rank": 0, "world_size": 1},
        )
        exporter.write(merged, run.trace_file)
        record.trace = run.trace_file.name
        if exporter.dropped:
            record.sections["trace_budget"] = exporter.dropped
    # every entry's warnings, once, in the record's list (the report and --json show them)
    record.warnings = list(dict.fromkeys([*record.warnings, *(w for v in record.variants for w in v.warnings)]))
    record.status = run_status(record.variants)
    export_files(record, run)
    run.write_record(record)


def export_files(record: RunRecord, run: RunDir) -> None:
    """Every registered exporter of the record (export.RECORD_EXPORTERS); a failure is a warning."""
    written, failed = export_record(record.to_dict(), run.path, ["plots"])
    record.plots = written.get("plots") or {}
    record.warnings.extend(failed)
    # the page comes last: it shows the record as saved, plots included
    export_pages(record, run)


def export_pages(record: RunRecord, run: RunDir) -> None:
    """The record's exporters other than the plots (``report.html``): ``compare`` and ``scale`` call
    it again once their own sections are in the record; a failure is a warning."""
    _, failed = export_record(record.to_dict(), run.path, [n for n in RECORD_EXPORTERS if n != "plots"])
    record.warnings.extend(failed)


def _run_jobs(
    p: Plan,
    run: RunDir,
    record: RunRecord,
    tables: list[EventTable],
    progress: ProgressFn | None,
    on_job_done: EntryFn | None,
) -> None:
    """Run every job in turn (repeats interleaved, as planned); after an interrupted one, the rest
    are recorded as not started. The record is rewritten after every process, so nothing measured
    so far is lost if a later worker fails."""
    sc = p.request.scenario
    skipped = list(record.variants)
    budget = remeasure.Budget()
    groups: dict[str, Group] = {}
    merged: dict[str, VariantEntry] = {}
    interrupted = False
    for job in p.jobs:
        key = job.group or job.key
        if interrupted:
            if key not in merged:
                merged[key] = VariantEntry.not_started(key, job.workload)
            continue
        if job.launch is not None:
            outcome = run_distributed_job(job, run.worker_dir(job.key), progress)
        else:
            outcome = run_job(job, run.worker_dir(job.key), progress)
        g = groups.setdefault(key, Group(key))
        g.outcomes.append(outcome)
        merged[key] = g.entry(run, sc, variant_entry)
        budget.measured_s += outcome.wall_s
        if job.group is None and job.launch is None and job.command is None and outcome.status == "ok":
            why = remeasure.machine_disturbed(merged[key])
            if why and remeasure.enabled() and budget.allows(outcome.wall_s):
                record.variants = skipped + list(merged.values())
                run.write_record(record)  # the first measurement is saved before the second starts
                merged[key], outcome = _measure_again(job, g, merged[key], why, run, sc, progress, budget)
        record.variants = skipped + list(merged.values())
        run.write_record(record)
        if on_job_done:
            on_job_done(merged[key] if job.group is None else process_entry(outcome))
        if outcome.status == "interrupted":
            interrupted = True
    record.variants = skipped + list(merged.values())
    for g in groups.values():
        tables.append(g.outcomes[g.primary_index()].events)


def _measure_again(
    job: WorkerJob, g: Group, first: VariantEntry, why: list[str], run: RunDir, sc: Scenario,
    progress: ProgressFn | None, budget: remeasure.Budget,
) -> tuple[VariantEntry, JobOutcome]:
    """The variant measured once more in a fresh worker (:mod:`profiler.run.remeasure`); both
    workers' files stay, the entry kept says which one it shows."""
    again_job = dataclasses.replace(job, key=f"{job.key}-again")
    again = run_job(again_job, run.worker_dir(again_job.key), progress)
    budget.spent_s += again.wall_s
    second = Group(g.key, [again]).entry(run, sc, variant_entry) if again.status == "ok" else None
    entry, keep_second = remeasure.settle(first, second, why, again.status, again.wall_s)
    if keep_second:  # the trace and the tables come from the kept worker
        g.outcomes[-1] = again
        g._primary = None
    return entry, again


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
    # its own group, killed with us (core/lifeline.py), and with its group on a timeout
    proc = spawn([sys.executable, "-m", "profiler", "calibrate", "--json"], stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        _, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        return f"calibration timed out after {timeout_s:g} s"
    except KeyboardInterrupt:
        kill_tree(proc)
        raise
    finally:
        if proc.returncode is not None:
            reaped(proc)
    if proc.returncode != 0:
        lines = stderr.strip().splitlines()
        return f"calibration failed: {lines[-1] if lines else proc.returncode}"
    return None


def _calibration() -> dict[str, Any]:
    """This machine's cached ceilings (``profiler calibrate``), or why there are none."""
    cal = load_cached()
    return {"record": cal, "summary": summary_line(cal)}


def json_summary(record: RunRecord, run: RunDir) -> dict[str, Any]:
    """The ``--json`` document of ``trace`` and ``report`` (docs/cli.md, ``core/schema.json``)."""
    return json_document(record, run.path)
