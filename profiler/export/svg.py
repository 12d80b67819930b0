"""Small hand-written SVG charts for ``report.html``: axes (linear or log), lines, points, error bars.

Why by hand rather than matplotlib's SVG backend: matplotlib writes every glyph as a path (tens of
kB per chart, the numbers unreadable to the browser test and to a screen reader), and a plotting
library in the page would be an external resource or hundreds of kB inlined. The charts here are a
few hundred elements of plain SVG whose numbers are ``<text>`` and ``<title>``: searchable, readable
without JavaScript, and compared with ``run.json`` by ``tests/test_html_report.py``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any


def esc(s: Any) -> str:
    return html.escape(str(s))


def fmt(v: float) -> str:
    """A tick or value label: 3 significant digits, thousands separated, no trailing zeros."""
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 1:
        return f"{v:.3g}"
    return f"{v:.2g}"


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
        g.append(f'<text x="{(x0 + x1) / 2:.0f}" y="{self.h - 6}" font-size="11" text-anchor="middle">'
                 f"{esc(xlabel)}</text>")
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

    def errorbar(self, xv: float, lo: float, hi: float, color: str, cap: float = 4.0) -> None:
        px, a, b = self.x(xv), self.y(lo), self.y(hi)
        self.add(
            f'<path d="M{px:.1f},{a:.1f}V{b:.1f}M{px - cap:.1f},{a:.1f}h{2 * cap}M{px - cap:.1f},{b:.1f}h{2 * cap}" '
            f'stroke="{color}" stroke-width="1.2" fill="none"/>'
        )

    def svg(self, label: str, cls: str = "chart") -> str:
        return (f'<svg class="{cls}" width="{self.w}" height="{self.h}" viewBox="0 0 {self.w} {self.h}" '
                f'role="img" aria-label="{esc(label)}">{"".join(self.parts)}</svg>')
