"""One worker's events → its figures: step statistics, breakdown, top ops, dispatches, probe figures;
and the comparisons a reader wants between variants.

Pure functions of the event table and the entry's identity; the machine's calibration is passed in.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from profiler.analysis.attribution import attributed_breakdown
from profiler.analysis.breakdown import clipped_length, step_windows
from profiler.analysis.compensation import (
    OWN_SPAN_FRAMEWORKS,
    compensate,
    cost_phrase,
    record_cost,
    recorded_elsewhere,
    records_per_category,
    roofline_floors,
    show_step,
    tracer_in_run,
)
from profiler.analysis.explain import explain, with_verdict
from profiler.analysis.intervals import merge
from profiler.analysis.launches import launch_stats
from profiler.analysis.op_sequences import op_sequences
from profiler.analysis.ops import dispatch_counts, op_table
from profiler.analysis.stats import (
    DISTURBED_MADS,
    DISTURBED_SHARE,
    MEAN,
    disturbed,
    headline_ms,
    summarize_ms,
)
from profiler.analysis.step_usage import FAULTS_WORTH_NOTING, kernel_excess, page_fault_cost_us, usage_summary
from profiler.core.categories import LABELS
from profiler.core.events import DATA_LOADING, EventTable
from profiler.probes.summary import probe_summary


def analyse_variant(
    events: EventTable,
    entry: dict[str, Any],
    items_per_step: float | None = None,
    unit: str = "step",
    calibration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Step statistics, breakdown, top ops and dispatch counts for one worker's events."""
    pid = entry.get("pid")
    clean = step_windows(events, pid, traced=False)
    traced_all = step_windows(events, pid, traced=True)
    out: dict[str, Any] = {}
    out["step_ms"] = summarize_ms([w.dur_ns for w in clean])
    out["traced_step_ms"] = summarize_ms([w.dur_ns for w in traced_all])
    # the breakdown is of the typical traced steps: one the machine stretched is left out (its extra
    # time would show as gaps between ops), and the run says so
    flags = disturbed([w.dur_ns for w in traced_all])
    traced = [w for w, f in zip(traced_all, flags, strict=True) if not f]
    left_out = [w for w, f in zip(traced_all, flags, strict=True) if f]
    if left_out:
        out["disturbed_traced_steps"] = {
            "left_out_ms": [w.dur_ns / 1e6 for w in left_out],
            "indices": [w.index for w in left_out],
            "traced_median_ms": out["traced_step_ms"]["median"],
            "rule": f"longer than the traced median by over {DISTURBED_SHARE:.0%} and {DISTURBED_MADS:g} scaled MADs",
        }
    out["step_usage"] = usage_summary(clean, traced)
    if out["step_ms"]["median"] and out["traced_step_ms"]["median"]:
        out["tracing_overhead_pct"] = 100.0 * (out["traced_step_ms"]["median"] / out["step_ms"]["median"] - 1)
    steps = traced or clean
    if steps:
        # cost model, roofline classifier (this machine's calibrated ceilings), GPU summary
        bd, extra = attributed_breakdown(
            events, pid, steps, entry.get("device") or "cpu", calibration, entry.get("framework"), tracer_config(entry),
            train=entry.get("mode") == "train",
        )
        out.update(extra)
        out["breakdown"] = bd.to_dict()
        _describe(out, bd, traced, clean, entry, calibration, events)
        out["top_ops"] = op_table(events, pid, steps)
        out["dispatch"] = dispatch_counts(events, pid, steps)
        out["launches"] = launch_stats(events, pid, steps)  # CUDA launch statistics (None on CPU)
        out["op_sequences"] = op_sequences(events, pid, steps)  # repeated chains: fusion candidates
    else:
        out["breakdown"] = None
        out["breakdown_ms"] = None
    if not clean and traced and not (out.get("breakdown") or {}).get("compensation"):
        _traced_headline(out, traced, entry)
    head = headline_ms(out["step_ms"])
    if unit != "step" and items_per_step and head:
        n_items = float(unit.split()[0])
        out["per_unit_ms"] = head * n_items / items_per_step
    # low-level probes (NVML, process, py-spy) run for the whole worker: their figures are over the
    # clean steps when there are any
    win = [(w.start_ns, w.end_ns) for w in (clean or traced)]
    out["probe_summary"] = probe_summary(events, pid, win)
    return out


def _traced_headline(out: dict[str, Any], traced: list[Any], entry: dict[str, Any]) -> None:
    """Every step was traced (a trace, or a program profiled without clean steps) and the breakdown
    is the traced steps' as recorded: the headline is the mean of the very steps the breakdown
    describes (disturbed ones left out of both), so the two sum to one another."""
    out["step_ms"] = summarize_ms([w.dur_ns for w in traced], MEAN)
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
    median = (out.get("step_ms") or {}).get("median")
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
        kernel_excess(out.get("step_usage"), _op_threads(entry, calibration), page_fault_cost_us(calibration))
        if median else None
    )
    # the tracer's total measured in this run (traced − clean steps) where the page-fault counters
    # let the faults be told apart from the records' cost; the calibration then says where it lands
    in_run = (
        tracer_in_run([w.dur_ns / 1e6 for w in traced], [w.dur_ns / 1e6 for w in clean], median)
        if faults is not None else None
    )
    floors = roofline_floors(out.get("roofline"), calibration, entry.get("device") or "cpu")
    res = compensate(
        raw, records_per_category(bd.records, bd.n_steps), cost, median, bd.not_measured,
        fixed_ms=clean_measured(events, entry.get("pid"), clean) if median else None,
        fault_ms=(faults or {}).get("remove_ms"), in_run=in_run, floors_ms=floors["ms"],
        records_in_clean=entry.get("framework") in OWN_SPAN_FRAMEWORKS,
    )
    how = cost_phrase(res, how) + _fault_phrase(faults)
    out["breakdown_ms"] = res["ms"]
    b["traced_step_ms"] = b["step_ms"]
    b["compensation"] = {
        k: res[k] for k in ("compensated_traced_step_ms", "removed_ms", "residual_pct", "uncertain", "fixed",
                            "method", "in_run", "placed", "cross_check", "clamped", "floors_ms")
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
        f"the clean step (median of {len(clean)} untraced steps, {median:.2f} ms): traced steps "
        f"({mean_of}) with the measured tracer cost removed ({how})"
        + (f"; {fixed} as measured on the clean steps" if fixed else "")
        + f"; residual {res['residual_pct']:+.1f}%"
    )
    if res["warnings"]:
        who = f"{entry.get('framework')}/{entry.get('variant')}"
        # a re-analysis replaces the compensation's warning instead of adding a second one
        kept = [w for w in entry.get("warnings") or [] if "tracer compensation left a residual" not in w]
        out["warnings"] = kept + [f"{who}: {w}" for w in res["warnings"]]


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
    for v in (info.get("torch_threads"), info.get("numba_threads"), info.get("intra_op_threads"), entry.get("threads"),
              ((calibration or {}).get("host") or {}).get("cores")):
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


def comparisons(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The comparisons a reader wants: within each framework, every variant against that framework's
    fastest (fused vs unfused); across frameworks, each framework's best against the overall best."""
    ok = [v for v in variants if v.get("status") == "ok" and (v.get("step_ms") or {}).get("median")]
    if len(ok) < 2:
        return []

    def speed(v: dict[str, Any]) -> float:
        return v["step_ms"]["median"]

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
