"""What ``trace``, ``compare`` and ``scale`` are asked to run, from the shared options
(:class:`~profiler.run.options.Options`) and each command's own: the request checked and planned,
before anything runs. The command line only parses, calls one of these, runs the plan and renders."""

from __future__ import annotations

import inspect
import re
from typing import Any

from profiler.core.errors import InputError, UnavailableError
from profiler.run.options import Options


def _csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def check_probe_options(values: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``--probe-option NAME.KEY=VALUE`` checked: a known probe, a key that probe reads, a value it
    takes (an :class:`InputError` otherwise); the options by probe."""
    from profiler.probes import probe_class
    from profiler.probes.options import parse_probe_options

    parsed = parse_probe_options(values)
    for name, opts in parsed.items():
        known = probe_option_keys(probe_class(name))
        for key in opts:
            if key not in known:
                valid = ", ".join(sorted(known)) or "none (this probe takes no options)"
                raise InputError(f"--probe-option {name}.{key}: unknown option of probe {name!r}; valid: {valid}")
    return parsed


_OPTION_KEY_RX = re.compile(r"""options\.get\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")


def probe_option_keys(cls: type) -> set[str]:
    """The option keys a probe class reads: its ``OPTIONS`` when it declares them, otherwise every
    ``self.options.get("KEY", ...)`` in the source of the class and its bases."""
    declared = getattr(cls, "OPTIONS", None)
    if declared is not None:
        return set(declared)
    keys: set[str] = set()
    for klass in cls.__mro__:
        if klass is object:
            continue
        try:
            src = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        keys.update(_OPTION_KEY_RX.findall(src))
    return keys


def trace_plan(opts: Options, command: list[str], *, device: str = "auto", data: str = "ram",
               probes: str | None = None, require: str | None = None,
               probe_option: tuple[str, ...] = (), nproc: str | None = None, nnodes: int | None = None,
               node_rank: int | None = None, rdzv_endpoint: str | None = None, trace_budget: float | None = None,
               min_time: float | None = None, max_time: float | None = None, program: tuple[str, ...] = (),
               inject: bool = True, skip_steps: int = 0, step_marker: str | None = None) -> Any:
    """``profiler trace``'s plan: a scenario's variants, or the ``program`` given after ``--``; every
    option checked (a bad one is an :class:`InputError`) and the output root writable before any work."""
    from profiler.core.rundir import ensure_writable_root
    from profiler.probes.options import parse_probe_options
    from profiler.run.plan import plan
    from profiler.run.torchrun import launches

    repeat = opts.repeat if opts.repeat is not None else 1
    if repeat < 1:
        raise InputError(f"--repeat must be a positive integer, got {repeat}")
    if trace_budget is not None and trace_budget <= 0:
        raise InputError(f"--trace-budget must be a positive number of MB, got {trace_budget:g}")
    ensure_writable_root(opts.out)  # fail before any work
    dist_launches = launches(nproc, nnodes, node_rank, rdzv_endpoint)  # port checked before any work
    if program:  # profile any command (run/command.py)
        if opts.scenario:
            raise InputError("give either --scenario or a command after --, not both")
        from profiler.run.command import command_scenario

        sc = command_scenario(list(program))
    elif skip_steps or step_marker is not None:
        raise InputError("--skip-steps and --step-marker apply to a command after -- (profiler trace -- CMD)")
    elif not opts.scenario:
        raise InputError("missing --scenario (or a command after --, e.g. profiler trace -- python train.py)")
    else:
        from profiler.core.registry import resolve

        sc = resolve(opts.scenario)
    req = _trace_request(
        opts, command, device, data, probes, min_time, max_time,
        launches=dist_launches,
        scenario=sc,
        frameworks=opts.frameworks,
        threads=opts.threads,  # one count: the option's callback made it an int
        require=_csv(require) or [],
        probe_options=parse_probe_options(probe_option),
        trace_budget_mb=trace_budget,
        repeat=repeat,
    )
    if program:
        from profiler.run.command import plan_command

        p = plan_command(req, list(program), inject=inject, skip_steps=skip_steps, step_marker=step_marker)
        for job in p.jobs:  # the program's output, live; with --json its stdout goes to stderr
            job.echo = "stderr" if opts.as_json else "terminal"
    else:
        p = plan(req)
    if not p.jobs and not p.skipped:
        raise InputError("nothing to run")
    return p


def _trace_request(opts: Options, command: list[str], device: str, data: str, probes: str | None,
                   min_time: float | None, max_time: float | None, **fields: Any) -> Any:
    """A TraceRequest of the options ``trace`` and ``compare`` read alike, plus the command's own ``fields``."""
    from profiler.run.plan import TraceRequest

    return TraceRequest(
        variants=opts.variants, mode=opts.mode, preset=opts.preset, device=device, steps=opts.steps,
        warmup=opts.warmup, trace_steps=opts.trace_steps, data=data,
        probes=_csv(probes) if probes is not None else None, out=opts.out, timeout_s=opts.timeout,
        command=command, min_time_s=min_time, max_time_s=max_time, **fields,
    )


def compare_plan(opts: Options, command: list[str], *, device: str = "auto", data: str = "ram",
                 probes: str | None = None, min_time: float | None = None,
                 max_time: float | None = None) -> tuple[Any, list[Any]]:
    """``profiler compare``'s plan and the frameworks that cannot run here (each with why); none that
    can is an :class:`UnavailableError` naming every reason. Every framework gets the same thread
    count: ``--threads``, else the CPUs this process may use."""
    from profiler.core.hardware import usable_cores
    from profiler.core.registry import resolve
    from profiler.core.rundir import ensure_writable_root
    from profiler.run.compare import select_frameworks
    from profiler.run.plan import plan

    ensure_writable_root(opts.out)
    sc = resolve(opts.scenario or "")
    run_fws, skipped = select_frameworks(sc, opts.framework)
    if not run_fws:
        raise UnavailableError("; ".join(f"{u.framework}: unavailable: {u.reason}" for u in skipped))
    req = _trace_request(
        opts, command, device, data, probes, min_time, max_time,
        scenario=sc,
        frameworks=run_fws,
        # An explicit count for all: left unset, each framework sizes its own pool differently.
        threads=opts.threads if opts.threads is not None else usable_cores(),
        label=f"compare-{sc.name}",
        repeat=opts.repeat if opts.repeat is not None else 1,
    )
    return plan(req), skipped  # plan validates every option before anything runs


def scale_plan(opts: Options, command: list[str], *, pin: bool = False) -> Any:
    """``profiler scale``'s plan: every framework at every thread count (``--threads``' list, else
    powers of two up to the cores and the core count), ``repeat`` fresh workers per point."""
    from profiler.core.registry import resolve
    from profiler.core.rundir import ensure_writable_root
    from profiler.run.thread_sweep import ScaleRequest, parse_threads, plan_scale

    counts = parse_threads(opts.threads if isinstance(opts.threads, str) or opts.threads is None
                           else str(opts.threads))  # bad lists fail before anything is resolved or run
    ensure_writable_root(opts.out)
    req = ScaleRequest(
        scenario=resolve(opts.scenario or ""),
        frameworks=opts.frameworks,
        variants=opts.variants,
        threads=counts,
        pin=pin,
        mode=opts.mode,
        preset=opts.preset,
        steps=opts.steps,
        warmup=opts.warmup,
        trace_steps=opts.trace_steps,
        out=opts.out,
        timeout_s=opts.timeout,
        command=command,
        **({"repeats": opts.repeat} if opts.repeat is not None else {}),
    )
    return plan_scale(req)
