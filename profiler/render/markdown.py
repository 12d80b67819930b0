"""A Markdown report (GitHub-flavoured): to paste into a pull request or an issue.

Every section of the registry appears, in the registry's order; tables are pipe tables, breakdown bars
are text bars, numbers are those of every other output. Written to a file, its figures (the charts of
:mod:`profiler.export.charts`: breakdown, roofline per variant, compare, scaling) are SVG files in a
folder beside it, linked as images — a code-hosting site shows them; on stdout there are none."""

from __future__ import annotations

from profiler.core.categories import CATEGORIES, SHORT
from profiler.export.charts import Chart, breakdown_chart, compare_chart, roofline_chart, scaling_chart
from profiler.export.svg import draw_svg
from profiler.render.base import Renderer, RenderOptions
from profiler.sections.blocks import Bar, Block, Line, fmt_ms
from profiler.sections.document import Report
from profiler.sections.labels import steps_phrase

BAR = 20


def _esc(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def text_bar(b: Bar, width: int = BAR) -> str:
    """A stacked bar in text: each category a run of its short name's first letter."""
    out, used = "", 0
    pct = b.as_dict()
    for c in CATEGORIES:
        n = min(round(pct.get(c, 0.0) / 100 * width), width - used)
        if n > 0:
            out += SHORT[c][0] * n
            used += n
    return "`" + out + "·" * (width - used) + "`"


def md_block(b: Block) -> str:
    if isinstance(b, Line):
        t = _esc(b.text)
        return {"strong": f"**{t}**", "warn": f"⚠ {t}", "bad": f"**✗ {t}**", "dim": f"<sub>{t}</sub>"}.get(b.tone, t)
    lines = [f"*{_esc(b.title)}*", ""] if b.title else []
    lines.append("| " + " | ".join(_esc(c.name) for c in b.columns) + " |")
    lines.append("|" + "|".join("---:" if c.right else "---" for c in b.columns) + "|")
    for r in b.rows:
        lines.append("| " + " | ".join(text_bar(c) if isinstance(c, Bar) else _esc(str(c)) for c in r) + " |")
    return "\n".join(lines)


def _headline(report: Report) -> list[str]:
    rows = ["| variant | step ms | statistic | 95% interval | status |", "|---|---:|---|---|---|"]
    for p in report.variants:
        e = p.entry
        st = e.step_ms
        stat = (st.statistic or "median") if st else "median"
        val = (st.mean if stat == "mean" else st.median) if st else None
        ci = (f"{fmt_ms(st.ci95[0])}–{fmt_ms(st.ci95[1])}"
              + (f" over {st.n_processes} processes" if st.n_processes > 1 else " within one process")
              if st and st.ci95 else "–")
        status = e.status if e.ok else f"{e.status}: {e.error or 'no detail'}"
        modes = f" ({len(st.modes)} modes)" if st and st.modes else ""
        rows.append(f"| {_esc(p.label)} | {fmt_ms(val)} | {stat} of {st.n_steps if st else 0}{modes} | {ci} | "
                    f"{_esc(status)} |")
    return rows


def figures(report: Report) -> dict[str, Chart]:
    """The report's charts by where they go: ``breakdown`` (under the summary), ``roofline:<i>`` (the
    i-th variant's roofline section), ``compare_table`` and ``scaling`` (those run sections)."""
    rec = report.record.to_dict()
    variants = [p.entry.to_dict() for p in report.variants]
    out: dict[str, Chart | None] = {
        "breakdown": breakdown_chart([v for v in variants if v.get("status") == "ok"])}
    for i, (p, v) in enumerate(zip(report.variants, variants, strict=True)):
        if v.get("status") == "ok" and not (v.get("roofline") or {}).get("not_measured"):
            out[f"roofline:{i}"] = roofline_chart(v, p.label)
    if rec.get("kind") == "compare":
        from profiler.analysis.compare import saved_result

        out["compare_table"] = compare_chart(saved_result(rec))
    if isinstance(rec.get("scaling"), dict):
        out["scaling"] = scaling_chart(rec["scaling"])
    return {k: c for k, c in out.items() if c is not None}


def chart_paths(report: Report, folder: str) -> dict[str, tuple[str, Chart]]:
    """Each figure's file (``folder/<chart key>.svg``, a number added where two keys meet) and chart."""
    out: dict[str, tuple[str, Chart]] = {}
    used: set[str] = set()
    for where, chart in figures(report).items():
        name, n = chart.key, 1
        while name in used:
            n += 1
            name = f"{chart.key}-{n}"
        used.add(name)
        out[where] = (f"{folder}/{name}.svg", chart)
    return out


def _image(paths: dict[str, tuple[str, Chart]], where: str) -> list[str]:
    if where not in paths:
        return []
    path, chart = paths[where]
    return [f"![{_esc(chart.alt or chart.title)}]({path.replace(' ', '%20')})", ""]


class MarkdownRenderer(Renderer):
    name = "markdown"
    extensions = ("md", "markdown")

    def render(self, report: Report, options: RenderOptions) -> str:
        rec = report.record
        s = rec.settings
        paths: dict[str, tuple[str, Chart]] = chart_paths(report, options.charts) if options.charts else {}
        out = [f"# profiler {rec.kind} · {rec.scenario_name}", "",
               f"<sub>device {s.get('device')} · preset {s.get('preset')} · mode {s.get('mode')} · "
               f"{steps_phrase(s, rec.kind)} · status "
               f"**{rec.status}** · created {rec.created}"
               + (f" · run directory `{report.run_dir}`" if report.run_dir else "") + "</sub>", ""]
        for sec, blocks in report.run_blocks():
            if sec.key == "first":
                out += [md_block(b) for b in blocks] + [""]
        out += ["## Summary", "", *_headline(report), ""]
        out += _image(paths, "breakdown")
        for w in rec.warnings:
            out.append(f"- ⚠ {_esc(w)}")
        if rec.warnings:
            out.append("")
        if options.quiet:
            return "\n".join(out).rstrip() + "\n"
        for i, p in enumerate(report.variants):
            if p.entry.status == "unavailable":
                continue
            out += [f"## {p.label}", ""]
            for sec, blocks in report.variant_blocks(p, detail=True):
                out += [f"### {sec.title}", ""]
                if sec.key == "roofline":
                    out += _image(paths, f"roofline:{i}")
                for b in blocks:
                    out += [md_block(b), ""]
        skipped = [p.entry for p in report.variants if p.entry.status == "unavailable"]
        if skipped:
            out += ["## Not run here", ""] + [f"- {e.label}: {_esc(str(e.error))}" for e in skipped] + [""]
        for sec, blocks in report.run_blocks():
            if sec.key == "first":
                continue
            out += [f"## {sec.title}", ""]
            out += _image(paths, sec.key)
            for b in blocks:
                out += [md_block(b), ""]
        return "\n".join(out).rstrip() + "\n"

    def files(self, report: Report, options: RenderOptions) -> dict[str, str]:
        """Each linked chart as a standalone SVG file (a white ground, its title, legend and notes)."""
        if not options.charts:
            return {}
        return {path: draw_svg(chart, standalone=True) + "\n" for path, chart in chart_paths(report, options.charts).values()}
