"""Rich renderables of a thread-scaling run (what ``profiler scale`` prints) and its progress view.

:class:`ScaleReport` consumes the ``scaling.json`` document (:func:`profiler.run.thread_sweep.json_summary`)
only, so a saved sweep re-renders without re-running. The table follows the seed's layout: one row
per framework, one column per thread count, milliseconds per batch; under each framework's time row
come its speedup, parallel efficiency, Karp–Flatt metric and the busy-thread count measured in the
worker (marked when it differs from the request). Under the table: the Amdahl fit and the knees,
then why each framework flattens (op groups at the lowest vs the highest count).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text


def _ms(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:,.2f}" if v < 100 else f"{v:,.0f}"


def _x(v: float | None, fmt: str = "{:.2f}×") -> str:
    return "–" if v is None else fmt.format(v)


class ScaleReport:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        d = self.doc
        s = d.get("settings") or {}
        threads = d.get("threads") or []
        cores = d.get("cores")
        host = d.get("host") or {}
        yield Text.assemble(
            ("profiler scale ", "bold"),
            (str(d.get("scenario")), "bold cyan"),
            (
                f"\n{host.get('cpu', '?')} · {cores} usable cores · mode {s.get('mode')} · preset "
                f"{s.get('preset')} · {s.get('steps')} clean steps after {s.get('warmup')} warm-up · "
                f"{s.get('repeats')} repeats per point, alternating order · pinning "
                f"{'on' if s.get('pin') else 'off'}",
                "dim",
            ),
        )
        t = Table(
            title="ms per batch (median of repeats) · speedup · efficiency · Karp–Flatt · busy threads",
            title_justify="left",
            header_style="bold",
        )
        t.add_column("framework")
        t.add_column("", no_wrap=True)
        for n in threads:
            over = cores is not None and n > cores
            t.add_column(f"{n} thr" + (" (over)" if over else ""), justify="right")
        for ser in d.get("series", []):
            pts = {p["threads"]: p for p in ser["points"]}
            row_ms, row_s, row_e, row_k, row_b = [], [], [], [], []
            for n in threads:
                p = pts.get(n) or {}
                cell = Text(_ms(p.get("median_ms")))
                if p.get("spread_pct") is not None and p.get("repeats_ok", 0) > 1:
                    style = "yellow" if p["spread_pct"] > 10 else "dim"
                    cell.append(f" ±{p['spread_pct']:.0f}%", style=style)
                if p.get("repeats_ok", 0) < p.get("repeats", 0):
                    cell.append(f" ({p['repeats_ok']}/{p['repeats']} ok)", style="red")
                row_ms.append(cell)
                row_s.append(_x(p.get("speedup")))
                row_e.append(_x(p.get("efficiency"), "{:.0%}"))
                row_k.append(_x(p.get("karp_flatt"), "{:.3f}"))
                b = p.get("busy_threads")
                btxt = Text("–" if b is None else f"{b:g}")
                if p.get("cpu_parallelism") is not None:
                    btxt.append(f" ({p['cpu_parallelism']:.1f} cpu)", style="dim")
                if p.get("thread_mismatch"):
                    btxt.append(" ≠", style="bold red")
                row_b.append(btxt)
            # framework on the first line, variant under it: the seed's row label, kept narrow
            t.add_row(Text(ser["framework"], style="bold"), "ms/batch", *row_ms)
            t.add_row(Text(ser["variant"], style="dim"), "speedup", *row_s, style="cyan")
            t.add_row("", "efficiency", *row_e)
            t.add_row("", "Karp–Flatt", *row_k, style="dim")
            t.add_row("", "busy threads", *row_b, end_section=True)
        yield t
        for ser in d.get("series", []):
            yield self._fit_line(ser)
        mism = [
            f"{ser['series']} at {p['threads']}: {p['thread_mismatch']}"
            for ser in d.get("series", [])
            for p in ser["points"]
            if p.get("thread_mismatch")
        ]
        if mism:
            yield Text("≠ thread mismatch: " + "; ".join(mism), style="red")
        expl = [ser for ser in d.get("series", []) if ser.get("explanation")]
        if expl:
            yield Text("why it scales or flattens (traced op groups, lowest vs highest count):", style="bold")
        for ser in expl:
            e = ser["explanation"]
            if not e.get("available"):
                yield Text(f"• {ser['series']}: unavailable: {e.get('reason')}", style="dim")
                continue
            yield Text("• " + e["sentence"])
            g = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
            g.add_column("  group")
            g.add_column(f"ms @ {e['threads_lo']}", justify="right")
            g.add_column(f"ms @ {e['threads_hi']}", justify="right")
            g.add_column("speedup", justify="right")
            g.add_column("share", justify="right")
            g.add_column("verdict")
            for r in e["groups"]:
                colour = {"scales": "green", "partly": "yellow", "flat": "red"}.get(r["verdict"], "dim")
                g.add_row(
                    "  " + r["group"] + (f" ({', '.join(r['ops'])})" if r.get("ops") else ""),
                    _ms(r["ms_lo"]),
                    _ms(r["ms_hi"]),
                    _x(r["speedup"]),
                    f"{r['share_lo_pct']:.0f}% → {r['share_hi_pct']:.0f}%",
                    Text(r["verdict"], style=colour),
                )
            yield g
        for u in d.get("unavailable") or []:
            yield Text(f"{u.get('framework')}/{u.get('variant')}: {u.get('error')}", style="red")
        for w in d.get("warnings") or []:
            yield Text(f"warning: {w}", style="yellow")
        tail = Text()
        tail.append(
            f"status: {d.get('status')}", style="bold green" if d.get("status") == "ok" else "bold red"
        )
        tail.append(f"\nrun directory: {d.get('run_dir')}")
        files = d.get("files") or {}
        for k in ("csv", "png", "json"):
            if files.get(k):
                tail.append(f"\n{k}: {files[k]}")
        yield tail

    @staticmethod
    def _fit_line(ser: dict[str, Any]) -> Text:
        f = ser.get("figures")
        out = Text()
        out.append(f"{ser['series']}: ", style="bold")
        if not f:
            out.append("no measured point", style="red")
            return out
        fit = f.get("fit")
        if fit and fit.get("exactly_determined"):
            # as many points as parameters: the curve passes through them; a 0% residual and a
            # ceiling 1/f would be read as evidence, and there is none
            out.append(f"Amdahl serial fraction {fit['serial_fraction']:.3f}", style="cyan")
            out.append(
                f" (from {fit['n_points']} counts, exactly determined: no residual, no extrapolation"
                + (f", clamped {fit['clamped']}" if fit.get("clamped") else "") + ")",
                style="dim",
            )
        elif fit:
            out.append(f"Amdahl serial fraction {fit['serial_fraction']:.3f}", style="cyan")
            extra = f" (fit residual {100 * fit['rms_rel_residual']:.1f}% rms over {fit['n_points']} counts"
            extra += f", clamped {fit['clamped']}" if fit.get("clamped") else ""
            extra += ")"
            out.append(extra, style="dim")
            if fit.get("max_speedup"):
                out.append(
                    f"; at most {fit['max_speedup']:.1f}× with any thread count, efficiency 50% at "
                    f"{fit['half_efficiency_threads']:.1f} threads"
                )
        else:
            out.append(str(f.get("fit_note")), style="dim")
        out.append(f"; fastest at {f['best_threads']} thread(s) ({f['best_speedup']:.2f}×)")
        if f.get("stops_paying_at"):
            out.append(f"; stops paying at {f['stops_paying_at']} threads (< 5% gain)", style="yellow")
        else:
            out.append("; still paying at the highest count")
        if f.get("turns_negative_at"):
            out.append(f"; slower from {f['turns_negative_at']} threads", style="bold red")
        for n in f.get("notes") or []:
            out.append(f"\n  {n}", style="dim")
        if f.get("fit_note") and fit:
            out.append(f"\n  {f['fit_note']}", style="dim")
        if fit and fit.get("note"):
            out.append(f"\n  {fit['note']}", style="dim")
        return out


class ScaleProgressView:
    """Progress on stderr: which point is being measured, its worker phase, and how many remain."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[phase]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
            disable=not enabled,
        )
        self.task = self.progress.add_task("points", total=total, phase="")

    def __enter__(self) -> ScaleProgressView:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def update(self, sj: Any, index: int, msg: dict[str, Any]) -> None:
        desc = f"{sj.series} · {sj.threads} thr · repeat {sj.repeat + 1}{' · traced' if sj.traced else ''}"
        phase = msg.get("phase")
        if phase is None and "step" in msg:
            phase = f"measure {msg['step']}/{msg.get('total')}"
        remaining = self.total - index - 1
        self.progress.update(
            self.task,
            description=desc,
            phase=f"{phase or ''} · {remaining} after this",
            completed=index,
        )

    def finish(self, sj: Any, index: int, entry: Any) -> None:
        self.progress.update(self.task, completed=index + 1, phase=entry.status)


__all__ = ["ScaleProgressView", "ScaleReport"]
