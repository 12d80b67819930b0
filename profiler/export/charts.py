"""Every figure of a run as one chart-data object, computed once from the record; two drawers take it.

A :class:`Chart` holds what a figure shows — title, axis labels, the y unit, :class:`Series` of
values (lines, points, stacked bars, error bars), texts, shaded spans and a legend — and nothing of
how it is drawn. :func:`profiler.export.svg.draw_svg` draws it for ``report.html`` (inline) and the
Markdown report (a file beside it); :func:`profiler.export.plots.draw_png` draws the same object with
matplotlib where a PNG file is written (``breakdown.png``, ``roofline-*.png``, ``compare.png``,
``scaling.png``). The figures: :func:`breakdown_chart`, :func:`roofline_chart`,
:func:`compare_chart`, :func:`scaling_chart`, :func:`probe_chart` (docs/sections.md: charts).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from profiler.core.categories import CATEGORIES, COLORS, LABELS
from profiler.sections.labels import distinct_labels, file_stem

#: Series colours of the scaling chart (matplotlib's default cycle).
SERIES_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
#: a bar without a breakdown (compare)
PLAIN = "#607d8b"
#: roofline points named by number (the longest first)
ROOFLINE_LABELS = 10


@dataclass(frozen=True)
class Series:
    """One set of marks. ``kind``: ``line`` (``marker``: with its points), ``points`` (``size``: area
    share 0–1), ``bars`` (at ``x``, from ``base`` to ``base + y``) or ``errors`` (from ``low`` to
    ``high`` at ``x``; ``y`` the value they bracket). ``name`` is its legend entry ("" for none)."""

    name: str
    kind: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    color: str = "#000"
    base: tuple[float, ...] = ()
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()
    size: tuple[float, ...] = ()
    colors: tuple[str, ...] = ()  # per mark, else ``color``
    labels: tuple[str, ...] = ()  # text on or beside each mark ("" for none)
    tips: tuple[str, ...] = ()  # each mark's description (SVG ``<title>``)
    hatch: tuple[bool, ...] = ()  # bars: not measured
    dash: str = ""  # "", "dot" or "dash"
    marker: bool = False
    width: float = 1.5

    def color_of(self, i: int) -> str:
        return self.colors[i] if self.colors else self.color


@dataclass(frozen=True)
class Text:
    """A note at data coordinates; its baseline moved by ``dx``/``dy`` pixels (points in the PNG; up is
    positive)."""

    x: float
    y: float
    text: str
    anchor: str = "middle"  # start, middle, end
    color: str = "#000"
    dx: float = 0.0
    dy: float = 0.0
    size: float = 9.0


@dataclass(frozen=True)
class Span:
    """A shaded range of x (``label`` in the legend and as its description)."""

    x0: float
    x1: float
    color: str
    label: str = ""


@dataclass(frozen=True)
class Chart:
    """One figure. ``key`` names its files (``<key>.png``, ``<key>.svg``); ``alt`` describes it (the
    SVG's ``aria-label``; the title where empty); ``categories`` label the x positions 0, 1, … of a bar
    chart; ``xlog``/``ylog`` are a log base (0: linear); ``legend`` lists entries beyond the named
    series (label, colour); ``key_lines`` is a numbered key of the points; ``notes`` say what the reader
    must know (a caption)."""

    key: str
    title: str
    xlabel: str
    ylabel: str
    series: tuple[Series, ...]
    unit: str = ""
    alt: str = ""
    categories: tuple[str, ...] = ()
    xlim: tuple[float, float] | None = None
    ylim: tuple[float, float] | None = None
    xlog: float = 0.0
    ylog: float = 0.0
    xticks: tuple[float, ...] = ()
    texts: tuple[Text, ...] = ()
    spans: tuple[Span, ...] = ()
    legend: tuple[tuple[str, str], ...] = ()
    key_lines: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    size: tuple[int, int] = (560, 340)  # pixels of the SVG; the PNG keeps its proportions

    def find(self, name: str) -> Series:
        """The series named ``name``; :class:`KeyError` without one."""
        for s in self.series:
            if s.name == name:
                return s
        raise KeyError(name)

    def legend_entries(self) -> tuple[tuple[str, str, str], ...]:
        """What the legend lists, as (label, colour, mark): the shaded spans and the explicit entries
        (mark ``box``), then the named series (a line's mark is its dash: ``line``, ``dot``, ``dash``)."""
        seen: dict[str, tuple[str, str, str]] = {}
        for sp in self.spans:
            if sp.label:
                seen.setdefault(sp.label, (sp.label, sp.color, "box"))
        for label, color in self.legend:
            seen.setdefault(label, (label, color, "box"))
        for s in self.series:
            if s.name:
                mark = (s.dash or "line") if s.kind == "line" else "errors" if s.kind == "errors" else "box"
                seen.setdefault(s.name, (s.name, s.color, mark))
        return tuple(seen.values())


def slug(s: str) -> str:
    """A file-name-safe form of a label."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_") or "variant"


def tick(v: float) -> str:
    """A value label: 3 significant digits, thousands separated, no trailing zeros."""
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 1:
        return f"{v:.3g}"
    return f"{v:.2g}"


# ── the breakdown ───────────────────────────────────────────────────────────────────────────────


def breakdown_chart(variants: list[dict[str, Any]]) -> Chart | None:
    """One stacked bar per variant with a breakdown: ms per step by category (the record's
    ``breakdown.ms``), in the report's colours and order; not-measured categories hatched; the step
    total above each bar. ``None`` when no variant has a breakdown."""
    vs = [v for v in variants if isinstance((v.get("breakdown") or {}).get("ms"), dict)]
    if not vs:
        return None
    names = distinct_labels(vs)
    ms = [v["breakdown"]["ms"] for v in vs]
    nms = [v["breakdown"].get("not_measured") or {} for v in vs]
    max_total = max(sum(float(m.get(c) or 0.0) for c in CATEGORIES) for m in ms) or 1.0
    bottoms = [0.0] * len(vs)
    series = []
    for c in CATEGORIES:
        vals = tuple(float(m.get(c) or 0.0) for m in ms)
        series.append(Series(
            LABELS[c], "bars", tuple(float(i) for i in range(len(vs))), vals, COLORS[c], base=tuple(bottoms),
            labels=tuple(f"{x:.3g}" if x > 0 and x >= 0.06 * max_total else "" for x in vals),
            tips=tuple(f"{n}: {LABELS[c]} {x:.3g} ms/step" + (" (not measured)" if c in nm else "")
                       for n, x, nm in zip(names, vals, nms, strict=True)),
            hatch=tuple(c in nm for nm in nms)))
        bottoms = [b + x for b, x in zip(bottoms, vals, strict=True)]
    texts = [Text(float(i), t, f"{t:.3g} ms", dy=3) for i, t in enumerate(bottoms)]
    texts += [Text(float(i), bottoms[i] + max_total * 0.07, "not measured: " + ", ".join(LABELS[c] for c in nm),
                   size=7) for i, nm in enumerate(nms) if nm]
    comp = [bool(v["breakdown"].get("compensation")) for v in vs]
    which = ("clean step, tracer cost removed" if all(comp) else
             "traced steps" if not any(comp) else "clean or traced: see each report")
    return Chart(
        "breakdown", "where the step time goes (categories sum to step time)", "", f"ms per step ({which})",
        tuple(series), unit="ms", alt="breakdown by category", categories=tuple(names),
        xlim=(-0.6, len(vs) - 0.4), ylim=(0.0, max_total * 1.18), texts=tuple(texts),
        size=(max(420, 130 * len(vs) + 260), 340))


# ── the roofline ────────────────────────────────────────────────────────────────────────────────


def roofline_ops(v: dict[str, Any]) -> list[dict[str, Any]]:
    """The variant's costed ops that have a place on the log axes (FLOPs and a rate), longest first."""
    rl = v.get("roofline") or {}
    ops = [o for o in rl.get("ops") or [] if (o.get("intensity") or 0) > 0 and (o.get("achieved_gflops") or 0) > 0]
    return sorted(ops, key=lambda o: -o["time_ms_per_step"])


def bound_text(o: dict[str, Any]) -> str:
    """What bounds an op, or that it was not classified (no calibrated ceilings)."""
    return f"{o['bound']}-bound" if o.get("bound") else "not classified"


def roofline_chart(v: dict[str, Any], label: str | None = None, key: str | None = None) -> Chart | None:
    """A variant's roofline: each costed op at (FLOP/byte, achieved GFLOP/s), area ∝ its time per step,
    under the calibrated roofs; the :data:`ROOFLINE_LABELS` longest numbered (``key_lines``). ``key``
    names its files (default ``roofline-<label's file stem>``). ``None`` when no op has FLOPs."""
    rl = v.get("roofline") or {}
    ops = roofline_ops(v)
    if not ops:
        return None
    label = label or f"{v.get('framework')}/{v.get('variant')}"
    ceil = rl.get("ceilings")
    xs = [o["intensity"] for o in ops]
    ys = [o["achieved_gflops"] for o in ops]
    lo_x, hi_x = min(*xs, 0.01) / 2, max(*xs, 100.0) * 2
    top_y = max(ys) if not ceil else max(max(ys), ceil["peak_gflops"])
    lo_y, hi_y = min(ys) / 3, top_y * 2.5
    series: list[Series] = []
    texts: list[Text] = []
    if ceil:
        peak, bw, bal = ceil["peak_gflops"], ceil["peak_gbs"], ceil["balance_flops_per_byte"]
        x0 = max(lo_x, lo_y / bw)
        series.append(Series("", "line", (x0, bal, hi_x), (x0 * bw, peak, peak), "#000", width=1.6,
                             tips=(f"roofs: {peak:,.1f} GFLOP/s, {bw:,.1f} GB/s, balance {bal:.1f} FLOP/B",)))
        series.append(Series("", "line", (bal, bal), (lo_y, peak), "#999", dash="dot", width=1.0))
        xl = math.sqrt(x0 * bal)  # half-way along the memory roof (log axis), the label under it
        texts += [Text(bal, peak, f"{peak:,.0f} GFLOP/s", "start", dx=4, dy=-13),
                  Text(bal, lo_y, f"balance {bal:.1f} FLOP/B", "start", "#666", dx=4, dy=5),
                  Text(xl, xl * bw, f"{bw:,.1f} GB/s", "start", dx=4, dy=-14)]
    tmax = max(o["time_ms_per_step"] for o in ops) or 1.0
    n = min(ROOFLINE_LABELS, len(ops))
    series.append(Series(
        "", "points", tuple(xs), tuple(ys),
        size=tuple(o["time_ms_per_step"] / tmax for o in ops),
        colors=tuple(COLORS["compute"] if o.get("bound") == "compute" else COLORS["memory_io"] for o in ops),
        labels=tuple(str(i + 1) if i < n else "" for i in range(len(ops))),
        tips=tuple(f"{o['name']}: {o['time_ms_per_step']:.3g} ms/step, {o['intensity']:.3g} FLOP/B, "
                   f"{o['achieved_gflops']:.3g} GFLOP/s ({bound_text(o)})" for o in ops)))
    n_flat = len(rl.get("ops") or []) - len(ops)
    notes = ["area ∝ time per step; green compute-bound, yellow memory-bound"]
    if not ceil:
        notes.append("no calibrated ceilings (run `profiler calibrate`)")
    if n_flat:
        notes.append(f"{n_flat} data-movement op(s) without FLOPs not drawn")
    return Chart(
        key or f"roofline-{file_stem(label)}", f"roofline · {label}",
        "arithmetic intensity (FLOP/byte, cost model)", "achieved GFLOP/s", tuple(series), unit="GFLOP/s",
        alt=f"roofline of {label}", xlim=(lo_x, hi_x), ylim=(lo_y, hi_y), xlog=10, ylog=10, texts=tuple(texts),
        legend=(("compute-bound", COLORS["compute"]), ("memory-bound", COLORS["memory_io"])),
        key_lines=tuple(f"{i}  {o['name'][:34]}  {o['time_ms_per_step']:.3g} ms" for i, o in enumerate(ops[:n], 1)),
        notes=tuple(notes))


# ── compare ─────────────────────────────────────────────────────────────────────────────────────


def headline_interval(row: dict[str, Any]) -> tuple[float, float] | None:
    """The 95% CI of a row's step median (``step_ci95_low``/``_high``, from the record's
    ``step_ms.ci95``) in the headline's unit (``headline_s``); ``None`` without a CI."""
    lo, hi, med, h = row.get("step_ci95_low"), row.get("step_ci95_high"), row.get("step_ms"), row.get("headline_s")
    if lo is None or hi is None or not med or h is None:
        return None
    k = h / med  # headline seconds per ms of step: the same scale for the median and its CI
    return lo * k, hi * k


def chart_bars(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per compare row: ``label``, ``status``, ``headline_s`` (the bar's height: the row's headline,
    i.e. the pooled median in the headline's unit), ``segments`` (category → seconds, the height split
    by the breakdown's shares, in stacking order; empty without a breakdown) and ``ci`` (the error bar,
    the CI of the same pooled median, or ``None``)."""
    out: list[dict[str, Any]] = []
    for r in result.get("rows") or []:
        h = r.get("headline_s")
        segs: dict[str, float] = {}
        if h is not None:
            for c in CATEGORIES:
                p = r.get(f"{c}_pct")
                if p:
                    segs[c] = h * p / 100.0
        out.append({
            "label": f"{r.get('display')}\n{r.get('variant')}",
            "status": r.get("status"),
            "headline_s": h,
            "segments": {c: v for c, v in segs.items() if v > 0},
            "ci": headline_interval(r) if h is not None else None,
        })
    return out


def compare_chart(result: dict[str, Any]) -> Chart | None:
    """compare's figure: per row (framework × variant) a bar of its headline time, split by the
    breakdown's shares, with the 95% CI of the step median as an error bar; a row that did not run
    shows its status. ``None`` when no row has a headline; :class:`KeyError` for a result that is not
    a compare result (no ``unit``, ``settings`` or ``scenario``)."""
    unit, settings, scenario = result["unit"] or "step", result["settings"] or {}, result["scenario"]
    bars = chart_bars(result)
    if not any(b["headline_s"] is not None for b in bars):
        return None
    xs = tuple(float(i) for i in range(len(bars)))
    series: list[Series] = []
    bottoms = [0.0] * len(bars)
    for c in CATEGORIES:
        vals = tuple(b["segments"].get(c, 0.0) for b in bars)
        if any(vals):
            series.append(Series(LABELS[c], "bars", xs, vals, COLORS[c], base=tuple(bottoms),
                                 tips=tuple(f"{LABELS[c]}: {100 * x / b['headline_s']:.1f}%" if x else ""
                                            for x, b in zip(vals, bars, strict=True))))
            bottoms = [b + x for b, x in zip(bottoms, vals, strict=True)]
    plain = tuple(b["headline_s"] if b["headline_s"] is not None and not b["segments"] else 0.0 for b in bars)
    if any(plain):
        series.append(Series("no breakdown", "bars", xs, plain, PLAIN, base=(0.0,) * len(bars),
                             tips=tuple("no breakdown" if x else "" for x in plain)))
    ci = [(float(i), b["headline_s"], b["ci"]) for i, b in enumerate(bars) if b["ci"] is not None]
    if ci:
        series.append(Series("95% CI of the step median", "errors", tuple(c[0] for c in ci), tuple(c[1] for c in ci),
                             "#000", low=tuple(c[2][0] for c in ci), high=tuple(c[2][1] for c in ci)))
    tops = [max(b["headline_s"], (b["ci"] or (0.0, 0.0))[1]) for b in bars if b["headline_s"] is not None]
    texts = [Text(float(i), b["ci"][1] if b["ci"] else b["headline_s"], tick(b["headline_s"]), dy=5)
             for i, b in enumerate(bars) if b["headline_s"] is not None]
    texts += [Text(float(i), 0.0, str(b["status"] or "–"), color="#b00", dy=6)
              for i, b in enumerate(bars) if b["headline_s"] is None]
    return Chart(
        "compare", f"{scenario} · {result.get('mode')} · preset {settings.get('preset')}",
        "error bars: 95% CI of the step median" if ci else "", f"seconds per {unit}", tuple(series),
        unit="s", alt="compare chart", categories=tuple(b["label"] for b in bars),
        xlim=(-0.6, len(bars) - 0.4), ylim=(0.0, max(tops) * 1.18), texts=tuple(texts),
        legend=tuple((LABELS[c], COLORS[c]) for c in CATEGORIES),
        size=(max(420, 90 * len(bars) + 260), 320))


# ── thread scaling ──────────────────────────────────────────────────────────────────────────────


def speedup_interval(point: dict[str, Any]) -> tuple[float, float] | None:
    """``(low, high)`` speedup from the point's 95% CI of its median (``ci95_ms``: bootstrap over its
    repeats and their steps) or, without one, its slowest and fastest repeat; ``None`` when neither
    exists. The baseline is the one behind ``speedup`` (``speedup × median_ms``)."""
    sp, med = point.get("speedup"), point.get("median_ms")
    if not sp or not med:
        return None
    ci = point.get("ci95_ms")
    if ci and ci[0] and ci[1]:
        lo, hi = ci
    else:
        lo, hi = point.get("min_ms"), point.get("max_ms")
        if not lo or not hi or (point.get("repeats_ok") or 0) < 2:
            return None
    base = sp * med
    return base / hi, base / lo


def _interval_words(points: list[dict[str, Any]]) -> str:
    """What the scaling chart's error bars are: the CI, the repeats' range, or each where it applies."""
    kinds = {"ci" if (p.get("ci95_ms") and p["ci95_ms"][0] and p["ci95_ms"][1]) else "range"
             for p in points if speedup_interval(p)}
    if kinds == {"ci"}:
        return "95% CI of the median"
    if kinds == {"range"}:
        return "slowest–fastest repeat"
    return "95% CI of the median, or the slowest–fastest repeat where there is none"


def _ms(v: float | None) -> str:
    return "–" if v is None else (f"{v:,.3f}" if v < 10 else f"{v:,.1f}")


def scaling_chart(result: dict[str, Any], title: str = "speedup vs threads") -> Chart | None:
    """scale's figure: speedup vs threads on log-log axes (ideal scaling is the diagonal), one line
    per series from its measured points with their error bars (:func:`speedup_interval`), its Amdahl
    fit dashed, counts above the core count shaded. ``None`` when no series has a measured point."""
    series_in = [s for s in result.get("series") or [] if s.get("figures")]
    ts = sorted({p["threads"] for s in series_in for p in s["points"] if p.get("speedup")})
    if not ts:
        return None
    lo_t, hi_t = ts[0], ts[-1] if ts[-1] > ts[0] else ts[0] * 2
    vals = [p["speedup"] for s in series_in for p in s["points"] if p.get("speedup")]
    vals += [b for s in series_in for p in s["points"] for b in (speedup_interval(p) or ())]
    ylo, yhi = min(*vals, 1.0) / 1.3, max(*vals, hi_t / lo_t) * 1.3
    cores = int(result.get("cores") or 0)
    spans = (Span(cores, hi_t * 1.15, "#eee", f"oversubscribed (> {cores} cores)"),) if cores and hi_t > cores else ()
    grid = [lo_t * (hi_t / lo_t) ** (k / 40) for k in range(41)]
    out = [Series("ideal (linear)", "line", tuple(grid), tuple(x / lo_t for x in grid), "#888", dash="dot", width=1.2)]
    texts: list[Text] = []
    all_pts: list[dict[str, Any]] = []
    for i, s in enumerate(series_in):
        col = SERIES_COLORS[i % len(SERIES_COLORS)]
        pts = [p for p in s["points"] if p.get("speedup")]
        all_pts += pts
        out.append(Series(
            s["series"], "line", tuple(float(p["threads"]) for p in pts), tuple(p["speedup"] for p in pts), col,
            marker=True, width=1.8,
            tips=tuple(f"{s['series']} at {p['threads']} thread(s): {p['speedup']:.2f}× ({_ms(p.get('median_ms'))} ms, "
                       f"{p.get('repeats_ok')} repeat(s))" for p in pts)))
        bars = [(p, iv) for p in pts if (iv := speedup_interval(p))]
        if bars:
            out.append(Series("", "errors", tuple(float(p["threads"]) for p, _ in bars), tuple(p["speedup"] for p, _ in bars),
                              col, low=tuple(iv[0] for _, iv in bars), high=tuple(iv[1] for _, iv in bars)))
        texts += [Text(p["threads"], p["speedup"], f"{p['busy_threads']:g} busy", "start", col, dx=4, dy=-12, size=7)
                  for p in pts if p.get("thread_mismatch") and p.get("busy_threads") is not None]
        fit = (s["figures"] or {}).get("fit")
        base = (s["figures"] or {}).get("base_threads", lo_t)
        if fit and len(pts) >= 2:
            a, b = pts[0]["threads"], pts[-1]["threads"]
            g = [a * (b / a) ** (k / 40) for k in range(41)]
            tb = fit["serial_ms"] + fit["parallel_ms"] / base
            out.append(Series(
                f"{s['series']} Amdahl f={fit['serial_fraction']:.2f}"
                + (f" (through {fit['n_points']} points, not a fit)" if fit.get("exactly_determined") else ""),
                "line", tuple(g), tuple(tb / (fit["serial_ms"] + fit["parallel_ms"] / x) for x in g), col,
                dash="dash", width=1.0))
    bars_words = _interval_words(all_pts) if any(speedup_interval(p) for p in all_pts) else ""
    return Chart(
        "scaling", title, "threads",
        f"speedup vs {lo_t} thread{'s' if lo_t > 1 else ''}", tuple(out), unit="×", alt="speedup vs threads",
        xlim=(lo_t / 1.15, hi_t * 1.15), ylim=(ylo, yhi), xlog=2, ylog=2, xticks=tuple(float(t) for t in ts),
        texts=tuple(texts), spans=spans,
        notes=(f"error bars: {bars_words} (points without one have none)",) if bars_words else ())


# ── probe time series ───────────────────────────────────────────────────────────────────────────

#: the shading of the step windows in a probe time series
WINDOW_COLORS = {"clean": "#e3efff", "traced": "#fff0d8"}


def probe_chart(s: dict[str, Any]) -> Chart:
    """One sampled probe counter over the run (a series of ``export.html.probe_series``: ``t_s``,
    ``values``, ``windows``), the clean and traced steps shaded."""
    t, y = s["t_s"], s["values"]
    lo, hi = min(y), max(y)
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    pad = (hi - lo) * 0.08
    spans = tuple(Span(w[0], w[1], WINDOW_COLORS[k], f"{k} steps")
                  for k in ("clean", "traced") if (w := s["windows"].get(k)))
    every = f", 1 in {s['every']} drawn" if s["every"] > 1 else ""
    return Chart(
        f"probe-{slug(s['label'])}", s["label"], "seconds", "",
        (Series("", "line", tuple(t), tuple(y), "#1f77b4", width=1.2, tips=(s["label"],)),), unit=s["unit"],
        xlim=(min(t), max(t) if max(t) > min(t) else min(t) + 1), ylim=(lo - pad, hi + pad), spans=spans,
        notes=(f"{s['label']} ({s['unit']}) · {s['n']} samples{every} · min {tick(s['min'])}, max {tick(s['max'])}",),
        size=(300, 120))


__all__ = ["Chart", "Series", "Span", "Text", "breakdown_chart", "chart_bars", "compare_chart", "headline_interval",
           "probe_chart", "roofline_chart", "scaling_chart", "speedup_interval"]
