"""From a request ("trace this scenario") to a saved, analysed run.

``plan`` validates the request and turns it into worker jobs (nothing runs, nothing is written);
``execute`` creates the run directory, runs each job in its own worker, analyses what came back,
writes the Chrome trace and ``run.json``, and returns the run record. Failures of one worker are
recorded in its variant entry; the others still run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler import __version__
from profiler.analysis.breakdown import CATEGORIES, step_windows
from profiler.analysis.explain import explain
from profiler.analysis.ops import dispatch_counts, op_table
from profiler.analysis.stats import summarize_ms
from profiler.errors import InputError, UnavailableError, unknown_choice
from profiler.events import EventTable
from profiler.frameworks import FRAMEWORKS, framework_availability
from profiler.hardware import gpu_present, host_info
from profiler.rundir import RunDir, ensure_writable_root
from profiler.runner import JobOutcome, WorkerJob, run_job
from profiler.scenario import Scenario, WorkloadSpec

DEFAULT_OUT = Path("runs")


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
    #: profiler.distributed.Launch per world size (--nproc/--nnodes ...); None: plain workers
    launches: list[Any] | None = None


@dataclass
class Plan:
    request: TraceRequest
    jobs: list[WorkerJob]
    skipped: list[dict[str, Any]]  # variants that cannot run here, with the reason
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
    steps = req.steps or int(params.pop("steps", 10))
    warmup = req.warmup if req.warmup is not None else int(params.pop("warmup", 2))
    trace_steps = req.trace_steps if req.trace_steps is not None else int(params.pop("trace_steps", 3))
    for k in ("steps", "warmup", "trace_steps"):
        params.pop(k, None)

    jobs: list[WorkerJob] = []
    skipped: list[dict[str, Any]] = []
    probe_records: dict[str, Any] = {}
    known_variants = {v.name for _, v in sc.iter_variants()}
    for v in req.variants or []:
        if v not in known_variants:
            raise unknown_choice("variant", v, known_variants)
    from profiler.probes import probe_class, select_probes

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
            base = {"scenario": sc.name, "framework": fw, "variant": v.name, "mode": mode, "preset": preset}
            if not av.available:
                skipped.append({**base, "status": "unavailable", "error": f"unavailable: {av.reason}"})
                continue
            if v.needs_gpu and device != "cuda":
                skipped.append(
                    {
                        **base,
                        "status": "unavailable",
                        "error": "unavailable: needs an NVIDIA GPU (none found)",
                    }
                )
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
        "warmup": warmup,
        "trace_steps": trace_steps,
        "threads": req.threads,
        "data": req.data,
        "timeout_s": req.timeout_s,
    }
    if req.launches:
        from profiler.distributed import expand_jobs

        # without --framework, the scenario's other frameworks are skipped with the reason
        jobs, not_distributed = expand_jobs(jobs, req.launches, explicit=req.frameworks is not None)
        skipped.extend(not_distributed)
        settings["distributed"] = [la.as_dict() for la in req.launches]
    return Plan(req, jobs, skipped, settings, probe_records)


def analyse_variant(
    events: EventTable, entry: dict[str, Any], items_per_step: float | None = None, unit: str = "step"
) -> dict[str, Any]:
    """Step statistics, breakdown, top ops and dispatch counts for one worker's events."""
    pid = entry.get("pid")
    clean = step_windows(events, pid, traced=False)
    traced = step_windows(events, pid, traced=True)
    out: dict[str, Any] = {}
    out["step_ms"] = summarize_ms([w.dur_ns for w in clean])
    out["traced_step_ms"] = summarize_ms([w.dur_ns for w in traced])
    if out["step_ms"]["median"] and out["traced_step_ms"]["median"]:
        out["tracing_overhead_pct"] = 100.0 * (out["traced_step_ms"]["median"] / out["step_ms"]["median"] - 1)
    if unit != "step" and items_per_step and out["step_ms"]["median"]:
        n_items = float(unit.split()[0])
        out["per_unit_ms"] = out["step_ms"]["median"] * n_items / items_per_step
    steps = traced or clean
    if steps:
        from profiler.analysis.attribution import attributed_breakdown
        from profiler.calibrate import load_cached

        # cost model, roofline classifier (this machine's calibrated ceilings), GPU summary
        bd, extra = attributed_breakdown(events, pid, steps, entry.get("device") or "cpu", load_cached())
        out.update(extra)
        out["breakdown"] = bd.to_dict()
        out["breakdown_ms"] = dict(bd.ms)
        out["top_ops"] = op_table(events, pid, steps)
        out["dispatch"] = dispatch_counts(events, pid, steps)
    else:
        out["breakdown"] = None
        out["breakdown_ms"] = None
    # low-level probes (NVML, process, py-spy) run for the whole worker: their figures are over the
    # clean steps when there are any
    from profiler.probes.summary import probe_summary

    win = [(w.start_ns, w.end_ns) for w in (clean or traced)]
    out["probe_summary"] = probe_summary(events, pid, win)
    return out


def variant_entry(outcome: JobOutcome, run: RunDir, sc: Scenario) -> dict[str, Any]:
    job, res = outcome.job, outcome.result
    wl = job.workload
    entry: dict[str, Any] = {
        "key": job.key,
        "scenario": wl.scenario,
        "framework": wl.framework,
        "variant": wl.variant,
        "mode": wl.mode,
        "preset": wl.preset,
        "device": wl.device,
        "threads": wl.threads,
        "status": outcome.status,
        "error": outcome.error,
        "exit_code": outcome.exit_code,
        "pid": res.get("pid"),
        "wall_s": round(outcome.wall_s, 3),
        "phases_ms": res.get("phases", {}),
        "info": res.get("info", {}),
        "probes": {**res.get("probes", {}), **outcome.probe_records},
        "events": os.path.relpath(outcome.worker_dir / "events.npz", run.path)
        if (outcome.worker_dir / "events.npz").exists()
        else None,
        "worker_dir": os.path.relpath(outcome.worker_dir, run.path),
        "n_events": len(outcome.events),
    }
    items = wl.params.get(sc.items_key)
    entry["items_per_step"] = items
    entry.update(analyse_variant(outcome.events, entry, items, sc.unit))
    return entry


def comparisons(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The comparisons a reader wants: within each framework, every variant against that framework's
    fastest (fused vs unfused); across frameworks, each framework's best against the overall best."""
    ok = [v for v in variants if v.get("status") == "ok" and (v.get("step_ms") or {}).get("median")]
    if len(ok) < 2:
        return []

    def speed(v: dict[str, Any]) -> float:
        return v["step_ms"]["median"]

    by_fw: dict[str, list[dict[str, Any]]] = {}
    for v in ok:
        by_fw.setdefault(v.get("framework", "?"), []).append(v)
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for vs in by_fw.values():
        best = min(vs, key=speed)
        pairs += [(best, v) for v in sorted(vs, key=speed) if v is not best]
    if len(by_fw) > 1:
        # a variant that does less work than the mode says (e.g. forward only in a train run) is
        # compared within its framework only, never across frameworks
        whole = {fw: [v for v in vs if not (v.get("info") or {}).get(v.get("mode", ""))] for fw, vs in by_fw.items()}
        bests = sorted((min(vs, key=speed) for vs in whole.values() if vs), key=speed)
        pairs += [(bests[0], v) for v in bests[1:]]
    return [e for a, b in pairs if (e := explain(a, b))]


def run_status(variants: list[dict[str, Any]]) -> str:
    st = {v["status"] for v in variants if v["status"] != "unavailable"}
    if not st:
        return "unavailable"
    if st == {"ok"}:
        return "ok"
    if "interrupted" in st:
        return "interrupted"
    return "partial" if "ok" in st else "failed"


ProgressFn = Callable[[WorkerJob, dict[str, Any]], None]


def record_header(
    run: RunDir, kind: str, sc: Scenario, settings: dict[str, Any], command: list[str], frameworks: set[str]
) -> dict[str, Any]:
    """The fields every run record opens with: what ran, with which settings, where, with what."""
    return {
        "id": run.path.name,
        "kind": kind,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command or sys.argv,
        "scenario": sc.to_dict(),
        "settings": settings,
        "host": host_info(),
        "versions": {
            "profiler": __version__,
            "python": sys.version.split()[0],
            **{fw: framework_availability(fw).version for fw in frameworks},
        },
    }


def execute(
    p: Plan, progress: ProgressFn | None = None, on_job_done: Callable[[dict[str, Any]], None] | None = None
) -> tuple[dict[str, Any], RunDir]:
    req = p.request
    sc = req.scenario
    ensure_writable_root(req.out)
    run = RunDir.create(req.out, req.label or sc.name)
    from profiler.probes import PROBES, availability_of

    if p.jobs:
        ensure_calibrated()
    record: dict[str, Any] = {
        **record_header(run, "trace", sc, p.settings, req.command, {j.workload.framework for j in p.jobs}),
        "probes": {n: availability_of(n).as_dict() for n in PROBES},
        "calibration": _calibration(),
        "probe_selection": p.probe_records,
        "status": "running",
        "variants": list(p.skipped),
        "trace": None,
    }
    run.write_record(record)
    tables: list[EventTable] = []
    try:
        _run_jobs(p, run, record, tables, progress, on_job_done)
    except KeyboardInterrupt:  # Ctrl-C between workers or during analysis: keep what we have
        record["status"] = "interrupted"
        run.write_record(record)
        raise
    record["comparisons"] = comparisons(record["variants"])
    if req.launches:
        from profiler.analysis.ranks import scaling_table

        record["scaling"] = scaling_table(record["variants"])
        # entries of one variant at several world sizes share a name: the scaling table, not a
        # variant-vs-variant explanation, is what compares them
        record["comparisons"] = []
    if tables:
        from profiler.export.chrome import ChromeTraceExporter

        merged = EventTable.concat(tables)
        exporter = ChromeTraceExporter(
            metadata={"run": run.path.name, "scenario": sc.name}, budget_mb=req.trace_budget_mb
        )
        exporter.write(merged, run.trace_file)
        record["trace"] = run.trace_file.name
        if exporter.dropped:
            record["trace_budget"] = exporter.dropped
    from profiler.export.plots import write_run_plots

    record["plots"] = write_run_plots(record, run.path)
    record["status"] = run_status(record["variants"])
    run.write_record(record)
    return record, run


def _run_jobs(
    p: Plan,
    run: RunDir,
    record: dict[str, Any],
    tables: list[EventTable],
    progress: ProgressFn | None,
    on_job_done: Callable[[dict[str, Any]], None] | None,
) -> None:
    """Run every job in turn; after an interrupted one, the rest are recorded as not started."""
    sc = p.request.scenario
    interrupted = False
    for job in p.jobs:
        wl = job.workload
        if interrupted:
            record["variants"].append(
                {"key": job.key, "scenario": wl.scenario, "framework": wl.framework, "variant": wl.variant,
                 "mode": wl.mode, "preset": wl.preset, "status": "interrupted",
                 "error": "not started: interrupted"}
            )
            continue
        if job.launch is not None:
            from profiler.distributed import run_distributed_job

            outcome = run_distributed_job(job, run.worker_dir(job.key), progress)
        else:
            outcome = run_job(job, run.worker_dir(job.key), progress)
        entry = variant_entry(outcome, run, sc)
        if "distributed" in outcome.result:  # per-rank analysis, clocks, straggler, failure
            entry["distributed"] = outcome.result["distributed"]
        record["variants"].append(entry)
        tables.append(outcome.events)
        run.write_record(record)  # nothing measured so far is lost if a later worker fails
        if on_job_done:
            on_job_done(entry)
        if outcome.status == "interrupted":
            interrupted = True


AUTO_CALIBRATE_ENV = "PROFILER_AUTO_CALIBRATE"


def ensure_calibrated(timeout_s: float = 300.0) -> str | None:
    """Measure this machine's ceilings once (a few seconds), so the roofline split has them.

    Runs ``profiler calibrate`` in a child process (numba and the BLAS stay out of this one) before
    any worker starts; the result is cached per machine. ``PROFILER_AUTO_CALIBRATE=0`` turns it off.
    Returns why no calibration is available, or ``None``.
    """
    from profiler.calibrate import load_cached

    if load_cached() is not None:
        return None
    if os.environ.get(AUTO_CALIBRATE_ENV, "1") == "0":
        return f"not calibrated ({AUTO_CALIBRATE_ENV}=0)"
    print("profiler: measuring this machine's ceilings once (cached; `profiler calibrate --force` redoes it)",
          file=sys.stderr, flush=True)
    try:
        proc = subprocess.run([sys.executable, "-m", "profiler.cli", "calibrate", "--json"],
                              capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return f"calibration timed out after {timeout_s:g} s"
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return f"calibration failed: {lines[-1] if lines else proc.returncode}"
    return None


def _calibration() -> dict[str, Any]:
    """This machine's cached ceilings (``profiler calibrate``), or why there are none."""
    from profiler.calibrate import load_cached, summary_line

    cal = load_cached()
    return {"record": cal, "summary": summary_line(cal)}


def json_summary(record: dict[str, Any], run: RunDir) -> dict[str, Any]:
    """The ``--json`` document (schema in docs/cli.md)."""
    return {
        "run_dir": str(run.path),
        "trace": str(run.path / record["trace"]) if record.get("trace") else None,
        "status": record.get("status"),
        "scenario": record["scenario"]["name"],
        "settings": record.get("settings"),
        "variants": [
            {
                "scenario": v.get("scenario"),
                "framework": v.get("framework"),
                "variant": v.get("variant"),
                "mode": v.get("mode"),
                "preset": v.get("preset"),
                "status": v.get("status"),
                "error": v.get("error"),
                "step_ms": {k: (v.get("step_ms") or {}).get(k) for k in ("median", "min", "max")}
                if v.get("step_ms")
                else None,
                "traced_step_ms": (v.get("traced_step_ms") or {}).get("median"),
                "tracing_overhead_pct": v.get("tracing_overhead_pct"),
                "per_unit_ms": v.get("per_unit_ms"),
                "breakdown_ms": v.get("breakdown_ms"),
                "residual_pct": (v.get("breakdown") or {}).get("residual_pct"),
                "not_measured": (v.get("breakdown") or {}).get("not_measured"),
                "input_bound": ((v.get("breakdown") or {}).get("input_bound") or {}).get("verdict"),
                **({"distributed": v["distributed"]} if v.get("distributed") else {}),
            }
            for v in record["variants"]
        ],
        **({"scaling": record["scaling"]} if "scaling" in record else {}),
        "comparisons": [
            {k: c[k] for k in ("fast", "slow", "speedup", "gap_ms", "main_category", "sentence")}
            for c in record.get("comparisons", [])
        ],
    }


__all__ = ["CATEGORIES", "Plan", "TraceRequest", "analyse_variant", "execute", "json_summary", "plan"]
