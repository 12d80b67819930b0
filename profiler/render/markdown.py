"""A Markdown report (GitHub-flavoured): to paste into a pull request or an issue.

Every section of the registry appears, in the registry's order; tables are pipe tables, breakdown bars
are text bars, numbers are those of every other output."""

from __future__ import annotations

from profiler.core.categories import CATEGORIES, SHORT
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


class MarkdownRenderer(Renderer):
    name = "markdown"
    extensions = ("md", "markdown")

    def render(self, report: Report, options: RenderOptions) -> str:
        rec = report.record
        s = rec.settings
        out = [f"# profiler {rec.kind} · {rec.scenario_name}", "",
               f"<sub>device {s.get('device')} · preset {s.get('preset')} · mode {s.get('mode')} · "
               f"{steps_phrase(s, rec.kind)} · status "
               f"**{rec.status}** · created {rec.created}"
               + (f" · run directory `{report.run_dir}`" if report.run_dir else "") + "</sub>", ""]
        for sec, blocks in report.run_blocks():
            if sec.key == "first":
                out += [md_block(b) for b in blocks] + [""]
        out += ["## Summary", "", *_headline(report), ""]
        for w in rec.warnings:
            out.append(f"- ⚠ {_esc(w)}")
        if rec.warnings:
            out.append("")
        if options.quiet:
            return "\n".join(out).rstrip() + "\n"
        for p in report.variants:
            if p.entry.status == "unavailable":
                continue
            out += [f"## {p.label}", ""]
            for sec, blocks in report.variant_blocks(p, detail=True):
                out += [f"### {sec.title}", ""]
                for b in blocks:
                    out += [md_block(b), ""]
        skipped = [p.entry for p in report.variants if p.entry.status == "unavailable"]
        if skipped:
            out += ["## Not run here", ""] + [f"- {e.label}: {_esc(str(e.error))}" for e in skipped] + [""]
        for sec, blocks in report.run_blocks():
            if sec.key == "first":
                continue
            out += [f"## {sec.title}", ""]
            for b in blocks:
                out += [md_block(b), ""]
        return "\n".join(out).rstrip() + "\n"
