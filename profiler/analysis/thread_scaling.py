"""The thread sweep's figures from its worker entries, pure: per series and thread count the repeats
summarised, the fits (:mod:`profiler.analysis.thread_fits`) and which ops scale
(:mod:`profiler.analysis.op_scaling`). A saved sweep re-aggregates without re-running.
"""

from __future__ import annotations

import statistics
from typing import Any

from profiler.analysis.op_scaling import op_scaling
from profiler.analysis.stats import step_samples, step_stats
from profiler.analysis.thread_fits import SPREAD_WARN_PCT, Point, scaling_figures, spread_pct

#: A point whose threads got less than this share of the cores they could use gets a warning.
CONTENDED_SHARE = 0.6


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def scaling_result(
    entries: list[dict[str, Any]], series: list[str], threads: list[int], cores: int
) -> dict[str, Any]:
    """Per series: each thread count's repeats summarised, the fits, and the op explanation.

    ``entries`` are the worker entries of run.json (``series``, ``threads``, ``repeat``, ``status``,
    ``step_ms``, ``busy_threads`` ...), so a saved run can be re-aggregated without re-running it.
    """
    out_series = []
    warnings: list[str] = []
    for s in series:
        fw, _, variant = s.partition("/")
        mine = [e for e in entries if e.get("series") == s]
        pts: list[dict[str, Any]] = []
        for t in threads:
            reps = [e for e in mine if e.get("threads") == t]
            ok = [e for e in reps if e.get("status") == "ok" and (e.get("step_ms") or {}).get("median")]
            meds = [float(e["step_ms"]["median"]) for e in ok]
            busy = [e["busy_threads"] for e in ok if e.get("busy_threads")]
            resolved = [b for b in busy if b.get("resolved")]
            busy_counts = [int(b["busy"]) for b in resolved]
            par = [float(b["cpu_parallelism"]) for b in busy]
            pt: dict[str, Any] = {
                "threads": t,
                "oversubscribed": t > cores,
                "repeats": len(reps),
                "repeats_ok": len(ok),
                "median_ms": _median(meds) if meds else None,
                "min_ms": min(meds) if meds else None,
                "max_ms": max(meds) if meds else None,
                "repeat_medians_ms": meds,
                # 95% CI of the point's median: bootstrap over its repeats and their steps
                "ci95_ms": step_stats([g for e in ok for g in step_samples(e)])["ci95"] if ok else None,
                "spread_pct": spread_pct(meds) if meds else None,
                "busy_threads": _median(busy_counts) if busy_counts else None,
                "busy_threads_range": [min(busy_counts), max(busy_counts)] if busy_counts else None,
                "cpu_parallelism": _median(par) if par else None,
                "pinned_cpus": next((e.get("pinned_cpus") for e in ok if e.get("pinned_cpus")), None),
                "errors": sorted({str(e.get("error")) for e in reps if e.get("status") != "ok"}),
            }
            if busy_counts:
                bmed = pt["busy_threads"]
                pt["thread_mismatch"] = None if bmed == t else f"{bmed:g} busy thread(s) for {t} requested"
            elif ok:
                notes = [e.get("thread_mismatch") or e.get("busy_error") for e in ok]
                pt["thread_mismatch"] = next((n for n in notes if n), "busy threads not measured")
            else:
                pt["thread_mismatch"] = None
            if pt["spread_pct"] is not None and pt["spread_pct"] > SPREAD_WARN_PCT and len(meds) > 1:
                warnings.append(
                    f"{s} at {t} thread(s): repeats spread {pt['spread_pct']:.0f}% (> {SPREAD_WARN_PCT:.0f}%)"
                    " — the machine was noisy; treat this point with care"
                )
            if pt["thread_mismatch"] and busy_counts:
                warnings.append(f"{s} at {t} thread(s): {pt['thread_mismatch']}")
            want = min(t, cores)
            if pt["cpu_parallelism"] is not None and pt["cpu_parallelism"] < CONTENDED_SHARE * want:
                # Threads that are busy but get little CPU time are waiting for a core: someone
                # else is using the machine, and this point's time is pessimistic.
                warnings.append(
                    f"{s} at {t} thread(s): the worker's threads got {pt['cpu_parallelism']:.2f} cores' worth "
                    f"of CPU time on average for {want} usable — other processes competed for the cores, "
                    "or the framework waited"
                )
            pts.append(pt)
        measured = [p for p in pts if p["median_ms"]]
        figures = None
        if measured:
            sf = scaling_figures(
                [Point(p["threads"], p["median_ms"], p["spread_pct"] or 0.0) for p in measured],
                fit_max_threads=cores,
            )
            figures = sf.to_dict()
            by_t = {f.threads: f for f in sf.points}
            for p in pts:
                f = by_t.get(p["threads"])
                p["speedup"] = f.speedup if f else None
                p["efficiency"] = f.efficiency if f else None
                p["karp_flatt"] = f.karp_flatt if f else None
        traced = {e.get("threads"): e for e in mine if e.get("traced") and e.get("status") == "ok"}
        if len(threads) >= 2 and threads[0] in traced and threads[-1] in traced:
            expl = op_scaling(traced[threads[0]], traced[threads[-1]], s)
        elif len(threads) < 2:
            expl = {"available": False, "reason": "needs two thread counts"}
        else:
            expl = {
                "available": False,
                "reason": "no traced run at both the lowest and the highest count "
                "(the framework has no in-worker tracer here, or that worker failed)",
            }
        out_series.append(
            {
                "series": s,
                "framework": fw,
                "variant": variant,
                "points": pts,
                "figures": figures,
                "explanation": expl,
            }
        )
    return {"threads": threads, "cores": cores, "series": out_series, "warnings": warnings}
