"""``profiler scale``: the thread-scaling sweep."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from profiler.cli.options import (
    JSON_OPTION,
    OUT_OPTION,
    TIMEOUT_OPTION,
    check_thread_count,
    count_option,
    csv_list,
    framework_option,
    stdout_console,
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
@click.option("--repeat", "--repeats", "-r", "repeats", type=int, default=5, show_default=True,
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
def scale_cmd(
    scenario: str,
    framework: str | None,
    variant: str | None,
    threads: str | None,
    repeats: int,
    pin: bool,
    mode: str | None,
    preset: str | None,
    steps: int | None,
    warmup: int | None,
    trace_steps: int | None,
    timeout: float | None,
    out: Path,
    as_json: bool,
    fmt: str | None = None,
    output: Path | None = None,
) -> None:
    """Thread-scaling sweep: every framework at every thread count, fresh workers, fits, why."""
    from profiler.core.registry import resolve
    from profiler.core.rundir import ensure_writable_root
    from profiler.report.scale import ScaleProgressView, ScaleReport
    from profiler.run.thread_sweep import ScaleRequest, execute_scale, json_summary, parse_threads, plan_scale

    check_output(fmt, output)  # before anything runs
    counts = parse_threads(threads)  # bad lists fail before anything is resolved or run
    ensure_writable_root(out)
    req = ScaleRequest(
        scenario=resolve(scenario),
        frameworks=csv_list(framework),
        variants=csv_list(variant),
        threads=counts,
        repeats=repeats,
        pin=pin,
        mode=mode,
        preset=preset,
        steps=steps,
        warmup=warmup,
        trace_steps=trace_steps,
        out=out,
        timeout_s=timeout,
        command=["profiler", *sys.argv[1:]],
    )
    sp = plan_scale(req)
    with ScaleProgressView(len(sp.jobs), enabled=bool(sp.jobs)) as view:
        record, run = execute_scale(sp, progress=view.update, on_job_done=view.finish)
    owner.clear()  # the run is saved: an error after this point does not fail it
    doc = json_summary(record, run)
    if emit(record, str(run.path), fmt, output):
        pass
    elif as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        stdout_console().print(ScaleReport(doc))
    if record.status not in ("ok", "partial"):
        sys.exit(1)
