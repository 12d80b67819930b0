"""``profiler report``: re-render a saved run, or analyse a trace another tool wrote."""

from __future__ import annotations

import json
from pathlib import Path

import click

from profiler.cli.options import (
    DEFAULT_TOP,
    JSON_OPTION,
    stdout_console,
    view_options,
)
from profiler.cli.output import emit, output_options
from profiler.core import defaults
from profiler.core.calibration import load_cached
from profiler.core.errors import InputError


@click.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--reanalyse", is_flag=True, help="Recompute the analysis from the saved events.")
@JSON_OPTION
@view_options
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    default=defaults.OUT_DIR,
    show_default=True,
    help="For a trace file: where its run directory is created.",
)
@click.option(
    "--trace-budget", type=float, help="For a trace file: keep the Chrome trace under this many MB."
)
@click.option("--html", "html_file", is_flag=False, flag_value="", default=None, metavar="[FILE]",
              help="Write the self-contained HTML report (default RUN_DIR/report.html).")
@click.option("--open", "open_html", is_flag=True, help="Open the HTML report in a browser.")
@click.option("--force", is_flag=True,
              help="For a folder of traces: merge them as ranks even when they are not of one job.")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="For a folder of traces: import the ranks on this Dask scheduler (tcp://HOST:8786; "
                   "default $PROFILER_SCHEDULER, else this machine).")
@output_options
def report_cmd(
    run_dir: Path,
    reanalyse: bool,
    as_json: bool,
    out: Path = defaults.OUT_DIR,
    trace_budget: float | None = None,
    quiet: bool = False,
    top: int | None = None,
    detail: bool = False,
    html_file: str | None = None,
    open_html: bool = False,
    force: bool = False,
    scheduler: str | None = None,
    fmt: str | None = None,
    output: Path | None = None,
) -> None:
    """Re-render a saved run, or analyse a trace you already have.

    RUN_DIR is a run directory, or a torch.profiler (Kineto) JSON, a TensorFlow .xplane.pb (or its
    log directory) or an MXNet profile JSON: it is analysed like a run of ours and saved as one.
    """
    from profiler.analysis.compensation import rescale_to_median
    from profiler.analysis.variant import analyse_variant, comparisons
    from profiler.core.rundir import RunDir
    from profiler.importers import is_trace_path, own_run_dir
    from profiler.report.run import MALFORMED, render_record
    from profiler.run.execute import json_summary

    detail = detail or top is not None
    top = top or DEFAULT_TOP

    own = own_run_dir(run_dir)  # our own trace.json(.gz): its run directory holds the analysis
    if own is not None:
        run_dir = own
    elif is_trace_path(run_dir):  # a trace file (or a TF log directory), not a run directory
        from profiler.run.imported import import_as_run

        if trace_budget is not None and trace_budget <= 0:
            raise InputError(f"--trace-budget must be a positive number of MB, got {trace_budget:g}")
        record, run = import_as_run(run_dir, out, trace_budget, force=force, scheduler=scheduler)
        if emit(record, str(run.path), "json" if as_json else fmt, output, top=top, detail=True, quiet=quiet):
            return
        if as_json:
            click.echo(json.dumps(json_summary(record, run), indent=2))
        else:
            render_record(record, str(run.path), stdout_console(), quiet, top, detail)
        return
    run = RunDir.open(run_dir)
    record = run.read_record()
    from profiler.run.recover import recover_stale

    recover_stale(record, run)  # its profiler was killed: "killed", with what was saved
    if html_file is not None or open_html:
        from profiler.export.html import write_html

        if html_file and not Path(html_file).parent.is_dir():
            raise InputError(f"cannot write the HTML report: no directory {Path(html_file).parent}")
        try:
            page = write_html(record.to_dict(), run.path, html_file or None)
        except OSError as e:
            raise InputError(f"cannot write the HTML report: {e}") from None
        click.echo(f"HTML report: {page}")
        if open_html:
            import webbrowser

            webbrowser.open(page.resolve().as_uri())
        return
    console = stdout_console()
    if record.kind == "scale":  # a thread-scaling sweep renders as its own table
        from profiler.report.scale import ScaleReport
        from profiler.run.thread_sweep import saved_summary

        doc = saved_summary(record, run, reanalyse)
        if as_json:
            click.echo(json.dumps(doc, indent=2))
        else:
            console.print(ScaleReport(doc))
        return
    if reanalyse:
        for v in record.variants:
            if v.events:
                # the headline of repeated processes (pooled, with its CI) is not in one events file
                pooled = v.step_ms if (v.step_ms and v.step_ms.median and v.sections.get("repeats")) else None
                v.update(analyse_variant(run.load_events(v), v.to_dict(), v.items_per_step, record.unit,
                                         load_cached()))
                if pooled is not None:  # the headline stays the processes' pooled figure
                    v.step_ms = pooled
                    v.breakdown, v.breakdown_ms = rescale_to_median(v.breakdown, v.breakdown_ms, pooled)
        record.comparisons = comparisons([v.to_dict() for v in record.variants])
    if emit(record, str(run.path), "json" if as_json and output else fmt, output, top=top, detail=True, quiet=quiet):
        return
    try:
        if record.kind == "compare":  # the side-by-side table, from the (re)analysed entries
            from profiler.analysis.compare import saved_result
            from profiler.report.compare import CompareTable
            from profiler.run.compare import compare_document

            result = saved_result(record.to_dict())
            files = (record.sections.get("compare") or {}).get("files") or {}
            if as_json:
                click.echo(json.dumps(compare_document(record, run.path, result, files), indent=2, default=str))
            else:
                with console.capture() as cap:
                    console.print(CompareTable(result, str(run.path)))
                    if detail:  # each variant's panel under the table
                        from profiler.report.run import VariantReport

                        for v in record.variants:
                            if v.status != "unavailable":
                                console.print(VariantReport(v, record.unit, top, detail=True))
                console.file.write(cap.get())
            return
        if as_json:
            click.echo(json.dumps(json_summary(record, run), indent=2))
            return
    except MALFORMED as e:
        raise InputError(f"{run.run_file}: malformed run record ({type(e).__name__}: {e})") from None
    render_record(record, str(run.path), console, quiet, top, detail)
