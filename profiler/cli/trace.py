"""``profiler trace``: run a scenario's variants (or any command) under the probes, report and save the run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from profiler.cli.options import (
    DEFAULT_TOP,
    count_option,
    csv_list,
    distributed_options,
    repeat_options,
    seconds_option,
    stdout_console,
    trace_options,
    view_options,
)
from profiler.cli.output import check_output, emit, output_options
from profiler.core import defaults
from profiler.core.errors import InputError
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
def trace_cmd(
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
    require: str | None,
    timeout: float | None,
    out: Path,
    as_json: bool,
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
    repeat: int = DEFAULT_TRACE_REPEAT,
    min_time: float | None = None,
    max_time: float | None = None,
    quiet: bool = False,
    top: int | None = None,
    detail: bool = False,
    fmt: str | None = None,
    output: Path | None = None,
) -> None:
    """Run a scenario's variants, each in a fresh worker, and report where the time goes.

    Or profile any program: ``profiler trace [OPTIONS] -- python train.py ARGS``.
    """
    from profiler.core.registry import resolve
    from profiler.core.rundir import ensure_writable_root
    from profiler.report.run import RunReport
    from profiler.run.execute import execute, json_summary
    from profiler.run.plan import TraceRequest, plan

    check_output(fmt, output)  # before anything runs
    if repeat < 1:
        raise InputError(f"--repeat must be a positive integer, got {repeat}")
    if trace_budget is not None and trace_budget <= 0:
        raise InputError(f"--trace-budget must be a positive number of MB, got {trace_budget:g}")
    ensure_writable_root(out)  # fail before any work
    from profiler.run.torchrun import launches

    dist_launches = launches(nproc, nnodes, node_rank, rdzv_endpoint)  # port checked before any work
    from profiler.probes.options import parse_probe_options

    if program:  # profile any command (run/command.py)
        if scenario:
            raise InputError("give either --scenario or a command after --, not both")
        from profiler.run.command import command_scenario

        sc = command_scenario(list(program))
    elif skip_steps or step_marker is not None:
        raise InputError("--skip-steps and --step-marker apply to a command after -- (profiler trace -- CMD)")
    elif not scenario:
        raise InputError("missing --scenario (or a command after --, e.g. profiler trace -- python train.py)")
    else:
        sc = resolve(scenario)
    req = TraceRequest(
        launches=dist_launches,
        scenario=sc,
        frameworks=csv_list(framework),
        variants=csv_list(variant),
        mode=mode,
        preset=preset,
        device=device,
        steps=steps,
        warmup=warmup,
        trace_steps=trace_steps,
        threads=threads,
        data=data,
        probes=csv_list(probes) if probes is not None else None,
        require=csv_list(require) or [],
        probe_options=parse_probe_options(probe_option),
        out=out,
        timeout_s=timeout,
        command=["profiler", *sys.argv[1:]],
        trace_budget_mb=trace_budget,
        repeat=repeat,
        min_time_s=min_time,
        max_time_s=max_time,
    )
    if program:
        from profiler.run.command import plan_command

        p = plan_command(req, list(program), inject=not no_inject, skip_steps=skip_steps, step_marker=step_marker)
        for job in p.jobs:  # the program's output, live; with --json its stdout goes to stderr
            job.echo = "stderr" if as_json else "terminal"
    else:
        p = plan(req)
    if not p.jobs and not p.skipped:
        raise InputError("nothing to run")
    with ProgressView(p.jobs, enabled=bool(p.jobs)) as view:
        record, run = execute(p, progress=view.update, on_job_done=view.finish)
    owner.clear()  # the run is saved: an error after this point does not fail it
    if emit(record, str(run.path), "json" if as_json and output else fmt, output, top=top or DEFAULT_TOP,
            detail=True, quiet=quiet):
        pass
    elif as_json:
        click.echo(json.dumps(json_summary(record, run), indent=2))
    else:
        stdout_console().print(RunReport(record, str(run.path), quiet=quiet, top=top or DEFAULT_TOP,
                                         detail=detail or top is not None))
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
