"""How many steps were traced and why: the requested window, grown to whole cycles of a step pattern
(a loader cycle, a periodic evaluation), and the bound when it cut the window short."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.sections.blocks import Block, Line
from profiler.sections.registry import VARIANT, Section, View


@dataclass(frozen=True)
class TraceWindow:
    requested: int
    steps: int
    why: str = ""
    period: int | None = None
    bound: str | None = None
    settle: int = 0
    covered: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _raw(d: dict[str, Any]) -> Any:
    info = d.get("info")
    return info.get("trace_window") if isinstance(info, dict) else None


def show(w: TraceWindow, view: View) -> tuple[Block, ...]:
    if w.steps == w.requested and not w.bound and w.period is None and w.why in ("", "as requested"):
        return ()  # nothing to say: the window is the one asked for
    text = f"traced window: {w.steps} steps ({w.requested} requested) — {w.why}"
    if w.settle:
        text += f"; {w.settle} step(s) under the tracer first, out of every figure, while the program's input settles"
    out: list[Block] = [Line(text, "dim")]
    if w.bound:
        out.append(Line(f"traced window bounded: {w.bound}", "warn"))
    if w.covered is False:
        out.append(Line("the traced steps did not show every mode of the pattern: the breakdown may miss part of "
                        "the cycle", "warn"))
    return tuple(out)


SECTION = Section(
    key="trace_window", title="traced window", scope=VARIANT, model=TraceWindow, show=show,
    computed_by="profiler.analysis.stats.trace_window", order=12, raw=_raw,
)
