"""What this machine offers, as data for ``profiler list``, ``doctor`` and ``calibrate``: every scenario's
variants with their availability here (:func:`scenario_rows`), the frameworks and probes with their
versions or why they are unavailable (:func:`doctor_facts`), and the roofline's ceilings measured or
taken from the cache (:func:`ceilings`). The commands render these; nothing here prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def scenario_rows() -> list[dict[str, Any]]:
    """One row per (scenario, framework, variant): its modes, whether it needs a GPU, whether it can
    run here and why not (its framework is missing, or it needs an NVIDIA GPU and none is visible)."""
    from profiler.core.frameworks import framework_availability
    from profiler.core.hardware import gpus
    from profiler.core.registry import builtin_scenarios

    gpu_list, gpu_reason = gpus()
    rows = []
    for sc in builtin_scenarios().values():
        for fw, v in sc.iter_variants():
            av = framework_availability(fw)
            ok, reason = av.available, av.reason
            if ok and v.needs_gpu and not gpu_list:
                ok, reason = False, f"needs an NVIDIA GPU ({gpu_reason})"
            rows.append({
                "scenario": sc.name,
                "framework": fw,
                "variant": v.name,
                "modes": list(sc.modes),
                "needs_gpu": v.needs_gpu,
                "available": ok,
                "reason": reason,
                "summary": v.summary,
            })
    return rows


def frameworks_without_builds() -> list[dict[str, Any]]:
    """The frameworks that cannot be installed at all, with the reason."""
    from profiler.core.frameworks import FRAMEWORKS

    return [{"framework": n, "available": False, "reason": f.never_installable}
            for n, f in FRAMEWORKS.items() if f.never_installable]


def doctor_facts() -> dict[str, Any]:
    """The host, every framework and probe (version, or why unavailable; a probe's side and summary)
    and the cached calibration (``None`` when this machine has none)."""
    from profiler.core.calibration import load_cached
    from profiler.core.frameworks import FRAMEWORKS, framework_availability
    from profiler.core.hardware import host_info
    from profiler.probes import PROBES, availability_of, probe_class

    return {
        "host": host_info(),
        "frameworks": {n: framework_availability(n).as_dict() for n in FRAMEWORKS},
        "probes": {n: {**availability_of(n).as_dict(), "where": probe_class(n).where, "summary": probe_class(n).summary}
                   for n in PROBES},
        "calibration": load_cached(),
    }


@dataclass(frozen=True)
class Ceilings:
    """This machine's calibration record, where it is cached, and whether it came from the cache."""

    record: dict[str, Any]
    cache_file: str
    from_cache: bool

    def warnings(self) -> list[str]:
        """What a reader should know about it: a fresh measurement's noise warnings and cache note; a
        cached one measured while the machine was disturbed is provisional."""
        rec = self.record
        noise = rec.get("noise") or {}
        notes = [] if self.from_cache else [rec.get("cache", {}).get("note")]
        if self.from_cache and noise.get("disturbed"):
            notes = ["this cached calibration is provisional (measured while the machine was disturbed: "
                     + "; ".join(noise.get("reasons") or []) + "); `profiler calibrate --force` measures again"]
        return [w for w in [*([] if self.from_cache else noise.get("warnings", [])), *notes] if w and w != "cached"]


def ceilings(force: bool = False, quick: bool = False) -> Ceilings:
    """The cached ceilings of this machine, or (none cached, or ``force``) measured now and cached
    when the measurement was undisturbed (:func:`profiler.run.calibrate.measure_and_cache`)."""
    from profiler.core.calibration import cache_file, load_cached
    from profiler.run.calibrate import measure_and_cache

    previous = load_cached()
    rec = None if force else previous
    cached = rec is not None
    if rec is None:
        rec = measure_and_cache(quick, previous)  # checks its own noise; caches only if undisturbed
    return Ceilings(rec, str(cache_file()), cached)
