"""Profile any command, parent side: ``profiler trace -- python train.py ARGS`` runs the user's program
as the worker.

The program is started directly, so the parent probes watch its pid, with ``profiler/inject`` first
on its ``PYTHONPATH`` and ``PROFILER_COMMAND_SPEC`` naming its spec
(:func:`profiler.core.protocol.command_env`; ``--no-inject`` leaves both out). A leading
``python``/``python3`` means the interpreter running profiler. The child side is
:mod:`profiler.inject.recorder`. See ``docs/probes.md`` ("Profiling any command").
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from profiler.core import defaults
from profiler.core.errors import CommandNotFound, InputError
from profiler.core.protocol import COMMAND_STEPS_ENV
from profiler.core.scenario import Implementation, Scenario, Variant, WorkloadSpec
from profiler.probes import probe_class, select_probes
from profiler.run.plan import Plan
from profiler.run.process import WorkerJob


def python_script(args: list[str]) -> str | None:
    """The script ``python ARGS`` would run (None for ``-m``, ``-c``, ``-`` or no script)."""
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-":
            return None
        if a == "--":
            return args[i + 1] if i + 1 < len(args) else None
        if a.startswith("--"):  # --check-hash-based-pycs MODE; other long options take none
            i += 2 if a == "--check-hash-based-pycs" else 1
            continue
        if not a.startswith("-"):
            return a
        i += 1
        for k, ch in enumerate(a[1:], start=1):  # a cluster of short options: -u, -OO, -Wignore, -um
            if ch in "mc":
                return None
            if ch in "WX":  # the rest of the cluster, or the next argument, is its value
                i += 0 if a[k + 1 :] else 1
                break
    return None


def resolve_command(argv: list[str]) -> list[str]:
    """The command to run, ``python`` resolved to this interpreter; a one-line error with exit code
    127 (:class:`CommandNotFound`) if the program — or the script given to python — is missing."""
    if not argv:
        raise InputError("no command after --")
    exe = argv[0]
    if not exe:
        raise CommandNotFound("command not found: '' (an empty program name)")
    if exe in ("python", "python3", Path(sys.executable).name):
        return [sys.executable, *argv[1:]]
    if os.sep in exe:
        if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
            raise CommandNotFound(f"command not found or not executable: {_short(exe)}")
        return list(argv)
    try:
        found = shutil.which(exe)
    except (OSError, ValueError):  # a name the file system refuses (too long, a NUL byte)
        found = None
    if found is None:
        raise CommandNotFound(f"command not found: {_short(exe)}")
    return [found, *argv[1:]]


def check_script(argv: list[str]) -> None:
    """``python SCRIPT ...`` where SCRIPT does not exist: :class:`CommandNotFound` (exit code 127)
    before anything starts, rather than python's own exit code 2, which reads as a usage error."""
    if argv and argv[0] in ("python", "python3", Path(sys.executable).name, sys.executable):
        script = python_script(argv[1:])
        if script is not None and not os.path.isfile(script):
            what = "is a directory" if os.path.isdir(script) else "no such file"
            raise CommandNotFound(f"{argv[0]}: cannot open script {_short(script)}: {what}")


def _short(path: str, limit: int = 160) -> str:
    return path if len(path) <= limit else f"{path[:70]}…{path[-70:]}"


def command_scenario(argv: list[str]) -> Any:
    """A scenario declaration standing for the user's program (recorded in run.json)."""
    return Scenario(
        name="command",
        summary=" ".join(argv),
        implementations=(Implementation("torch", (Variant("command", "the user's own program"),)),),
        presets={"command": {}},
        modes=("train", "infer"),
        default_mode="train",
        origin="profiler trace -- COMMAND",
    )


def python_scenario(script: str) -> Any:
    """The scenario declaration of a block profiled from Python (``profiler.profile()``)."""
    return Scenario(
        name="python",
        summary=f"profiler.profile() in {script}",
        implementations=(Implementation("torch", (Variant("python", "a block of the user's own program"),)),),
        presets={"python": {}},
        modes=("train", "infer"),
        default_mode="train",
        origin="profiler.profile()",
    )


def check_counts(**counts: int | None) -> None:
    """``--steps``/``--threads``/``--trace-steps`` positive, ``--warmup``/``--skip-steps`` 0 or more."""
    for name, v in counts.items():
        if v is None:
            continue
        flag = "--" + name.replace("_", "-")
        if name in ("steps", "threads", "trace_steps") and v < 1:
            raise InputError(f"{flag} must be a positive integer, got {v}")
        if v < 0:
            raise InputError(f"{flag} must be 0 or more, got {v}")


def command_job(
    key: str,
    chosen: list[str],
    *,
    mode: str | None = None,
    device: str = "auto",
    threads: int | None = None,
    steps: int | None = None,
    warmup: int | None = None,
    trace_steps: int | None = None,
    probe_options: dict[str, Any] | None = None,
    timeout_s: float | None = None,
    inject: bool = True,
    skip_steps: int = 0,
    step_marker: str | None = None,
) -> Any:
    """The one worker job standing for a user's program (a command, or the Python API's block)."""
    job = WorkerJob(
        key=key,
        workload=WorkloadSpec(
            scenario=key,
            framework="torch",
            variant=key,
            mode=mode or "train",
            preset=key,
            device=device,
            threads=threads,
        ),
        module=None,
        warmup=defaults.WARMUP if warmup is None else warmup,
        steps=steps or defaults.STEPS,
        trace_steps=defaults.TRACE_STEPS if trace_steps is None else trace_steps,
        worker_probes=[p for p in chosen if probe_class(p).where == "worker"] if inject else [],
        parent_probes=[p for p in chosen if probe_class(p).where == "parent"],
        probe_options=probe_options or {},
        timeout_s=timeout_s,
    )
    job.inject = inject
    if skip_steps or step_marker:
        job.env[COMMAND_STEPS_ENV] = json.dumps(step_options(skip_steps, step_marker))
    return job


def step_options(skip_steps: int = 0, step_marker: str | None = None) -> dict[str, Any]:
    """What the recorder takes beside the worker spec (:data:`COMMAND_STEPS_ENV`)."""
    return {"skip_steps": int(skip_steps or 0), "step_marker": step_marker or None}


def command_settings(job: Any, device: str, **extra: Any) -> dict[str, Any]:
    """The record's ``settings`` of a user's program (:func:`settle_counts` makes them the counts seen)."""
    return {
        "mode": job.workload.mode,
        "preset": job.workload.preset,
        "device": device,
        "params": {},
        "steps": job.steps,
        "warmup": job.warmup,
        "trace_steps": job.trace_steps,
        "threads": job.workload.threads,
        "data": "the program's own",
        "timeout_s": job.timeout_s,
        **extra,
    }


def settle_counts(record: Any) -> None:
    """Once the program ran: the settings' step counts become the ones its entry reports.

    The settings hold what was asked (``--steps`` clean steps before the traced window); a program
    runs its own number of steps, so the header would say 10 where the panel says 58. The counts
    asked stay under ``settings["requested"]``.
    """
    entries = [v for v in record.variants if v.status != "unavailable"]
    if len(entries) != 1:
        return
    (v,) = entries
    s = record.settings
    s.setdefault("requested", {k: s.get(k) for k in ("steps", "warmup", "trace_steps")})
    counts = (v.info or {}).get("steps") or {}
    s["steps"] = v.step_ms.n_steps if v.step_ms else 0
    s["trace_steps"] = v.traced_step_ms.n_steps if v.traced_step_ms else 0
    s["warmup"] = int(counts.get("warmup") or 0)
    if (v.info or {}).get("steps_detected") is not None:
        s["steps_detected"] = v.info["steps_detected"]


def plan_command(
    req: Any, argv: list[str], inject: bool = True, skip_steps: int = 0, step_marker: str | None = None
) -> Any:
    """A :class:`profiler.run.plan.Plan` with one worker: the user's program."""
    cmd = resolve_command(argv)
    check_script(argv)
    check_counts(steps=req.steps, threads=req.threads, warmup=req.warmup, trace_steps=req.trace_steps,
                 skip_steps=skip_steps)
    if step_marker is not None and not step_marker.strip():
        raise InputError("--step-marker needs a function name or a record_function label, got ''")
    chosen, records = select_probes(req.probes, req.require, "torch")
    job = command_job(
        "command",
        chosen,
        mode=req.mode,
        device=req.device,
        threads=req.threads,
        steps=req.steps,
        warmup=req.warmup,
        trace_steps=req.trace_steps,
        probe_options=req.probe_options,
        timeout_s=req.timeout_s,
        inject=inject,
        skip_steps=skip_steps,
        step_marker=step_marker,
    )
    job.command = cmd
    settings = command_settings(job, req.device, command=cmd, inject=inject, skip_steps=skip_steps,
                                step_marker=step_marker)
    p = Plan(req, [job], [], settings, {"torch": records})
    p.settle = [settle_counts]  # type: ignore[attr-defined]  # run by execute() before finishing
    return p
