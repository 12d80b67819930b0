"""``profiler scale``: the thread-scaling sweep."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from profiler.cli.options import (
    JSON_OPTION,
    OUT_OPTION,
    TIMEOUT_OPTION,
    Options,
    check_thread_count,
    count_option,
    framework_option,
    stdout_console,
    with_options,
)
from profiler.cli.output import check_output, emit, output_options
from profiler.run import owner


def thread_list_option(ctx: Any, param: Any, value: str | None) -> str | None:
    """``--threads 1,2,4``: a list of positive counts, none above the per-worker limit (the sweep
    warns once when it goes past the cores this process may use)."""
    if value is None:
        return value
    from profiler.run.thread_sweep import parse_threads

    counts = parse_threads(value) or []
    if counts:
        check_thread_count(max(counts))
    return value


@click.command("scale")
@click.option("--scenario", "-s", required=True, help="Scenario name, or a path to your own scenario file.")
@framework_option()
@click.option(
    "--variant", "-v", "variant", help="Variant(s), comma-separated (default: each framework's first)."
)
@click.option(
    "--threads",
    "-t",
    "threads",
    callback=thread_list_option,
    help="Thread counts, comma-separated (default: powers of two up to the core count, plus it).",
)
@click.option("--repeat", "--repeats", "-r", "repeat", type=int, default=5, show_default=True,
              callback=count_option(1),
              help="Fresh workers per point (--repeats is the older spelling).")
@click.option("--pin", is_flag=True, help="Pin each worker to as many cores as it has threads.")
@click.option("--mode", type=str, help="train or infer (default: the scenario's).")
@click.option("--preset", "-p", type=str, help="Size preset (default: cpu).")
@click.option("--steps", type=int, callback=count_option(1), help="Clean measured steps per worker.")
@click.option("--warmup", type=int, callback=count_option(0),
              help="Warm-up steps per worker (0 or more), excluded from every figure.")
@click.option(
    "--trace-steps", type=int, callback=count_option(0), help="Traced steps at the lowest and highest count (op explanation)."
)
@TIMEOUT_OPTION
@OUT_OPTION
@JSON_OPTION
@output_options
@with_options
def scale_cmd(opts: Options, pin: bool) -> None:
    """Thread-scaling sweep: every framework at every thread count, fresh workers, fits, why."""
    from profiler.report.scale import ScaleProgressView, ScaleReport
    from profiler.run.requests import scale_plan
    from profiler.run.thread_sweep import execute_scale, json_summary

    check_output(opts.fmt, opts.output)  # before anything runs
    sp = scale_plan(opts, ["profiler", *sys.argv[1:]], pin=pin)
    with ScaleProgressView(len(sp.jobs), enabled=bool(sp.jobs)) as view:
        record, run = execute_scale(sp, progress=view.update, on_job_done=view.finish)
    owner.clear()  # the run is saved: an error after this point does not fail it
    doc = json_summary(record, run)
    if emit(record, str(run.path), opts.fmt, opts.output):
        pass
    elif opts.as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        stdout_console().print(ScaleReport(doc))
    if record.status not in ("ok", "partial"):
        sys.exit(1)
