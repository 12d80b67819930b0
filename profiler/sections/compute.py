"""The one loop that computes the registered sections: every section with a ``compute`` is called
with its scope's context, and its raw value lands under its key in ``run.json`` (docs/sections.md).

:func:`analyse` is the whole analysis of one worker's events (the core figures of
:func:`profiler.analysis.variant.variant_inputs`, then every variant section's); :func:`compute_run`
the per-run sections' of a record's entries. Adding a section is its module: no caller changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from profiler.analysis.variant import RunInputs, VariantInputs, variant_inputs
from profiler.core.events import EventTable
from profiler.core.record import RunRecord
from profiler.sections.registry import run_sections, variant_sections


def compute_variant(inputs: VariantInputs) -> dict[str, Any]:
    """Every registered variant section's raw value, by key (a section with nothing to compute from
    ``inputs`` — its ``when`` — is left out)."""
    return {s.key: s.compute(inputs) for s in variant_sections() if s.computes(inputs) and s.compute}


def compute_run(inputs: RunInputs) -> dict[str, Any]:
    """Every registered run section's raw value, by key."""
    return {s.key: s.compute(inputs) for s in run_sections() if s.computes(inputs) and s.compute}


def analyse(
    events: EventTable,
    entry: Mapping[str, Any],
    items_per_step: float | None = None,
    unit: str = "step",
    calibration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One worker's figures for its entry (``VariantEntry.update``): the core analysis, then every
    registered section computed from it."""
    inputs = variant_inputs(events, entry, items_per_step, unit, calibration)
    figures = compute_variant(inputs)
    clash = sorted(set(figures) & set(inputs.figures))
    if clash:  # a section may not replace a core figure under the same key
        raise RuntimeError(f"sections computed under a core figure's key: {clash}")
    return {**inputs.figures, **figures}


def analyse_run(record: RunRecord, by_world_size: bool = False) -> None:
    """Set the per-run sections of ``record`` from its entries (a field of the record, such as
    ``comparisons``, or one of its ``sections``)."""
    figures = compute_run(RunInputs(tuple(v.to_dict() for v in record.variants), by_world_size))
    names = {f.name for f in dataclasses.fields(record)}
    for k, v in figures.items():
        if k in names:
            setattr(record, k, v)
        else:
            record.sections[k] = v


__all__ = ["analyse", "analyse_run", "compute_run", "compute_variant"]
