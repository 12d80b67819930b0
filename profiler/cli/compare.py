"""``profiler compare``: one scenario in several frameworks, side by side, in the seed's layout."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from profiler.cli.options import (
    JSON_OPTION,
    OUT_OPTION,
    TIMEOUT_OPTION,
    count_option,
    csv_list,
    framework_option,
    repeat_options,
    stdout_console,
    threads_count_option,
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
def compare_cmd(
    scenario: str,
    framework: str | None,
    variant: str | None,
    mode: str | None,
    preset: str | None,
    device: str,
    steps: int | None,
    warmup: int | None,
    trace_steps: int | None,
    threads: int | None,
    data: str,
    probes: str | None,
    repeat: int,
    min_time: float | None,
    max_time: float | None,
    timeout: float | None,
    out: Path,
    as_json: bool,
    fmt: str | None = None,
    output: Path | None = None,
) -> None:
    """One scenario in several frameworks, side by side (table, CSV, JSON and a bar chart)."""
    from profiler.core.errors import UnavailableError
    from profiler.core.hardware import usable_cores
    from profiler.core.registry import resolve
    from profiler.core.rundir import ensure_writable_root
    from profiler.report.compare import CompareTable
    from profiler.run.compare import compare_document, run_compare, select_frameworks
    from profiler.run.plan import TraceRequest, plan

    check_output(fmt, output)  # before anything runs
    ensure_writable_root(out)
    sc = resolve(scenario)
    run_fws, skipped = select_frameworks(sc, framework)
    if not run_fws:
        raise UnavailableError("; ".join(f"{u.framework}: unavailable: {u.reason}" for u in skipped))
    req = TraceRequest(
        scenario=sc,
        frameworks=run_fws,
        variants=csv_list(variant),
        mode=mode,
        preset=preset,
        device=device,
        steps=steps,
        warmup=warmup,
        trace_steps=trace_steps,
        # An explicit count for all: left unset, each framework sizes its own pool differently.
        threads=threads if threads is not None else usable_cores(),
        data=data,
        probes=csv_list(probes) if probes is not None else None,
        out=out,
        timeout_s=timeout,
        command=["profiler", *sys.argv[1:]],
        label=f"compare-{sc.name}",
        repeat=repeat,
        min_time_s=min_time,
        max_time_s=max_time,
    )
    p = plan(req)  # validates every option before anything runs
    with ProgressView(p.jobs, enabled=bool(p.jobs)) as view:
        record, run, result, files = run_compare(p, skipped, progress=view.update, on_job_done=view.finish)
    owner.clear()  # the run is saved: an error after this point does not fail it
    if emit(record, str(run.path), fmt, output):
        pass
    elif as_json:
        click.echo(json.dumps(compare_document(record, run.path, result, files), indent=2, default=str))
    else:
        stdout_console().print(CompareTable(result, str(run.path)))
    if record.status == "interrupted":
        sys.exit(130)
    if record.status not in ("ok", "partial"):
        sys.exit(1)
