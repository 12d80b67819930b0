"""``scale``'s thread-scaling sweep: per series (framework/variant) the median step at each thread
count over its fresh workers, speedup and efficiency, the Amdahl fit (or why none extrapolates), and
why it flattens where a traced explanation exists."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.sections.blocks import Block, Line, Table, cols, fmt_ms
from profiler.sections.registry import RUN, Section, View


@dataclass(frozen=True)
class Point:
    threads: int
    median_ms: float | None = None
    speedup: float | None = None
    efficiency: float | None = None
    spread_pct: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fit:
    serial_fraction: float
    exactly_determined: bool = False
    max_speedup: float | None = None
    rms_rel_residual: float | None = None
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Figures:
    points: tuple[Point, ...] = ()
    fit: Fit | None = None
    fit_note: str | None = None
    best_threads: int | None = None
    best_speedup: float | None = None
    stops_paying_at: int | None = None
    turns_negative_at: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Series:
    series: str
    figures: Figures | None = None
    explanation: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scaling:
    series: tuple[Series, ...] = ()
    cores: int | None = None
    threads: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def _raw(d: dict[str, Any]) -> Any:
    return d.get("scaling") if d.get("kind") == "scale" else None


def _fit_text(f: Figures) -> str:
    fit = f.fit
    if fit is None:
        text = f.fit_note or "no fit"
    elif fit.exactly_determined:
        text = (f"Amdahl serial fraction {fit.serial_fraction:.3f}, exactly determined: fitted through every "
                "point, no residual, no extrapolation")
    else:
        text = f"Amdahl serial fraction {fit.serial_fraction:.3f}"
        if fit.rms_rel_residual is not None:
            text += f" (residual {100 * fit.rms_rel_residual:.1f}%)"
        if fit.max_speedup:
            text += f"; at most {fit.max_speedup:.1f}× with any thread count"
    if f.best_threads is not None:
        text += f"; fastest at {f.best_threads} thread(s) ({f.best_speedup or 0:.2f}×)"
    if f.stops_paying_at:
        text += f"; stops paying at {f.stops_paying_at} threads (< 5% gain)"
    if f.turns_negative_at:
        text += f"; slower from {f.turns_negative_at} threads"
    return text


def show(s: Scaling, view: View) -> tuple[Block, ...]:
    rows = [(x.series, str(p.threads), fmt_ms(p.median_ms), "–" if p.speedup is None else f"{p.speedup:.2f}×",
             "–" if p.efficiency is None else f"{100 * p.efficiency:.0f}%",
             "–" if p.spread_pct is None else f"{p.spread_pct:.1f}%")
            for x in s.series for p in (x.figures.points if x.figures else ())]
    if not rows:
        return ()
    out: list[Block] = [Table(f"thread scaling ({s.cores} usable cores): median step over fresh workers per point",
                              cols("series", "threads>", "step ms>", "speedup>", "efficiency>", "spread>"),
                              tuple(rows), key="points")]
    for x in s.series:
        if x.figures is not None:
            out.append(Line(f"{x.series}: {_fit_text(x.figures)}"))
        e = x.explanation or {}
        if e.get("available") and e.get("sentence"):
            out.append(Line(f"{x.series}: why: {e['sentence']}", "dim"))
        elif e.get("reason"):
            out.append(Line(f"{x.series}: why: unavailable: {e['reason']}", "dim"))
    return tuple(out)


SECTION = Section(
    key="scaling", title="thread scaling", scope=RUN, model=Scaling, show=show,
    computed_by="profiler.analysis.thread_scaling.scaling_result", order=76, raw=_raw,
)
