"""Rich renderables for what explains a breakdown: input-bound verdict, roofline, GPU, pictures.

Used by :mod:`profiler.report.run` (one call per variant panel and one for the run's tail) and by
``profiler explain``. Like the rest of the report they read run.json records only.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from profiler.core.categories import CATEGORIES, LABELS


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def breakdown_details(v: dict[str, Any], roofline: bool = True) -> list[Any]:
    """Lines under a variant's breakdown table: verdict, loader, not-measured reasons, roofline (unless
    ``roofline`` is false), GPU."""
    out: list[Any] = []
    bd = v.get("breakdown") or {}
    if bd.get("describes"):
        out.append(Text(f"the breakdown describes {bd['describes']}", style="bold"))
    ib = bd.get("input_bound") or {}
    if ib:
        style = {"not input-bound": "green", "moderately input-bound": "yellow"}.get(ib.get("verdict"), "red")
        if ib.get("verdict") == "not measured":
            out.append(Text("input-bound: not measured (the input pipeline was not marked)", style="dim"))
        else:
            out.append(
                Text.assemble(
                    ("input: ", "bold"),
                    (ib["verdict"], f"bold {style}"),
                    f" — {ib['pct']:.1f}% of step time waiting for input or copying it to the device "
                    f"(TF Profiler's thresholds: <5% no, 5–20% moderately, ≥20% highly)",
                )
            )
    ld = bd.get("loader")
    if ld:
        total = (
            f"; {ld['spans']:,} items in {ld['work_ms_total']:.1f} ms of work over the whole recording"
            if "spans" in ld
            else ""
        )
        out.append(
            Text(
                f"loader workers: {ld['processes']} process(es) worked {ld['work_ms_per_step']:.2f} ms inside "
                f"each step (some worker busy {ld['busy_ms_per_step']:.2f} ms of it){total}",
                style="dim",
            )
        )
    for c, why in (bd.get("not_measured") or {}).items():
        out.append(Text(f"{LABELS.get(c, c)}: not measured — {why}", style="yellow"))
    for n in bd.get("notes") or []:
        out.append(Text(n, style="dim"))
    rl = v.get("roofline") or {}
    if rl.get("not_measured"):
        out.append(Text(f"roofline: not measured — {rl['not_measured']}", style="yellow"))
    elif rl.get("ops") and roofline:
        ceil = rl.get("ceilings")
        title = "roofline (cost model from recorded shapes"
        title += (
            f"; ceilings {ceil['peak_gflops']:,.1f} GFLOP/s, {ceil['peak_gbs']:,.1f} GB/s, "
            f"balance {ceil['balance_flops_per_byte']:.1f} FLOP/B)"
            if ceil
            else "; not calibrated: run `profiler calibrate`)"
        )
        t = Table(box=None, pad_edge=False, header_style="bold", title=title, title_justify="left")
        for col, j in (
            ("op", "left"),
            ("ms/step", "right"),
            ("FLOP/B", "right"),
            ("GFLOP/s", "right"),
            ("GB/s", "right"),
            ("% peak FLOP/s", "right"),
            ("% peak GB/s", "right"),
            ("bound", "left"),
        ):
            t.add_column(col, justify=j)
        for o in rl["ops"][:8]:
            t.add_row(
                o["name"][:40],
                f"{o['time_ms_per_step']:.3f}",
                "–" if o.get("intensity") is None else f"{o['intensity']:.2f}",
                f"{o['achieved_gflops']:.2f}",
                f"{o['achieved_gbs']:.2f}",
                _pct(o.get("frac_peak_flops")),
                _pct(o.get("frac_peak_bw")),
                o.get("bound") or "–",
            )
        out.append(t)
    g = v.get("gpu")
    if g:
        for d, dv in g["devices"].items():
            gaps = dv["idle_gaps_ms_per_step"]
            occ = dv.get("occupancy_estimate")
            line = (
                f"GPU {d}: busy {dv['busy_pct']:.1f}% of step ({dv['kernels_per_step']:,.0f} kernels/step); "
                f"idle gaps per step: host-launch-bound {gaps['host_launch_bound']:.3f} ms, kernel wait "
                f"{gaps['kernel_wait']:.3f} ms, other {gaps['other']:.3f} ms"
            )
            line += (
                f"; occupancy ≈ {100 * occ:.0f}%"
                if occ is not None
                else f"; occupancy {dv['occupancy_note']}"
            )
            out.append(Text(line, style="dim"))
        ld = g.get("launch_delay_us")
        out.append(
            Text(
                f"launches: {g['launch_calls_per_step']:,.0f} per step"
                + (f", launch→start delay median {ld['median']:.1f} µs (p90 {ld['p90']:.1f})" if ld else ""),
                style="dim",
            )
        )
    return out


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
    tb = record.get("trace_budget")
    if tb and tb.get("dropped_spans"):
        t.append(
            f"\ntrace budget {tb['budget_mb']} MB: dropped {tb['dropped_spans']:,} spans of ≤ "
            f"{tb['dropped_up_to_us']:.1f} µs ({tb['dropped_time_ms']:.1f} ms in all)"
            + (
                f", counters kept every {tb['counters_downsampled']['every_kth']}th sample"
                if tb.get("counters_downsampled")
                else ""
            ),
            style="yellow",
        )
    return t


def explanation_text(e: dict[str, Any]) -> list[Any]:
    """``profiler explain``: the gap split by category, the top op deltas and the sentence."""
    out: list[Any] = [Text(e["sentence"], style="bold")]
    t = Table(
        title="where the gap comes from (traced ms per step, slow − fast)",
        title_justify="left",
        header_style="bold",
    )
    t.add_column("category")
    t.add_column("Δ ms/step", justify="right")
    t.add_column("share of gap", justify="right")
    for c in CATEGORIES:
        t.add_row(LABELS[c], f"{e['category_delta_ms'][c]:+.3f}", f"{e['category_share_pct'][c]:.0f}%")
    out.append(t)
    if e.get("top_op_deltas"):
        t = Table(title="ops that account for it", title_justify="left", header_style="bold")
        for col in ("op", "where", "Δ self ms/step", "calls/step slow", "calls/step fast"):
            t.add_column(col, justify="left" if col in ("op", "where") else "right")
        for o in e["top_op_deltas"]:
            t.add_row(
                o["name"][:48],
                o["where"],
                f"{o['delta_ms']:+.3f}",
                f"{o['calls_slow']:,.0f}",
                f"{o['calls_fast']:,.0f}",
            )
        out.append(t)
    return out


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
