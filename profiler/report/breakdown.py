"""Rich renderables for what explains a breakdown: input-bound verdict, roofline, GPU, pictures.

Used by :mod:`profiler.report.run` (one call per variant panel and one for the run's tail) and by
``profiler explain``. Like the rest of the report they read run.json records only.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text


def run_tail(record: dict[str, Any], run_dir: str | None) -> Text:
    """Pictures, calibration and trace-budget lines for the end of a run's report."""
    t = Text()
    plots = record.get("plots") or {}
    if run_dir and plots.get("breakdown"):
        t.append(f"\nbreakdown picture: {run_dir}/{plots['breakdown']}")
    for name in plots.get("roofline", []) if run_dir else []:
        t.append(f"\nroofline picture: {run_dir}/{name}")
    if plots.get("unavailable"):
        t.append(f"\npictures: {plots['unavailable']}", style="yellow")
    cal = record.get("calibration")
    if cal:
        t.append(f"\nceilings: {cal.get('summary')}", style="dim")
    return t


def calibration_table(rec: dict[str, Any], cache_file: str, cached: bool) -> Any:
    """``profiler calibrate``'s table of measured ceilings."""
    from rich.console import Group

    c = rec.get("cpu", {})
    t = Table(
        title=f"ceilings of this machine ({'cached' if cached else 'measured now'}: {rec.get('created')})",
        title_justify="left",
        header_style="bold",
    )
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_column("how")
    for k, v in (c.get("stream_gbs") or {}).items():
        t.add_row(
            f"CPU STREAM {k}",
            f"{v:,.1f} GB/s",
            f"{c.get('stream_kernel', 'numpy')}; float64, {c.get('stream_elements', 0):,} elements/array",
        )
    t.add_row("CPU SGEMM", f"{c.get('sgemm_gflops', 0):,.1f} GFLOP/s", f"numpy BLAS, n={c.get('sgemm_n')}")
    fma = c.get("fma_gflops")
    t.add_row("CPU FMA", f"{fma:,.1f} GFLOP/s" if fma else "–", c.get("fma_kernel") or "")
    t.add_row("CPU peak FLOP/s", f"{c.get('peak_gflops', 0):,.1f} GFLOP/s", c.get("flops_from") or "")
    t.add_row("CPU peak bandwidth", f"{c.get('peak_gbs', 0):,.1f} GB/s", c.get("bw_from") or "")
    if c.get("cache_gbs"):
        t.add_row(
            "CPU cache bandwidth",
            f"{c['cache_gbs']:,.1f} GB/s",
            (c.get("cache_from") or "") + f"; the roofline of ops of ≤ {c.get('cache_bytes', 0) / 2**20:.1f} MiB",
        )
    if c.get("peak_gbs"):
        t.add_row(
            "CPU balance", f"{c['peak_gflops'] / c['peak_gbs']:.1f} FLOP/B", "peak FLOP/s ÷ peak bandwidth"
        )
    g = rec.get("gpu") or {}
    if g.get("unavailable"):
        t.add_row("GPU", "–", g["unavailable"])
    else:
        t.add_row(f"GPU SGEMM ({g.get('device')})", f"{g.get('sgemm_gflops', 0):,.0f} GFLOP/s", "CuPy matmul")
        for k, v in (g.get("stream_gbs") or {}).items():
            t.add_row(f"GPU STREAM {k}", f"{v:,.0f} GB/s", "CuPy")
    from profiler.core.calibration import tracer_cost_line

    t.add_row("tracer cost per record", "", tracer_cost_line(rec))
    return Group(t, Text(f"cached in {cache_file}; took {rec.get('seconds')} s", style="dim"))
