"""Probe registry: every probe the toolkit has, by name, imported only when used."""

from __future__ import annotations

import importlib
from typing import Any

from profiler.errors import InputError, unknown_choice
from profiler.frameworks import Availability
from profiler.probes.base import Probe, ProbeTarget

#: name -> "module:Class". Order is the order doctor lists them.
PROBES: dict[str, str] = {
    "torch": "profiler.probes.torch_tracer:TorchProbe",
    "tensorflow": "profiler.probes.tf_tracer:TensorFlowProbe",
    "mxnet": "profiler.probes.mxnet_tracer:MxnetProbe",
    "chainer": "profiler.probes.chainer_tracer:ChainerProbe",
    "cupti": "profiler.probes.cupti:CuptiProbe",
    "nvml": "profiler.probes.nvml:NvmlProbe",
    "process": "profiler.probes.process:ProcessProbe",
    "pyspy": "profiler.probes.pyspy:PySpyProbe",
}

__all__ = ["PROBES", "Probe", "ProbeTarget", "availability_of", "probe_class", "select_probes"]


def probe_class(name: str) -> type[Probe]:
    if name not in PROBES:
        raise unknown_choice("probe", name, PROBES)
    mod, cls = PROBES[name].split(":")
    return getattr(importlib.import_module(mod), cls)


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
