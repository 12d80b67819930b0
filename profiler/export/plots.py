"""PNG files of a run's figures: :func:`draw_png` draws a chart-data object
(:class:`profiler.export.charts.Chart`) with matplotlib — the same object the SVG of ``report.html``
and the Markdown report is drawn from, so the PNG and the page cannot show different numbers.

:func:`write_run_plots` writes a run's ``breakdown.png`` (one stacked bar per variant) and
``roofline-<entry>.png`` (each costed op under the calibrated roofs; one file per entry, entries that
differ only by a setting named apart by it: :mod:`profiler.sections.labels`) into its directory; compare's
``compare.png`` and scale's ``scaling.png`` are drawn here too (:mod:`profiler.export.compare`,
:mod:`profiler.export.thread_plot`). matplotlib (the non-interactive Agg backend) is imported in
this module only, inside the functions that draw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from profiler.export.charts import Chart, breakdown_chart, roofline_chart
from profiler.sections.labels import distinct_file_stems, distinct_labels

LINESTYLE = {"": "-", "dot": ":", "dash": "--"}
DPI = 110


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def png_figure(chart: Chart) -> Any:
    """``chart`` as a matplotlib figure (the caller closes it); its marks in the series' order."""
    plt = _plt()
    import matplotlib.ticker
    from matplotlib.patches import Patch

    w, h = chart.size
    side = 2.4 if chart.legend_entries() or chart.key_lines else 0.0
    fig, ax = plt.subplots(figsize=(w / 80 + side, h / 80 + 0.6), dpi=DPI)
    for sp in chart.spans:
        ax.axvspan(sp.x0, sp.x1, color=sp.color, zorder=0, label=sp.label or "_nolegend_")
    for s in chart.series:
        label = s.name or "_nolegend_"
        if s.kind == "line":
            ax.plot(s.x, s.y, color=s.color, linestyle=LINESTYLE[s.dash], linewidth=s.width,
                    marker="o" if s.marker else None, markersize=4, label=label)
        elif s.kind == "bars":
            bars = ax.bar(s.x, s.y, bottom=list(s.base) or None, width=0.6,
                          color=[s.color_of(i) for i in range(len(s.x))], label=label, edgecolor="white")
            for i, b in enumerate(bars):
                if s.hatch and s.hatch[i]:
                    b.set_hatch("//")
                if i < len(s.labels) and s.labels[i]:
                    ax.text(b.get_x() + b.get_width() / 2, b.get_y() + s.y[i] / 2, s.labels[i], ha="center",
                            va="center", fontsize=7, color="white")
        elif s.kind == "errors":
            ax.errorbar(list(s.x), list(s.y), yerr=[[max(y - lo, 0.0) for y, lo in zip(s.y, s.low, strict=True)],
                                                    [max(hi - y, 0.0) for y, hi in zip(s.y, s.high, strict=True)]],
                        fmt="none", ecolor=s.color, elinewidth=1, capsize=3, zorder=3, label=label)
        elif s.kind == "points":
            ax.scatter(s.x, s.y, s=[30 + 600 * z for z in s.size] if s.size else 30,
                       c=[s.color_of(i) for i in range(len(s.x))], alpha=0.7, edgecolors="black", linewidths=0.5,
                       label=label, zorder=3)
            for i, t in enumerate(s.labels):
                if t:
                    ax.annotate(t, (s.x[i], s.y[i]), fontsize=7, weight="bold", xytext=(3, 3),
                                textcoords="offset points")
        else:
            raise ValueError(f"unknown series kind {s.kind!r}")
    for t in chart.texts:
        ax.annotate(t.text, (t.x, t.y), xytext=(t.dx, t.dy), textcoords="offset points", ha={
            "start": "left", "middle": "center", "end": "right"}[t.anchor], va="baseline", fontsize=t.size - 1,
            color=t.color)
    if chart.xlog:
        ax.set_xscale("log", base=chart.xlog)
    if chart.ylog:
        ax.set_yscale("log", base=chart.ylog)
        if chart.ylog == 2:
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    if chart.xlim:
        ax.set_xlim(*chart.xlim)
    if chart.ylim:
        ax.set_ylim(*chart.ylim)
    if chart.categories:
        ax.set_xticks(range(len(chart.categories)), list(chart.categories), fontsize=8)
        if max(len(c) for c in chart.categories) > 14:
            import matplotlib.pyplot as pyplot

            pyplot.setp(ax.get_xticklabels(), rotation=15, ha="right")
    elif chart.xticks:
        ax.set_xticks(list(chart.xticks), [f"{t:g}" for t in chart.xticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel(chart.xlabel, fontsize=8 if chart.categories else 10)
    ax.set_ylabel(chart.ylabel)
    ax.set_title("\n".join((chart.title, *chart.notes)), fontsize=9)
    ax.grid(True, which="both" if chart.xlog or chart.ylog else "major", alpha=0.2)
    entries = chart.legend_entries()
    if entries:
        from matplotlib.lines import Line2D

        handles = [Patch(color=c, label=label) if mark == "box" else
                   Line2D([], [], color=c, marker="|", linestyle="none", markersize=10, label=label) if mark == "errors"
                   else Line2D([], [], color=c, linestyle=LINESTYLE["" if mark == "line" else mark], label=label)
                   for label, c, mark in entries]
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if chart.key_lines:
        ax.text(1.02, 0.0, "\n".join(chart.key_lines), transform=ax.transAxes, fontsize=7, va="bottom",
                family="monospace")
    fig.tight_layout()
    return fig


def draw_png(chart: Chart, path: Path | str) -> Path:
    """Write ``chart`` as a PNG to ``path`` (atomically: a reader never sees half a file)."""
    plt = _plt()
    fig = png_figure(chart)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fig.savefig(tmp, format="png")
        tmp.replace(path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path


def roofline_png(variant: dict[str, Any], path: Path, label: str | None = None) -> bool:
    """Draw one variant's roofline; ``False`` when it has no costed op with FLOPs."""
    chart = roofline_chart(variant, label)
    if chart is None:
        return False
    draw_png(chart, path)
    return True


def breakdown_png(variants: list[dict[str, Any]], path: Path) -> bool:
    """Stacked bars of ms/step per category, one bar per variant with a breakdown."""
    chart = breakdown_chart(variants)
    if chart is None:
        return False
    draw_png(chart, path)
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
    labels = distinct_labels(variants)
    # one file per entry: entries that differ only by a setting (threads, repeat, world size) apart
    for v, label, stem in zip(variants, labels, distinct_file_stems(labels), strict=True):
        chart = None
        try:
            chart = roofline_chart(v, label, key=f"roofline-{stem}")
            if chart is not None:
                draw_png(chart, run_dir / f"{chart.key}.png")
                out.setdefault("roofline", []).append(f"{chart.key}.png")
        except Exception as e:
            name = f"{chart.key}.png" if chart is not None else label
            out.setdefault("roofline_errors", []).append(f"{name}: {type(e).__name__}: {e}")
    return out
