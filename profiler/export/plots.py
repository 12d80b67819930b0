"""Pictures of a run record, written into the run directory: the roofline and the breakdown.

* ``roofline-<variant>.png`` — each costed op of a variant as a point at (arithmetic intensity,
  achieved GFLOP/s), its area proportional to its time per step, under the calibrated roofs
  (memory slope ``AI × GB/s`` up to the peak FLOP/s, meeting at the machine balance). Ops without
  FLOPs (pure data movement) have no place on the log axes and are listed in the title count only.
* ``breakdown.png`` — one stacked bar per variant: milliseconds per step by category, in the
  report's colours and priority order, with "not measured" categories hatched and labelled.

Renders from run.json only (no events), with matplotlib's non-interactive Agg backend, imported
here and nowhere else. Returns ``{name: file name}`` (or ``{"unavailable": reason}``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from profiler.core.categories import CATEGORIES, COLORS, LABELS
from profiler.sections.labels import distinct_labels

#: the report's category colours (rich names) as matplotlib colours


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_") or "variant"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def roofline_png(variant: dict[str, Any], path: Path) -> bool:
    """Draw one variant's roofline; ``False`` when it has no costed op with FLOPs."""
    rl = variant.get("roofline") or {}
    ops = [o for o in rl.get("ops", []) if o.get("intensity") and o.get("achieved_gflops")]
    if not ops:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10.5, 5), dpi=110)
    ceil = rl.get("ceilings")
    xs = [o["intensity"] for o in ops]
    ys = [o["achieved_gflops"] for o in ops]
    t = [o["time_ms_per_step"] for o in ops]
    tmax = max(t) or 1.0
    lo_x = min(*xs, 0.01) / 2
    hi_x = max(*xs, 100.0) * 2
    if ceil:
        peak, bw, bal = ceil["peak_gflops"], ceil["peak_gbs"], ceil["balance_flops_per_byte"]
        ax.plot([lo_x, bal], [lo_x * bw, peak], color="black", lw=1.5)
        ax.plot([bal, hi_x], [peak, peak], color="black", lw=1.5)
        ax.axvline(bal, color="grey", ls=":", lw=1)
        ax.text(bal, peak * 1.15, f"balance {bal:.1f} FLOP/B", ha="center", fontsize=8, color="grey")
        ax.text(hi_x / 1.5, peak * 1.05, f"{peak:,.0f} GFLOP/s", ha="right", fontsize=8)
        ax.text(lo_x * 1.5, lo_x * 1.5 * bw * 1.3, f"{bw:,.1f} GB/s", fontsize=8, rotation=28)
    colors = [COLORS["compute"] if o.get("bound") == "compute" else COLORS["memory_io"] for o in ops]
    ax.scatter(xs, ys, s=[30 + 600 * v / tmax for v in t], c=colors, alpha=0.7, edgecolors="black", lw=0.5)
    # numbered markers and a numbered legend: names never overlap each other or the points
    top = sorted(ops, key=lambda o: -o["time_ms_per_step"])[:8]
    for i, o in enumerate(top, 1):
        ax.annotate(str(i), (o["intensity"], o["achieved_gflops"]), fontsize=7, weight="bold",
                    xytext=(3, 3), textcoords="offset points")
    if top:
        key = "\n".join(f"{i}  {o['name'][:34]}  {o['time_ms_per_step']:.3g} ms" for i, o in enumerate(top, 1))
        ax.text(1.02, 1.0, key, transform=ax.transAxes, fontsize=7, va="top", family="monospace")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo_x, hi_x)
    ax.set_xlabel("arithmetic intensity (FLOP/byte, cost model)")
    ax.set_ylabel("achieved GFLOP/s")
    n_mem = len(rl.get("ops", [])) - len(ops)
    title = f"roofline · {variant.get('framework')}/{variant.get('variant')} · area = time/step"
    if not ceil:
        title += "\n(no calibrated ceilings: run `profiler calibrate`)"
    if n_mem:
        title += f"\n{n_mem} data-movement ops without FLOPs not drawn"
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def breakdown_png(variants: list[dict[str, Any]], path: Path) -> bool:
    """Stacked bars of ms/step per category, one bar per variant with a breakdown."""
    vs = [v for v in variants if v.get("breakdown")]
    if not vs:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(vs) + 3), 4.5), dpi=110)
    names = distinct_labels(vs)
    bottoms = [0.0] * len(vs)
    max_total = max(sum(v["breakdown"]["ms"].get(c, 0.0) for c in CATEGORIES) for v in vs) or 1.0
    for c in CATEGORIES:
        vals = [v["breakdown"]["ms"].get(c, 0.0) for v in vs]
        nm = [c in (v["breakdown"].get("not_measured") or {}) for v in vs]
        bars = ax.bar(names, vals, bottom=bottoms, color=COLORS[c], label=LABELS[c], edgecolor="white")
        for b, m in zip(bars, nm, strict=True):
            if m:
                b.set_hatch("//")
        for b, val in zip(bars, vals, strict=True):  # the value on its segment when it has room
            if val > 0 and b.get_height() >= 0.06 * max_total:
                ax.text(b.get_x() + b.get_width() / 2, b.get_y() + val / 2, f"{val:.3g}",
                        ha="center", va="center", fontsize=7, color="white")
        bottoms = [b + v for b, v in zip(bottoms, vals, strict=True)]
    for i, total in enumerate(bottoms):  # the step total above each bar
        ax.text(i, total, f"{total:.3g} ms", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, max_total * 1.18)  # room for the totals and notes: nothing clipped
    for i, v in enumerate(vs):
        nm = v["breakdown"].get("not_measured") or {}
        if nm:
            ax.text(
                i,
                bottoms[i] + max_total * 0.07,
                "not measured: " + ", ".join(LABELS[c] for c in nm),
                ha="center",
                fontsize=7,
            )
    comp = [bool(v["breakdown"].get("compensation")) for v in vs]
    ax.set_ylabel("ms per step (" + ("clean step, tracer cost removed" if all(comp) else
                                     "traced steps" if not any(comp) else "clean or traced: see each report") + ")")
    ax.set_title("where the step time goes (categories sum to step time)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    plt.setp(ax.get_xticklabels(), rotation=15, ha="right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def write_run_plots(record: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Write the PNGs of a run record into ``run_dir``; ``{what: file name}``."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return {"unavailable": "unavailable: matplotlib is not installed"}
    out: dict[str, Any] = {}
    run_dir = Path(run_dir)
    variants = [v for v in record.get("variants", []) if v.get("status") == "ok"]
    # a picture that fails to draw is reported, never allowed to fail the run it illustrates
    try:
        if breakdown_png(variants, run_dir / "breakdown.png"):
            out["breakdown"] = "breakdown.png"
    except Exception as e:
        out["breakdown_error"] = f"{type(e).__name__}: {e}"
    for v, label in zip(variants, distinct_labels(variants), strict=True):
        name = f"roofline-{_slug(label.replace('/', '-'))}.png"
        try:
            if roofline_png(v, run_dir / name):
                out.setdefault("roofline", []).append(name)
        except Exception as e:
            out.setdefault("roofline_errors", []).append(f"{name}: {type(e).__name__}: {e}")
    return out
