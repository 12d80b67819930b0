"""SVG charts written by hand: :func:`draw_svg` draws a chart-data object
(:class:`profiler.export.charts.Chart`) for ``report.html`` (inline) and the Markdown report (a file).

Why by hand rather than matplotlib's SVG backend: matplotlib writes every glyph as a path (tens of
kB per chart, the numbers unreadable to the browser test and to a screen reader), and a plotting
library in the page would be an external resource or hundreds of kB inlined. The charts here are a
few hundred elements of plain SVG whose numbers are ``<text>``, ``<title>`` and ``data-y``
attributes: searchable, readable without JavaScript, and compared with the chart object (and so
with ``run.json`` and the PNG drawn from the same object) by ``tests/test_charts.py``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

from profiler.export.charts import Chart, Series, tick


def esc(s: Any) -> str:
    return html.escape(str(s))


fmt = tick  # a tick or value label (charts.tick): the SVG and the chart data label values alike


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]`` (linear axis)."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step  # ticks inside the range only
    out = []
    k = 0
    while start + k * step <= hi + step * 1e-9:
        out.append(round(start + k * step, 12))
        k += 1
    return out


def log_ticks(lo: float, hi: float, base: float = 10.0) -> list[float]:
    """Powers of ``base`` within ``[lo, hi]`` (at least the two ends' decades)."""
    a = math.floor(math.log(lo, base) + 1e-9)
    b = math.ceil(math.log(hi, base) - 1e-9)
    return [base**k for k in range(a, b + 1) if lo * (1 - 1e-9) <= base**k <= hi * (1 + 1e-9)]


class Frame:
    """A plotting area of ``w`` × ``h`` pixels with margins, mapping data to pixels."""

    def __init__(
        self,
        w: int,
        h: int,
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        xlog: bool = False,
        ylog: bool = False,
        margin: tuple[int, int, int, int] = (56, 16, 14, 40),  # left, right, top, bottom
    ) -> None:
        self.w, self.h = w, h
        self.xlim, self.ylim = xlim, ylim
        self.xlog, self.ylog = xlog, ylog
        self.l, self.r, self.t, self.b = margin
        self.parts: list[str] = []

    def _u(self, v: float, lim: tuple[float, float], log: bool) -> float:
        lo, hi = lim
        if log:
            v, lo, hi = (math.log(max(x, 1e-300)) for x in (v, lo, hi))
        return (v - lo) / (hi - lo) if hi != lo else 0.5

    def x(self, v: float) -> float:
        return self.l + self._u(v, self.xlim, self.xlog) * (self.w - self.l - self.r)

    def y(self, v: float) -> float:
        return self.h - self.b - self._u(v, self.ylim, self.ylog) * (self.h - self.t - self.b)

    def add(self, s: str) -> None:
        self.parts.append(s)

    def axes(
        self,
        xticks: Sequence[float],
        yticks: Sequence[float],
        xlabel: str,
        ylabel: str,
        xfmt: Callable[[float], str] = fmt,
        yfmt: Callable[[float], str] = fmt,
        xlabel_y: float | None = None,
    ) -> None:
        x0, x1, y0, y1 = self.l, self.w - self.r, self.t, self.h - self.b
        g = [f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="none" stroke="#999"/>']
        for v in xticks:
            px = self.x(v)
            g.append(f'<line x1="{px:.1f}" y1="{y0}" x2="{px:.1f}" y2="{y1}" stroke="#eee"/>'
                     f'<text x="{px:.1f}" y="{y1 + 13}" font-size="10" text-anchor="middle">{esc(xfmt(v))}</text>')
        for v in yticks:
            py = self.y(v)
            g.append(f'<line x1="{x0}" y1="{py:.1f}" x2="{x1}" y2="{py:.1f}" stroke="#eee"/>'
                     f'<text x="{x0 - 4}" y="{py + 3:.1f}" font-size="10" text-anchor="end">{esc(yfmt(v))}</text>')
        if xlabel:
            g.append(f'<text x="{(x0 + x1) / 2:.0f}" y="{xlabel_y if xlabel_y is not None else self.h - 6:.0f}" '
                     f'font-size="11" text-anchor="middle">{esc(xlabel)}</text>')
        if ylabel:
            g.append(f'<text transform="translate(12 {(y0 + y1) / 2:.0f}) rotate(-90)" font-size="11" '
                     f'text-anchor="middle">{esc(ylabel)}</text>')
        self.parts[:0] = g  # under the data

    def polyline(self, pts: Sequence[tuple[float, float]], color: str, width: float = 1.5, dash: str = "",
                 title: str = "") -> None:
        if len(pts) < 2:
            return
        d = " ".join(f"{self.x(a):.1f},{self.y(b):.1f}" for a, b in pts)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        t = f"<title>{esc(title)}</title>" if title else ""
        self.add(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="{width}"{dash_attr}>{t}</polyline>')

    def errorbar(self, xv: float, lo: float, hi: float, color: str, cap: float = 4.0, title: str = "") -> None:
        px, a, b = self.x(xv), self.y(lo), self.y(hi)
        t = f"<title>{esc(title)}</title>" if title else ""
        self.add(
            f'<path d="M{px:.1f},{a:.1f}V{b:.1f}M{px - cap:.1f},{a:.1f}h{2 * cap}M{px - cap:.1f},{b:.1f}h{2 * cap}" '
            f'stroke="{color}" stroke-width="1.2" fill="none" data-lo="{lo!r}" data-hi="{hi!r}">{t}</path>'
        )

    def svg(self, label: str, cls: str = "chart") -> str:
        return (f'<svg class="{cls}" width="{self.w}" height="{self.h}" viewBox="0 0 {self.w} {self.h}" '
                f'role="img" aria-label="{esc(label)}">{"".join(self.parts)}</svg>')


# ── a chart-data object as SVG ──────────────────────────────────────────────────────────────────

DASH = {"": "", "dot": "2 3", "dash": "5 3"}
CHAR_W = 6.2  # pixels per character of 10-pixel text (the legend column's width)


def _tip(s: Series, i: int) -> str:
    return f"<title>{esc(s.tips[i])}</title>" if i < len(s.tips) and s.tips[i] else ""


def _series(f: Frame, s: Series) -> None:
    """One series' marks; bars and points carry their value in ``data-y``."""
    if s.kind == "line":
        f.polyline(list(zip(s.x, s.y, strict=True)), s.color, s.width, DASH[s.dash], s.name or (s.tips[0] if len(s.tips) == 1 else ""))
        if s.marker:
            for i, (a, b) in enumerate(zip(s.x, s.y, strict=True)):
                f.add(f'<circle cx="{f.x(a):.1f}" cy="{f.y(b):.1f}" r="3.5" fill="{s.color_of(i)}" data-y="{b!r}">'
                      f"{_tip(s, i)}</circle>")
    elif s.kind == "bars":
        half = (f.x(0.3) - f.x(0.0)) if not f.xlog else 12.0
        for i, (a, h) in enumerate(zip(s.x, s.y, strict=True)):
            if h <= 0:
                continue
            b0 = s.base[i] if s.base else 0.0
            top, bot = f.y(b0 + h), f.y(b0)
            px = f.x(a)
            hatch = ' fill-opacity=".45" stroke="#333" stroke-dasharray="3 2"' if s.hatch and s.hatch[i] else ""
            f.add(f'<rect x="{px - half:.1f}" y="{top:.1f}" width="{2 * half:.1f}" height="{bot - top:.1f}" '
                  f'fill="{s.color_of(i)}"{hatch} data-y="{h!r}">{_tip(s, i)}</rect>')
            if i < len(s.labels) and s.labels[i] and bot - top >= 12:
                f.add(f'<text x="{px:.1f}" y="{(top + bot) / 2 + 3.5:.1f}" font-size="9" text-anchor="middle" '
                      f'fill="#fff">{esc(s.labels[i])}</text>')
    elif s.kind == "errors":
        for i, (a, lo, hi) in enumerate(zip(s.x, s.low, s.high, strict=True)):
            f.errorbar(a, lo, hi, s.color, 4.0 if not f.xlog else 3.0, s.tips[i] if i < len(s.tips) else "")
    elif s.kind == "points":
        for i, (a, b) in enumerate(zip(s.x, s.y, strict=True)):
            r = 3 + 11 * math.sqrt(s.size[i] if s.size else 0.0)
            px, py = f.x(a), f.y(b)
            f.add(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{r:.1f}" fill="{s.color_of(i)}" fill-opacity=".65" '
                  f'stroke="#333" stroke-width=".6" data-y="{b!r}">{_tip(s, i)}</circle>')
            if i < len(s.labels) and s.labels[i]:
                f.add(f'<text x="{px + r * 0.7 + 1:.1f}" y="{py - r * 0.7:.1f}" font-size="10" font-weight="bold">'
                      f"{esc(s.labels[i])}</text>")
    else:
        raise ValueError(f"unknown series kind {s.kind!r}")


def draw_svg(chart: Chart, *, standalone: bool = False, legend: bool = True, cls: str = "chart") -> str:
    """``chart`` as one ``<svg>`` element. Inline in a page (``standalone=False``) the page gives the
    title and the notes; ``standalone`` (a file of its own) draws them, and the numbered key, too."""
    w, h = chart.size
    entries = chart.legend_entries() if legend else ()
    right_lines = [e[0] for e in entries] + (list(chart.key_lines) if standalone else [])
    side = min(340, int(max((len(t) for t in right_lines), default=0) * CHAR_W) + 30) if right_lines else 0
    head = 22 if standalone and chart.title else 0
    lines = max((c.count("\n") + 1 for c in chart.categories), default=0)
    bottom = 26 + 12 * lines + (14 if chart.xlabel else 0) if chart.categories else 40
    notes = list(chart.notes) if standalone else []
    foot = 14 * len(notes)
    left = 62 if chart.ylabel else 46
    if chart.size[1] < 200:  # a small chart (probe series): the tight margins
        left, bottom = 46, 30
    f = Frame(w + side, h + head + foot, chart.xlim or (0.0, 1.0), chart.ylim or (0.0, 1.0), xlog=bool(chart.xlog),
              ylog=bool(chart.ylog), margin=(left, 14 + side, 12 + head, bottom + foot))
    x0, x1, y0, y1 = f.l, f.w - f.r, f.t, f.h - f.b
    for sp in chart.spans:
        a, b = max(f.x(sp.x0), x0), min(f.x(sp.x1), x1)
        if b > a:
            f.add(f'<rect x="{a:.1f}" y="{y0}" width="{b - a:.1f}" height="{y1 - y0}" fill="{sp.color}">'
                  f"<title>{esc(sp.label)}</title></rect>")
    order = {"bars": 0, "line": 1, "errors": 2, "points": 3}
    for s in sorted(chart.series, key=lambda s: order.get(s.kind, 9)):
        _series(f, s)
    for t in chart.texts:
        f.add(f'<text x="{f.x(t.x) + t.dx:.1f}" y="{f.y(t.y) - t.dy:.1f}" font-size="{t.size + 1:g}" '
              f'text-anchor="{t.anchor}"' + (f' fill="{t.color}"' if t.color != "#000" else "") + f">{esc(t.text)}</text>")
    for i, c in enumerate(chart.categories):
        for k, ln in enumerate(c.split("\n")):
            f.add(f'<text x="{f.x(i):.1f}" y="{y1 + 14 + 12 * k}" font-size="10" text-anchor="middle">{esc(ln)}</text>')
    xticks: list[float] = []
    if not chart.categories:
        lo, hi = f.xlim
        xticks = list(chart.xticks) or (log_ticks(lo, hi, chart.xlog) if chart.xlog else nice_ticks(lo, hi, 4 if w < 400 else 5))
    ylo, yhi = f.ylim
    yticks = log_ticks(ylo, yhi, chart.ylog) if chart.ylog else nice_ticks(ylo, yhi, 3 if h < 200 else 5)
    if chart.ylog and len(yticks) < 2:
        yticks = [ylo, yhi]
    g = (lambda v: f"{v:g}") if chart.xlog == 2 or chart.ylog == 2 else fmt
    f.axes(xticks, yticks, chart.xlabel, chart.ylabel, xfmt=g if chart.xlog == 2 else fmt,
           yfmt=g if chart.ylog == 2 else fmt, xlabel_y=y1 + bottom - 6)
    ly = y0 + 4
    for label, color, mark in entries:
        if mark == "box":
            f.add(f'<rect x="{x1 + 12}" y="{ly:.0f}" width="10" height="10" fill="{color}"/>')
        elif mark == "errors":
            f.add(f'<line x1="{x1 + 17}" y1="{ly}" x2="{x1 + 17}" y2="{ly + 10}" stroke="{color}"/>')
        else:
            dash = f' stroke-dasharray="{DASH[mark]}"' if mark in DASH and mark else ""
            f.add(f'<line x1="{x1 + 10}" y1="{ly + 5}" x2="{x1 + 24}" y2="{ly + 5}" stroke="{color}" '
                  f'stroke-width="2"{dash}/>')
        f.add(f'<text x="{x1 + 28}" y="{ly + 9:.0f}" font-size="10">{esc(label)}</text>')
        ly += 15
    if standalone:
        ly += 8
        for ln in chart.key_lines:
            f.add(f'<text x="{x1 + 12}" y="{ly + 9:.0f}" font-size="10" font-family="monospace">{esc(ln)}</text>')
            ly += 14
        if chart.title:
            f.add(f'<text x="{x0}" y="16" font-size="12" font-weight="bold">{esc(chart.title)}</text>')
        for i, n in enumerate(notes):
            f.add(f'<text x="{x0}" y="{f.h - foot + 10 + 14 * i}" font-size="10" fill="#444">{esc(n)}</text>')
    out = f.svg(chart.alt or chart.title, cls)
    if standalone:  # a file of its own: the namespace and a white ground
        out = out.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1).replace(
            'aria-label', 'font-family="sans-serif" aria-label', 1)
        out = out.replace(">", f'><rect width="{f.w}" height="{f.h}" fill="#fff"/>', 1)
    return out
