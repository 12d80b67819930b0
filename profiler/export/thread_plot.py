"""``scaling.png``: a thread-scaling result (:func:`profiler.analysis.thread_scaling.scaling_result`,
or ``scaling.json``) drawn from :func:`profiler.export.charts.scaling_chart` — the object the page's
SVG is drawn from: speedup vs threads on log-log axes, one line per series, the ideal diagonal, each
Amdahl fit dashed, oversubscribed counts shaded, error bars from :func:`speedup_interval`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from profiler.export.charts import scaling_chart, speedup_interval


def write_scaling_png(result: dict[str, Any], path: Path, title: str = "speedup vs threads") -> Path:
    """Write the plot to ``path``; :class:`ValueError` when no series has a measured point."""
    from profiler.export.plots import draw_png

    chart = scaling_chart(result, title)
    if chart is None:
        raise ValueError("no series has a measured point")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return draw_png(chart, path)


__all__ = ["speedup_interval", "write_scaling_png"]
