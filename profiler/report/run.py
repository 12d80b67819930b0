"""Rich terminal report of a run record (what ``trace`` prints and ``report`` re-renders).

Renderables consume the run record only (``run.json``), never events or frameworks, so a saved run
re-renders identically. Tests render to a ``StringIO`` console at a fixed width.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.errors import NotRenderableError
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from profiler.core.errors import InputError
from profiler.core.record import RunRecord, StepStats, VariantEntry
from profiler.report.bars import fmt_ms
from profiler.report.blocks import rich_blocks
from profiler.report.breakdown import run_tail
from profiler.report.summary import SummaryReport
from profiler.sections.blocks import Line
from profiler.sections.document import Report, VariantPart, build
from profiler.sections.labels import modes_phrase, steps_phrase
from profiler.sections.registry import View


class VariantReport:
    """One variant's panel: step time, then every registered section of the variant
    (:mod:`profiler.sections`); without ``detail`` the sections marked detail-only are left out."""

    def __init__(self, entry: VariantEntry, unit: str = "step", top: int = 10, detail: bool = True,
                 part: VariantPart | None = None, report: Report | None = None) -> None:
        self.entry = entry
        self.unit = unit
        self.top = top
        self.detail = detail
        self.part = part
        self.report = report

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        e = self.entry
        name = self.part.label.replace("/", " · ", 1) if self.part and self.part.label else f"{e.framework} · {e.variant}"
        title = (f"[bold]{name}[/] · imported {e.preset}" if e.sections.get("imported")
                 else f"[bold]{name}[/] · {e.mode} · preset {e.preset}")
        parts: list[Any] = []
        if not e.ok:
            msg = Text(f"{e.status}: {e.error or 'no detail'}", style="bold red")
            if not (e.step_ms and e.step_ms.median) and not (e.traced_step_ms and e.traced_step_ms.median):
                yield Panel(msg, title=title, title_align="left", border_style="red")
                return
            parts.append(msg)  # the steps completed before it ended are still reported
        parts.append(headline_text(e, self.unit))
        caveat = e.info.get(e.mode or "")
        if isinstance(caveat, str):  # the implementation does less than the mode says (e.g. forward only)
            parts.append(Text(f"note: {caveat}", style="yellow"))
        report = self.report
        part = self.part
        if report is None or part is None:
            from profiler.core.record import RunRecord

            rec = RunRecord("?", "trace", "?", [], {"name": e.scenario, "unit": self.unit}, {}, variants=[e])
            report = build(rec, top=self.top)
            part = report.variants[0]
        for _, blocks in report.variant_blocks(part, detail=self.detail):
            parts.extend(rich_blocks(blocks))
        yield Panel(Group(*parts), title=title, title_align="left", border_style="blue")


def headline_text(e: VariantEntry, unit: str) -> Text:
    """The step time: which statistic of which steps, how sure, and what tracing added."""
    st = e.step_ms or StepStats()
    tr = e.traced_step_ms or StepStats()
    stat = st.statistic or "median"
    value = st.mean if stat == "mean" else st.median
    head = Text()
    head.append("step time ", style="bold")
    head.append(f"{fmt_ms(value)} ms", style="bold cyan")
    if st.ci95 and st.n_processes > 1:
        head.append(f" (95% CI over {st.n_processes} processes {fmt_ms(st.ci95[0])}–{fmt_ms(st.ci95[1])})",
                    style="cyan")
    elif st.ci95:
        head.append(f" (95% interval within this one process {fmt_ms(st.ci95[0])}–{fmt_ms(st.ci95[1])}: a rerun "
                    "can fall outside it; --repeat N gives a CI over processes)", style="dim")
    procs = f" in {st.n_processes} processes" if st.n_processes > 1 else ""
    which = "traced" if (e.sections or {}).get("imported") else "clean"
    head.append(
        f" {stat} of {st.n_steps} {which} steps{procs} (min {fmt_ms(st.min)}, "
        f"max {fmt_ms(st.max)}, spread {st.spread_pct or 0:.1f}%"
        + (f", MAD {fmt_ms(st.mad)}" if st.mad is not None else "") + ")"
    )
    if st.modes:
        head.append("\n" + modes_phrase(st.modes), style="cyan")
    if e.per_unit_ms is not None:
        head.append(f"\n{unit}: ", style="bold")
        head.append(f"{e.per_unit_ms / 1000:,.2f} s", style="bold cyan")
    if tr.median is not None and st.median is not None and e.tracing_overhead_pct is not None:
        comp = bool((e.breakdown or {}).get("compensation"))
        head.append(
            f"\ntraced steps {fmt_ms(tr.median)} ms (tracing adds {e.tracing_overhead_pct:+.0f}%; the breakdown "
            f"below is of {'the clean step, tracer cost removed' if comp else 'traced steps'})",
            style="dim",
        )
    return head


class RunReport:
    """The whole report of a run record: the summary first, then (unless ``quiet``) the details —
    per variant its breakdown and warnings, the comparison table and the run's files; ``detail``
    adds each variant's roofline table, top ops, dispatch counts and probe figures."""

    def __init__(
        self, record: RunRecord, run_dir: str | None = None, quiet: bool = False, top: int = 10, detail: bool = False
    ) -> None:
        self.record = record
        self.run_dir = run_dir
        self.quiet = quiet
        self.top = top
        self.detail = detail

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rec = self.record
        yield SummaryReport(rec, self.run_dir, more_below=not self.quiet)
        if self.quiet:
            return
        yield Text("\ndetails", style="bold underline")
        r = rec.to_dict()
        sc = rec.scenario
        s = rec.settings
        host = rec.host
        if rec.kind == "import":  # recorded elsewhere: this machine's host and settings are not its
            gpus = sorted({str(g.get("name")) for v in rec.variants
                           for g in ((v.sections.get("imported") or {}).get("device_properties") or [])
                           if isinstance(g, dict) and g.get("name")})
            yield Text.assemble(
                ("profiler import ", "bold"), (sc.get("name", "?"), "bold cyan"), f" — {sc.get('summary', '')}\n",
                (f"recorded elsewhere · device {s.get('device')}" + (f" ({', '.join(gpus)})" if gpus else "")
                 + f" · {steps_phrase(s, rec.kind)}; what was read: each panel's first lines", "dim"),
            )
        else:
            yield Text.assemble(
                (f"profiler {rec.kind} ", "bold"),
                (sc.get("name", "?"), "bold cyan"),
                f" — {sc.get('summary', '')}\n",
                (
                    f"{host.get('cpu', '?')} · {host.get('cores', '?')} cores · "
                    f"{'GPU: ' + ', '.join(g['name'] for g in host.get('gpus', [])) if host.get('gpus') else 'no GPU'}"
                    f" · device {s.get('device')} · preset {s.get('preset')} · mode {s.get('mode')} · "
                    + (f"clean steps for ≥{s['min_time_s']:g} s (≤{s.get('steps')}) per process"
                       if s.get("min_time_s") else f"{s.get('steps')} clean")
                    + f" in {s.get('repeat') or 1} process(es) + {s.get('trace_steps')} traced steps after "
                    f"{s.get('warmup')} warm-up"
                    f" · threads {s.get('threads') or 'framework default'} · data {s.get('data')}",
                    "dim",
                ),
            )
        params = s.get("params") or {}
        if params:
            yield Text("sizes: " + ", ".join(f"{k}={v}" for k, v in params.items()), style="dim")
        report = build(rec, self.run_dir, self.top)
        skipped = [v for v in rec.variants if v.status == "unavailable"]
        for part in report.variants:
            if part.entry.status == "unavailable":
                continue
            yield VariantReport(part.entry, rec.unit, self.top, self.detail, part, report)
        if skipped:
            t = Table(title="not run here", title_justify="left", header_style="bold", box=None)
            t.add_column("framework · variant")
            t.add_column("why")
            for v in skipped:
                t.add_row(f"{v.framework} · {v.variant}", str(v.error or "unavailable"))
            yield t
        for sec, blocks in report.run_blocks():
            if sec.key != "first":  # said at the top, in the summary
                yield from rich_blocks(blocks)
        overheads = {
            n: p["overhead"]
            for sel in rec.probe_selection.values()
            if isinstance(sel, dict)
            for n, p in sel.items()
            if isinstance(p, dict) and p.get("selected") and p.get("overhead")
        }
        if overheads:
            yield Text(
                "probe overheads (measured by benchmarks/probe_overhead.py): "
                + "; ".join(f"{n}: {o}" for n, o in overheads.items()),
                style="dim",
            )
        tail = Text()
        tail.append(
            f"status: {rec.status}", style="bold green" if rec.status == "ok" else "bold red"
        )
        if self.run_dir:
            tail.append(f"\nrun directory: {self.run_dir}")
            if rec.trace:
                tail.append(f"\nChrome trace: {self.run_dir}/{rec.trace}  (open in https://ui.perfetto.dev)")
        tail.append_text(run_tail(r, self.run_dir))
        if not self.detail and any(v.ok for v in rec.variants):
            tail.append("\nper variant roofline, top ops and probe figures: --detail (and report.html)", style="dim")
        yield tail


#: What a damaged run record makes renderers raise; reported as one line instead of a traceback.
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError, ZeroDivisionError, NotRenderableError)


def render_record(
    record: RunRecord, run_dir: str | None, console: Console, quiet: bool = False, top: int = 10,
    detail: bool = False,
) -> None:
    """Render a run record; a record whose fields have the wrong shape is an :class:`InputError`.

    The report is rendered into a capture first, so a damaged record prints nothing half-way.
    """
    try:
        with console.capture() as cap:
            console.print(RunReport(record, run_dir, quiet, top, detail))
    except MALFORMED as e:
        where = f"{run_dir}/run.json" if run_dir else "run record"
        raise InputError(f"{where}: malformed run record ({type(e).__name__}: {e})") from None
    console.file.write(cap.get())


def usage_line(v: dict[str, Any]) -> Text | None:
    """The kernel's counts per step (the ``step_usage`` section) as one text, or ``None``."""
    from profiler.sections.step_usage import SECTION as USAGE

    raw = v.get("step_usage")
    if not raw:
        return None
    entry = VariantEntry.from_dict({"scenario": "?", "framework": "?", "variant": "?", **v})
    from profiler.core.record import RunRecord

    blocks = USAGE.show(USAGE.load(raw, "variant"), View(RunRecord("?", "trace", "?", [], {}, {}), entry))
    return Text("\n".join(b.text for b in blocks if isinstance(b, Line)), style="dim") if blocks else None
