"""A saved run opened again for ``profiler report``: a run directory (or our own Chrome trace in one)
is read and, when its profiler was killed, recovered; a trace another tool wrote is imported and
saved as a run first. :func:`document` is the run's ``--json`` document in the view of the command
that made it (trace, compare or scale); :func:`reanalysed` recomputes its figures from the saved
events (``report --reanalyse``); :func:`write_page` writes its HTML page; :func:`explained` is
``profiler explain``'s comparison of two runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiler.core.errors import InputError
from profiler.core.record import RunRecord
from profiler.core.rundir import RunDir

#: what a record whose fields have the wrong shape makes the document's builders raise
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError, ZeroDivisionError)


@dataclass
class SavedRun:
    """A run to report: its record, its directory, and whether it was imported just now."""

    record: RunRecord
    run: RunDir
    imported: bool = False

    @property
    def path(self) -> str:
        return str(self.run.path)


def reopen(path: Path, out: Path, *, trace_budget: float | None = None, force: bool = False,
           scheduler: str | None = None, recover: bool = True) -> SavedRun:
    """The run at ``path``: a run directory (or its ``run.json``), our own ``trace.json(.gz)`` (its run
    directory), or a trace another tool wrote (imported and saved under ``out``, its Chrome trace
    kept under ``trace_budget`` MB; a folder of ranks merged even when not of one job with ``force``,
    on the Dask ``scheduler`` when one is named). ``recover``: a run whose profiler was killed is
    marked so, with what its workers saved (``profiler report``; ``explain`` only reads)."""
    from profiler.importers import is_trace_path, own_run_dir

    if path.is_file() and path.name == "run.json":
        path = path.parent
    own = own_run_dir(path)
    if own is not None:
        path = own
    elif is_trace_path(path):  # a trace file (or a TF log directory), not a run directory
        from profiler.run.imported import import_as_run

        if trace_budget is not None and trace_budget <= 0:
            raise InputError(f"--trace-budget must be a positive number of MB, got {trace_budget:g}")
        record, run = import_as_run(path, out, trace_budget, force=force, scheduler=scheduler)
        return SavedRun(record, run, imported=True)
    from profiler.run.recover import recover_stale

    run = RunDir.open(path)
    record = run.read_record()
    if recover:
        recover_stale(record, run)  # its profiler was killed: "killed", with what was saved
    return SavedRun(record, run)


def by_world_size(record: RunRecord) -> bool:
    """Whether the run launched its variants at world sizes (``--nproc``; its settings keep the
    launches): its entries are compared in the world-size table, not pairwise, as
    :func:`profiler.run.execute.finish_record` decided when the run was made."""
    return bool((record.settings or {}).get("distributed"))


def reanalysed(saved: SavedRun) -> RunRecord:
    """``report --reanalyse``: every entry analysed again from its saved events, then the run's
    sections (a ``scale`` run: its entries and fits, :func:`scaling_document`). The figures go into
    the record, so that every renderer shows them; the record is returned."""
    record = saved.record
    if record.kind == "scale":
        scaling_document(saved, reanalyse=True)
        return record
    from profiler.analysis.compensation import rescale_to_median
    from profiler.core.calibration import load_cached
    from profiler.sections.compute import analyse, analyse_run

    calibration = load_cached()
    for v in record.variants:
        if v.events:
            # the headline of repeated processes (pooled, with its CI) is not in one events file
            pooled = v.step_ms if (v.step_ms and v.step_ms.median and v.sections.get("repeats")) else None
            v.update(analyse(saved.run.load_events(v), v.to_dict(), v.items_per_step, record.unit, calibration))
            if pooled is not None:  # the headline stays the processes' pooled figure
                v.step_ms = pooled
                v.breakdown, v.breakdown_ms = rescale_to_median(v.breakdown, v.breakdown_ms, pooled)
    analyse_run(record, by_world_size=by_world_size(record))
    return record


def write_page(saved: SavedRun, html_file: str | None = None) -> Path:
    """The run's self-contained HTML report, to ``html_file`` (default ``RUN_DIR/report.html``); a
    file that cannot be written is an :class:`InputError`."""
    from profiler.export.html import write_html

    if html_file and not Path(html_file).parent.is_dir():
        raise InputError(f"cannot write the HTML report: no directory {Path(html_file).parent}")
    try:
        return write_html(saved.record.to_dict(), saved.run.path, html_file or None)
    except OSError as e:
        raise InputError(f"cannot write the HTML report: {e}") from None


def scaling_document(saved: SavedRun, reanalyse: bool = False) -> dict[str, Any]:
    """A ``scale`` run's ``--json`` document; ``reanalyse`` recomputes its entries and fits from the
    saved events first (into the record, so every renderer shows the recomputed figures)."""
    from profiler.run.thread_sweep import saved_summary

    return saved_summary(saved.record, saved.run, reanalyse)


def compare_result(saved: SavedRun) -> tuple[dict[str, Any], dict[str, str]]:
    """A ``compare`` run's result (its rows, findings and spread, from the entries as they are now)
    and the files it wrote (``compare.json``, ``.csv``, ``.png``)."""
    from profiler.analysis.compare import saved_result

    files = (saved.record.sections.get("compare") or {}).get("files") or {}
    return saved_result(saved.record.to_dict()), files


def explained(run_a: Path, run_b: Path, out: Path, variant_a: str | None = None, variant_b: str | None = None,
              force: bool = False) -> dict[str, Any]:
    """``profiler explain``: why one run is faster than another
    (:func:`profiler.analysis.explain.explain_runs`), with the run directories compared and, for a
    trace another tool wrote (imported under ``out`` as ``report`` does), the path it came from."""
    from profiler.analysis.explain import explain_runs

    a = reopen(run_a, out, force=force, recover=False)
    b = reopen(run_b, out, force=force, recover=False)
    e = explain_runs(a.record.to_dict(), b.record.to_dict(), variant_a, variant_b, (a.path, b.path))
    e["runs"] = {"a": a.path, "b": b.path}
    e["imported"] = {"a": str(run_a) if a.imported else None, "b": str(run_b) if b.imported else None}
    return e


def document(saved: SavedRun) -> dict[str, Any]:
    """The ``--json`` document of a saved run as the command that made it prints it: ``compare``'s
    with its rows and findings, ``scale``'s with its fits, otherwise ``trace``'s. A record whose
    fields have the wrong shape is an :class:`InputError` naming its file."""
    from profiler.run.execute import json_summary

    record, run = saved.record, saved.run
    if record.kind == "scale":
        return scaling_document(saved)
    try:
        if record.kind == "compare":
            from profiler.run.compare import compare_document

            result, files = compare_result(saved)
            return compare_document(record, run.path, result, files)
        return json_summary(record, run)
    except MALFORMED as e:
        raise InputError(f"{run.run_file}: malformed run record ({type(e).__name__}: {e})") from None
