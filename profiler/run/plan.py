"""From a request ("trace this scenario") to worker jobs: validated, nothing run, nothing written.

``plan`` checks the scenario, frameworks, variants, mode, preset, device and step counts, selects the
probes, and returns one :class:`~profiler.run.process.WorkerJob` per variant that can run here, plus
the variants that cannot (with the reason). :mod:`profiler.run.execute` runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from profiler.core import defaults
from profiler.core.errors import InputError, UnavailableError, unknown_choice
from profiler.core.frameworks import FRAMEWORKS, framework_availability
from profiler.core.hardware import gpu_present
from profiler.core.record import VariantEntry
from profiler.core.scenario import Scenario, WorkloadSpec
from profiler.probes import probe_class, select_probes
from profiler.run.process import WorkerJob
from profiler.run.torchrun import expand_jobs

DEFAULT_OUT = defaults.OUT_DIR
DEFAULT_MIN_TIME_S = defaults.MIN_TIME_S
DEFAULT_MAX_TIME_S = defaults.MAX_TIME_S
MIN_CALIBRATED_STEPS = defaults.MIN_CALIBRATED_STEPS
MAX_CALIBRATED_STEPS = defaults.MAX_CALIBRATED_STEPS


@dataclass
class TraceRequest:
    scenario: Scenario
    frameworks: list[str] | None = None  # None: every framework the scenario has
    variants: list[str] | None = None  # None: every variant
    mode: str | None = None
    preset: str | None = None  # None: "seed" with a GPU, else "cpu"
    device: str = "auto"  # auto | cpu | cuda
    steps: int | None = None
    warmup: int | None = None
    trace_steps: int | None = None
    threads: int | None = None
    data: str = "ram"
    probes: list[str] | None = None
    require: list[str] = field(default_factory=list)
    probe_options: dict[str, Any] = field(default_factory=dict)
    out: Path = DEFAULT_OUT
    timeout_s: float | None = None
    command: list[str] = field(default_factory=list)
    label: str | None = None
    trace_budget_mb: float | None = None  # --trace-budget: keep the Chrome trace's JSON under this
    #: profiler.run.torchrun.Launch per world size (--nproc/--nnodes ...); None: plain workers
    launches: list[Any] | None = None
    #: --repeat: fresh worker processes per variant, interleaved (ABCABC); only the first traces
    repeat: int = 1
    #: --min-time / --max-time: calibrate the clean steps per process (None: the defaults above
    #: without --steps; exactly --steps steps with it)
    min_time_s: float | None = None
    max_time_s: float | None = None


@dataclass
class Plan:
    request: TraceRequest
    jobs: list[WorkerJob]
    skipped: list[VariantEntry]  # variants that cannot run here, with the reason
    settings: dict[str, Any]
    probe_records: dict[str, Any]


def plan(req: TraceRequest) -> Plan:
    sc = req.scenario
    frameworks = req.frameworks or sc.frameworks
    for fw in frameworks:
        if fw not in FRAMEWORKS:
            raise unknown_choice("framework", fw, FRAMEWORKS)
        if sc.implementation(fw) is None:
            raise InputError(
                f"scenario {sc.name} has no {fw} implementation; it has: {', '.join(sc.frameworks)}"
            )
    mode = req.mode or sc.default_mode
    if mode not in sc.modes:
        raise unknown_choice("mode", mode, sc.modes)
    has_gpu = gpu_present()
    device = req.device
    if device not in ("auto", "cpu", "cuda"):
        raise unknown_choice("device", device, ("auto", "cpu", "cuda"))
    if device == "auto":
        device = "cuda" if has_gpu else "cpu"
    elif device == "cuda" and not has_gpu:
        raise UnavailableError("--device cuda: unavailable: no NVIDIA GPU found (NVML saw none)")
    preset = req.preset or ("seed" if device == "cuda" and "seed" in sc.presets else "cpu")
    if preset not in sc.presets:
        raise unknown_choice("preset", preset, sc.presets)
    params = dict(sc.presets[preset])
    if req.data not in ("ram", "disk"):
        raise unknown_choice("data mode", req.data, ("ram", "disk"))
    for n, v in (
        ("--steps", req.steps),
        ("--warmup", req.warmup),
        ("--trace-steps", req.trace_steps),
        ("--threads", req.threads),
    ):
        if v is not None and v < (0 if n in ("--warmup", "--trace-steps") else 1):
            raise InputError(f"{n} must be a positive integer, got {v}")
    if not isinstance(req.repeat, int) or req.repeat < 1:
        raise InputError(f"--repeat must be a positive integer, got {req.repeat}")
    if req.min_time_s is not None and not req.min_time_s >= 0:
        raise InputError(f"--min-time must be zero or a positive number of seconds, got {req.min_time_s:g}")
    if req.max_time_s is not None and not req.max_time_s > 0:
        raise InputError(f"--max-time must be a positive number of seconds, got {req.max_time_s:g}")
    preset_steps = int(params.get("steps", defaults.STEPS))
    if req.min_time_s is None and req.steps is not None:
        min_time = 0.0  # --steps alone: exactly that many
    else:
        min_time = DEFAULT_MIN_TIME_S if req.min_time_s is None else req.min_time_s
    max_time = req.max_time_s if req.max_time_s is not None else max(DEFAULT_MAX_TIME_S, min_time)
    if min_time > max_time:
        raise InputError(f"--min-time {min_time:g} s is longer than the time budget --max-time {max_time:g} s")
    steps = req.steps or (MAX_CALIBRATED_STEPS if min_time > 0 else preset_steps)
    min_steps = min(steps, MIN_CALIBRATED_STEPS)
    params.pop("steps", None)
    warmup = req.warmup if req.warmup is not None else int(params.pop("warmup", defaults.WARMUP))
    trace_steps = req.trace_steps if req.trace_steps is not None else int(params.pop("trace_steps", defaults.TRACE_STEPS))
    for k in ("steps", "warmup", "trace_steps"):
        params.pop(k, None)

    jobs: list[WorkerJob] = []
    skipped: list[VariantEntry] = []
    probe_records: dict[str, Any] = {}
    known_variants = {v.name for _, v in sc.iter_variants()}
    for v in req.variants or []:
        if v not in known_variants:
            raise unknown_choice("variant", v, known_variants)
    for fw in frameworks:
        impl = sc.implementation(fw)
        assert impl is not None
        av = framework_availability(fw)
        # run in the order the user named them, else in declaration order
        variants = list(impl.variants) if req.variants is None else [
            v for name in req.variants for v in impl.variants if v.name == name
        ]
        chosen, records = select_probes(req.probes, req.require, fw)
        probe_records[fw] = records
        for v in variants:
            if not av.available:
                skipped.append(VariantEntry.skipped(sc.name, fw, v.name, mode, preset, f"unavailable: {av.reason}"))
                continue
            if v.needs_gpu and device != "cuda":
                skipped.append(VariantEntry.skipped(sc.name, fw, v.name, mode, preset,
                                                    "unavailable: needs an NVIDIA GPU (none found)"))
                continue
            key = f"{fw}-{v.name}-{mode}"
            jobs.append(
                WorkerJob(
                    key=key,
                    workload=WorkloadSpec(
                        scenario=sc.name,
                        framework=fw,
                        variant=v.name,
                        mode=mode,
                        preset=preset,
                        device=device,
                        params=params,
                        threads=req.threads,
                        data=req.data,
                    ),
                    module=impl.module,
                    scenario_file=sc.source if impl.module is None else None,
                    warmup=warmup,
                    steps=steps,
                    trace_steps=trace_steps,
                    worker_probes=[p for p in chosen if probe_class(p).where == "worker"],
                    parent_probes=[p for p in chosen if probe_class(p).where == "parent"],
                    probe_options=req.probe_options,
                    timeout_s=req.timeout_s,
                    min_time_s=min_time,
                    max_time_s=max_time if min_time > 0 or req.max_time_s is not None else None,
                    min_steps=min_steps,
                )
            )
    if req.variants and not jobs and not skipped:
        raise InputError(
            f"no variant of {sc.name} matches {', '.join(req.variants)} for {', '.join(frameworks)}"
        )
    settings = {
        "mode": mode,
        "preset": preset,
        "device": device,
        "params": params,
        "steps": steps,
        "min_time_s": min_time,
        "max_time_s": max_time if min_time > 0 or req.max_time_s is not None else None,
        "repeat": req.repeat if not req.launches else 1,
        "warmup": warmup,
        "trace_steps": trace_steps,
        "threads": req.threads,
        "data": req.data,
        "timeout_s": req.timeout_s,
    }
    if req.launches:
        # without --framework, the scenario's other frameworks are skipped with the reason
        jobs, not_distributed = expand_jobs(jobs, req.launches, explicit=req.frameworks is not None)
        skipped.extend(not_distributed)
        settings["distributed"] = [la.as_dict() for la in req.launches]
    else:
        jobs = repeat_jobs(jobs, req.repeat)
    return Plan(req, jobs, skipped, settings, probe_records)


def repeat_jobs(jobs: list[WorkerJob], repeat: int) -> list[WorkerJob]:
    """``repeat`` processes per job, interleaved (ABCABC…). The first of each traces (its probes and
    traced steps); the others run warm-up and clean steps only, with no probe attached."""
    if repeat <= 1:
        return jobs
    out: list[WorkerJob] = []
    for r in range(repeat):
        for j in jobs:
            if r == 0:
                out.append(replace(j, group=j.key, repeat_index=0))
            else:
                out.append(replace(j, key=f"{j.key}.p{r + 1}", group=j.key, repeat_index=r, trace_steps=0,
                                   worker_probes=[], parent_probes=[]))
    return out


