"""Summary statistics of repeated timings."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def summarize_ms(values_ns: Sequence[int | float]) -> dict[str, Any]:
    """median/min/max/mean in ms, the spread ((max-min)/median, %) and the count."""
    if not values_ns:
        return {"median": None, "min": None, "max": None, "mean": None, "spread_pct": None, "n": 0}
    ms = [v / 1e6 for v in values_ns]
    med = statistics.median(ms)
    return {
        "median": med,
        "min": min(ms),
        "max": max(ms),
        "mean": statistics.fmean(ms),
        "spread_pct": (100.0 * (max(ms) - min(ms)) / med) if med else 0.0,
        "n": len(ms),
    }
