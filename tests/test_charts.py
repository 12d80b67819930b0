"""Every figure is one chart-data object computed from the record (export/charts.py), and the page's
SVG, the Markdown report's SVG files and the PNGs are drawn from that object: each chart's numbers
are the record's own fields, and each drawer shows the object's values and no others."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from profiler.analysis.compare import saved_result
from profiler.core.categories import CATEGORIES, LABELS
from profiler.export.charts import (
    Chart,
    Series,
    Span,
    Text,
    breakdown_chart,
    compare_chart,
    headline_interval,
    roofline_chart,
    scaling_chart,
    speedup_interval,
)
from profiler.export.svg import draw_svg
from profiler.sections.labels import distinct_labels

RECORDS = Path(__file__).resolve().parent / "data" / "records"


def _record(name: str) -> dict:
    return json.loads((RECORDS / f"{name}.json").read_text())


def _ok(rec: dict) -> list[dict]:
    return [v for v in rec["variants"] if v.get("status") == "ok"]


def _roofline_variant() -> dict:
    rec = _record("every_section")
    return next(v for v in rec["variants"] if (v.get("roofline") or {}).get("ops"))


# ── each chart holds the record's numbers ─────────────────────────────────────────────────────────


@pytest.mark.parametrize("name", ["trace", "compare", "every_section"])
def test_breakdown_chart_is_the_records_ms_per_category(name: str) -> None:
    vs = _ok(_record(name))
    chart = breakdown_chart(vs)
    assert chart is not None and chart.categories == tuple(distinct_labels(vs))
    bottoms = [0.0] * len(vs)
    for c in CATEGORIES:
        s = chart.find(LABELS[c])
        assert s.kind == "bars" and s.y == tuple(float(v["breakdown"]["ms"].get(c) or 0.0) for v in vs)
        assert s.base == pytest.approx(bottoms)
        assert s.hatch == tuple(c in (v["breakdown"].get("not_measured") or {}) for v in vs)
        bottoms = [b + y for b, y in zip(bottoms, s.y, strict=True)]
    totals = [t for t in chart.texts if t.text.endswith(" ms")]
    assert [t.y for t in totals] == pytest.approx([sum(v["breakdown"]["ms"].values()) for v in vs])
    assert breakdown_chart([{"status": "ok"}]) is None  # nothing to draw: no chart, not an empty one


def test_roofline_chart_is_the_records_costed_ops() -> None:
    v = _roofline_variant()
    chart = roofline_chart(v)
    ops = sorted((o for o in v["roofline"]["ops"] if (o.get("intensity") or 0) > 0 and (o.get("achieved_gflops") or 0) > 0),
                 key=lambda o: -o["time_ms_per_step"])
    (pts,) = [s for s in chart.series if s.kind == "points"]
    assert pts.x == tuple(o["intensity"] for o in ops) and pts.y == tuple(o["achieved_gflops"] for o in ops)
    assert pts.size == pytest.approx([o["time_ms_per_step"] / ops[0]["time_ms_per_step"] for o in ops])
    assert pts.labels[:3] == ("1", "2", "3") and len(chart.key_lines) == min(10, len(ops))
    assert chart.key_lines[0].split()[1] == ops[0]["name"][:34]
    ceil = v["roofline"]["ceilings"]
    roof = chart.series[0]
    assert roof.y[1:] == (ceil["peak_gflops"], ceil["peak_gflops"]) and roof.x[1] == ceil["balance_flops_per_byte"]
    n_flat = len(v["roofline"]["ops"]) - len(ops)
    assert f"{n_flat} data-movement op(s) without FLOPs not drawn" in chart.notes
    assert roofline_chart({"roofline": {"ops": [{"name": "copy", "intensity": None}]}}) is None


def test_compare_chart_is_the_rows_headlines_and_cis() -> None:
    result = saved_result(_record("compare"))
    chart = compare_chart(result)
    rows = result["rows"]
    stacked = [s for s in chart.series if s.kind == "bars"]
    for i, r in enumerate(rows):  # the segments add up to the headline, split by the breakdown's shares
        assert sum(s.y[i] for s in stacked) == pytest.approx(r["headline_s"])
        for c in CATEGORIES:
            if r.get(f"{c}_pct"):
                assert chart.find(LABELS[c]).y[i] == pytest.approx(r["headline_s"] * r[f"{c}_pct"] / 100)
    err = chart.find("95% CI of the step median")
    assert list(zip(err.low, err.high, strict=True)) == [headline_interval(r) for r in rows]
    assert err.y == tuple(r["headline_s"] for r in rows)
    assert chart.ylabel == f"seconds per {result['unit']}"


def test_scaling_chart_is_the_sweeps_speedups() -> None:
    res = _record("scale")["scaling"]
    chart = scaling_chart(res, "title")
    for s in res["series"]:
        pts = [p for p in s["points"] if p.get("speedup")]
        line = chart.find(s["series"])
        assert line.x == tuple(float(p["threads"]) for p in pts) and line.y == tuple(p["speedup"] for p in pts)
        errs = [e for e in chart.series if e.kind == "errors" and e.color == line.color]
        ivs = [speedup_interval(p) for p in pts if speedup_interval(p)]
        assert [(lo, hi) for e in errs for lo, hi in zip(e.low, e.high, strict=True)] == ivs
    assert chart.xticks == tuple(float(t) for t in res["threads"])
    assert chart.notes == ("error bars: slowest–fastest repeat (points without one have none)",)  # no CI stored
    ideal = chart.find("ideal (linear)")
    assert ideal.y == pytest.approx([x / ideal.x[0] for x in ideal.x])
    assert scaling_chart({"series": []}) is None


# ── the drawers show the object's values ─────────────────────────────────────────────────────────


def _toy() -> Chart:
    """A chart no builder makes: the drawers can only have its numbers from the object itself."""
    return Chart(
        "toy", "toy chart", "x", "value", (
            Series("a", "bars", (0.0, 1.0), (2.5, 4.25), "#123456", base=(0.0, 0.0), hatch=(False, True)),
            Series("b", "bars", (0.0, 1.0), (1.5, 0.0), "#654321", base=(2.5, 4.25)),
            Series("ci", "errors", (0.0, 1.0), (4.0, 4.25), "#000", low=(3.5, 3.75), high=(4.5, 5.0)),
            Series("line", "line", (0.0, 1.0), (1.0, 3.0), "#0a0", marker=True, dash="dash"),
            Series("", "points", (0.5,), (2.0,), size=(0.5,), labels=("1",)),
        ), categories=("one", "two"), xlim=(-0.6, 1.4), ylim=(0.0, 6.0), texts=(Text(0.0, 4.0, "4 ms", dy=3),),
        spans=(Span(0.9, 1.4, "#eee", "shaded"),), notes=("a note",), key_lines=("1  op  2 ms",))


def _svg_values(svg: str) -> dict[str, list]:
    return {
        "rect": [float(x) for x in re.findall(r'<rect [^>]*data-y="([^"]+)"', svg)],
        "circle": [float(x) for x in re.findall(r'<circle [^>]*data-y="([^"]+)"', svg)],
        "errors": [(float(a), float(b)) for a, b in re.findall(r'data-lo="([^"]+)" data-hi="([^"]+)"', svg)],
    }


def test_svg_draws_the_objects_values() -> None:
    chart = _toy()
    svg = draw_svg(chart)
    got = _svg_values(svg)
    assert got["rect"] == [2.5, 4.25, 1.5]  # every bar above zero, in series order
    assert got["circle"] == [1.0, 3.0, 2.0]  # the line's markers, then the point
    assert got["errors"] == [(3.5, 4.5), (3.75, 5.0)]
    assert ">4 ms</text>" in svg and ">one</text>" in svg and ">shaded</text>" in svg  # text, categories, legend
    assert "toy chart" not in svg.replace('aria-label="toy chart"', "") and "a note" not in svg  # the page gives them
    alone = draw_svg(chart, standalone=True)
    assert ">toy chart</text>" in alone and ">a note</text>" in alone and ">1  op  2 ms</text>" in alone
    assert alone.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and _svg_values(alone) == got


def test_png_draws_the_objects_values() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from profiler.export.plots import png_figure

    chart = _toy()
    fig = png_figure(chart)
    try:
        ax = fig.axes[0]
        heights = [p.get_height() for p in ax.containers[0]] + [p.get_height() for p in ax.containers[1]]
        assert heights == [2.5, 4.25, 1.5, 0.0]
        assert [p.get_y() for p in ax.containers[1]] == [2.5, 4.25]  # stacked on the first series
        assert ax.containers[0][1].get_hatch() == "//"
        lines = [ln for ln in ax.lines if ln.get_label() == "line"]
        assert list(lines[0].get_ydata()) == [1.0, 3.0] and lines[0].get_linestyle() == "--"
        err = ax.containers[2]  # the error bars: their ends are the object's low and high
        segs = err.lines[2][0].get_segments()
        assert [(s[0][1], s[1][1]) for s in segs] == [(3.5, 4.5), (3.75, 5.0)]
        from matplotlib.collections import PathCollection

        (scatter,) = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert scatter.get_offsets().tolist() == [[0.5, 2.0]]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["one", "two"]
        assert ax.get_title() == "toy chart\na note" and ax.get_ylim() == (0.0, 6.0)
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["shaded", "a", "b", "ci", "line"]
    finally:
        plt.close(fig)


# ── one object per figure feeds every output ─────────────────────────────────────────────────────


def test_pngs_and_the_page_are_drawn_from_one_object(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    from profiler.export import plots
    from profiler.export.html import render_html

    drawn: dict[str, Chart] = {}
    real = plots.draw_png

    def spy(chart: Chart, path: Path) -> Path:
        drawn[Path(path).name] = chart
        return real(chart, path)

    monkeypatch.setattr(plots, "draw_png", spy)
    rec = _record("compare")
    out = plots.write_run_plots(rec, tmp_path)
    assert out["breakdown"] == "breakdown.png" and (tmp_path / "breakdown.png").stat().st_size > 5_000
    vs = _ok(rec)
    assert drawn["breakdown.png"] == breakdown_chart(vs)
    for v, label in zip(vs, distinct_labels(vs), strict=True):
        chart = roofline_chart(v, label)
        assert drawn[f"{chart.key}.png"] == chart
    page = render_html(rec)
    assert draw_svg(breakdown_chart(vs)) in page and draw_svg(compare_chart(saved_result(rec))) in page
    for v, label in zip(vs, distinct_labels(vs), strict=True):
        assert draw_svg(roofline_chart(v, label)) in page
    from profiler.export.compare import write_chart
    from profiler.export.thread_plot import write_scaling_png

    write_chart(saved_result(rec), tmp_path / "compare.png")
    assert drawn["compare.png"] == compare_chart(saved_result(rec))
    scale = _record("scale")
    write_scaling_png(scale["scaling"], tmp_path / "scaling.png")
    assert drawn["scaling.png"] == scaling_chart(scale["scaling"])
    assert draw_svg(scaling_chart(scale["scaling"])) in render_html(scale)


def test_markdown_file_links_its_charts_as_svg_files() -> None:
    from profiler.core.record import RunRecord
    from profiler.render.base import RenderOptions
    from profiler.render.markdown import MarkdownRenderer, figures
    from profiler.sections.document import build

    report = build(RunRecord.from_dict(_record("compare")), "/runs/fixture")
    md = MarkdownRenderer()
    options = RenderOptions(charts="r-charts")
    text = md.render(report, options)
    files = md.files(report, options)
    charts = figures(report)
    assert set(charts) == {"breakdown", "roofline:0", "roofline:1", "compare_table"}
    assert {f"r-charts/{c.key}.svg" for c in charts.values()} == set(files)
    for c in charts.values():
        path = f"r-charts/{c.key}.svg"
        assert f"]({path})" in text and files[path] == draw_svg(c, standalone=True) + "\n"
    # on stdout (no folder for files) the report links nothing
    assert "](" not in md.render(report, RenderOptions()) and md.files(report, RenderOptions()) == {}
