"""``profiler compare``: one scenario in several frameworks, side by side, in the seed's layout.

Each framework runs in its own worker through :func:`profiler.run.plan.plan` /
:func:`profiler.run.execute.execute` (the same harness, settings and probes as ``trace``), so a missing
framework becomes an ``unavailable`` row and a failing worker a ``failed`` row while the others still
run. The table is :mod:`profiler.analysis.compare`, the files :mod:`profiler.export.compare`, the
terminal view :mod:`profiler.report.compare`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from profiler.analysis.compare import Unavailable, compare_result
from profiler.core.errors import InputError, unknown_choice
from profiler.core.frameworks import FRAMEWORKS
from profiler.core.record import RunRecord, json_document
from profiler.core.rundir import RunDir
from profiler.core.scenario import Scenario
from profiler.export.compare import write_outputs
from profiler.run.execute import execute, export_pages


def select_frameworks(sc: Scenario, value: str | None) -> tuple[list[str], list[Unavailable]]:
    """The frameworks to run and those to show as unavailable without running.

    ``None`` or ``all``: every framework the scenario declares. A name the toolkit does not know is an
    :class:`InputError` listing the known ones; a known framework with no build for this Python (CNTK,
    Caffe) is an unavailable row; a known, installable framework the scenario has no implementation
    for is an input error naming the ones it has.
    """
    if value is None or value.strip() in ("", "all"):
        return list(sc.frameworks), []
    names = [n.strip() for n in value.split(",") if n.strip()]
    if "all" in names:
        raise InputError("--frameworks: 'all' cannot be combined with other names")
    run: list[str] = []
    skipped: list[Unavailable] = []
    for n in names:
        if n not in FRAMEWORKS:
            raise unknown_choice("framework", n, FRAMEWORKS)
        if n in run or any(u.framework == n for u in skipped):
            continue
        if sc.implementation(n) is None:
            fw = FRAMEWORKS[n]
            if fw.never_installable:
                skipped.append(Unavailable(n, fw.never_installable))
                continue
            raise InputError(
                f"scenario {sc.name} has no {n} implementation; it has: {', '.join(sc.frameworks)}"
            )
        run.append(n)
    if not run and not skipped:
        raise InputError("--frameworks: no framework given")
    return run, skipped


def run_compare(
    p: Any, skipped: list[Unavailable] = (), progress: Any = None, on_job_done: Any = None
) -> tuple[RunRecord, RunDir, dict[str, Any], dict[str, str]]:
    """Execute a :class:`profiler.run.plan.Plan`, then write the comparison into its run directory.

    Returns (run record, RunDir, compare result, output file names).
    """
    record, run = execute(p, progress=progress, on_job_done=on_job_done)
    result = compare_result(record.to_dict(), list(skipped))
    files = write_outputs(result, run.path)
    record.kind = "compare"
    record.sections["compare"] = {
        "files": files,
        "spread": result["spread"],
        "param_findings": result["param_findings"],
        "unavailable": [{"framework": u.framework, "reason": u.reason} for u in skipped],
    }
    export_pages(record, run)  # report.html again, now with the comparison's table and chart
    run.write_record(record)
    return record, run, result, files


def compare_document(record: RunRecord, run_path: Path, result: dict[str, Any], files: dict[str, str]) -> dict[str, Any]:
    """The ``--json`` document: the common document plus compare's seed-layout ``rows``, findings,
    the spread sentence and where its files are."""
    return json_document(
        record,
        run_path,
        origin=result.get("origin"),
        mode=result.get("mode"),
        rows=result["rows"],
        param_findings=result["param_findings"],
        spread=result["spread"],
        files={k: str(run_path / v) if not k.endswith("error") else v for k, v in files.items()},
    )
