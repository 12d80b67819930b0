"""The thread sweep's files in the run directory: ``scaling.csv`` and ``scaling.png``
(``scaling.json`` is written by :mod:`profiler.run.thread_sweep`)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from profiler.core.files import atomic_write_text
from profiler.export.thread_plot import write_scaling_png

SCALING_JSON = "scaling.json"
SCALING_CSV = "scaling.csv"
SCALING_PNG = "scaling.png"


CSV_COLUMNS = (
    "series",
    "framework",
    "variant",
    "threads",
    "oversubscribed",
    "median_ms",
    "min_ms",
    "max_ms",
    "spread_pct",
    "repeats_ok",
    "speedup",
    "efficiency",
    "karp_flatt",
    "busy_threads",
    "cpu_parallelism",
    "thread_mismatch",
    "pinned_cpus",
)


def to_csv(result: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for s in result["series"]:
        for p in s["points"]:
            row = {**p, "series": s["series"], "framework": s["framework"], "variant": s["variant"]}
            vals = []
            for c in CSV_COLUMNS:
                v = row.get(c)
                if isinstance(v, float):
                    v = f"{v:.6g}"
                elif isinstance(v, list):
                    v = " ".join(map(str, v))
                elif v is None:
                    v = ""
                vals.append(v)
            w.writerow(vals)
    return buf.getvalue()


def write_outputs(run_path: Path, result: dict[str, Any], scenario: str) -> dict[str, str | None]:
    """scaling.csv and scaling.png in the run directory; returns their paths (None: not written)."""
    files: dict[str, str | None] = {"json": str(run_path / SCALING_JSON)}
    atomic_write_text(run_path / SCALING_CSV, to_csv(result))
    files["csv"] = str(run_path / SCALING_CSV)
    try:
        files["png"] = str(write_scaling_png(result, run_path / SCALING_PNG, title=f"{scenario}: speedup"))
    except ValueError as e:  # nothing measured: no plot, the reason goes in the record
        files["png"] = None
        result.setdefault("warnings", []).append(f"no plot: {e}")
    return files
