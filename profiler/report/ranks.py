"""Rich renderables of a data-parallel run: the per-rank table and the 1 vs N scaling table.

They read the ``distributed`` section of a variant entry and the ``scaling`` rows of a run record
(``run.json``), never events, so a saved run re-renders identically (see docs/distributed.md).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text


def _ms(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:,.3f}" if v < 10 else f"{v:,.1f}"


class RanksReport:
    """Per-rank step time, busy time, communication and overlap; straggler, clocks, failure."""

    def __init__(self, variant: dict[str, Any]) -> None:
        self.v = variant
        self.d = variant.get("distributed") or {}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        d = self.d
        st = d.get("straggler") or {}
        busy = st.get("busy_ms") or {}
        t = Table(
            title=(
                f"ranks: world size {d.get('world_size')} ({d.get('nnodes')} node(s) × {d.get('nproc')}), "
                f"{d.get('backend')}, {d.get('launcher')}" + (f" at {d['endpoint']}" if d.get("endpoint") else "")
            ),
            title_justify="left",
            header_style="bold",
        )
        for col in ("rank", "host", "status", "step ms", "busy ms", "comm ms", "overlap %"):
            t.add_column(col, justify="left" if col in ("rank", "host", "status") else "right")
        for r in d.get("ranks", []):
            bd = r.get("breakdown_ms") or {}
            ov = r.get("overlap") or {}
            slow = st.get("slowest_rank") == r["rank"] and len(d.get("ranks", [])) > 1
            status = r.get("status") or "no result"
            t.add_row(
                Text(f"{r['rank']}{' ◀ slowest' if slow else ''}", style="bold red" if slow else ""),
                str(r.get("host") or "?"),
                Text(status, style="green" if status == "ok" else "red"),
                _ms(r.get("step_ms")),
                _ms(busy.get(str(r["rank"]))),
                _ms(bd.get("communication")) if bd else "–",
                f"{ov['overlap_pct']:.0f}" if ov.get("overlap_pct") is not None else "–",
            )
        yield t
        if st.get("sentence"):
            yield Text(
                f"straggler: {st['sentence']} (step spread {st.get('step_spread_pct') or 0:.1f}%)"
            )
        c = d.get("clock")
        if c and len(c.get("basis", {})) > 1:
            bound = max(c["bound_ns"].values()) / 1000
            drift = (
                f"; drift over the run {max(abs(x) for x in c['drift_ns'].values()) / 1000:.0f} µs"
                if c.get("drift_ns")
                else ""
            )
            if all(b == "shared clock" for b in c["basis"].values()):
                line = (
                    f"clocks: one CLOCK_MONOTONIC for all ranks (same host and boot): no offset, "
                    f"residual skew 0; the exchange measured {(c.get('exchange_error_ns') or 0) / 1000:.0f} µs "
                    f"where the truth is 0 (bound {bound:.0f} µs, {c['rounds']} ping-pong rounds)"
                )
            else:
                applied = ", ".join(f"r{k}={v / 1000:+.0f} µs" for k, v in c["offsets_ns"].items())
                line = (
                    f"clocks: offsets applied {applied}; residual skew ≤ {c['max_residual_ns'] / 1000:.0f} µs "
                    f"(half the fastest of {c['rounds']} round trips){drift}"
                )
            yield Text(line, style="dim")
        al = d.get("alignment")  # traces another tool wrote, one per rank (analysis.ranks.align_rank_traces)
        if al:
            spread = f"; the anchors then lie within {al['anchor_spread_us']:.0f} µs" if "anchor_spread_us" in al else ""
            yield Text(f"clocks: {al['method']}{spread}", style="dim")
        f = d.get("failure")
        if f:
            yield Text(
                f"failed first: rank {f['rank']}: {f['error']}"
                + (f"; stopped: {', '.join(map(str, f['stopped']))}" if f.get("stopped") else ""),
                style="bold red",
            )
        warned = sorted({r["warning"] for r in d.get("ranks", []) if r.get("warning")})
        for w in warned:
            yield Text(f"warning: {w}", style="yellow")
        if d.get("note"):
            yield Text(d["note"], style="yellow")


class WorldSizeReport:
    """The seed's 1 × GPU vs N × GPU columns: step time, throughput, speedup, efficiency."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.rows:
            return
        t = Table(
            title="scaling: same per-rank batch, 1 vs N ranks", title_justify="left", header_style="bold"
        )
        for col in ("variant", "ranks", "step ms", "items/s", "speedup", "efficiency", "time for same data"):
            t.add_column(col, justify="left" if col == "variant" else "right")
        for r in self.rows:
            t.add_row(
                f"{r['framework']} · {r['variant']} · {r['mode']}",
                str(r["world_size"]),
                _ms(r["step_ms"]),
                f"{r['items_per_s']:,.0f}" if r.get("items_per_s") else "–",
                f"{r['speedup']:.2f}×",
                f"{100 * r['efficiency']:.0f}%",
                f"{r['time_ratio']:.2f}×",
            )
        yield t
