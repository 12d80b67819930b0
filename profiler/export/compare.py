"""``compare``'s files in the run directory: ``compare.json``, ``compare.csv`` and ``compare.png``.

The chart's figures are :func:`profiler.export.charts.compare_chart`'s (``chart_bars`` and
``headline_interval`` live there); matplotlib is imported only when the PNG is written.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from profiler.analysis.compare import ROW_COLUMNS as CSV_COLUMNS
from profiler.core.files import atomic_write_json, atomic_write_text
from profiler.export.charts import chart_bars, compare_chart, headline_interval

COMPARE_JSON = "compare.json"
COMPARE_CSV = "compare.csv"
COMPARE_PNG = "compare.png"


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def to_csv(result: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for r in result["rows"]:
        w.writerow([_fmt(r.get(c)) for c in CSV_COLUMNS])
    return buf.getvalue()


def write_chart(result: dict[str, Any], path: Path) -> None:
    """``compare.png``: the compare chart (:func:`profiler.export.charts.compare_chart`, the same object
    the page's SVG is drawn from); :class:`ValueError` when no row has a headline."""
    from profiler.export.plots import draw_png

    chart = compare_chart(result)
    if chart is None:
        raise ValueError("no row has a headline time")
    draw_png(chart, path)


def write_outputs(result: dict[str, Any], run_path: Path) -> dict[str, str]:
    """compare.json, compare.csv and compare.png in the run directory; returns their file names."""
    atomic_write_json(run_path / COMPARE_JSON, result)
    atomic_write_text(run_path / COMPARE_CSV, to_csv(result))
    files = {"json": COMPARE_JSON, "csv": COMPARE_CSV}
    try:
        write_chart(result, run_path / COMPARE_PNG)
        files["png"] = COMPARE_PNG
    except ImportError as e:  # the chart is optional; the table and files are not
        files["png_error"] = f"unavailable: matplotlib ({e})"
    except ValueError as e:
        files["png_error"] = f"not drawn: {e}"
    return files


__all__ = ["chart_bars", "headline_interval", "to_csv", "write_chart", "write_outputs"]
