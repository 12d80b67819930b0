"""``report.html``: one self-contained page of a run record, readable offline.

No network and no external file: the CSS and the few lines of JavaScript (sorting the op tables)
are inlined, and the charts are inline SVG written here by hand — stacked rectangles need no
plotting library, and hand-written SVG keeps the page small (a few hundred kB for the main job)
and its numbers in the DOM as text, where the browser test reads them back. Key figures carry a
``data-key`` attribute (``step-median:<framework>/<variant>``) that ``tests/test_html_report.py``
compares with ``run.json``. Renders from the run record only (``run.json``), never events.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from profiler.core.categories import CATEGORIES, COLORS, LABELS

FILE = "report.html"

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1100px}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}th.sort{cursor:pointer;text-decoration:underline dotted}
.warn{color:#a05a00}.bad{color:#b00}.dim{color:#666}.legend span{margin-right:1em}
.sw{display:inline-block;width:.9em;height:.9em;vertical-align:middle;margin-right:.3em}
"""

JS = """
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){th.classList.add('sort');th.addEventListener('click',function(){
    var rows=Array.from(t.tBodies[0].rows),asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
    rows.sort(function(a,b){var x=a.cells[i].dataset.v||a.cells[i].textContent,y=b.cells[i].dataset.v||b.cells[i].textContent;
      var nx=parseFloat(x),ny=parseFloat(y);var c=(isNaN(nx)||isNaN(ny))?x.localeCompare(y):nx-ny;return asc?c:-c;});
    rows.forEach(function(r){t.tBodies[0].appendChild(r);});});});
});
"""


def _e(s: Any) -> str:
    return html.escape(str(s))


def _ms(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:,.3f}" if v < 10 else f"{v:,.1f}"


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
        return f"CI95 {_ms(ci[0])}–{_ms(ci[1])} ms"
    if st.get("mad") is not None:
        return f"MAD {_ms(st['mad'])} ms"
    if st.get("spread_pct") is not None:
        return f"min–max spread {st['spread_pct']:.0f}% (min {_ms(st.get('min'))}, max {_ms(st.get('max'))})"
    return "no spread"


def _summary(record: dict[str, Any]) -> str:
    rows = []
    for v in record.get("variants", []):
        name = f"{v.get('framework')}/{v.get('variant')}"
        st = v.get("step_ms") or {}
        bd = v.get("breakdown") or {}
        ok = v.get("status") == "ok"
        rows.append(
            f"<tr><td>{_e(name)}</td>"
            f'<td class="n" data-key="step-median:{_e(name)}" data-v="{st.get("median", "")}">'
            f"{_ms(st.get('median')) if ok else '–'}</td>"
            f'<td class="dim">{_e(_uncertainty(st)) if ok else ""}</td>'
            f"<td>{stacked_svg(bd['pct'], bd['ms']) if ok and bd.get('pct') else ''}</td>"
            f'<td class="{"" if ok else "bad"}">{_e(v.get("status"))}'
            f"{'' if ok else ': ' + _e(str(v.get('error') or '').removeprefix('unavailable: '))}</td></tr>"
        )
    legend = "".join(f'<span><i class="sw" style="background:{COLORS[c]}"></i>{_e(LABELS[c])}</span>'
                     for c in CATEGORIES)
    return (
        '<table class="sortable" id="summary"><thead><tr><th>variant</th><th class="n">step ms (median)</th>'
        "<th>uncertainty</th><th>breakdown of the traced step</th><th>status</th></tr></thead><tbody>"
        + "".join(rows) + f'</tbody></table><div class="legend">{legend}</div>'
    )


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


def _ops(v: dict[str, Any], top: int) -> str:
    ops = (v.get("top_ops") or [])[:top]
    if not ops:
        return ""
    rows = "".join(
        f"<tr><td>{_e(o['name'])}</td><td>{_e(o.get('where'))}</td>"
        f"<td><i class=sw style=\"background:{COLORS.get(o.get('category'), '#999')}\"></i>"
        f"{_e(LABELS.get(o.get('category'), o.get('category')))}</td>"
        f"<td class=n data-v=\"{o.get('calls_per_step')}\">{o.get('calls_per_step', 0):,.0f}</td>"
        f"<td class=n data-v=\"{o.get('self_ms_per_step')}\">{_ms(o.get('self_ms_per_step'))}</td></tr>"
        for o in ops
    )
    return (
        '<table class="sortable"><thead><tr><th>op (top by self time)</th><th>where</th><th>category</th>'
        '<th class="n">calls/step</th><th class="n">self ms/step</th></tr></thead><tbody>' + rows + "</tbody></table>"
    )


def _probes(v: dict[str, Any]) -> str:
    ps = v.get("probe_summary") or {}
    rows = "".join(
        f"<tr><td>{_e(p)}</td><td>{_e(k)}</td><td class=n>{_e(round(x, 3) if isinstance(x, float) else x)}</td></tr>"
        for p, d in ps.items() if isinstance(d, dict) for k, x in d.items()
    )
    return ("<table><thead><tr><th>probe</th><th>figure</th><th class=n>value</th></tr></thead><tbody>"
            + rows + "</tbody></table>") if rows else ""


def render_html(record: dict[str, Any], top: int = 15) -> str:
    sc = record.get("scenario") or {}
    s = record.get("settings") or {}
    name = sc.get("name", "?")
    details = []
    for v in record.get("variants", []):
        if v.get("status") != "ok":
            continue
        nm = f"{v.get('framework')}/{v.get('variant')}"
        warn = "".join(f'<p class="warn">warning: {_e(w)}</p>' for w in v.get("warnings") or [])
        details.append(f"<h3>{_e(nm)}</h3>{warn}{_ops(v, top)}{_probes(v)}")
    warnings = "".join(f'<li class="warn">{_e(w)}</li>' for w in record.get("warnings") or [])
    trace = record.get("trace")
    perfetto = (
        f"<p>The timeline of every traced step is in <code>{_e(trace)}</code> (next to this file). "
        "Open <a href=\"https://ui.perfetto.dev\">ui.perfetto.dev</a> and drag the file onto the page "
        "(or <i>Open trace file</i>); it is read in the browser, nothing is uploaded.</p>"
        if trace else "<p class=dim>no Chrome trace in this run</p>"
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>profiler · {_e(name)}</title><style>{CSS}</style></head><body>"
        f"<h1>profiler {_e(record.get('kind', 'trace'))} · {_e(name)}</h1>"
        f"<p class=dim>{_e(sc.get('summary', ''))}<br>device {_e(s.get('device'))} · preset {_e(s.get('preset'))}"
        f" · mode {_e(s.get('mode'))} · {_e(s.get('steps'))} clean + {_e(s.get('trace_steps'))} traced steps · "
        f"status <b data-key=status>{_e(record.get('status'))}</b> · created {_e(record.get('created'))}</p>"
        f"<h2>Summary</h2>{_summary(record)}<h2>Verdicts</h2>{_verdicts(record)}"
        f"<h2>Warnings</h2>{'<ul>' + warnings + '</ul>' if warnings else '<p class=dim>none</p>'}"
        f"<h2>Per variant</h2>{''.join(details)}<h2>Trace</h2>{perfetto}"
        f"<script>{JS}</script></body></html>"
    )


def write_html(record: dict[str, Any], run_dir: Path | str, file: Path | str | None = None) -> Path:
    """Write ``report.html`` (or ``file``) for ``record``; returns its path."""
    path = Path(file) if file is not None else Path(run_dir) / FILE
    path.write_text(render_html(record), encoding="utf-8")
    return path
