"""PNG plot of a thread-scaling result: speedup vs threads, one line per series, the ideal line.

Consumes the result dict of :func:`profiler.run.thread_sweep.scaling_result` (or ``scaling.json``). Log-log
axes, so ideal scaling is the diagonal. Each series is drawn from its measured points; its fitted
Amdahl curve (where there is one) is dashed in the same colour; counts above the core count are
shaded as oversubscribed. Error bars are the 95% CI of each point's median (bootstrap over its
repeats and their steps), or its repeats' range where no CI could be drawn
(:func:`speedup_interval`). matplotlib is imported with the Agg backend inside the function, so
nothing here needs a display or slows ``import``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def speedup_interval(point: dict[str, Any]) -> tuple[float, float] | None:
    """``(low, high)`` speedup from the point's 95% CI of its median (``ci95_ms``: bootstrap over its
    repeats and their steps) or, without one, its slowest and fastest repeat; ``None`` when neither
    exists. The baseline is the one behind ``speedup`` (``speedup × median_ms``)."""
    sp, med = point.get("speedup"), point.get("median_ms")
    if not sp or not med:
        return None
    ci = point.get("ci95_ms")
    if ci and ci[0] and ci[1]:
        lo, hi = ci
    else:
        lo, hi = point.get("min_ms"), point.get("max_ms")
        if not lo or not hi or (point.get("repeats_ok") or 0) < 2:
            return None
    base = sp * med
    return base / hi, base / lo


def write_scaling_png(result: dict[str, Any], path: Path, title: str = "speedup vs threads") -> Path:
    """Write the plot to ``path``; :class:`ValueError` when no series has a measured point."""
    series = [s for s in result.get("series", []) if s.get("figures")]
    if not series:
        raise ValueError("no series has a measured point")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    cores = int(result.get("cores") or 0)
    all_t = sorted({p["threads"] for s in series for p in s["points"] if p.get("speedup")})
    fig, ax = plt.subplots(figsize=(7.0, 4.5), dpi=110)
    with_bars = False
    try:
        lo, hi = all_t[0], all_t[-1]
        # sampled along the (log) axis, so the straight ideal line stays straight there
        ideal_x = [lo * (hi / lo) ** (k / 50) for k in range(51)]
        ax.plot(ideal_x, [x / lo for x in ideal_x], color="0.55", linestyle=":", label="ideal (linear)")
        if cores and hi > cores:
            ax.axvspan(cores, hi, color="0.92", zorder=0, label=f"oversubscribed (> {cores} cores)")
        for i, s in enumerate(series):
            pts = [p for p in s["points"] if p.get("speedup")]
            color = f"C{i % 10}"
            xs = [p["threads"] for p in pts]
            ys = [p["speedup"] for p in pts]
            ax.plot(xs, ys, marker="o", color=color, label=s["series"])
            bars = [(p["threads"], p["speedup"], iv) for p in pts if (iv := speedup_interval(p))]
            if bars:
                ax.errorbar([b[0] for b in bars], [b[1] for b in bars],
                            yerr=[[b[1] - b[2][0] for b in bars], [b[2][1] - b[1] for b in bars]],
                            fmt="none", ecolor=color, elinewidth=1, capsize=3)
                with_bars = True
            for p in pts:
                if p.get("thread_mismatch") and p.get("busy_threads") is not None:
                    ax.annotate(
                        f"{p['busy_threads']:g} busy",
                        (p["threads"], p["speedup"]),
                        textcoords="offset points",
                        xytext=(4, -12),
                        fontsize=7,
                        color=color,
                    )
            fit = (s["figures"] or {}).get("fit")
            base = (s["figures"] or {}).get("base_threads", lo)
            if fit and len(xs) >= 2:
                grid = [xs[0] * (xs[-1] / xs[0]) ** (k / 50) for k in range(51)]
                t_base = fit["serial_ms"] + fit["parallel_ms"] / base
                ax.plot(
                    grid,
                    [t_base / (fit["serial_ms"] + fit["parallel_ms"] / g) for g in grid],
                    linestyle="--",
                    linewidth=1,
                    color=color,
                    label=f"{s['series']} Amdahl f={fit['serial_fraction']:.2f}"
                    + (f" (through {fit['n_points']} points, not a fit)" if fit.get("exactly_determined") else ""),
                )
        # log-log: ideal scaling is the diagonal, and a constant efficiency a parallel line
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xticks(all_t)
        ax.set_xticklabels([str(t) for t in all_t])
        ax.set_xlabel("threads" + ("  (error bars: slowest–fastest repeat)" if with_bars else ""))
        ax.set_ylabel(f"speedup vs {lo} thread{'s' if lo > 1 else ''}")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        fig.savefig(tmp, format="png")
        tmp.replace(path)
    finally:
        plt.close(fig)
    return path


__all__ = ["speedup_interval", "write_scaling_png"]
