"""Profile any command, parent side: ``profiler trace -- python train.py ARGS`` runs the user's program
as the worker.

The program is started directly (so the parent probes — NVML, process, py-spy — watch its pid) with
two additions to its environment (:func:`profiler.core.protocol.command_env`):

* ``PYTHONPATH`` starts with ``profiler/inject``, whose ``sitecustomize.py`` runs at interpreter
  start and installs :class:`profiler.inject.recorder.CommandRecorder` when ``PROFILER_COMMAND_SPEC``
  names a spec file;
* ``PROFILER_COMMAND_SPEC`` — the worker spec (steps, warm-up, traced window, in-worker probes).

``--no-inject`` leaves both out: the program then runs untouched and only the parent probes see it
(no steps, no breakdown). A leading ``python``/``python3`` means the interpreter running profiler.
The child side — step detection, DataLoader waits, the traced window — is :mod:`profiler.inject.recorder`.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from profiler.core import defaults
from profiler.core.errors import InputError
from profiler.core.scenario import Implementation, Scenario, Variant, WorkloadSpec
from profiler.probes import probe_class, select_probes
from profiler.run.plan import Plan
from profiler.run.process import WorkerJob


def resolve_command(argv: list[str]) -> list[str]:
    """The command to run, ``python`` resolved to this interpreter; one-line error if it is missing."""
    if not argv:
        raise InputError("no command after --")
    exe = argv[0]
    if exe in ("python", "python3", Path(sys.executable).name):
        return [sys.executable, *argv[1:]]
    if os.sep in exe:
        if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
            raise InputError(f"command not found or not executable: {exe}")
        return list(argv)
    found = shutil.which(exe)
    if found is None:
        raise InputError(f"command not found: {exe}")
    return [found, *argv[1:]]


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


def plan_command(req: Any, argv: list[str], inject: bool = True) -> Any:
    """A :class:`profiler.run.plan.Plan` with one worker: the user's program."""
    cmd = resolve_command(argv)
    for n, v in (("--steps", req.steps), ("--threads", req.threads)):
        if v is not None and v < 1:
            raise InputError(f"{n} must be a positive integer, got {v}")
    for n, v in (("--warmup", req.warmup), ("--trace-steps", req.trace_steps)):
        if v is not None and v < 0:
            raise InputError(f"{n} must be a positive integer, got {v}")
    steps = req.steps or defaults.STEPS
    warmup = defaults.WARMUP if req.warmup is None else req.warmup
    trace_steps = defaults.TRACE_STEPS if req.trace_steps is None else req.trace_steps
    chosen, records = select_probes(req.probes, req.require, "torch")
    worker_probes = [p for p in chosen if probe_class(p).where == "worker"] if inject else []
    job = WorkerJob(
        key="command",
        workload=WorkloadSpec(
            scenario="command",
            framework="torch",
            variant="command",
            mode=req.mode or "train",
            preset="command",
            device=req.device if req.device != "auto" else "auto",
            threads=req.threads,
        ),
        module=None,
        warmup=warmup,
        steps=steps,
        trace_steps=trace_steps,
        worker_probes=worker_probes,
        parent_probes=[p for p in chosen if probe_class(p).where == "parent"],
        probe_options=req.probe_options,
        timeout_s=req.timeout_s,
    )
    job.command = cmd
    job.inject = inject
    settings = {
        "mode": req.mode or "train",
        "preset": "command",
        "device": req.device,
        "params": {},
        "steps": steps,
        "warmup": warmup,
        "trace_steps": trace_steps,
        "threads": req.threads,
        "data": "the program's own",
        "timeout_s": req.timeout_s,
        "command": cmd,
        "inject": inject,
    }
    return Plan(req, [job], [], settings, {"torch": records})


