"""What went wrong or needs care in one variant: its warnings, and the probes that failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from profiler.sections.blocks import Block, Line
from profiler.sections.registry import VARIANT, Section, View


@dataclass(frozen=True)
class Warnings:
    warnings: tuple[str, ...] = ()
    probe_problems: tuple[str, ...] = ()


def _raw(d: dict[str, Any]) -> dict[str, Any] | None:
    probes = d.get("probes") if isinstance(d.get("probes"), dict) else {}
    notes = [f"{n}: {p['error']}" for n, p in probes.items() if isinstance(p, dict) and p.get("error")]
    notes += [f"{n}: {e}" for n, p in probes.items() if isinstance(p, dict) for e in p.get("errors") or []]
    w = d.get("warnings") or []
    return {"warnings": w, "probe_problems": notes} if (w or notes) else None


def show(w: Warnings, view: View) -> tuple[Block, ...]:
    out = [Line(f"warning: {x}", "warn") for x in w.warnings]
    if w.probe_problems:
        out.append(Line("probe problems: " + "; ".join(w.probe_problems), "warn"))
    return tuple(out)


SECTION = Section(
    key="warnings", title="warnings", scope=VARIANT, model=Warnings, show=show,
    computed_by="profiler.analysis.variant.analyse_variant", order=5, raw=_raw,
)
