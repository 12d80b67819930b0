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

from profiler.core.categories import CATEGORIES, LABELS
from profiler.core.categories import TERMINAL_COLORS as COLORS
from profiler.core.errors import InputError
from profiler.core.record import RunRecord, StepStats, VariantEntry
from profiler.probes.summary import summary_lines
from profiler.report.bars import breakdown_bar, fmt_ms
from profiler.report.breakdown import breakdown_details, run_tail
from profiler.report.ranks import RanksReport, WorldSizeReport
from profiler.report.summary import SummaryReport, short_name
from profiler.report.traces import TraceBudgetReport, trace_sections


class VariantReport:
    """One variant's panel: step time, warnings, the breakdown and what explains it; with ``detail``
    also the roofline table, the top ops, dispatch counts and the probes' figures."""

    def __init__(self, entry: VariantEntry, unit: str = "step", top: int = 10, detail: bool = True) -> None:
        self.entry = entry
        self.unit = unit
        self.top = top
        self.detail = detail

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        e = self.entry
        v = e.to_dict()  # the analyses' nested figures (breakdown, ops, probes) are plain data
        title = f"[bold]{e.framework} · {e.variant}[/] · {e.mode} · preset {e.preset}"
        parts: list[Any] = []
        if not e.ok:
            msg = Text(f"{e.status}: {e.error or 'no detail'}", style="bold red")
            if not (e.step_ms and e.step_ms.median) and not (e.traced_step_ms and e.traced_step_ms.median):
                yield Panel(msg, title=title, title_align="left", border_style="red")
                return
            parts.append(msg)  # the steps completed before it ended are still reported
        st = e.step_ms or StepStats()
        tr = e.traced_step_ms or StepStats()
        head = Text()
        head.append("step time ", style="bold")
        head.append(f"{fmt_ms(st.median)} ms", style="bold cyan")
        if st.ci95:
            head.append(f" (95% CI {fmt_ms(st.ci95[0])}–{fmt_ms(st.ci95[1])})", style="cyan")
        procs = f" in {st.n_processes} processes" if st.n_processes > 1 else ""
        head.append(
            f" median of {st.n_steps} clean steps{procs} (min {fmt_ms(st.min)}, "
            f"max {fmt_ms(st.max)}, spread {st.spread_pct or 0:.1f}%"
            + (f", MAD {fmt_ms(st.mad)}" if st.mad is not None else "") + ")"
        )
        if e.per_unit_ms is not None:
            head.append(f"\n{self.unit}: ", style="bold")
            head.append(f"{e.per_unit_ms / 1000:,.2f} s", style="bold cyan")
        if tr.median is not None:
            head.append(
                f"\ntraced steps {fmt_ms(tr.median)} ms "
                f"(tracing adds {e.tracing_overhead_pct or 0:+.0f}%; the breakdown below is "
                f"of {'the clean step, tracer cost removed' if (v.get('breakdown') or {}).get('compensation') else 'traced steps'})",
                style="dim",
            )
        parts.append(head)
        usage = usage_line(v)
        if usage is not None:
            parts.append(usage)
        for w in e.warnings:
            parts.append(Text(f"warning: {w}", style="yellow"))
        caveat = e.info.get(e.mode or "")
        if isinstance(caveat, str):  # the implementation does less than the mode says (e.g. forward only)
            parts.append(Text(f"note: {caveat}", style="yellow"))

        bd = v.get("breakdown")
        if bd:
            t = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
            t.add_column("category")
            t.add_column("ms/step", justify="right")
            t.add_column("%", justify="right")
            t.add_column("")
            for c in CATEGORIES:
                ms = bd["ms"].get(c, 0.0)
                pct = bd["pct"].get(c, 0.0)
                nm = bd.get("not_measured", {}).get(c)
                bar = breakdown_bar({c: pct})
                t.add_row(
                    Text(LABELS[c], style=COLORS[c]),
                    "not measured" if nm else fmt_ms(ms),
                    "" if nm else f"{pct:5.1f}",
                    bar,
                )
            t.add_row(
                Text("step (clean)" if bd.get("compensation") else "step (traced)", style="bold"), fmt_ms(bd["step_ms"]), "100.0", breakdown_bar(bd["pct"])
            )
            parts.append(t)
            parts.append(
                Text(
                    f"residual {bd['residual_ms']:+.4f} ms ({bd['residual_pct']:+.3f}% of step); "
                    f"basis: {bd['basis']}",
                    style="dim",
                )
            )
            parts.extend(breakdown_details(v, roofline=self.detail))
        ops = (v.get("top_ops") or []) if self.detail else []
        if ops:
            t = Table(box=None, pad_edge=False, header_style="bold", title_justify="left")
            t.add_column("top ops by self time")
            t.add_column("where")
            t.add_column("category")
            t.add_column("calls/step", justify="right")
            t.add_column("self ms/step", justify="right")
            for o in ops[: self.top]:
                t.add_row(
                    short_name(o["name"], 48),
                    o["where"],
                    Text(LABELS.get(o["category"], o["category"]), style=COLORS.get(o["category"], "")),
                    f"{o['calls_per_step']:,.0f}",
                    fmt_ms(o["self_ms_per_step"]),
                )
            parts.append(t)
        d = (v.get("dispatch") or {}) if self.detail else {}
        if d:
            parts.append(
                Text(
                    f"dispatch per step: {d.get('ops', 0):,.0f} framework ops "
                    f"({d.get('top_level_ops', 0):,.0f} top-level"
                    + (f"; {d['records']:,.0f} tracer records" if d.get("records") else "")
                    + "), "
                    f"{d.get('kernels', 0):,.0f} device kernels, "
                    f"{d.get('runtime_calls', 0):,.0f} runtime calls",
                    style="dim",
                )
            )
        for line in summary_lines(v.get("probe_summary") or {}) if self.detail else []:
            parts.append(Text(line, style="dim"))
        probes = v.get("probes") or {}
        notes = [f"{n}: {p['error']}" for n, p in probes.items() if isinstance(p, dict) and p.get("error")]
        notes += [f"{n}: {e}" for n, p in probes.items() if isinstance(p, dict) for e in p.get("errors", [])]
        if notes:
            parts.append(Text("probe problems: " + "; ".join(notes), style="yellow"))
        yield Panel(Group(*parts), title=title, title_align="left", border_style="blue")


class ComparisonReport:
    def __init__(self, comparisons: list[dict[str, Any]]) -> None:
        self.comparisons = comparisons

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.comparisons:
            return
        t = Table(
            title="why they differ: the slower run's extra ms per traced step, by category "
            "(within each framework, then each framework's best against the fastest)",
            title_justify="left",
            header_style="bold",
        )
        t.add_column("faster", no_wrap=True)
        t.add_column("slower", no_wrap=True)
        t.add_column("×", justify="right")
        for c in CATEGORIES:
            t.add_column(LABELS[c], justify="right", style=COLORS[c])
        for e in self.comparisons:
            t.add_row(
                short_name(e["fast"], 22),
                short_name(e["slow"], 22),
                f"{e['speedup']:.2f}" + (f" ({e['ratio_ci95'][0]:.2f}–{e['ratio_ci95'][1]:.2f})"
                                         if e.get("ratio_ci95") else ""),
                *[f"{e['category_delta_ms'][c]:+.2f}" for c in CATEGORIES],
            )
        yield t
        for e in self.comparisons:
            yield Text("• " + e["sentence"])


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
        yield Text.assemble(
            ("profiler trace ", "bold"),
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
        skipped = [v for v in rec.variants if v.status == "unavailable"]
        for v in rec.variants:
            if v.status == "unavailable":
                continue
            yield VariantReport(v, rec.unit, self.top, self.detail)
            yield from trace_sections(v.to_dict())  # launches, op chains, merged ranks (report/traces.py)
            if v.sections.get("distributed"):  # data-parallel run: per-rank table (report/ranks.py)
                yield RanksReport(v.to_dict())
        if skipped:
            t = Table(title="not run here", title_justify="left", header_style="bold", box=None)
            t.add_column("framework · variant")
            t.add_column("why")
            for v in skipped:
                t.add_row(f"{v.framework} · {v.variant}", str(v.error or "unavailable"))
            yield t
        yield ComparisonReport(rec.comparisons)
        yield TraceBudgetReport(rec.sections.get("trace_budget"))
        if rec.sections.get("world_sizes"):
            yield WorldSizeReport(rec.sections["world_sizes"])
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
    """The kernel's counts per step (``step_usage``): page faults, kernel CPU time and preemptions,
    clean (median) against traced (mean); and a note when the clean steps themselves fault in fresh
    memory every step."""
    u = v.get("step_usage") or {}
    c, t = u.get("clean"), u.get("traced")
    if not c and not t:
        return None

    def side(d: dict[str, Any], what: str) -> str:
        return (f"{what} {d['minflt']:,.0f} minor faults, {d['stime_us'] / 1e3:.1f} ms kernel CPU, "
                f"{d['nivcsw']:,.0f} preemptions")

    text = "kernel per step: " + "; ".join(
        side(d, w) for d, w in ((c, "clean (median)"), (t, "traced (mean)")) if d
    )
    if c and c["minflt"] >= CLEAN_FAULT_NOTE:
        mib = c["minflt"] * 4096 / (1 << 20)
        cost = (((v.get("breakdown") or {}).get("compensation") or {}).get("page_faults") or {}).get("calibrated_us")
        text += (f"\nthe clean step faults in ~{mib:,.0f} MiB of fresh memory every step (4 KiB pages"
                 + (f"; ~{c['minflt'] * cost / 1e3:.1f} ms at the calibrated {cost:.1f} µs a fault" if cost else "")
                 + "): buffers freed in one step go back to the kernel and are faulted in again in the next")
    return Text(text, style="dim")


#: minor faults per clean step from which the report says the step faults in fresh memory
CLEAN_FAULT_NOTE = 1000
