"""``profiler report``: re-render a saved run, or analyse a trace another tool wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from profiler.cli.options import (
    JSON_OPTION,
    Options,
    stdout_console,
    view_options,
    with_options,
)
from profiler.cli.output import emit, output_options
from profiler.core import defaults
from profiler.core.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

    from profiler.run.reopen import SavedRun


@click.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--reanalyse", is_flag=True, help="Recompute the analysis from the saved events.")
@JSON_OPTION
@view_options
@click.option(
    "--out",
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
@with_options
def report_cmd(
    opts: Options,
    run_dir: Path,
    reanalyse: bool,
    trace_budget: float | None = None,
    html_file: str | None = None,
    open_html: bool = False,
    force: bool = False,
    scheduler: str | None = None,
) -> None:
    """Re-render a saved run, or analyse a trace you already have.

    RUN_DIR is a run directory, or a torch.profiler (Kineto) JSON, a TensorFlow .xplane.pb (or its
    log directory) or an MXNet profile JSON: it is analysed like a run of ours and saved as one.
    """
    from profiler.run.reopen import compare_result, document, reanalysed, reopen, scaling_document

    saved = reopen(run_dir, opts.out, trace_budget=trace_budget, force=force, scheduler=scheduler)
    record, fmt = saved.record, opts.fmt
    if saved.imported:  # imported just now: --json is the renderer's document, with its "fix first"
        fmt = "json" if opts.as_json else fmt
    else:
        if html_file is not None or open_html:
            _write_html(saved, html_file, open_html)
            if fmt is None and opts.output is None:
                return
        if opts.as_json and opts.output is not None:
            fmt = "json"
        if reanalyse:  # recomputed into the record, so that every renderer shows the new figures
            record = reanalysed(saved)
    if emit(record, saved.path, fmt, opts.output, top=opts.top, detail=True, quiet=opts.quiet):
        return
    console = stdout_console()
    if opts.as_json and not saved.imported:
        click.echo(json.dumps(document(saved), indent=2, default=str))
    elif record.kind == "scale":  # a thread-scaling sweep renders as its own table
        from profiler.report.scale import ScaleReport

        console.print(ScaleReport(scaling_document(saved)))
    elif record.kind == "compare":  # the side-by-side table, from the (re)analysed entries
        _print_compare(saved, console, compare_result(saved)[0], opts.top, opts.detail)
    else:
        from profiler.report.run import render_record

        render_record(record, saved.path, console, opts.quiet, opts.top, opts.detail)


def _write_html(saved: SavedRun, html_file: str | None, open_html: bool) -> None:
    """``--html [FILE]`` (default RUN_DIR/report.html) and ``--open``."""
    from profiler.run.reopen import write_page

    page = write_page(saved, html_file)
    click.echo(f"HTML report: {page}")
    if open_html:
        import webbrowser

        webbrowser.open(page.resolve().as_uri())


def _print_compare(saved: SavedRun, console: Console, result: dict[str, Any], top: int, detail: bool) -> None:
    """The compare table and, with ``--detail``, each variant's panel under it; a damaged record is
    one line, and nothing is printed half-way."""
    from profiler.report.compare import CompareTable
    from profiler.report.run import MALFORMED, VariantReport

    try:
        with console.capture() as cap:
            console.print(CompareTable(result, saved.path))
            if detail:
                for v in saved.record.variants:
                    if v.status != "unavailable":
                        console.print(VariantReport(v, saved.record.unit, top, detail=True))
    except MALFORMED as e:
        raise InputError(f"{saved.run.run_file}: malformed run record ({type(e).__name__}: {e})") from None
    console.file.write(cap.get())

