"""``profiler trace``: run a scenario's variants (or any command) under the probes, report and save the run."""

from __future__ import annotations

import json
import sys

import click

from profiler.cli.options import (
    Options,
    count_option,
    distributed_options,
    repeat_options,
    seconds_option,
    stdout_console,
    trace_options,
    view_options,
    with_options,
)
from profiler.cli.output import check_output, emit, output_options
from profiler.core import defaults
from profiler.report.progress import ProgressView
from profiler.run import owner

#: Worker processes per variant for `trace` (docs/compare.md: why this keeps the main job's time)
DEFAULT_TRACE_REPEAT = defaults.REPEAT["trace"]


@click.command("trace")
@trace_options
@distributed_options
@repeat_options(DEFAULT_TRACE_REPEAT)
@view_options
@click.option(
    "--no-inject",
    is_flag=True,
    help="With a command after --: do not install the start-up shim (no steps, no torch/CUPTI probes).",
)
@click.option(
    "--trace-budget",
    type=float,
    callback=seconds_option(),
    help="Keep the Chrome trace's JSON under this many MB (counters downsampled, shortest spans dropped).",
)
@click.option(
    "--skip-steps",
    type=int,
    default=0,
    callback=count_option(0),
    help="With a command after --: ignore its first N detected steps (before the warm-up).",
)
@click.option(
    "--step-marker",
    metavar="NAME",
    help="With a command after --: each call of this function, or each torch.profiler "
    "record_function region with this label (ProfilerStep too), is one step.",
)
@output_options
@click.argument("program", nargs=-1, type=click.UNPROCESSED)
@with_options
def trace_cmd(
    opts: Options,
    device: str,
    data: str,
    probes: str | None,
    require: str | None,
    nproc: str | None = None,
    nnodes: int | None = None,
    node_rank: int | None = None,
    rdzv_endpoint: str | None = None,
    no_inject: bool = False,
    trace_budget: float | None = None,
    skip_steps: int = 0,
    step_marker: str | None = None,
    program: tuple[str, ...] = (),
    probe_option: tuple[str, ...] = (),
    min_time: float | None = None,
    max_time: float | None = None,
) -> None:
    """Run a scenario's variants, each in a fresh worker, and report where the time goes.

    Or profile any program: ``profiler trace [OPTIONS] -- python train.py ARGS``.
    """
    from profiler.report.run import RunReport
    from profiler.run.execute import execute, json_summary
    from profiler.run.requests import trace_plan

    check_output(opts.fmt, opts.output)  # before anything runs
    p = trace_plan(opts, ["profiler", *sys.argv[1:]], device=device, data=data, probes=probes, require=require,
                   probe_option=probe_option, nproc=nproc, nnodes=nnodes, node_rank=node_rank,
                   rdzv_endpoint=rdzv_endpoint, trace_budget=trace_budget, min_time=min_time, max_time=max_time,
                   program=program, inject=not no_inject, skip_steps=skip_steps, step_marker=step_marker)
    with ProgressView(p.jobs, enabled=bool(p.jobs)) as view:
        record, run = execute(p, progress=view.update, on_job_done=view.finish)
    owner.clear()  # the run is saved: an error after this point does not fail it
    if emit(record, str(run.path), "json" if opts.as_json and opts.output else opts.fmt, opts.output,
            top=opts.top, detail=True, quiet=opts.quiet):
        pass
    elif opts.as_json:
        click.echo(json.dumps(json_summary(record, run), indent=2))
    else:
        stdout_console().print(RunReport(record, str(run.path), quiet=opts.quiet, top=opts.top, detail=opts.detail))
    if program and p.jobs:
        sys.exit(command_exit_code(record))
    if record.status == "interrupted":
        sys.exit(130)
    if record.status not in ("ok", "partial"):
        sys.exit(1)


#: ``profiler trace -- CMD`` exit codes of our own (docs/cli.md); otherwise the program's own code.
EXIT_PROFILING_FAILED = 1
EXIT_INTERRUPTED = 130


def command_exit_code(record: object) -> int:
    """The program's exit code (128+N when signal N killed it); 0 only when the program and the
    profiling both succeeded; 130 when interrupted; 1 when the program exited 0 but profiling failed."""
    (v, *_) = record.variants  # type: ignore[attr-defined]
    if v.status == "interrupted":
        return EXIT_INTERRUPTED
    code = v.exit_code
    if code is not None and code < 0:
        return 128 - code
    if code:
        return int(code)
    return 0 if v.status == "ok" else EXIT_PROFILING_FAILED
