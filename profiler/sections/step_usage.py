"""The kernel's counts per step (getrusage at every step boundary): faults, kernel CPU, preemptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.sections.blocks import Block, Line
from profiler.sections.registry import VARIANT, Section, View

#: minor faults per clean step from which the report says the step faults in fresh memory
CLEAN_FAULT_NOTE = 1000


@dataclass(frozen=True)
class Usage:
    minflt: float
    stime_us: float
    nivcsw: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepUsage:
    clean: Usage | None = None
    traced: Usage | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def show(u: StepUsage, view: View) -> tuple[Block, ...]:
    if u.clean is None and u.traced is None:
        return ()

    def side(d: Usage, what: str) -> str:
        return (f"{what} {d.minflt:,.0f} minor faults, {d.stime_us / 1e3:.1f} ms kernel CPU, "
                f"{d.nivcsw:,.0f} preemptions")

    text = "kernel per step: " + "; ".join(
        side(d, w) for d, w in ((u.clean, "clean (median)"), (u.traced, "traced (mean)")) if d is not None)
    out: list[Block] = [Line(text, "dim")]
    c = u.clean
    if c is not None and c.minflt >= CLEAN_FAULT_NOTE:
        mib = c.minflt * 4096 / (1 << 20)
        bd = (view.entry.breakdown if view.entry is not None else None) or {}
        cost = ((bd.get("compensation") or {}).get("page_faults") or {}).get("calibrated_us")
        out.append(Line(f"the clean step faults in ~{mib:,.0f} MiB of fresh memory every step (4 KiB pages"
                        + (f"; ~{c.minflt * cost / 1e3:.1f} ms at the calibrated {cost:.1f} µs a fault"
                           if isinstance(cost, (int, float)) else "")
                        + "): buffers freed in one step go back to the kernel and are faulted in again in the next",
                        "dim"))
    return tuple(out)


SECTION = Section(
    key="step_usage", title="kernel per step", scope=VARIANT, model=StepUsage, show=show,
    computed_by="profiler.analysis.step_usage.usage_summary", order=15,
)
