"""Measure a variant again when the machine disturbed it: once, within a time budget.

A single-process scenario variant disturbed by the machine (the machine-level phrases of
:data:`profiler.analysis.variant.DISTURBANCE_PHRASES`) runs once more in a fresh worker; the second
measurement is kept when the machine left it alone, and ``breakdown.reliability.remeasured`` says
what happened. Budget: :data:`BUDGET_SHARE` of the run's worker time, at least
:data:`BUDGET_FLOOR_S`; ``PROFILER_REMEASURE=0`` turns it off. Rules and what is not measured again:
``docs/breakdown.md`` ("Reliability: a breakdown the machine disturbed says so").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from profiler.analysis.variant import DISTURBANCE_PHRASES
from profiler.core.record import VariantEntry

ENV = "PROFILER_REMEASURE"
BUDGET_SHARE = 0.5
BUDGET_FLOOR_S = 30.0
#: the disturbances a second measurement can escape (the rest may be the program's own pattern)
MACHINE_PHRASES = tuple(p for p, may_be_pattern in DISTURBANCE_PHRASES if not may_be_pattern)


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "no", "off", "false")


def machine_disturbed(entry: VariantEntry) -> list[str]:
    """The machine-level reasons the entry's breakdown is unreliable (empty: none)."""
    rel = (entry.breakdown or {}).get("reliability") or {}
    return [w for w in rel.get("why") or [] if any(p in w for p in MACHINE_PHRASES)]


@dataclass
class Budget:
    """Seconds the run may spend measuring again: a share of what its workers took so far."""

    measured_s: float = 0.0
    spent_s: float = 0.0

    def allows(self, expected_s: float) -> bool:
        return self.spent_s + expected_s <= max(BUDGET_FLOOR_S, BUDGET_SHARE * self.measured_s)


def settle(first: VariantEntry, second: VariantEntry | None, why: list[str], second_status: str,
           seconds: float) -> tuple[VariantEntry, bool]:
    """The entry to keep after a second measurement, marked with what happened; ``True`` when the
    second one is kept. ``second`` is None when the second worker did not finish."""
    still = machine_disturbed(second) if second is not None and second_status == "ok" else []
    keep_second = second is not None and second_status == "ok" and not still
    chosen = second if keep_second and second is not None else first
    note: dict[str, Any] = {
        "attempts": 2,
        "seconds": round(seconds, 3),
        "kept": "second" if keep_second else "first",
        "first_why": why,
        "second_why": still if second_status == "ok" else [f"the second worker {second_status}"],
        "worker_dirs": [d for d in (first.worker_dir, second.worker_dir if second is not None else None) if d],
    }
    label = first.label
    if keep_second:
        msg = (f"{label}: measured again in a fresh worker ({seconds:.1f} s) after the machine disturbed the first "
               "measurement; the second, undisturbed, is the one shown")
    else:
        msg = (f"{label}: measured again in a fresh worker ({seconds:.1f} s) after the machine disturbed the first "
               "measurement, and the second was disturbed too (or did not finish): the first is shown")
    if chosen.breakdown is not None:
        rel = dict(chosen.breakdown.get("reliability") or {"reliable": not still, "why": []})
        rel["remeasured"] = note
        chosen.breakdown["reliability"] = rel
    chosen.warnings = [*chosen.warnings, msg]
    return chosen, keep_second
