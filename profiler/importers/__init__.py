"""Readers of framework profiler output (torch.profiler/Kineto JSON, TensorFlow XSpace, MXNet Chrome
JSON) into the event model, and ``profiler report TRACE``: a trace users already have, analysed and
saved like a run of ours.

:func:`load_trace` picks the reader from the file: ``*.xplane.pb`` (or a TensorBoard log directory
holding one) → :func:`profiler.importers.xspace.load_xspace`; Chrome JSON (``.json``/``.json.gz``)
→ the Kineto reader when the document is torch.profiler's (``schemaVersion``, ``deviceProperties``,
Kineto categories), else :func:`profiler.importers.mxnet_json.load_mxnet_profile`. Readers are
imported only when used. Importers never import a framework: recorded profiles are analysed anywhere.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler.errors import InputError, UnavailableError
from profiler.events import EventTable


@dataclass
class ImportedTrace:
    table: EventTable
    format: str  # "kineto-json" | "xspace" | "mxnet-json"
    framework: str  # "torch" | "tensorflow" | "mxnet"
    path: Path
    facts: dict[str, Any] = field(default_factory=dict)


def _reader(module: str, func: str, what: str) -> Any:
    try:
        mod = importlib.import_module(f"profiler.importers.{module}")
    except ImportError as e:
        raise UnavailableError(f"{what} import is unavailable: {e}") from None
    fn = getattr(mod, func, None)
    if fn is None:
        raise UnavailableError(f"{what} import is unavailable: profiler.importers.{module} has no {func}()")
    return fn


def _find_xplane(path: Path) -> Path | None:
    if path.is_file() and path.name.endswith(".pb"):
        return path
    if path.is_dir():
        found = sorted(path.rglob("*.xplane.pb"), key=lambda p: p.stat().st_mtime)
        return found[-1] if found else None
    return None


def is_trace_path(path: str | Path) -> bool:
    """Whether ``profiler report PATH`` should import PATH: a file, or a directory without run.json
    that holds an ``*.xplane.pb`` (a TensorBoard log directory)."""
    p = Path(path)
    if p.is_file():
        return True
    return p.is_dir() and not (p / "run.json").exists() and _find_xplane(p) is not None


def load_trace(path: str | Path) -> ImportedTrace:
    """Read any supported trace file; :class:`InputError` (one line) for anything else."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or directory")
    xp = _find_xplane(p)
    if xp is not None:
        load_xspace = _reader("xspace", "load_xspace", "TensorFlow XSpace (.xplane.pb)")
        return ImportedTrace(load_xspace(xp), "xspace", "tensorflow", xp)
    if p.is_dir():
        raise InputError(f"{p}: a directory with neither run.json nor *.xplane.pb")
    from profiler.importers.kineto_json import gc_paused, is_kineto, parse_kineto, read_json

    with gc_paused():
        doc = read_json(p)
        if is_kineto(doc):
            table, facts = parse_kineto(doc, str(p))
            return ImportedTrace(table, "kineto-json", "torch", p, facts)
    if isinstance(doc, (dict, list)) and (isinstance(doc, list) or isinstance(doc.get("traceEvents"), list)):
        del doc
        load_mxnet = _reader("mxnet_json", "load_mxnet_profile", "MXNet profile (Chrome JSON)")
        return ImportedTrace(load_mxnet(p), "mxnet-json", "mxnet", p)
    raise InputError(f"{p}: not a trace this profiler reads (torch.profiler JSON, TF .xplane.pb, MXNet JSON)")


def import_as_run(path: str | Path, out: Path, budget_mb: float | None = None) -> tuple[dict[str, Any], Any]:
    """Analyse a foreign trace and save it as a run directory (run.json, events, Chrome trace, PNGs).

    The breakdown, report and Chrome export are the ones a run of ours gets; the steps are the
    trace's own (``ProfilerStep#N``, TF steps, or the whole trace as one step) and, as every step was
    traced, the step times quoted are traced ones.
    """
    from profiler import __version__
    from profiler.orchestrate import analyse_variant, comparisons
    from profiler.rundir import RunDir, ensure_writable_root

    imp = load_trace(path)
    table = imp.table
    ensure_writable_root(out)
    stem = imp.path.name.split(".")[0] or "trace"
    run = RunDir.create(out, f"import-{stem}")
    key = f"{imp.framework}-{stem}"
    wdir = run.worker_dir(key)
    from profiler.analysis.breakdown import step_windows

    steps = step_windows(table)
    if not steps:
        table = _whole_trace_step(table)
        steps = step_windows(table)
        imp.facts["note"] = "no step markers: the whole trace is analysed as one step"
    host_pid = imp.facts.get("host_pid")
    if host_pid is None and steps:
        host_pid = steps[0].pid
    table.save(wdir / "events.npz")
    entry: dict[str, Any] = {
        "key": key,
        "scenario": "imported",
        "framework": imp.framework,
        "variant": imp.path.name,
        "mode": "trace",
        "preset": imp.format,
        "device": "cuda" if _has_device(table) else "cpu",
        "status": "ok",
        "error": None,
        "pid": host_pid,
        "probes": {},
        "events": f"workers/{key}/events.npz",
        "worker_dir": f"workers/{key}",
        "n_events": len(table),
        "imported": {"path": str(imp.path), "format": imp.format, **imp.facts},
    }
    entry.update(analyse_variant(table, entry, None, "step"))
    lim = None
    if imp.facts.get("device_properties"):
        from profiler.analysis.gpu import gpu_summary, limits_from_kineto

        lim = limits_from_kineto(imp.facts["device_properties"])
    if lim is not None and entry.get("gpu") and steps:
        # the trace names its GPU's SM limits: occupancy against those, not the defaults
        entry["gpu"] = gpu_summary(table, host_pid, steps, lim)
    # every imported step is traced: quote the traced figures as the step time
    if not (entry.get("step_ms") or {}).get("median"):
        entry["step_ms"] = entry.pop("traced_step_ms", None)
        entry.pop("tracing_overhead_pct", None)
        if entry.get("breakdown"):
            entry["breakdown"]["notes"].append(
                "imported trace: every step was traced, so the step time quoted is the traced one"
            )
    record: dict[str, Any] = {
        "id": run.path.name,
        "kind": "import",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": ["profiler", "report", str(path)],
        "scenario": {"name": f"imported {imp.format}", "summary": str(imp.path), "unit": "step"},
        "settings": {
            "imported": imp.format,
            "device": entry["device"],
            "preset": imp.format,
            "mode": "imported trace",
            "steps": 0,
            "warmup": 0,
            "trace_steps": len(steps),
            "data": "as recorded",
        },
        "host": {"cpu": "recorded elsewhere", "cores": "?"},
        "versions": {"profiler": __version__},
        "status": "ok",
        "variants": [entry],
        "trace": None,
    }
    record["comparisons"] = comparisons(record["variants"])
    from profiler.export.chrome import ChromeTraceExporter

    exporter = ChromeTraceExporter(
        metadata={"run": run.path.name, "imported": str(imp.path)}, budget_mb=budget_mb
    )
    exporter.write(table, run.trace_file)
    record["trace"] = run.trace_file.name
    if exporter.dropped:
        record["trace_budget"] = exporter.dropped
    try:
        from profiler.export.plots import write_run_plots

        record["plots"] = write_run_plots(record, run.path)
    except ImportError as e:
        record["plots"] = {"unavailable": f"unavailable: {e}"}
    run.write_record(record)
    return record, run


def _has_device(table: EventTable) -> bool:
    from profiler.events import DEVICE_TID_BASE

    return bool((table.spans["tid"] >= DEVICE_TID_BASE).any())


def _whole_trace_step(table: EventTable) -> EventTable:
    """The table plus one ``step`` span over everything, owned by the busiest process."""
    import numpy as np

    from profiler.events import STEP, EventBuilder

    tr = table.time_range()
    if tr is None or not table.n_spans:
        return table
    pids, counts = np.unique(table.spans["pid"], return_counts=True)
    b = EventBuilder()
    b.span(
        STEP,
        "trace window",
        tr[0],
        tr[1] - tr[0],
        int(pids[np.argmax(counts)]),
        0,
        args={"index": 0, "traced": True, "whole_trace": True},
    )
    return EventTable.concat([table, b.build()])
