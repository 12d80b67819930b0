"""The breakdown with everything that explains it, for one worker's traced steps.

Runs, in order: the cost model (FLOPs and bytes from recorded shapes), the breakdown with the roofline
classifier when this machine's ceilings are known (``profiler calibrate``), and the per-op roofline
table. Pure: the calibration record is passed in.
"""

from __future__ import annotations

from typing import Any

from profiler.analysis.breakdown import Breakdown, DispatchRule, StepWindow, breakdown
from profiler.analysis.compensation import TRACER_ENTRIES
from profiler.analysis.costmodel import annotate
from profiler.analysis.roofline import (
    ceilings_from_calibration,
    make_classifier,
    roof_time_ns,
    roofline_table,
)
from profiler.core.events import EventTable


def attributed_breakdown(
    events: EventTable,
    pid: int | None,
    steps: list[StepWindow],
    device: str = "cpu",
    calibration: dict[str, Any] | None = None,
    framework: str | None = None,
    tracer_config: str | None = None,
    train: bool = False,
) -> tuple[Breakdown, dict[str, Any]]:
    """``(breakdown, extra)``: extra holds ``roofline`` and ``cost_model`` for run.json."""
    annotated, cov = annotate(events)
    ceilings = ceilings_from_calibration(calibration, "cuda" if device == "cuda" else "cpu")
    classifier = make_classifier(ceilings) if ceilings else None
    rule = dispatch_rule(calibration, framework, ceilings, tracer_config, train)
    bd = breakdown(annotated, pid, steps, classifier=classifier, dispatch=rule)
    rl = roofline_table(annotated, pid, steps, ceilings)
    if classifier is None:
        bd.notes.append(
            "compute vs memory I/O by op kind (no calibrated ceilings: run `profiler calibrate` for the "
            "roofline split)"
        )
    elif not rl.get("ops"):
        bd.notes.append(
            "compute vs memory I/O by op kind (no op carries FLOPs and bytes for the roofline); without "
            "them no op can be found dispatch-bound, so small ops' dispatch beyond the measured floor "
            "stays in memory I/O and compute"
        )
    else:
        bd.notes.append(
            f"compute vs memory I/O by arithmetic intensity against the machine balance "
            f"({ceilings.balance:.1f} FLOP/byte) where shapes gave costs, by op kind elsewhere"
        )
    extra: dict[str, Any] = {
        "cost_model": cov,
        "roofline": rl,
    }
    if ceilings is None and calibration is None:
        extra["roofline"]["ceilings_note"] = "not calibrated: run `profiler calibrate`"
    return bd, extra


def dispatch_rule(
    calibration: dict[str, Any] | None,
    framework: str | None,
    ceilings: Any,
    config: str | None = None,
    train: bool = False,
) -> DispatchRule:
    """The dispatch rule for one framework's host ops: its measured per-op dispatch time and the
    roofline cap when the machine's ceilings are known.

    The floor is the part of an op *record* that is dispatch: a one-element op's recorded duration
    with the tracer's in-record cost taken off (``recorded_op_us`` − ``inside_us`` of the probe's
    configuration, from ``profiler calibrate``); from older calibrations, a one-element op's bare
    per-call time less an empty Python call's (an upper bound: it includes argument parsing, which
    the record does not cover). 0 where nothing was measured."""
    floor_us, how = 0.0, "no measured dispatch time"
    key, default, _ = TRACER_ENTRIES.get(framework or "", (framework or "", "", ""))
    t = ((calibration or {}).get("tracer_costs") or {}).get(key) or {}
    cfg = (t.get("configs") or {}).get(config or default) or {}
    rec, inside = _median(cfg.get("recorded_op_us")), _median(cfg.get("inside_us"))
    bare, empty = _median(t.get("bare_op_us")), _median(t.get("empty_call_us"))
    if rec is not None:
        floor_us = max(0.0, rec - (inside or 0.0))
        how = f"{framework} dispatch {floor_us:.2f} µs per op record (calibrated)"
    elif bare is not None and empty is not None:
        floor_us = max(0.0, bare - empty)
        how = f"{framework} dispatch {floor_us:.2f} µs per op (calibrated, bare call)"
    grad = _median(cfg.get("recorded_grad_op_us"))
    grad_floor_ns = None
    if train and grad is not None:
        grad_floor_ns = max(0.0, grad - (inside or 0.0)) * 1e3
        how += f", {grad_floor_ns / 1e3:.2f} µs for a forward op in training (autograd)"
    roof = roof_time_ns(ceilings) if ceilings is not None else None
    return DispatchRule(
        floor_ns=floor_us * 1e3,
        grad_floor_ns=grad_floor_ns,
        roof_ns=roof,
        source=how + ("; roofline cap from calibrated ceilings" if roof else "; no roofline cap (not calibrated)"),
    )


def _median(stat: Any) -> float | None:
    v = stat.get("median") if isinstance(stat, dict) else stat
    return float(v) if isinstance(v, int | float) else None
