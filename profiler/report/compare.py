"""Rich renderable of a compare result: the seed-layout table, findings and the spread sentence."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from profiler.analysis.compare import PARAM_TOLERANCE_PCT
from profiler.core.categories import CATEGORIES, LABELS, SHORT
from profiler.export.compare import COMPARE_CSV, COMPARE_JSON, COMPARE_PNG
from profiler.report.bars import breakdown_bar


class CompareTable:
    """Rich renderable of a compare result: the seed-layout table, findings and the spread sentence."""

    def __init__(self, result: dict[str, Any], run_dir: str | None = None) -> None:
        self.result = result
        self.run_dir = run_dir

    def __rich_console__(self, console: Any, options: Any) -> Any:
        r = self.result
        s = r.get("settings") or {}
        p = s.get("params") or {}
        sizes = ", ".join(f"{k} {p[k]}" for k in ("batch", "image_size", "layers") if k in p)
        yield Text.from_markup(
            f"[bold]{r['scenario']}[/] · {r.get('mode')} · preset {s.get('preset')} · data {s.get('data')} "
            f"· device {s.get('device')} · threads {s.get('threads') or 'default'} · {sizes} · "
            f"{s.get('warmup')} warm-up, "
            + (f"clean steps for ≥{s['min_time_s']:g} s (≤{s.get('steps')})" if s.get("min_time_s")
               else f"{s.get('steps')} measured")
            + f" in {s.get('repeat') or 1} process(es), {s.get('trace_steps')} traced steps"
        )
        unit = r["unit"]
        # Two tables rather than one wide one: the figures, then the breakdowns (and why a row has
        # none), so that both read at 80 columns.
        t = Table(title=None, show_lines=False)
        t.add_column("framework · variant", no_wrap=True)
        t.add_column(f"s / {unit}" if unit != "step" else "s / step", justify="right")
        t.add_column("ms / step (95% CI)", justify="right")
        t.add_column("items / s", justify="right")
        t.add_column("params", justify="right")
        bt = Table(title=None, show_lines=False)
        bt.add_column("framework · variant", no_wrap=True)
        bt.add_column("breakdown of the traced step")
        for row in r["rows"]:
            name = f"{row['display']} · {row['variant']}"
            if row["status"] != "ok":
                err = row.get("error") or ""
                msg = err if err.startswith(str(row["status"])) else f"{row['status']}: {err}"
                t.add_row(name, Text(str(row["status"]), style="red"), "–", "–", "–")
                bt.add_row(name, Text(msg, style="red"))
                continue
            d = row.get("param_delta_pct")
            params = Text(f"{row['parameters'] / 1e6:.2f} M" if row.get("parameters") else "–")
            if d is not None and abs(d) > PARAM_TOLERANCE_PCT:
                params = Text(f"{row['parameters'] / 1e6:.2f} M ({d:+.1f}%)", style="red")
            t.add_row(
                name,
                f"{row['headline_s']:.3f}" if row.get("headline_s") is not None else "–",
                (f"{row['step_ms']:.1f}" if row.get("step_ms") is not None else "–")
                + (f" ({row['step_ci95_low']:.1f}–{row['step_ci95_high']:.1f})"
                   if row.get("step_ci95_low") is not None else ""),
                f"{row['items_per_s']:.1f}" if row.get("items_per_s") is not None else "–",
                params,
            )
            if all(row.get(f"{c}_pct") is None for c in CATEGORIES):
                bt.add_row(name, Text("no breakdown (no tracer ran)", style="bright_black"))
                continue
            pcts = {c: row.get(f"{c}_pct") or 0.0 for c in CATEGORIES}
            bar = breakdown_bar(pcts, width=20)
            top = sorted((c for c in CATEGORIES if pcts[c] >= 1.0), key=lambda c: -pcts[c])[:3]
            bar.append(" " + " ".join(f"{SHORT[c]} {pcts[c]:.0f}%" for c in top))
            bt.add_row(name, bar)
        yield t
        yield bt
        yield Text(
            "breakdown: " + ", ".join(f"{SHORT[c]} = {LABELS[c]}" for c in CATEGORIES),
            style="bright_black",
        )
        for f in r.get("param_findings", []):
            yield Text(f"parameters: {f}", style="yellow")
        yield Text(r["spread"])
        for w in r.get("warnings") or []:
            yield Text(f"warning: {w}", style="yellow")
        if self.run_dir:
            yield Text(f"run directory: {self.run_dir} ({COMPARE_CSV}, {COMPARE_JSON}, {COMPARE_PNG})")
