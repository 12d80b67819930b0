"""``report.html``: one self-contained page of a run record, readable offline (docs/cli.md).

No network and no external file: the CSS and the JavaScript that sorts the tables are inlined; the
charts are inline SVG drawn by :func:`profiler.export.svg.draw_svg` from the chart objects of
:mod:`profiler.export.charts`, the objects the PNGs are drawn from. Key figures carry a ``data-key``
attribute (``step-median:<framework>/<variant>``, ``compare-step:…``, ``scale-median:<series>@<n>``,
``roofline-ms:…``) that ``tests/test_html_report.py`` compares with ``run.json``. Only the probe time
series are read from the workers' saved events; everything else comes from the record.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from profiler.core.categories import CATEGORIES, COLORS, LABELS
from profiler.core.files import atomic_write_text
from profiler.core.record import RunRecord
from profiler.export.charts import (
    ROOFLINE_LABELS,
    breakdown_chart,
    compare_chart,
    probe_chart,
    roofline_chart,
    roofline_ops,
    scaling_chart,
)
from profiler.export.svg import draw_svg, esc
from profiler.sections.blocks import Bar, Block, Line
from profiler.sections.document import build
from profiler.sections.first import find
from profiler.sections.labels import modes_phrase, steps_phrase

FILE = "report.html"

#: Probe counters drawn as time series: (counter name in the saved events, label, unit). The names are
#: the process probe's (``profiler/probes/process.py``) and the NVML probe's (``probes/nvml.py``);
#: tests/test_html_report.py checks them against those modules' constants.
PROCESS_SERIES = (("rss MiB", "RSS", "MiB"), ("cpu % process tree", "CPU, process tree", "% of a core"))
GPU_SERIES = re.compile(r"gpu(\d+) (power W|sm clock MHz|mem clock MHz|util %)$")
MAX_POINTS = 200  # per time series: enough for a 300-pixel chart, small in the page

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1150px}
h1{font-size:1.3em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ccc}h3{margin:1.2em 0 .3em}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}th.sort{cursor:pointer;text-decoration:underline dotted}
.nw{white-space:nowrap}.warn{color:#a05a00}.bad{color:#b00}.dim{color:#666}.legend span{margin-right:1em}
.sw{display:inline-block;width:.9em;height:.9em;vertical-align:middle;margin-right:.3em}
.row{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}figure{margin:.3em 0}
figcaption{font-size:12px;color:#444}caption{text-align:left;font-weight:600}.good{color:#2a7a2a}section.variant{border-left:3px solid #ccd;padding-left:.8em;margin:1em 0}
code{background:#f4f4f4;padding:0 .2em}
"""

JS = """
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('thead th').forEach(function(th,i){th.classList.add('sort');th.title='sort';
    th.addEventListener('click',function(){
    var rows=Array.from(t.tBodies[0].rows),asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
    rows.sort(function(a,b){var x=a.cells[i].dataset.v||a.cells[i].textContent,y=b.cells[i].dataset.v||b.cells[i].textContent;
      var nx=parseFloat(x),ny=parseFloat(y);var c=(isNaN(nx)||isNaN(ny))?x.localeCompare(y):nx-ny;return asc?c:-c;});
    rows.forEach(function(r){t.tBodies[0].appendChild(r);});});});
});
"""

_e = esc


def _ms(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:,.3f}" if v < 10 else f"{v:,.1f}"


def _num(v: Any, nd: int = 3) -> str:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return _e(v)
    return f"{v:,.{nd}g}" if isinstance(v, float) else f"{v:,}"


def _name(v: dict[str, Any]) -> str:
    return f"{v.get('framework')}/{v.get('variant')}"


def _legend() -> str:
    return '<div class="legend">' + "".join(
        f'<span><i class="sw" style="background:{COLORS[c]}"></i>{_e(LABELS[c])}</span>' for c in CATEGORIES
    ) + "</div>"


# ── the summary ─────────────────────────────────────────────────────────────────────────────────


def stacked_svg(pct: dict[str, float], ms: dict[str, float], width: int = 420, height: int = 22) -> str:
    """One stacked bar (shares of the traced step), each category in its colour, with its title."""
    x = 0.0
    parts = []
    for c in CATEGORIES:
        w = width * pct.get(c, 0.0) / 100.0
        if w <= 0:
            continue
        parts.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{COLORS[c]}">'
            f"<title>{_e(LABELS[c])}: {_ms(ms.get(c))} ms/step ({pct.get(c, 0.0):.1f}%)</title></rect>"
        )
        if w > 38:
            parts.append(
                f'<text x="{x + w / 2:.1f}" y="{height - 6}" font-size="11" text-anchor="middle" '
                f'fill="#fff">{pct.get(c, 0.0):.0f}%</text>'
            )
        x += w
    return f'<svg width="{width}" height="{height}" role="img">{"".join(parts)}</svg>'


def _uncertainty(st: dict[str, Any]) -> str:
    ci = st.get("ci95")
    if isinstance(ci, list) and len(ci) == 2 and None not in ci:
        if (st.get("n_processes") or 0) > 1:
            return f"CI95 over {st['n_processes']} processes {_ms(ci[0])}–{_ms(ci[1])} ms"
        return f"95% interval within one process {_ms(ci[0])}–{_ms(ci[1])} ms (a rerun can fall outside it)"
    if st.get("mad") is not None:
        return f"MAD {_ms(st['mad'])} ms"
    if st.get("spread_pct") is not None:
        return f"min–max spread {st['spread_pct']:.0f}% (min {_ms(st.get('min'))}, max {_ms(st.get('max'))})"
    return "no spread"


def _summary(record: dict[str, Any]) -> str:
    rows = []
    for v in record.get("variants", []):
        name = _name(v)
        st = v.get("step_ms") or {}
        bd = v.get("breakdown") or {}
        ok = v.get("status") == "ok"
        rows.append(
            f"<tr><td>{_e(name)}</td>"
            f'<td class="n" data-key="step-median:{_e(name)}" data-v="{st.get("median", "")}">'
            f"{_ms(st.get('median')) if ok else '–'}</td>"
            f'<td class="dim nw">{_e(_uncertainty(st)) if ok else ""}</td>'
            f"<td>{stacked_svg(bd['pct'], bd['ms'], 380) if ok and bd.get('pct') else ''}</td>"
            f'<td class="{"" if ok else "bad"}">{_e(v.get("status"))}'
            f"{'' if ok else ': ' + _e(str(v.get('error') or '').removeprefix('unavailable: '))}</td></tr>"
        )
    return (
        '<table class="sortable" id="summary"><thead><tr><th>variant</th><th class="n">step ms (median)</th>'
        "<th>uncertainty</th><th>breakdown of the traced step</th><th>status</th></tr></thead><tbody>"
        + "".join(rows) + "</tbody></table>" + _legend() + _breakdown_chart(record)
    )


def _breakdown_chart(record: dict[str, Any]) -> str:
    """The breakdown chart of the run's variants (the object ``breakdown.png`` is drawn from)."""
    chart = breakdown_chart([v for v in record.get("variants") or [] if v.get("status") == "ok"])
    return f"<figure>{draw_svg(chart)}</figure>" if chart is not None else ""


def _verdicts(record: dict[str, Any]) -> str:
    comps = record.get("comparisons") or []
    if not comps:
        return "<p class=dim>no comparisons (one variant, or none ran)</p>"
    items = []
    for c in comps:
        v = f"<b>[{_e(c['verdict'])}]</b> " if c.get("verdict") else ""
        items.append(f'<li data-key="speedup:{_e(c.get("fast"))}|{_e(c.get("slow"))}" '
                     f'data-v="{c.get("speedup")}">{v}{_e(c.get("sentence", ""))}</li>')
    return "<ul>" + "".join(items) + "</ul>"


def _warnings(record: dict[str, Any]) -> str:
    ws = record.get("warnings") or []
    if not ws:
        return "<p class=dim>none</p>"
    return '<ul id="warnings">' + "".join(f'<li class="warn">{_e(w)}</li>' for w in ws) + "</ul>"


# ── per variant ─────────────────────────────────────────────────────────────────────────────────


def roofline_svg(v: dict[str, Any], label: str | None = None) -> str:
    """The variant's roofline chart (:func:`profiler.export.charts.roofline_chart`, the object
    ``roofline-*.png`` is drawn from) and, beside it, its numbered ops as a sortable table."""
    rl = v.get("roofline") or {}
    if rl.get("not_measured"):
        return f'<p class="warn">roofline: not measured — {_e(rl["not_measured"])}</p>'
    chart = roofline_chart(v, label)
    if chart is None:
        return ""
    key = _name(v)
    ranked = roofline_ops(v)[:ROOFLINE_LABELS]
    legend = "".join(
        f"<tr><td class=n>{i}</td><td>{_e(o['name'])}</td>"
        f'<td class=n data-key="roofline-ms:{_e(key)}:{i}" data-v="{o["time_ms_per_step"]}">{o["time_ms_per_step"]:.3g}</td>'
        f"<td class=n>{o['intensity']:.3g}</td><td class=n>{o['achieved_gflops']:.3g}</td>"
        f"<td class=n>{'–' if o.get('frac_peak_flops') is None else format(100 * o['frac_peak_flops'], '.1f')}</td>"
        f"<td>{_e(o.get('bound') or '–')}</td></tr>"
        for i, o in enumerate(ranked, 1)
    )
    return (
        '<div class="row"><figure>' + draw_svg(chart) + f"<figcaption>{_e('; '.join(chart.notes))}</figcaption></figure>"
        '<table class="sortable"><thead><tr><th class=n>#</th><th>op</th><th class=n>ms/step</th>'
        "<th class=n>FLOP/B</th><th class=n>GFLOP/s</th><th class=n>% peak</th><th>bound</th></tr></thead>"
        f"<tbody>{legend}</tbody></table></div>"
    )


#: html classes of the line tones
TONE_CLASS = {"plain": "", "dim": "dim", "strong": "strong", "warn": "warn", "bad": "bad", "good": "good"}


def html_block(b: Block) -> str:
    """One section block as HTML: a paragraph, or a sortable table (bars as inline SVG)."""
    if isinstance(b, Line):
        cls = TONE_CLASS.get(b.tone, "")
        text = f"<b>{_e(b.text)}</b>" if b.tone == "strong" else _e(b.text)
        return f'<p class="{cls}">{text}</p>' if cls else f"<p>{text}</p>"
    head = "".join(f'<th class="{"n" if c.right else ""}">{_e(c.name if c.name != "bar" else "")}</th>'
                   for c in b.columns)
    rows = []
    for r in b.rows:
        cells = []
        for c, col in zip(r, b.columns, strict=False):
            if isinstance(c, Bar):
                cells.append(f"<td>{stacked_svg(c.as_dict(), {}, width=160, height=12)}</td>")
            else:
                cells.append(f'<td class="{"n" if col.right else ""}">{_e(c)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    title = f"<caption>{_e(b.title)}</caption>" if b.title else ""
    return (f'<table class="sortable" data-table="{_e(b.key)}">{title}<thead><tr>{head}</tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def html_sections(pairs: list[tuple[Any, tuple[Block, ...]]]) -> str:
    """Each section's blocks under its title (``data-section`` names its key)."""
    return "".join(f'<div class="section" data-section="{_e(sec.key)}"><h4>{_e(sec.title)}</h4>'
                   + "".join(html_block(b) for b in blocks) + "</div>" for sec, blocks in pairs)


def _probe_figures(v: dict[str, Any]) -> str:
    """The record's probe figures (``probe_summary``), one row per figure; NVML's are per GPU."""
    rows = []
    for p, d in (v.get("probe_summary") or {}).items():
        items = [(f"gpu {g.get('gpu')} ", g) for g in d if isinstance(g, dict)] if isinstance(d, list) else [("", d)]
        for prefix, fig in items:
            if not isinstance(fig, dict):
                continue
            for k, x in fig.items():
                if prefix and k == "gpu":
                    continue
                shown = (", ".join(map(str, x)) or "none") if isinstance(x, list) else _num(x)
                rows.append(f"<tr><td>{_e(p)}</td><td>{_e(prefix + k)}</td><td class=n>{shown}</td></tr>")
    return ("<table><thead><tr><th>probe</th><th>figure</th><th class=n>value</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>") if rows else ""


def probe_series(run_dir: Path | str | None, v: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The sampled probe counters of one worker, from its saved events: ``([series], note)`` — the
    note says why the events could not be read, or which idle GPUs were left out.

    Each series: ``label``, ``unit``, ``t_s`` (seconds from the first sample), ``values`` (at most
    :data:`MAX_POINTS`, every k-th sample), ``n`` (samples recorded), ``min``/``max`` (of all of
    them), and the step windows
    (``clean``/``traced``: ``[start_s, end_s]``) to shade.
    """
    if run_dir is None or not v.get("events") or v.get("pid") is None:
        return [], None
    path = Path(run_dir) / v["events"]
    if not path.is_file():
        return [], None
    from profiler.analysis.breakdown import step_windows
    from profiler.core.errors import InputError
    from profiler.core.events import EventTable

    pid = int(v["pid"])
    try:
        if path.name.endswith(".parquet"):  # the store: its counters and steps tables, this process's rows
            table, names = _store_counters(path, pid)
        else:
            table = EventTable.load(path)
            names = set(table.counter_names())
    except (InputError, OSError, ValueError, KeyError) as e:
        return [], f"{v['events']}: {e}"
    wanted = [(n, lab, u) for n, lab, u in PROCESS_SERIES if n in names]
    idle = set()  # GPUs whose utilisation stayed 0 throughout: flat lines, not drawn (page size)
    for n in names:
        m = re.fullmatch(r"gpu(\d+) util %", n)
        if m and not (table.counter_series(n, pid)[1] > 0).any():
            idle.add(m.group(1))
    for n in sorted(names):
        m = GPU_SERIES.match(n)
        if m and m.group(1) not in idle:
            what = m.group(2)
            unit = what.rsplit(" ", 1)[1] if " " in what else ""
            wanted.append((n, f"GPU {m.group(1)} {what.rsplit(' ', 1)[0]}", unit))
    out = []
    t0 = None
    raw = []
    for n, label, unit in wanted:
        ts, vals = table.counter_series(n, pid)
        if len(ts) < 2:
            continue
        raw.append((label, unit, ts, vals))
        t0 = int(ts[0]) if t0 is None else min(t0, int(ts[0]))
    if not raw:
        return [], None
    if idle:
        problem = f"GPU {', '.join(sorted(idle, key=int))}: idle throughout (utilisation 0), not drawn"
    wins: dict[str, list[float]] = {}
    for kind, traced in (("clean", False), ("traced", True)):
        w = step_windows(table, pid, traced=traced)
        if w:
            wins[kind] = [(w[0].start_ns - t0) / 1e9, (w[-1].start_ns + w[-1].dur_ns - t0) / 1e9]
    for label, unit, ts, vals in raw:
        k = max(1, math.ceil(len(ts) / MAX_POINTS))
        out.append({"label": label, "unit": unit, "n": len(ts), "every": k,
                    "min": float(vals.min()), "max": float(vals.max()),
                    "t_s": [(int(t) - t0) / 1e9 for t in ts[::k]], "values": [float(x) for x in vals[::k]],
                    "windows": wins})
    return out, problem if idle else None


def _store_counters(path: Path, pid: int) -> tuple[Any, set[str]]:
    """From the event store at ``path``: a table of process ``pid``'s counter samples and step spans
    (what :func:`probe_series` draws), and the names of every process's counters, reading those two
    tables only (a merged store of many ranks is never read whole here)."""
    import numpy as np
    import pyarrow.parquet as pq

    from profiler.core.errors import InputError
    from profiler.core.events import STEP, EventBuilder
    from profiler.core.parquet import read_manifest, table_path

    read_manifest(path)
    try:
        names = pq.read_table(table_path(path, "counters"), columns=["name"]).column("name")
        names = set(names.cast("string").unique().to_pylist()) if len(names) else set()
        ctr = pq.read_table(table_path(path, "counters"), columns=["ts_ns", "name", "value", "pid"],
                            filters=[("pid", "=", pid)])
        steps = pq.read_table(table_path(path, "steps"), columns=["step", "start_ns", "dur_ns", "traced", "pid"],
                              filters=[("pid", "=", pid)])
    except Exception as e:  # a damaged or foreign file: one line naming it
        raise InputError(f"{path}: unreadable event store ({type(e).__name__}: {e})") from None
    b = EventBuilder()
    for i, st, du, tr in zip(steps.column("step").to_pylist(), steps.column("start_ns").to_pylist(),
                             steps.column("dur_ns").to_pylist(), steps.column("traced").to_pylist(), strict=True):
        b.span(STEP, "step", st, du, pid, 0, args={"index": i, "traced": tr})
    for n, t, x in zip(ctr.column("name").cast("string").to_pylist(), ctr.column("ts_ns").to_pylist(),
                       ctr.column("value").to_pylist(), strict=True):
        b.counter(n, t, np.nan if x is None else x, pid=pid)
    return b.build(), names


def series_svg(s: dict[str, Any]) -> str:
    """One probe time series (:func:`profiler.export.charts.probe_chart`) with its caption."""
    chart = probe_chart(s)
    return f"<figure>{draw_svg(chart, legend=False, cls='spark')}<figcaption>{_e(chart.notes[0])}</figcaption></figure>"


def _probes(v: dict[str, Any], run_dir: Path | str | None) -> str:
    table = _probe_figures(v)
    series, problem = probe_series(run_dir, v)
    if not table and not series and not problem:
        return ""
    charts = "".join(series_svg(s) for s in series)
    note = (f'<p class="dim">{_e(problem)}</p>' if problem and series else
            f'<p class="warn">probe time series not read: {_e(problem)}</p>' if problem else "")
    shade = ('<p class=dim>shaded: <span style="background:#e3efff">clean (measured) steps</span> · '
             '<span style="background:#fff0d8">traced steps</span></p>') if series else ""
    return f"<h4>probes</h4>{table}<div class=row>{charts}</div>{shade}{note}"


def _variant(v: dict[str, Any], top: int, run_dir: Path | str | None, sections_html: str = "",
             label: str | None = None) -> str:
    nm = _name(v)
    st = v.get("step_ms") or {}
    tr = v.get("traced_step_ms") or {}
    stat = st.get("statistic") or "median"
    which = "traced" if v.get("imported") else "clean"
    head = (f"<p>step time <b>{_ms(st.get(stat))} ms</b> ({_e(_uncertainty(st))}), {stat} of "
            f"{st.get('n_steps', 0)} {which} steps in {st.get('n_processes') or 1} process(es)")
    if tr.get("median") is not None and v.get("tracing_overhead_pct") is not None:
        head += (f"; traced steps {_ms(tr['median'])} ms (tracing adds {v.get('tracing_overhead_pct') or 0:+.0f}%)")
    if st.get("modes"):
        head += f"<br>{_e(modes_phrase(st['modes']))}"
    head += "</p>"
    bd = v.get("breakdown") or {}
    bar = stacked_svg(bd["pct"], bd["ms"]) if isinstance(bd.get("pct"), dict) and isinstance(bd.get("ms"), dict) else ""
    rl = roofline_svg(v, label)
    return (
        f'<section class="variant"><h3>{_e(nm)}</h3>{head}'
        + (f'<div class="row">{bar}</div>' if bar else "")
        + (f"<h4>roofline chart</h4>{rl}" if rl else "")
        + sections_html + _probes(v, run_dir) + "</section>"
    )


# ── compare runs ────────────────────────────────────────────────────────────────────────────────


def compare_svg(result: dict[str, Any]) -> str:
    """The compare chart (:func:`profiler.export.charts.compare_chart`, the object ``compare.png`` is
    drawn from): per row the headline time split by the breakdown's shares, with the 95% CI of the
    step median as an error bar."""
    chart = compare_chart(result)
    if chart is None:
        return ""
    return draw_svg(chart) + "<p class=dim>error bars: 95% CI of the step median</p>"


def _compare(record: dict[str, Any]) -> str:
    from profiler.analysis.compare import saved_result

    result = saved_result(record)
    unit = result.get("unit", "step")
    rows = []
    for r in result.get("rows") or []:
        name = f"{r.get('framework')}/{r.get('variant')}"
        ok = r.get("status") == "ok"
        pcts = {c: r.get(f"{c}_pct") or 0.0 for c in CATEGORIES}
        ms = {c: r.get(f"{c}_ms") or 0.0 for c in CATEGORIES}
        ci = (f" ({_ms(r['step_ci95_low'])}–{_ms(r['step_ci95_high'])})" if r.get("step_ci95_low") is not None else "")
        rows.append(
            f"<tr><td>{_e(r.get('display'))} · {_e(r.get('variant'))}</td>"
            f"<td class=n data-v=\"{r.get('headline_s') or ''}\">"
            f"{'–' if r.get('headline_s') is None else format(r['headline_s'], '.3f')}</td>"
            f'<td class=n data-key="compare-step:{_e(name)}" data-v="{r.get("step_ms") or ""}" '
            f'data-lo="{r.get("step_ci95_low") or ""}" data-hi="{r.get("step_ci95_high") or ""}">'
            f"{_ms(r.get('step_ms')) if ok else '–'}{ci}</td>"
            f"<td class=n>{'–' if r.get('items_per_s') is None else format(r['items_per_s'], ',.1f')}</td>"
            f"<td class=n>{'–' if not r.get('parameters') else format(r['parameters'] / 1e6, '.2f') + ' M'}</td>"
            f"<td>{stacked_svg(pcts, ms, 260, 18) if ok and any(pcts.values()) else _e(r.get('error') or '')}</td></tr>"
        )
    table = (
        '<table class="sortable" id="compare"><thead><tr><th>framework · variant</th>'
        f"<th class=n>s / {_e(unit)}</th><th class=n>ms / step (95% CI)</th><th class=n>items / s</th>"
        "<th class=n>params</th><th>breakdown of the traced step</th></tr></thead><tbody>"
        + "".join(rows) + "</tbody></table>"
    )
    findings = "".join(f'<p class="warn">parameters: {_e(x)}</p>' for x in result.get("param_findings") or [])
    return (compare_svg(result) + table + _legend() + findings
            + f'<p id="spread">{_e(result.get("spread", ""))}</p>')


# ── scale runs ──────────────────────────────────────────────────────────────────────────────────


def scaling_svg(res: dict[str, Any]) -> str:
    """Speedup vs threads (:func:`profiler.export.charts.scaling_chart`, the object ``scaling.png`` is
    drawn from): log-log, one line per series with its error bars, the ideal diagonal, each series'
    Amdahl fit dashed, oversubscribed counts shaded."""
    chart = scaling_chart(res)
    if chart is None:
        return ""
    return draw_svg(chart) + "".join(f"<p class=dim>{_e(n)}</p>" for n in chart.notes)


def _fit_text(s: dict[str, Any]) -> str:
    f = s.get("figures")
    if not f:
        return f"<li><b>{_e(s['series'])}</b>: no measured point</li>"
    fit = f.get("fit")
    out = (f"Amdahl serial fraction {fit['serial_fraction']:.3f}" if fit else _e(f.get("fit_note") or "no fit"))
    if fit and fit.get("exactly_determined"):
        out += " (exactly determined: fitted through every point, no residual, no extrapolation)"
    if fit and fit.get("max_speedup"):
        out += f"; at most {fit['max_speedup']:.1f}× with any thread count"
    out += f"; fastest at {f.get('best_threads')} thread(s) ({f.get('best_speedup', 0):.2f}×)"
    if f.get("stops_paying_at"):
        out += f"; stops paying at {f['stops_paying_at']} threads (&lt; 5% gain)"
    if f.get("turns_negative_at"):
        out += f"; slower from {f['turns_negative_at']} threads"
    e = s.get("explanation") or {}
    why = _e(e.get("sentence")) if e.get("available") else f"<span class=dim>why: unavailable: {_e(e.get('reason'))}</span>"
    return f"<li><b>{_e(s['series'])}</b>: {out}<br>{why}</li>"


def _scale(record: dict[str, Any]) -> str:
    res = record.get("scaling") or {}
    threads = res.get("threads") or []
    cores = res.get("cores")
    head = "".join(f"<th class=n>{t} thr{' (over)' if cores and t > cores else ''}</th>" for t in threads)
    rows = []
    for s in res.get("series") or []:
        pts = {p["threads"]: p for p in s["points"]}
        for what in ("ms/batch", "speedup", "efficiency"):
            cells = []
            for t in threads:
                p = pts.get(t) or {}
                if what == "ms/batch":
                    spread = (f" <span class=dim>±{p['spread_pct']:.0f}%</span>"
                              if p.get("spread_pct") is not None and (p.get("repeats_ok") or 0) > 1 else "")
                    cells.append(f'<td class=n data-key="scale-median:{_e(s["series"])}@{t}" '
                                 f'data-v="{p.get("median_ms") or ""}">{_ms(p.get("median_ms"))}{spread}</td>')
                elif what == "speedup":
                    cells.append(f"<td class=n>{'–' if p.get('speedup') is None else format(p['speedup'], '.2f') + '×'}</td>")
                else:
                    cells.append(f"<td class=n>{'–' if p.get('efficiency') is None else format(p['efficiency'], '.0%')}</td>")
            rows.append(f"<tr><td>{_e(s['series']) if what == 'ms/batch' else ''}</td><td>{what}</td>{''.join(cells)}</tr>")
    table = (f'<table id="scaling"><thead><tr><th>series</th><th></th>{head}</tr></thead><tbody>{"".join(rows)}'
             "</tbody></table><p class=dim>ms per batch: median of the repeats; ± their min–max spread</p>")
    fits = "<ul>" + "".join(_fit_text(s) for s in res.get("series") or []) + "</ul>"
    return scaling_svg(res) + table + "<h3>fits and why</h3>" + fits


# ── the page ────────────────────────────────────────────────────────────────────────────────────


def _trace_help(record: dict[str, Any]) -> str:
    trace = record.get("trace")
    if not trace:
        return "<p class=dim>no Chrome trace in this run</p>"
    return (
        f"<p>The timeline of every traced step is in <code>{_e(trace)}</code>, next to this file. To look at "
        "it: open <a href=\"https://ui.perfetto.dev\">ui.perfetto.dev</a> (Perfetto UI) and drag the file onto "
        "the page, or choose <i>Open trace file</i> — the gzip is read as is, in the browser; nothing is "
        "uploaded. Offline, <code>chrome://tracing</code> in Chromium loads it too. Keys: <b>W/S</b> zoom, "
        "<b>A/D</b> pan; click a slice for its arguments (category, shapes, step).</p>"
    )


def render_html(record: dict[str, Any], top: int = 15, run_dir: Path | str | None = None) -> str:
    sc = record.get("scenario") or {}
    s = record.get("settings") or {}
    kind = record.get("kind") or "trace"
    name = sc.get("name", "?")
    body: list[str] = []
    if kind == "scale":
        variants = record.get("variants") or []
        n_ok = sum(1 for v in variants if v.get("status") == "ok")
        body.append(f"<h2>Thread scaling</h2><p class=dim>{n_ok} of {len(variants)} worker(s) ok; "
                    f"{_e((record.get('scaling') or {}).get('cores'))} usable cores</p>{_scale(record)}")
        report = build(RunRecord.from_dict(record), str(run_dir) if run_dir else None, top)
        run_html = html_sections([p for p in report.run_blocks() if p[0].key != "first"])
        if run_html:
            body.append(f"<h2>Across the run</h2>{run_html}")
        body.append(f"<h2>Warnings</h2>{_warnings(record)}")
    else:
        if kind == "compare":
            body.append(f"<h2>Comparison</h2>{_compare(record)}")
        first = find(record)
        if first:
            body.append(f'<p class="strong" data-section="first"><b>fix first: {_e(first["text"])}</b></p>')
        body.append(f"<h2>Summary</h2>{_summary(record)}<h2>Verdicts</h2>{_verdicts(record)}")
        body.append(f"<h2>Warnings</h2>{_warnings(record)}")
        report = build(RunRecord.from_dict(record), str(run_dir) if run_dir else None, top)
        details = [_variant(part.entry.to_dict(), top, run_dir, html_sections(report.variant_blocks(part)), part.label)
                   for part in report.variants if part.entry.ok]
        if details:
            body.append("<h2>Per variant</h2>" + "".join(details))
        run_html = html_sections([p for p in report.run_blocks() if p[0].key != "first"])
        if run_html:
            body.append(f"<h2>Across the run</h2>{run_html}")
    body.append(f"<h2>Trace</h2>{_trace_help(record)}")
    steps = f" · {_e(steps_phrase(s, kind))}" if s.get("steps") is not None or s.get("trace_steps") else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>profiler · {_e(name)}</title><style>{CSS}</style></head><body>"
        f"<h1>profiler {_e(kind)} · {_e(name)}</h1>"
        f"<p class=dim>{_e(sc.get('summary', ''))}<br>device {_e(s.get('device'))} · preset {_e(s.get('preset'))}"
        f" · mode {_e(s.get('mode'))}{steps} · "
        f"status <b data-key=status>{_e(record.get('status'))}</b> · created {_e(record.get('created'))}</p>"
        + "".join(body)
        + f"<script>{JS}</script></body></html>"
    )


def explanation_page(blocks: tuple[Block, ...]) -> str:
    """``profiler explain``'s result as a self-contained page (the run page's style and table sorting)."""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>profiler · explain</title><style>{CSS}</style></head><body><h1>profiler explain</h1>"
        + "".join(html_block(b) for b in blocks)
        + f"<script>{JS}</script></body></html>"
    )


def write_html(record: dict[str, Any], run_dir: Path | str, file: Path | str | None = None) -> Path:
    """Write ``report.html`` (or ``file``) for ``record``; returns its path."""
    path = Path(file) if file is not None else Path(run_dir) / FILE
    atomic_write_text(path, render_html(record, run_dir=run_dir))
    return path
