"""One worker's events → its core figures: step statistics, the breakdown (with its cost model,
roofline and tracer-cost compensation), the steps' kernel usage, warnings; the inputs every other
per-variant section is computed from; and the comparisons a reader wants between variants.

Pure functions of the event table and the entry's identity; the machine's calibration is passed in.
The figures of the registered sections (top ops, dispatch, launches, op chains, GPU timeline, probe
figures …) are computed from :class:`VariantInputs` by :func:`profiler.sections.compute.analyse`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from profiler.analysis.attribution import attributed_breakdown
from profiler.analysis.breakdown import StepWindow, clipped_length, step_windows
from profiler.analysis.compensation import (
    COMPENSATION_WARNINGS,
    OWN_SPAN_FRAMEWORKS,
    clean_reference,
    compensate,
    cost_phrase,
    record_cost,
    recorded_elsewhere,
    records_per_category,
    roofline_floors,
    show_step,
    shown_input_bound,
    tracer_in_run,
)
from profiler.analysis.explain import explain, with_verdict
from profiler.analysis.gpu import limits_from_kineto
from profiler.analysis.intervals import merge
from profiler.analysis.stats import (
    DISTURBED_MADS,
    DISTURBED_SHARE,
    MEAN,
    disturbed,
    headline_ms,
    headline_stats,
    step_pattern,
    summarize_ms,
)
from profiler.analysis.step_usage import FAULTS_WORTH_NOTING, kernel_excess, page_fault_cost_us, usage_summary
from profiler.core.categories import LABELS
from profiler.core.events import DATA_LOADING, EventTable
from profiler.core.frameworks import FRAMEWORKS


@dataclass(frozen=True, eq=False)
class VariantInputs:
    """What every per-variant section is computed from (a section's ``compute`` takes it): one
    worker's events and entry, the machine's calibration, its step windows, and the core figures
    (:func:`analyse_variant`'s) already computed from them."""

    events: EventTable
    entry: Mapping[str, Any]
    calibration: Mapping[str, Any] | None
    #: the clean (untraced) steps
    clean: tuple[StepWindow, ...]
    #: the traced steps the breakdown describes (those the machine disturbed left out)
    traced: tuple[StepWindow, ...]
    #: the core figures under their ``run.json`` keys (step_ms, breakdown, roofline, step_usage …)
    figures: Mapping[str, Any]
    items_per_step: float | None = None
    unit: str = "step"

    @property
    def pid(self) -> int | None:
        return self.entry.get("pid")

    @property
    def steps(self) -> list[StepWindow]:
        """The steps the per-step figures describe: the traced ones, else the clean ones."""
        return list(self.traced or self.clean)

    def has_steps(self) -> bool:
        return bool(self.traced or self.clean)

    def in_steps(self) -> tuple[EventTable, int | None, list[StepWindow]]:
        """``(events, pid, steps)``: the arguments of an analysis over the steps."""
        return self.events, self.pid, self.steps

    def on_device(self) -> tuple[EventTable, int | None, list[StepWindow], Any]:
        """:meth:`in_steps` and the SM limits the trace names for its GPU (an imported Kineto trace's
        ``deviceProperties``), or ``None`` for the defaults."""
        props = (self.entry.get("imported") or {}).get("device_properties")
        return self.events, self.pid, self.steps, limits_from_kineto(props) if props else None

    def in_windows(self) -> tuple[EventTable, int | None, list[tuple[int, int]]]:
        """``(events, pid, windows)`` over the clean steps when there are any (the low-level probes —
        NVML, process, py-spy — run for the whole worker), else the traced ones."""
        return self.events, self.pid, [(w.start_ns, w.end_ns) for w in (self.clean or self.traced)]


@dataclass(frozen=True, eq=False)
class RunInputs:
    """What every per-run section is computed from: the run's entries (``run.json``'s dictionaries)."""

    variants: tuple[Mapping[str, Any], ...]
    #: the plan launched its variants at several world sizes (``--nproc 1,2``): entries of one variant
    #: share a name, and the world-size table, not variant-vs-variant comparisons, compares them
    by_world_size: bool = False


def analyse_variant(
    events: EventTable,
    entry: dict[str, Any],
    items_per_step: float | None = None,
    unit: str = "step",
    calibration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The core figures of one worker's events: step statistics, breakdown, step usage, warnings
    (:func:`variant_inputs`); :func:`profiler.sections.compute.analyse` adds every section's."""
    return dict(variant_inputs(events, entry, items_per_step, unit, calibration).figures)


def variant_inputs(
    events: EventTable,
    entry: Mapping[str, Any],
    items_per_step: float | None = None,
    unit: str = "step",
    calibration: Mapping[str, Any] | None = None,
) -> VariantInputs:
    """The core figures of one worker's events, and the inputs every per-variant section is
    computed from."""
    pid = entry.get("pid")
    clean = step_windows(events, pid, traced=False)
    traced_all = step_windows(events, pid, traced=True)
    out: dict[str, Any] = {}
    # the headline: the clean steps' median, or their mean (throughput) with the modes named where
    # they follow a multi-modal pattern of the program's own (a loader cycle, a periodic evaluation)
    out["step_ms"] = headline_stats([w.dur_ns / 1e6 for w in clean])
    out["traced_step_ms"] = summarize_ms([w.dur_ns for w in traced_all])
    # the breakdown is of the typical traced steps: one the machine stretched is left out (its extra
    # time would show as gaps between ops), and the run says so; a long step of the pattern (the
    # clean steps', or the traced steps' own) is the pattern, never a disturbance
    traced_ms = [w.dur_ns / 1e6 for w in traced_all]
    modes = out["step_ms"].get("modes") or (step_pattern(traced_ms) or {}).get("modes")
    flags = disturbed(traced_ms, modes)
    traced = [w for w, f in zip(traced_all, flags, strict=True) if not f]
    left_out = [w for w, f in zip(traced_all, flags, strict=True) if f]
    if left_out:
        out["disturbed_traced_steps"] = {
            "left_out_ms": [w.dur_ns / 1e6 for w in left_out],
            "indices": [w.index for w in left_out],
            "traced_median_ms": out["traced_step_ms"]["median"],
            "rule": (f"longer than the longest mode ({max(m['center_ms'] for m in modes):.1f} ms), slowed as much as "
                     f"the fastest traced step, by over {DISTURBED_SHARE:.0%}") if modes else
                    f"longer than the traced median by over {DISTURBED_SHARE:.0%} and {DISTURBED_MADS:g} scaled MADs",
        }
    out["step_usage"] = usage_summary(clean, traced)
    # traced against clean in the headline's statistic (means, where the steps follow a pattern)
    head_clean, head_traced = headline_ms(out["step_ms"]), out["traced_step_ms"][out["step_ms"]["statistic"]]
    if head_clean and head_traced:
        out["tracing_overhead_pct"] = 100.0 * (head_traced / head_clean - 1)
    steps = traced or clean
    if steps:
        # cost model, roofline classifier (this machine's calibrated ceilings): the compensation
        # below reads the roofline's floors
        bd, extra = attributed_breakdown(
            events, pid, steps, entry.get("device") or "cpu", calibration, entry.get("framework"), tracer_config(entry),
            train=entry.get("mode") == "train",
        )
        out.update(extra)
        out["breakdown"] = bd.to_dict()
        _describe(out, bd, traced, clean, entry, calibration, events)
        shown_input_bound(out["breakdown"])  # the verdict of the steps and statistic the table shows
    else:
        out["breakdown"] = None
        out["breakdown_ms"] = None
    if not clean and traced and not (out.get("breakdown") or {}).get("compensation"):
        _traced_headline(out, traced, entry)
    if out.get("breakdown"):
        out["breakdown"]["reliability"] = breakdown_reliability(
            [*(entry.get("warnings") or []), *(out.get("warnings") or [])], out["step_ms"], entry.get("info"),
            out.get("disturbed_traced_steps"), len(traced_all),
        )
    head = headline_ms(out["step_ms"])
    if unit != "step" and items_per_step and head:
        n_items = float(unit.split()[0])
        out["per_unit_ms"] = head * n_items / items_per_step
    return VariantInputs(
        events=events, entry=MappingProxyType(dict(entry)),
        calibration=calibration,
        clean=tuple(clean), traced=tuple(traced), figures=MappingProxyType(out),
        items_per_step=items_per_step, unit=unit,
    )


def _traced_headline(out: dict[str, Any], traced: list[Any], entry: dict[str, Any]) -> None:
    """Every step was traced (a trace, or a program profiled without clean steps) and the breakdown
    is the traced steps' as recorded: the headline is the mean of the very steps the breakdown
    describes (disturbed ones left out of both), so the two sum to one another."""
    out["step_ms"] = summarize_ms([w.dur_ns for w in traced], MEAN)
    out["step_ms"]["modes"] = (step_pattern([w.dur_ns / 1e6 for w in traced]) or {}).get("modes")
    if entry.get("imported") is not None:
        out["traced_step_ms"] = None  # the same steps: no untraced step to set them against
    if out.get("breakdown"):
        out["breakdown"]["notes"].append(
            f"every step was traced: the step time quoted is the mean of the {len(traced)} traced steps the "
            "breakdown describes"
        )


def _describe(
    out: dict[str, Any],
    bd: Any,
    traced: list[Any],
    clean: list[Any],
    entry: dict[str, Any],
    calibration: dict[str, Any] | None,
    events: EventTable,
) -> None:
    """``breakdown_ms`` as the composition of the clean step (tracer cost removed) when it can be;
    the raw traced figures stay in ``breakdown["traced_ms"]``; ``breakdown["describes"]`` says which."""
    b = out["breakdown"]
    raw: dict[str, float | None] = {c: (None if c in bd.not_measured else v) for c, v in bd.ms.items()}
    b["traced_ms"] = raw
    # the clean step's headline (the median, or the mean of a multi-modal pattern): what the
    # compensated breakdown is scaled to, so that both describe the same statistic
    median = headline_ms(out.get("step_ms"))
    stat = (out.get("step_ms") or {}).get("statistic") or "median"
    if not traced:
        out["breakdown_ms"] = raw
        b["describes"] = f"the clean steps themselves (mean of {bd.n_steps}; nothing was traced)"
        return
    mean_of = f"mean of {bd.n_steps}" + _left_out_phrase(out.get("disturbed_traced_steps"))
    foreign = recorded_elsewhere(entry)
    if foreign:
        out["breakdown_ms"] = raw
        b["describes"] = f"the traced steps as recorded ({mean_of}): {foreign}"
        return
    cost, how = record_cost(calibration, entry.get("framework") or "?", tracer_config(entry))
    if cost is None:
        out["breakdown_ms"] = raw
        b["describes"] = f"the traced steps ({mean_of}), uncompensated: {how}"
        return
    faults = (
        kernel_excess(out.get("step_usage"), _op_threads(entry, calibration), page_fault_cost_us(calibration),
                      clean_statistic="mean")
        if median else None
    )
    # the tracer's total measured in this run (traced − clean steps) where the page-fault counters
    # let the faults be told apart from the records' cost; the calibration then says where it lands.
    # The traced side is the breakdown's mean over its steps (disturbed ones left out), so the clean
    # side is a mean by the same rule, of the clean steps just before the traced ones (a machine whose
    # speed changed during the run is not tracer cost); the result is then scaled to the headline
    near = clean_reference([w.dur_ns / 1e6 for w in clean], len(traced), (out.get("step_ms") or {}).get("modes"))
    in_run = (
        tracer_in_run([w.dur_ns / 1e6 for w in traced], near["values"], near["ms"])
        if faults is not None and near else None
    )
    if in_run is not None and near and near["drift"]:
        in_run["drift"] = near["drift"]
        b["notes"] = [*(b.get("notes") or []), near["drift"]["note"]]
    floors = roofline_floors(out.get("roofline"), calibration, entry.get("device") or "cpu")
    res = compensate(
        raw, records_per_category(bd.records, bd.n_steps), cost, median, bd.not_measured,
        fixed_ms=clean_measured(events, entry.get("pid"), clean) if median else None,
        fault_ms=(faults or {}).get("remove_ms"), in_run=in_run, floors_ms=floors["ms"],
        records_in_clean=entry.get("framework") in OWN_SPAN_FRAMEWORKS,
        reference_ms=in_run["clean_ms"] if in_run else None,
    )
    how = cost_phrase(res, how) + _fault_phrase(faults)
    out["breakdown_ms"] = res["ms"]
    b["traced_step_ms"] = b["step_ms"]
    b["compensation"] = {
        k: res[k] for k in ("compensated_traced_step_ms", "removed_ms", "residual_pct", "uncertain", "fixed",
                            "method", "in_run", "placed", "cross_check", "clamped", "floors_ms",
                            "floors_contradicted")
    }
    b["compensation"]["cost"] = how
    b["compensation"]["page_faults"] = faults
    b["notes"] = [*(b.get("notes") or []), *res["notes"]]
    # the table, the explanations and the report read breakdown["ms"]: they now speak of the step
    # the headline describes
    if not median:
        step = res["compensated_traced_step_ms"]
        show_step(b, res["ms"], step)
        b["describes"] = (
            f"the traced steps ({mean_of}) with the measured tracer cost removed ({how}): an "
            f"estimate of the untraced step ({step:.2f} ms); no clean steps ran to check it against"
        )
        return
    show_step(b, res["ms"], median)
    fixed = ", ".join(LABELS[c] for c in res["fixed"])
    b["describes"] = (
        f"the clean step ({stat} of {len(clean)} untraced steps, {median:.2f} ms"
        + (f"; {_modes_phrase(out['step_ms'].get('modes'))}" if out["step_ms"].get("modes") else "")
        + "): traced steps "
        f"({mean_of}) with the measured tracer cost removed ({how})"
        + (f"; {fixed} as measured on the clean steps" if fixed else "")
        + f"; residual {res['residual_pct']:+.1f}%"
    )
    if res["warnings"]:
        who = f"{entry.get('framework')}/{entry.get('variant')}"
        # a re-analysis replaces the compensation's warnings instead of adding a second copy
        kept = [w for w in entry.get("warnings") or [] if not any(k in w for k in COMPENSATION_WARNINGS)]
        out["warnings"] = kept + [f"{who}: {w}" for w in res["warnings"]]


#: Warnings (profiler/analysis/noise.py's lines) that say the machine disturbed a measurement, by a
#: phrase each contains; ``True``: the warning may also be the program's own multi-modal pattern (two
#: speeds, a wide IQR, process medians apart or drifting: a loader cycle's steps do all of these)
DISTURBANCE_PHRASES: tuple[tuple[str, bool], ...] = (
    ("its times are unreliable", False),  # other processes' CPU, the hypervisor's steal
    ("throttled or power-saving", False),
    ("the clean steps were disturbed", False),  # traced steps faster than clean ones
    ("its breakdown is unreliable", False),  # other processes' CPU, steal during the traced steps
    ("ran at two speeds", True),
    ("the benchmark may be unstable", True),  # wide IQR
    ("the processes ran at different speeds", True),
    ("across the run", True),  # process medians drift
)


def breakdown_reliability(
    warnings: list[str],
    step_ms: Any,
    info: dict[str, Any] | None = None,
    left_out: dict[str, Any] | None = None,
    n_traced: int = 0,
) -> dict[str, Any]:
    """Whether a variant's breakdown can be trusted, and why not: ``{"reliable", "why": [...]}``.

    Unreliable when the machine disturbed the measurement and nothing measured it again: a noise
    warning (:data:`DISTURBANCE_PHRASES`; those a multi-modal pattern also raises do not count when
    the headline names its modes: the program's pattern is not a disturbance), the traced window
    cut by its bound before it covered the steps' pattern (``info["trace_window"]``), or half of the
    traced steps or more left out as disturbed."""
    get = step_ms.get if isinstance(step_ms, dict) else (lambda k: getattr(step_ms, k, None))
    pattern = bool(step_ms is not None and get("modes"))
    why: list[str] = []
    for w in warnings:
        for phrase, may_be_pattern in DISTURBANCE_PHRASES:
            if phrase in w and not (may_be_pattern and pattern):
                why.append(w)
                break
    tw = (info or {}).get("trace_window")
    if isinstance(tw, dict) and tw.get("covered") is False:
        why.append(f"the traced window ({tw.get('steps')} steps) did not cover the steps' pattern"
                   + (f": {tw['bound']}" if tw.get("bound") else ""))
    if left_out and n_traced and 2 * len(left_out.get("left_out_ms") or []) >= n_traced:
        why.append(f"{len(left_out['left_out_ms'])} of {n_traced} traced steps were disturbed and left out")
    why = list(dict.fromkeys(why))
    return {"reliable": not why, "why": why, "remeasured": False}


def _modes_phrase(modes: list[dict[str, Any]] | None) -> str:
    """``modes 15.0 ms (50%), 150.0 ms (50%)``: a multi-modal step's modes in words."""
    return "modes " + ", ".join(f"{m['center_ms']:.1f} ms ({100 * m['share']:.0f}%)" for m in modes or [])


def _left_out_phrase(d: dict[str, Any] | None) -> str:
    if not d:
        return ""
    ms = ", ".join(f"{v:.1f}" for v in d["left_out_ms"])
    n = len(d["left_out_ms"])
    return (f"; {n} disturbed traced step{'s' if n > 1 else ''} left out ({ms} ms against a traced median "
            f"of {d['traced_median_ms']:.1f} ms)")


def _op_threads(entry: dict[str, Any], calibration: dict[str, Any] | None) -> int:
    """The threads a framework's large ops run on: its own count when the workload reported it, the
    requested count, else the machine's usable cores."""
    info = entry.get("info") or {}
    reported = (info.get(fw.threads_info) for fw in FRAMEWORKS.values() if fw.threads_info)  # core/frameworks.py
    for v in (*reported, entry.get("threads"), ((calibration or {}).get("host") or {}).get("cores")):
        if isinstance(v, int) and v > 0:
            return v
    return 1


def _fault_phrase(f: dict[str, Any] | None) -> str:
    """What the compensation did about the page faults the traced steps took beyond the clean
    step's, or nothing when the difference is too small to matter."""
    if not f or abs(f["faults_per_step"]) < FAULTS_WORTH_NOTING:
        return ""
    more = "more" if f["faults_per_step"] > 0 else "fewer"
    head = (f"; {abs(f['faults_per_step']):,.0f} {more} minor page faults per traced step than the clean "
            f"step's {f['clean_faults_per_step']:,.0f}")
    ms = f["remove_ms"]
    if ms is None:
        return head + f" (kernel time {f['kernel_cpu_ms']:+.1f} ms: nothing taken from memory I/O)"
    verb = "removed from" if ms > 0 else "added to"
    price = f", {f['per_fault_us']:.1f} µs each" if f.get("per_fault_us") else ""
    if f.get("per_fault_us") and f.get("calibrated_us"):
        price += f" against {f['calibrated_us']:.1f} µs calibrated"
    pt = f.get("per_thread")
    if pt:  # the stepping thread's own kernel time, the others' over the op threads: the larger is the wall time
        split = (f" (the stepping thread {pt['stepping_thread_kernel_ms']:.1f} ms, the other threads "
                 f"{pt['other_threads_kernel_ms']:.1f} ms over {pt['other_threads_over']})")
    else:
        split = f" over {f['threads']} thread(s)"
    return head + (f": {f['kernel_cpu_ms']:.1f} ms of kernel time{split} = "
                   f"{abs(ms):.2f} ms{price}, {verb} memory I/O")


def tracer_config(entry: dict[str, Any]) -> str | None:
    """The configuration the framework's tracer ran in (the torch probe says ``plain`` or
    ``shapes_flops`` in its info); ``None``: the probe's default."""
    probe = (entry.get("probes") or {}).get("torch")
    return probe.get("config") if isinstance(probe, dict) else None


def clean_measured(events: EventTable, pid: int | None, clean: list[Any]) -> dict[str, float]:
    """Categories the clean steps measure themselves: the input wait, where the harness marked it
    with ``data_loading`` spans in every step (mean ms per clean step)."""
    if not clean:
        return {}
    sp = events.spans
    rows = np.flatnonzero(events.cat_mask(DATA_LOADING) & ((sp["pid"] == pid) if pid is not None else True))
    if not len(rows):
        return {}
    s, e = merge(sp["start_ns"][rows], sp["start_ns"][rows] + sp["dur_ns"][rows])
    per_step = [clipped_length(s, e, w.start_ns, w.end_ns) / 1e6 for w in clean]
    if not all(v > 0 for v in per_step):
        return {}  # not marked in every clean step: not a measurement of the clean step's input wait
    return {"data_loading": sum(per_step) / len(per_step)}


def comparisons(variants: Sequence[Mapping[str, Any]], by_world_size: bool = False) -> list[dict[str, Any]]:
    """The comparisons a reader wants: within each framework, every variant against that framework's
    fastest (fused vs unfused); across frameworks, each framework's best against the overall best.
    None where the variants ran at several world sizes (``by_world_size``): entries of one variant
    share a name there, and the world-size table, not a variant-vs-variant explanation, compares them."""
    if by_world_size:
        return []
    ok = [v for v in variants if v.get("status") == "ok" and (v.get("step_ms") or {}).get("median")]
    if len(ok) < 2:
        return []

    def speed(v: dict[str, Any]) -> float:
        return headline_ms(v["step_ms"]) or v["step_ms"]["median"]

    by_fw: dict[str, list[dict[str, Any]]] = {}
    for v in ok:
        by_fw.setdefault(v.get("framework", "?"), []).append(v)
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for vs in by_fw.values():
        best = min(vs, key=speed)
        pairs += [(best, v) for v in sorted(vs, key=speed) if v is not best]
    if len(by_fw) > 1:
        # a variant that does less work than the mode says (e.g. forward only in a train run) is
        # compared within its framework only, never across frameworks
        whole = {fw: [v for v in vs if not (v.get("info") or {}).get(v.get("mode", ""))] for fw, vs in by_fw.items()}
        bests = sorted((min(vs, key=speed) for vs in whole.values() if vs), key=speed)
        pairs += [(bests[0], v) for v in bests[1:]]
    return [with_verdict(e, a, b) for a, b in pairs if (e := explain(a, b))]
