"""The summary that opens every run's report: one line per variant, the verdicts, the files.

It fits the first screen (≤ 40 lines at 100 columns for the main job): per variant the step time
with the uncertainty the record holds (``ci95`` when measured, else ``mad``, else the min–max
spread), a stacked bar of the breakdown (of the clean step where compensated) with its two largest shares, and the status; then
each comparison in a line or two (:func:`verdict_line`; the full sentence follows in the details);
then every file the run wrote. Names are shortened at separators, never cut mid-word (:func:`short_name`). Lines fit the
console's width (the bar narrows, down to :data:`MIN_BAR`), and at most :data:`SUMMARY_WARNINGS`
warnings are printed here: the rest are counted, and stand in the variant panels, report.html and
run.json.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from profiler.core.categories import CATEGORIES, LABELS, SHORT
from profiler.core.categories import TERMINAL_COLORS as COLORS
from profiler.core.record import RunRecord, StepStats, VariantEntry
from profiler.report.bars import breakdown_bar, fmt_ms
from profiler.sections.first import find
from profiler.sections.labels import distinct_labels, steps_phrase

NAME_WIDTH = 24
SUMMARY_BAR = 20
MIN_BAR = 8
SUMMARY_WARNINGS = 6
_SEP = re.compile(r"([/_\-. ])")


def short_name(name: str, width: int = NAME_WIDTH) -> str:
    """``name`` in at most ``width`` characters, shortened word by word at separators.

    Words (between ``/ _ - . space``) are abbreviated from the left (``tensorflow`` → ``tf…``-style
    first letters) until the name fits; the last word is kept whole as long as possible.
    """
    if len(name) <= width:
        return name
    parts = _SEP.split(name)
    words = [i for i, p in enumerate(parts) if p and not _SEP.fullmatch(p)]
    for i in words[:-1]:  # abbreviate every word but the last, left to right
        parts[i] = parts[i][:1]
        if len("".join(parts)) <= width:
            return "".join(parts)
    out = "".join(parts)
    if len(out) <= width:
        return out
    # still too long: keep whole words from the right, mark what was dropped
    tail = ""
    for p in reversed(parts):
        if len(p) + len(tail) + 1 > width:
            break
        tail = p + tail
    return "…" + tail.lstrip("/_-. ")


def uncertainty(st: StepStats) -> str:
    """The spread of a step time as the record gives it: the CI95 when it covers processes (several
    fresh processes), else MAD, else min–max spread. One process's interval of its own consecutive
    steps says nothing of a rerun, so it is not printed as a CI here (the panel names it)."""
    ci = st.ci95
    if isinstance(ci, list | tuple) and len(ci) == 2 and None not in ci and (st.n_processes or 0) > 1:
        return f"CI95 {fmt_ms(ci[0])}–{fmt_ms(ci[1])}"
    if isinstance(ci, int | float):
        return f"± {fmt_ms(float(ci))} (CI95)"
    if st.mad is not None:
        return f"MAD {fmt_ms(st.mad)}"
    if st.spread_pct is not None:
        return f"spread {st.spread_pct:.0f}%"
    return "no spread"


def top_shares(pct: dict[str, float], n: int = 2) -> str:
    best = sorted(((pct.get(c, 0.0), c) for c in CATEGORIES), reverse=True)[:n]
    return " ".join(f"{SHORT[c]} {p:.0f}%" for p, c in best if p >= 0.5)


def status_text(v: VariantEntry) -> str:
    """``ok``, with the number of warnings (``ok ⚠2``): they are listed under the table."""
    return " ok" if not v.warnings else f" ok ⚠{len(v.warnings)}"


#: (name, uncertainty) column widths: the wide layout, and the compact one under 100 columns
WIDE, COMPACT = (NAME_WIDTH, 18), (18, 15)


def columns_for(width: int) -> tuple[int, int]:
    return WIDE if width >= 100 else COMPACT


def bar_width(variants: list[VariantEntry], width: int) -> int:
    """The summary bar's width so that every variant's line fits ``width`` columns."""
    name_w, unc_w = columns_for(width)
    fixed = name_w + 1 + 11 + 1 + unc_w + 1 + 1 + 16
    status = max((len(status_text(v)) for v in variants if v.ok), default=3)
    return max(MIN_BAR, min(SUMMARY_BAR, width - fixed - status))


def variant_line(v: VariantEntry, bar: int = SUMMARY_BAR, label: str | None = None,
                 widths: tuple[int, int] = WIDE) -> Text:
    name_w, unc_w = widths
    name = short_name(label or f"{v.framework}/{v.variant}", name_w)
    t = Text(f"{name:<{name_w}} ")
    if not v.ok:
        t.append(f"{v.status}", style="bold red")
        if v.error:
            t.append(f": {str(v.error).splitlines()[0][:60]}", style="red")
        return t
    st = v.step_ms or StepStats()
    t.append(f"{fmt_ms(st.mean if st.statistic == 'mean' else st.median):>8} ms", style="bold cyan")
    t.append(f" {uncertainty(st):<{unc_w}} ", style="dim")
    bd = v.breakdown or {}
    if bd.get("pct"):
        t.append_text(breakdown_bar(bd["pct"], bar))
        t.append(f" {top_shares(bd['pct']):<15}")
    else:
        t.append(" " * (bar + 16))
    t.append(status_text(v), style="green")
    return t


def verdict_line(c: dict[str, Any]) -> str:
    """One comparison in a line or two: who is faster by how much (CI), the gap's largest category,
    the dispatch counts — from the comparison's fields; its full sentence is in the details."""
    sp = c.get("speedup")
    if not isinstance(sp, int | float):
        return str(c.get("sentence", ""))
    fast, slow = short_name(str(c.get("fast"))), short_name(str(c.get("slow")))
    ci = c.get("ratio_ci95")
    n = c.get("ratio_ci_processes")
    label = "within-run" if isinstance(n, int) and n < 2 else "CI"  # one process a side: no rerun's CI
    ci_s = f"{label} {ci[0]:.2f}–{ci[1]:.2f}" if isinstance(ci, list) and len(ci) == 2 else "no CI"
    if c.get("verdict") == "no significant difference":
        line = f"{fast} vs {slow}: no significant difference ({sp:.2f}×, {ci_s})"
    else:
        line = f"{fast} is {sp:.2f}× faster ({ci_s}) than {slow}"
    main = c.get("main_category")
    share = (c.get("category_share_pct") or {}).get(main)
    delta = (c.get("category_delta_ms") or {}).get(main)
    if main in LABELS and (c.get("traced_gap_ms") or 0) > 0 and share is not None:
        line += (f"; gap: {share:.0f}% {LABELS[main]}" if share <= 100
                 else f"; gap: {LABELS[main]} {delta:+.2f} ms/step")
    d = c.get("dispatch") or {}
    fo, so = (d.get("fast") or {}).get("ops"), (d.get("slow") or {}).get("ops")
    if fo and so:
        line += f"; {fo:,.0f} vs {so:,.0f} dispatches/step"  # fast first, as the sentence
    return line


def run_files(run_dir: str | Path | None) -> list[str]:
    """Every file in the run directory, relative to it (what the run wrote, nothing else is there)."""
    if not run_dir or not Path(run_dir).is_dir():
        return []
    root = Path(run_dir)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def files_lines(files: list[str]) -> list[str]:
    """The files, with each worker's directory folded into one pattern (``workers/*/NAME ×N``)."""
    top = [f for f in files if not f.startswith("workers/")]
    per_name: dict[str, int] = {}
    for f in files:
        if f.startswith("workers/"):
            rest = f.split("/", 2)[2] if f.count("/") >= 2 else f
            rest = re.sub(r"\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d", "*", rest)  # TF profile time stamps
            if re.fullmatch(r"events\.\w+\.parquet", rest):
                continue  # the event store's side tables: named with events.parquet
            if rest == "events.parquet":
                rest = "events.parquet (+ its tables)"
            per_name[rest] = per_name.get(rest, 0) + 1
    out = ["files: " + ", ".join(top)] if top else []
    if per_name:
        out.append("  in workers/*/: " + ", ".join(f"{k} ×{n}" for k, n in sorted(per_name.items())))
    return out


class SummaryReport:
    """The first screen of a run's report (``trace``, ``report RUN_DIR``)."""

    def __init__(self, record: RunRecord, run_dir: str | None = None, more_below: bool = True) -> None:
        self.record = record
        self.run_dir = run_dir
        self.more_below = more_below  # the variant panels follow (not --quiet)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rec = self.record
        sc, s = rec.scenario, rec.settings
        steps = steps_phrase(s, rec.kind)
        preset = "" if rec.kind == "import" else f" · preset {s.get('preset')}"
        yield Text.assemble(
            (f"profiler {rec.kind} ", "bold"),
            (str(sc.get("name", "?")), "bold cyan"),
            (f" · {s.get('device')}{preset} · {s.get('mode')} · {steps}", "dim"),
        )
        first = find(rec.to_dict())
        if first:
            yield Text(f"fix first: {first['text']}", style="bold")
        ran = [v for v in rec.variants if v.status != "unavailable"]
        skipped = [v for v in rec.variants if v.status == "unavailable"]
        if ran:
            bar = bar_width(ran, options.max_width)
            name_w, unc_w = widths = columns_for(options.max_width)
            head = Text(f"{'variant':<{name_w}} {'step ms':>11} {'uncertainty':<{unc_w}} ", style="bold")
            comp = [bool((v.breakdown or {}).get("compensation")) for v in ran if v.breakdown]
            basis = "clean" if comp and all(comp) else "traced" if comp and not any(comp) else ""
            label = f"breakdown ({basis})" if basis and bar >= 18 else "breakdown"
            head.append(f"{label:<{bar}} {'largest':<15} status", style="bold")
            yield head
            labels = dict(zip(map(id, rec.variants), distinct_labels([v.to_dict() for v in rec.variants]),
                              strict=True))
            for v in ran:
                yield variant_line(v, bar, labels[id(v)], widths)
            legend = Text("bar: ", style="dim")
            for c in CATEGORIES:
                legend.append("█", style=COLORS[c])
                legend.append(f" {SHORT[c]} ", style="dim")
            yield legend
        if skipped:
            why = sorted({str(v.error or "unavailable").removeprefix("unavailable: ") for v in skipped})
            yield Text(
                "not run here: " + ", ".join(short_name(f"{v.framework}/{v.variant}") for v in skipped)
                + f" ({'; '.join(why)})",
                style="yellow",
            )
        if rec.comparisons:
            yield Text("verdicts" + (" (each in full under the comparison table)" if self.more_below else ""),
                       style="bold")
            for c in rec.comparisons:
                yield Text("• " + verdict_line(c))
        for w in rec.warnings[:SUMMARY_WARNINGS]:
            yield Text(f"warning: {w}", style="yellow")
        rest = len(rec.warnings) - SUMMARY_WARNINGS
        if rest > 0:
            where = "the variant panels below, " if self.more_below else ""
            yield Text(f"… and {rest} more warning{'s' if rest > 1 else ''}: in {where}report.html and run.json",
                       style="yellow")
        st = Text(f"status: {rec.status}", style="bold green" if rec.status == "ok" else "bold red")
        if self.run_dir:
            st.append(f" · run directory {self.run_dir}", style="")
        yield st
        if self.run_dir:
            if rec.trace:
                yield Text(f"open {rec.trace} at https://ui.perfetto.dev · report.html in any browser", style="dim")
            for line in files_lines(run_files(self.run_dir)):
                yield Text(line, style="dim")
