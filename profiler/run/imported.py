"""A trace another tool wrote, saved as a run of ours: ``profiler report TRACE``.

The trace is read by :mod:`profiler.importers` into the event model, analysed like a run of ours
(breakdown, roofline, GPU summary), and saved as a run directory (run.json, events, Chrome trace,
PNGs), so ``profiler report RUN_DIR`` and ``explain`` work on it too.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from profiler import __version__
from profiler.analysis.breakdown import step_windows
from profiler.core.calibration import load_cached
from profiler.core.events import DEVICE_TID_BASE, STEP, EventBuilder, EventTable
from profiler.core.forked import Forked
from profiler.core.protocol import EVENTS_FILE
from profiler.core.record import RunRecord, VariantEntry
from profiler.core.rundir import RunDir, ensure_writable_root
from profiler.export.chrome import ChromeTraceExporter
from profiler.importers import ImportedTrace, _find_xplane, load_trace, trace_folder_files
from profiler.run.execute import export_files
from profiler.sections.compute import analyse, analyse_run


def import_as_run(path: str | Path, out: Path, budget_mb: float | None = None,
                  force: bool = False, scheduler: str | None = None) -> tuple[RunRecord, RunDir]:
    """Analyse a foreign trace and save it as a run directory (run.json, events, Chrome trace, PNGs).

    The breakdown, report and Chrome export are the ones a run of ours gets; the steps are the
    trace's own (``ProfilerStep#N``, TF steps, or the whole trace as one step) and, as every step was
    traced, the step times quoted are traced ones.

    A folder of traces is read as the ranks of one job (:func:`profiler.importers.load_rank_traces`:
    traces that are not are refused, or with ``force`` merged with a warning); each rank's step,
    breakdown and GPU figures are in the ``distributed`` section's ``ranks``. The ranks are imported
    by the task graph of :mod:`profiler.run.fleet` (each into its event store, once, on a Dask
    worker: ``scheduler`` is a Dask address, ``"in-process"``, or ``None`` for
    ``PROFILER_SCHEDULER`` / the local machine) and merged here.
    """
    from profiler.run.fleet import ReportCache

    kept = ReportCache.for_folder(path, budget_mb, force)  # a folder of ranks reported before: reused
    if kept is not None and (again := kept.load(out)) is not None:
        return again
    imp = _load(path, force, scheduler)
    table = imp.table
    distributed = None
    plan = None  # ranks reported rank by rank, from their stores: no merged table in memory
    if imp.ranks and len(imp.ranks) > 1:  # one trace per rank: aligned, merged, compared
        from profiler.analysis.ranks import StoredRanks, merge_rank_traces, plan_rank_merge

        if isinstance(imp.ranks, StoredRanks) and _has_steps(imp.ranks):
            plan = plan_rank_merge(imp.ranks)
        else:
            table, distributed = merge_rank_traces(imp.ranks)
            imp.facts["host_pid"] = distributed["ranks"][0]["pid"]
    ensure_writable_root(out)
    stem = imp.path.name.split(".")[0] or "trace"
    label = f"import-{stem}"
    run = RunDir.create(out, label)
    key = f"{imp.framework}-{stem}"
    wdir = run.worker_dir(key)
    if plan is not None:
        world, backend = plan.world()
        info = {"backend": backend, "world_size": world, "merged_ranks": list(plan.order)}
    else:
        info = _distributed_info(imp.facts, distributed)
    exporter = ChromeTraceExporter(metadata={"run": run.path.name, "imported": str(imp.path)}, budget_mb=budget_mb,
                                   device_properties=imp.facts.get("device_properties"), distributed_info=info)

    if plan is not None:
        from profiler.analysis.ranks import rank_results
        from profiler.run.fleet import merged_store, write_trace_parts

        # the Chrome trace written rank by rank from the ranks' stores by a child, while this process
        # measures each rank in turn, appends it to the merged store and keeps the variant's rank
        # (the lowest): the trace is the longer of the two halves of the work
        writer = Forked(lambda: write_trace_parts(plan, imp.ranks, run.trace_file, exporter))
        store = merged_store(wdir / EVENTS_FILE)
        try:
            distributed, table, merged = rank_results(plan, imp.ranks, each=lambda r, part: store.append(part, rank=r))
            store.close()
        except BaseException:
            store.abort()
            raise
        imp.facts["host_pid"] = distributed["ranks"][0]["pid"]
        steps, n_events, device = merged.steps, merged.n_events, merged.has_device
    else:
        steps = step_windows(table)
        if not steps:
            table = _whole_trace_step(table)
            steps = step_windows(table)
            imp.facts["note"] = "no step markers: the whole trace is analysed as one step"
        n_events, device = len(table), _has_device(table)
        whole = table

        def write_files() -> dict | None:
            """The events file and the Chrome trace; what the trace budget dropped."""
            whole.save(wdir / EVENTS_FILE)
            exporter.write(whole, run.trace_file)
            return exporter.dropped or None

        # written by a child while this process analyses (a second core's worth of time at a million
        # events); the files are complete before the record names them
        writer = Forked(write_files)
    host_pid = imp.facts.get("host_pid")
    if host_pid is None and steps:
        host_pid = steps[0].pid
    entry = VariantEntry(
        key=key,
        scenario="imported",
        framework=imp.framework,
        variant=imp.path.name,
        mode="trace",
        preset=imp.format,
        device="cuda" if device else "cpu",
        pid=host_pid,
        events=f"workers/{key}/{EVENTS_FILE}",
        worker_dir=f"workers/{key}",
        n_events=n_events,
    )
    entry.sections["imported"] = {"path": str(imp.path), "format": imp.format, **imp.facts}
    if distributed:
        entry.sections["distributed"] = distributed
    entry.update(analyse(table, entry.to_dict(), None, "step", load_cached()))
    entry.warnings.extend(imp.facts.get("warnings") or [])  # files skipped, or merged by --force
    # every imported step is traced: quote the traced figures as the step time
    if entry.median_ms is None:
        entry.step_ms, entry.traced_step_ms = entry.traced_step_ms, None
        entry.tracing_overhead_pct = None
        if entry.breakdown:
            entry.breakdown["notes"].append(
                "imported trace: every step was traced, so the step time quoted is the traced one"
            )
    record = RunRecord(
        id=run.path.name,
        kind="import",
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        command=["profiler", "report", str(path)],
        scenario={"name": f"imported {imp.format}", "summary": str(imp.path), "unit": "step"},
        settings={
            "imported": imp.format,
            "device": entry.device,
            "preset": imp.format,
            "mode": "imported trace",
            "steps": 0,
            "warmup": 0,
            "trace_steps": len(steps),
            "data": "as recorded",
        },
        host={"cpu": "recorded elsewhere", "cores": "?"},
        versions={"profiler": __version__},
        variants=[entry],
    )
    analyse_run(record)
    record.status = "ok"
    record.trace = run.trace_file.name  # the page links it: the file is complete before the record is saved
    export_files(record, run)
    dropped = writer.result()
    if dropped:
        record.sections["trace_budget"] = dropped
    run.write_record(record)
    if kept is not None:
        kept.keep(record, run, label)
    return record, run


def _load(path: str | Path, force: bool, scheduler: str | None) -> ImportedTrace:
    """A folder of per-rank traces through the task graph; anything else (one trace file, a
    TensorFlow log directory) read here."""
    p = Path(path)
    if p.is_dir() and _find_xplane(p) is None and trace_folder_files(p):
        from profiler.run.fleet import load_rank_folder

        return load_rank_folder(p, force, scheduler)
    return load_trace(p, force)


def _distributed_info(facts: dict, distributed: dict | None) -> dict | None:
    """Kineto's ``distributedInfo`` for the export: the trace's own, or for ranks merged into one
    file the world without a single ``rank`` (the file holds them all)."""
    di = facts.get("distributed_info")
    if not distributed:
        return di
    return {"backend": distributed.get("backend"), "world_size": distributed.get("world_size"),
            "merged_ranks": distributed.get("ranks_here")}


def _has_steps(ranks: Any) -> bool:
    """Whether the ranks (a :class:`~profiler.analysis.ranks.StoredRanks`) have step markers, from
    the anchors their import gave (every rank's): the whole-trace step is not needed."""
    return len(ranks.anchors) == len(ranks) and any(a[1] for a in ranks.anchors.values())


def _has_device(table: EventTable) -> bool:
    return bool((table.spans["tid"] >= DEVICE_TID_BASE).any())


def _whole_trace_step(table: EventTable) -> EventTable:
    """The table plus one ``step`` span over everything, owned by the busiest process."""
    tr = table.time_range()
    if tr is None or not table.n_spans:
        return table
    pids, counts = np.unique(table.spans["pid"], return_counts=True)
    b = EventBuilder()
    b.span(
        STEP,
        "trace window",
        tr[0],
        tr[1] - tr[0],
        int(pids[np.argmax(counts)]),
        0,
        args={"index": 0, "traced": True, "whole_trace": True},
    )
    return EventTable.concat([table, b.build()])
