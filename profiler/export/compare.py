"""``compare``'s files in the run directory: ``compare.json``, ``compare.csv`` and ``compare.png``.

matplotlib (Agg backend) is imported only when the chart is written.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from profiler.analysis.compare import ROW_COLUMNS as CSV_COLUMNS
from profiler.core.categories import CATEGORIES, COLORS, LABELS
from profiler.core.files import atomic_write_json, atomic_write_text

COMPARE_JSON = "compare.json"
COMPARE_CSV = "compare.csv"
COMPARE_PNG = "compare.png"


def headline_interval(row: dict[str, Any]) -> tuple[float, float] | None:
    """The 95% CI of a row's step median (``step_ci95_low``/``_high``, from the record's
    ``step_ms.ci95``) in the headline's unit (``headline_s``); ``None`` without a CI."""
    lo, hi, med, h = row.get("step_ci95_low"), row.get("step_ci95_high"), row.get("step_ms"), row.get("headline_s")
    if lo is None or hi is None or not med or h is None:
        return None
    k = h / med  # headline seconds per ms of step: the same scale for the median and its CI
    return lo * k, hi * k


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


def chart_bars(result: dict[str, Any]) -> list[dict[str, Any]]:
    """What ``compare.png`` draws, per row: ``label``, ``status``, ``headline_s`` (the bar's height:
    the row's headline, i.e. the pooled median in the headline's unit), ``segments`` (category →
    seconds, the height split by the breakdown's shares, in stacking order; empty without a
    breakdown) and ``ci`` (the error bar, the CI of the same pooled median, or ``None``)."""
    out: list[dict[str, Any]] = []
    for r in result["rows"]:
        h = r.get("headline_s")
        segs: dict[str, float] = {}
        if h is not None:
            for c in CATEGORIES:
                p = r.get(f"{c}_pct")
                if p:
                    segs[c] = h * p / 100.0
        out.append({
            "label": f"{r['display']}\n{r['variant']}",
            "status": r.get("status"),
            "headline_s": h,
            "segments": {c: v for c, v in segs.items() if v > 0},
            "ci": headline_interval(r) if h is not None else None,
        })
    return out


def write_chart(result: dict[str, Any], path: Path) -> None:
    """Bar per framework × variant: the headline time, split by the traced breakdown's shares, with
    the 95% CI of the step median as an error bar (rows without one have none); the figures are
    :func:`chart_bars`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = chart_bars(result)
    labels = [b["label"] for b in bars]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(bars) + 2), 4.2), dpi=110)
    xs = list(range(len(bars)))
    for x, b in zip(xs, bars, strict=True):
        h = b["headline_s"]
        if h is None:
            ax.text(x, 0, b["status"] or "–", ha="center", va="bottom", rotation=90, fontsize=8)
            continue
        if not b["segments"]:
            ax.bar(x, h, color="#607d8b")
            continue
        bottom = 0.0
        for c, seg in b["segments"].items():
            ax.bar(x, seg, bottom=bottom, color=COLORS[c])
            bottom += seg
    for x, b in zip(xs, bars, strict=True):
        ci = b["ci"]
        if ci is not None:
            h = b["headline_s"]
            ax.errorbar(x, h, yerr=[[max(h - ci[0], 0.0)], [max(ci[1] - h, 0.0)]], fmt="none",
                        ecolor="black", elinewidth=1, capsize=4, zorder=3)
    if any(b["ci"] for b in bars):
        ax.set_xlabel("error bars: 95% CI of the step median", fontsize=7, color="0.3")
    unit = result["unit"]
    ax.set_ylabel(f"seconds per {unit}")
    ax.set_xticks(xs, labels, fontsize=8)
    ax.set_title(f"{result['scenario']} · {result.get('mode')} · preset {result['settings'].get('preset')}")
    from matplotlib.patches import Patch

    ax.legend(
        handles=[Patch(color=COLORS[c], label=LABELS[c]) for c in CATEGORIES],
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


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
    return files
