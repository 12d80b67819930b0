"""Small text pieces every renderer shares: the stacked breakdown bar and millisecond formatting."""

from __future__ import annotations

from rich.text import Text

from profiler.core.categories import CATEGORIES, TERMINAL_COLORS

BAR_WIDTH = 30


def fmt_ms(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:,.3f}" if v < 10 else f"{v:,.1f}"


def breakdown_bar(pcts: dict[str, float], width: int = BAR_WIDTH) -> Text:
    """One stacked bar: each category a run of blocks in its colour."""
    t = Text()
    used = 0
    for c in CATEGORIES:
        n = round(pcts.get(c, 0.0) / 100.0 * width)
        n = min(n, width - used)
        if n > 0:
            t.append("█" * n, style=TERMINAL_COLORS[c])
            used += n
    if used < width:
        t.append("·" * (width - used), style="bright_black")
    return t
