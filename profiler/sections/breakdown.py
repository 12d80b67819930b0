"""The step's breakdown: what each category holds, what the figures describe, the input verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.core.categories import CATEGORIES, LABELS
from profiler.sections.blocks import Bar, Block, Line, Table, cols, fmt_ms
from profiler.sections.registry import VARIANT, Section, View
from profiler.sections.typed import number


@dataclass(frozen=True)
class InputBound:
    verdict: str
    pct: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Compensation:
    residual_pct: float | None = None
    removed_ms: Any = None
    cost: str | None = None
    method: str | None = None  # "in run": traced − clean measured in the same process; "calibrated"
    in_run: dict[str, Any] | None = None
    placed: dict[str, Any] | None = None
    cross_check: dict[str, Any] | None = None
    clamped: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def compensation_lines(c: Compensation) -> list[Line]:
    """How the tracer's cost was measured and placed, and how far calibrate's figure agrees."""
    out: list[Line] = []
    per = number(c.in_run, "per_step_ms")
    if c.method == "in run" and per is not None:
        sem = number(c.in_run, "sem_ms")
        text = (f"tracer cost measured in this run: {per:,.3f} ms per traced step"
                + (f" (± {sem:,.3f} standard error)" if sem is not None else "")
                + f", traced − clean over {c.in_run.get('n_traced')} traced and {c.in_run.get('n_clean')} clean steps")
        us = number(c.placed, "per_record_us")
        if us is not None:
            text += f"; {us:,.2f} µs per tracer record"
        cc = c.cross_check or {}
        if number(cc, "calibrated_us") is not None:
            text += (f"; calibrate says {cc['calibrated_us']:,.2f} µs"
                     + ("" if cc.get("agrees", True) else " (they disagree: the in-run figure is used)"))
        out.append(Line(text, "dim"))
    elif c.method == "calibrated":
        out.append(Line("tracer cost from calibrate's per-record figure (no clean and traced counters in this run)",
                        "dim"))
    for cat, v in (c.clamped or {}).items():
        if isinstance(v, dict):
            out.append(Line(f"{LABELS.get(cat, cat)} held at {number(v, 'kept_ms') or 0:,.3f} ms "
                            + (f"(its floor from the roofline, {number(v, 'floor_ms'):,.3f} ms)" if number(v, "floor_ms")
                               else "(zero)")
                            + f" where removing the tracer's cost would leave {number(v, 'would_be_ms') or 0:,.3f} ms",
                            "warn"))
    return out


@dataclass(frozen=True)
class Loader:
    processes: int
    work_ms_per_step: float
    busy_ms_per_step: float
    spans: int | None = None
    work_ms_total: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


#: the device-idle reasons in the order the device rule takes them, as a reader names them
IDLE_REASONS = (("input_wait", "waiting for input"), ("host_collective", "host collectives"),
                ("sync_wait", "host syncs"), ("work_queued", "work queued behind a dependency"),
                ("host_busy", "host busy with nothing queued"), ("nothing", "nothing running"))


@dataclass(frozen=True)
class DeviceSplit:
    busy_ms: float
    idle_ms: float
    idle_split_ms: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reliability:
    reliable: bool
    why: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Breakdown:
    ms: dict[str, float]
    pct: dict[str, float]
    step_ms: float
    residual_ms: float = 0.0
    residual_pct: float = 0.0
    basis: str = ""
    describes: str | None = None
    not_measured: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    input_bound: InputBound | None = None
    loader: Loader | None = None
    compensation: Compensation | None = None
    device: DeviceSplit | None = None
    reliability: Reliability | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def compensated(self) -> bool:
        return self.compensation is not None


def what(b: Breakdown) -> str:
    """The words for what the figures are: the clean step (tracer cost removed) or traced steps."""
    return "clean, compensated" if b.compensated else "traced"


def show(b: Breakdown, view: View) -> tuple[Block, ...]:
    rows = []
    for c in CATEGORIES:
        nm = b.not_measured.get(c)
        pct = b.pct.get(c, 0.0)
        rows.append((LABELS[c], "not measured" if nm else fmt_ms(b.ms.get(c, 0.0)), "" if nm else f"{pct:.1f}",
                     Bar.of({c: pct})))
    rows.append((f"step ({what(b)})", fmt_ms(b.step_ms), "100.0", Bar.of(b.pct)))
    out: list[Block] = [Table("breakdown, ms per step (" + ("the clean step: traced steps with the tracer cost removed)" if b.compensated
                                    else "traced steps as recorded)"), cols("category", "ms/step>", "%>", "bar"),
                              tuple(rows), key="categories")]
    closure = f"closure {b.residual_ms:+.4f} ms ({b.residual_pct:+.3f}% of step)"
    if b.compensation and b.compensation.residual_pct is not None:
        closure += f"; compensation residual before rescaling {b.compensation.residual_pct:+.1f}%"
    out.append(Line(closure + (f"; basis: {b.basis}" if b.basis else ""), "dim"))
    if b.describes:
        out.append(Line(f"the breakdown describes {b.describes}", "strong"))
    if b.compensation is not None:
        out.extend(compensation_lines(b.compensation))
    again = b.reliability.extra.get("remeasured") if b.reliability is not None else None
    again = again if isinstance(again, dict) else None
    if b.reliability is not None and not b.reliability.reliable:
        how = ("it was measured again and disturbed again" if again
               else "nothing measured it again")
        out.append(Line(f"unreliable: the machine disturbed this measurement and {how} — "
                        + "; ".join(b.reliability.why or ("no reason recorded",)), "bad"))
    elif again is not None:
        first = "; ".join(str(w) for w in again.get("first_why") or ()) or "no reason recorded"
        out.append(Line(f"measured again ({number(again, 'seconds') or 0:.1f} s): the first "
                        f"measurement was disturbed — {first}", "dim"))
    ib = b.input_bound
    if ib is not None:
        if ib.verdict == "not measured" or ib.pct is None:
            out.append(Line("input-bound: not measured (the input pipeline was not marked)", "dim"))
        else:
            tone = {"not input-bound": "good", "moderately input-bound": "warn"}.get(ib.verdict, "bad")
            out.append(Line(f"input: {ib.verdict} — {ib.pct:.1f}% of step time waiting for input or copying it to the "
                            "device (TF Profiler's thresholds: <5% no, 5–20% moderately, ≥20% highly)", tone))
    ld = b.loader
    if ld is not None:
        total = (f"; {ld.spans:,} items in {ld.work_ms_total:.1f} ms of work over the whole recording"
                 if ld.spans is not None and ld.work_ms_total is not None else "")
        out.append(Line(f"loader workers: {ld.processes} process(es) worked {ld.work_ms_per_step:.2f} ms inside each "
                        f"step (some worker busy {ld.busy_ms_per_step:.2f} ms of it){total}", "dim"))
    dv = b.device
    if dv is not None:
        why = ", ".join(f"{label} {dv.idle_split_ms[k]:,.3f}" for k, label in IDLE_REASONS
                        if dv.idle_split_ms.get(k))
        out.append(Line(f"device per step: busy {dv.busy_ms:,.3f} ms, idle {dv.idle_ms:,.3f} ms"
                        + (f" — while idle: {why} ms" if why else ""), "dim"))
    for c, why in b.not_measured.items():
        out.append(Line(f"{LABELS.get(c, c)}: not measured — {why}", "warn"))
    out.extend(Line(n, "dim") for n in b.notes)
    return tuple(out)


SECTION = Section(
    key="breakdown",
    title="breakdown",
    scope=VARIANT,
    model=Breakdown,
    show=show,
    computed_by="profiler.analysis.breakdown.breakdown",
    order=10,
)
