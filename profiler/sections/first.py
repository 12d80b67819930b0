"""What to fix first: one line per run naming the largest actionable finding, with its figure.

Compute is the work itself; every other category is time a change can win back. The finding is the
variant and category with the most such milliseconds per step (a failed variant comes first)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from profiler.core.categories import LABELS
from profiler.core.categories import REMEDIES as REMEDY
from profiler.sections.blocks import Block, Line, fmt_ms
from profiler.sections.registry import RUN, Section, View


@dataclass(frozen=True)
class Finding:
    text: str
    variant: str | None = None
    category: str | None = None
    ms: float | None = None
    pct: float | None = None


def find(record: dict[str, Any]) -> dict[str, Any] | None:
    """The largest actionable finding of a run record's dictionary form, or ``None``."""
    variants = [v for v in record.get("variants") or [] if isinstance(v, dict)]
    for v in variants:
        if v.get("status") not in ("ok", "unavailable", "interrupted", None):
            label = f"{v.get('framework')}/{v.get('variant')}"
            return {"text": f"{label} {v.get('status')}: {v.get('error') or 'no detail'}", "variant": label}
    best: tuple[float, dict[str, Any]] | None = None
    for v in variants:
        bd = v.get("breakdown") if isinstance(v.get("breakdown"), dict) else None
        if not bd or not isinstance(bd.get("ms"), dict) or not isinstance(bd.get("step_ms"), (int, float)):
            continue
        nm = bd.get("not_measured") or {}
        for c in REMEDY:
            ms = bd["ms"].get(c)
            if isinstance(ms, (int, float)) and c not in nm and (best is None or ms > best[0]):
                label = f"{v.get('framework')}/{v.get('variant')}"
                pct = 100 * ms / bd["step_ms"] if bd["step_ms"] else 0.0
                what = "clean" if bd.get("compensation") else "traced"
                best = (ms, {"variant": label, "category": c, "ms": ms, "pct": pct,
                             "text": f"{label}: {LABELS[c]} {fmt_ms(ms)} ms of its {fmt_ms(bd['step_ms'])} ms step "
                                     f"({pct:.0f}%, {what}) — {REMEDY[c]}"})
    return best[1] if best and best[0] > 0 else None


def show(f: Finding, view: View) -> tuple[Block, ...]:
    return (Line(f"fix first: {f.text}", "strong"),)


SECTION = Section(
    key="first", title="what to fix first", scope=RUN, model=Finding, show=show,
    computed_by="profiler.sections.first.find", order=0, raw=find,
)
