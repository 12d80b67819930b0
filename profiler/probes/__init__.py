"""Probe registry: every probe the toolkit has, by name, imported only when used."""

from __future__ import annotations

from typing import Any

from profiler.core.errors import InputError, unknown_choice
from profiler.core.events import EventTable
from profiler.core.frameworks import Availability, resolve, tracers
from profiler.probes.base import Probe, ProbeTarget

#: name -> "module:Class". Order is the order doctor lists them: the frameworks' tracers (their
#: descriptors in core/frameworks.py), then the probes of any worker.
PROBES: dict[str, str] = {
    **{t.probe: t.probe_class for t in tracers()},
    "cupti": "profiler.probes.cupti:CuptiProbe",
    "nvml": "profiler.probes.nvml:NvmlProbe",
    "process": "profiler.probes.process:ProcessProbe",
    "pyspy": "profiler.probes.pyspy:PySpyProbe",
}

__all__ = ["PROBES", "Probe", "ProbeTarget", "availability_of", "collect_probes", "probe_class", "select_probes", "start_probes", "stop_probes"]


def probe_class(name: str) -> type[Probe]:
    if name not in PROBES:
        raise unknown_choice("probe", name, PROBES)
    return resolve(PROBES[name])


def availability_of(name: str) -> Availability:
    try:
        return probe_class(name).availability()
    except InputError:
        raise
    except Exception as e:  # a probe whose own check fails is unavailable, with the reason
        return Availability(False, f"availability check failed: {type(e).__name__}: {e}")


def select_probes(
    requested: list[str] | None, required: list[str], framework: str
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Which probes run for a worker of ``framework``, and every probe's availability record.

    ``requested`` None means every available probe that applies. A required probe that is
    unavailable is an error (exit code 2) with the reason.
    """
    for n in list(requested or []) + list(required):
        if n not in PROBES:
            raise unknown_choice("probe", n, PROBES)
    chosen: list[str] = []
    records: dict[str, dict[str, Any]] = {}
    for name in PROBES:
        cls = probe_class(name)
        av = availability_of(name)
        applies = not cls.frameworks or framework in cls.frameworks
        wanted = requested is None or name in requested or name in required
        rec = {**av.as_dict(), "where": cls.where, "selected": False, "overhead": cls.overhead_note}
        if not applies:
            rec["reason"] = rec["reason"] or f"does not apply to {framework}"
        if name in required and not (av.available and applies):
            raise InputError(f"--require {name}: unavailable: {rec['reason']}")
        if wanted and av.available and applies:
            chosen.append(name)
            rec["selected"] = True
        records[name] = rec
    return chosen, records


def start_probes(
    names: list[str], options: dict[str, Any], target: ProbeTarget, records: dict[str, Any]
) -> list[Probe]:
    """Start each named probe against ``target``; ``records[name]`` says whether it ran, or why not.

    A probe that fails to start is recorded, never raised: the run goes on without it.
    """
    started: list[Probe] = []
    for name in names:
        rec: dict[str, Any] = {"ran": False}
        records[name] = rec
        try:
            p = probe_class(name)((options or {}).get(name))
            p.start(target)
            started.append(p)
            rec["ran"] = True
        except Exception as e:  # e.g. the program already runs its own torch.profiler
            rec["error"] = f"{type(e).__name__}: {e}"
    return started


def stop_probes(probes: list[Probe]) -> None:
    """Stop each probe; a failure is kept in the probe's ``errors``."""
    for p in probes:
        try:
            p.stop()
        except Exception as e:
            p.errors.append(f"{type(e).__name__}: {e}")


def collect_probes(probes: list[Probe], records: dict[str, Any]) -> list[EventTable]:
    """The stopped probes' events; their info and errors go into ``records[name]``."""
    tables: list[EventTable] = []
    for p in probes:
        rec = records.setdefault(p.name, {})
        try:
            tables.append(p.events())
            rec.update(p.info())
        except Exception as e:
            p.errors.append(f"{type(e).__name__}: {e}")
        if p.errors:
            rec["errors"] = list(p.errors)
    return tables
