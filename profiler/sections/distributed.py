"""Data-parallel ranks of one variant: per-rank step, busy and communication time, the straggler,
how the clocks were aligned, which rank failed first."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.sections.blocks import Block, Line, Table, cols, fmt_ms
from profiler.sections.registry import VARIANT, Section, View


@dataclass(frozen=True)
class Rank:
    rank: int
    host: str | None = None
    status: str | None = None
    step_ms: float | None = None
    breakdown_ms: dict[str, float | None] | None = None
    overlap: dict[str, Any] | None = None
    warning: str | None = None
    busy_pct: float | None = None
    exposed_comm_ms: float | None = None
    launch_delay_us: float | None = None
    straggler: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Straggler:
    slowest_rank: int | None = None
    busy_ms: dict[str, float] = field(default_factory=dict)
    sentence: str | None = None
    step_spread_pct: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CostStep:
    step: int
    step_ms: float
    last_rank: int | None = None
    wait_ms: dict[str, float] = field(default_factory=dict)
    what_if_step_ms: float | None = None
    model_error_pct: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StragglerCost:
    steps: tuple[CostStep, ...] = ()
    totals: dict[str, Any] = field(default_factory=dict)
    sentence: str | None = None
    assumptions: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Distributed:
    world_size: int | None = None
    nnodes: int | None = None
    nproc: int | None = None
    backend: str | None = None
    launcher: str | None = None
    endpoint: str | None = None
    ranks: tuple[Rank, ...] = ()
    straggler: Straggler | None = None
    clock: dict[str, Any] | None = None
    alignment: dict[str, Any] | None = None
    failure: dict[str, Any] | None = None
    note: str | None = None
    straggler_cost: StragglerCost | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _cost(c: StragglerCost) -> list[Block]:
    """The straggler's cost per step: who arrived last, each rank's wait, the measured step against
    the what-if (the slowest rank at the median rank's pace): an estimate, with its model's error."""
    ranks = sorted({r for st in c.steps for r in st.wait_ms}, key=lambda r: int(r) if r.isdigit() else r)
    rows = tuple(
        (str(st.step), "–" if st.last_rank is None else str(st.last_rank),
         *(fmt_ms(st.wait_ms.get(r)) for r in ranks), fmt_ms(st.step_ms), fmt_ms(st.what_if_step_ms),
         "–" if st.model_error_pct is None else f"{st.model_error_pct:+.0f}")
        for st in c.steps)
    out: list[Block] = []
    if rows:
        out.append(Table("the straggler's cost per step (an estimate: the slowest rank at the median rank's pace)",
                         cols("step", "last rank", *(f"rank {r} waits ms>" for r in ranks), "step ms>",
                              "what-if ms>", "model error %>"), rows, key="straggler_cost"))
    t = c.totals
    if isinstance(t.get("saved_ms"), (int, float)) and isinstance(t.get("step_ms"), (int, float)):
        out.append(Line(f"over the run: {fmt_ms(t['saved_ms'])} ms of {fmt_ms(t['step_ms'])} ms "
                        f"({t.get('saved_pct') or 0:.1f}%) would be saved"
                        + (f"; {t['waits_beyond_kernel']} wait(s) longer than the waiting rank's own collective: "
                           "the estimate is doubtful" if t.get("waits_beyond_kernel") else ""), "dim"))
    if c.sentence:
        out.append(Line(c.sentence))
    return out


def _clock_line(c: dict[str, Any]) -> str | None:
    basis = c.get("basis") or {}
    if len(basis) <= 1 or not c.get("bound_ns"):
        return None
    bound = max(c["bound_ns"].values()) / 1000
    if all(b == "shared clock" for b in basis.values()):
        return (f"clocks: one CLOCK_MONOTONIC for all ranks (same host and boot): no offset, residual skew 0; the "
                f"exchange measured {(c.get('exchange_error_ns') or 0) / 1000:.0f} µs where the truth is 0 (bound "
                f"{bound:.0f} µs, {c.get('rounds')} ping-pong rounds)")
    applied = ", ".join(f"r{k}={v / 1000:+.0f} µs" for k, v in (c.get("offsets_ns") or {}).items())
    drift = (f"; drift over the run {max(abs(x) for x in c['drift_ns'].values()) / 1000:.0f} µs"
             if c.get("drift_ns") else "")
    return (f"clocks: offsets applied {applied}; residual skew ≤ {(c.get('max_residual_ns') or 0) / 1000:.0f} µs "
            f"(half the fastest of {c.get('rounds')} round trips){drift}")


def show(d: Distributed, view: View) -> tuple[Block, ...]:
    st = d.straggler or Straggler()
    title = (f"ranks: world size {d.world_size} ({d.nnodes} node(s) × {d.nproc}), {d.backend}, {d.launcher}"
             + (f" at {d.endpoint}" if d.endpoint else ""))
    rows = []
    for r in d.ranks:
        # the rank the straggler analysis marks; a record without that mark names its slowest rank
        slow = bool(r.straggler) if r.straggler is not None else (st.slowest_rank == r.rank and len(d.ranks) > 1)
        bd = r.breakdown_ms or {}
        ov = (r.overlap or {}).get("overlap_pct")
        busy = r.busy_pct if r.busy_pct is not None else None
        comm = r.exposed_comm_ms if r.exposed_comm_ms is not None else bd.get("communication") if bd else None
        rows.append((f"{r.rank}{' ◀ straggler' if slow else ''}", r.host or "?", r.status or "no result",
                     fmt_ms(r.step_ms), "–" if busy is None else f"{busy:.1f}", fmt_ms(comm),
                     f"{ov:.0f}" if isinstance(ov, (int, float)) else "–",
                     "–" if r.launch_delay_us is None else f"{r.launch_delay_us:,.1f}"))
    out: list[Block] = [Table(title, cols("rank", "host", "status", "step ms>", "device busy %>", "exposed comm ms>",
                                          "overlap %>", "launch delay µs>"), tuple(rows), key="ranks")]
    if st.sentence:
        out.append(Line(f"straggler: {st.sentence} (step spread {st.step_spread_pct or 0:.1f}%)"))
    if d.straggler_cost is not None:
        out.extend(_cost(d.straggler_cost))
    line = _clock_line(d.clock) if d.clock else None
    if line:
        out.append(Line(line, "dim"))
    al = d.alignment
    if al:
        spread = f"; the anchors then lie within {al['anchor_spread_us']:.0f} µs" if "anchor_spread_us" in al else ""
        out.append(Line(f"clocks: {al.get('method')}{spread}", "dim"))
    f = d.failure
    if f:
        out.append(Line(f"failed first: rank {f.get('rank')}: {f.get('error')}"
                        + (f"; stopped: {', '.join(map(str, f['stopped']))}" if f.get("stopped") else ""), "bad"))
    for w in sorted({r.warning for r in d.ranks if r.warning}):
        out.append(Line(f"warning: {w}", "warn"))
    if d.note:
        out.append(Line(d.note, "warn"))
    return tuple(out)


SECTION = Section(
    key="distributed", title="ranks", scope=VARIANT, model=Distributed, show=show,
    computed_by="profiler.analysis.ranks.straggler_report", order=50,
)
