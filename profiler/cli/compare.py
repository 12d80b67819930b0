"""``profiler compare``: one scenario in several frameworks, side by side, in the seed's layout."""

from __future__ import annotations

import json
import sys

import click

from profiler.cli.options import (
    JSON_OPTION,
    OUT_OPTION,
    TIMEOUT_OPTION,
    Options,
    count_option,
    framework_option,
    repeat_options,
    stdout_console,
    threads_count_option,
    with_options,
)
from profiler.cli.output import check_output, emit, output_options
from profiler.core import defaults
from profiler.report.progress import ProgressView
from profiler.run import owner


@click.command("compare")
@click.option("--scenario", "-s", required=True, help="Scenario name, or a path to your own scenario file.")
@framework_option()
@click.option("--variant", "-v", "variant", help="Variant(s), comma-separated (default: all).")
@click.option("--mode", type=str, help="train or infer (default: the scenario's).")
@click.option(
    "--preset", "-p", type=str, help="Size preset: cpu or seed (default: seed with a GPU, else cpu)."
)
@click.option("--device", type=str, default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--steps", type=int, callback=count_option(1), help="Clean measured steps (headline time).")
@click.option("--warmup", type=int, callback=count_option(0),
              help="Warm-up steps (0 or more), excluded from every figure.")
@click.option("--trace-steps", type=int, callback=count_option(1), help="Traced steps (breakdown).")
@threads_count_option("Thread count, the same for every framework (default: the CPUs this process may use)")
@click.option("--data", type=str, default="ram", show_default=True, help="ram or disk input pipeline.")
@click.option("--probes", type=str, help="Probes to run, comma-separated (default: every available one).")
@repeat_options(defaults.REPEAT["compare"])
@TIMEOUT_OPTION
@OUT_OPTION
@JSON_OPTION
@output_options
@with_options
def compare_cmd(opts: Options, device: str, data: str, probes: str | None, min_time: float | None,
                max_time: float | None) -> None:
    """One scenario in several frameworks, side by side (table, CSV, JSON and a bar chart)."""
    from profiler.report.compare import CompareTable
    from profiler.run.compare import compare_document, run_compare
    from profiler.run.requests import compare_plan

    check_output(opts.fmt, opts.output)  # before anything runs
    p, skipped = compare_plan(opts, ["profiler", *sys.argv[1:]], device=device, data=data, probes=probes,
                              min_time=min_time, max_time=max_time)
    with ProgressView(p.jobs, enabled=bool(p.jobs)) as view:
        record, run, result, files = run_compare(p, skipped, progress=view.update, on_job_done=view.finish)
    owner.clear()  # the run is saved: an error after this point does not fail it
    if emit(record, str(run.path), opts.fmt, opts.output):
        pass
    elif opts.as_json:
        click.echo(json.dumps(compare_document(record, run.path, result, files), indent=2, default=str))
    else:
        stdout_console().print(CompareTable(result, str(run.path)))
    if record.status == "interrupted":
        sys.exit(130)
    if record.status not in ("ok", "partial"):
        sys.exit(1)
