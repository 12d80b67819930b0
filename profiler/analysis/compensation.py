"""Tracer-cost compensation: the traced breakdown turned into the composition of the clean step.

:func:`compensate` takes the raw traced breakdown, the records per category
(:func:`records_per_category`), the calibrated cost per record (:mod:`profiler.run.tracer_cost`) and
the clean headline. :func:`tracer_in_run` measures what tracing added in the run itself (traced
steps against :func:`clean_reference`); the page-fault excess comes out of memory I/O, the rest is
placed by the calibration's inside/outside ratio, floored by :func:`roofline_floors`, then scaled to
the headline (:func:`rescale_to_median`). An imported trace (:func:`recorded_elsewhere`) is never
compensated. Pure functions. The method, its keys and measured figures: ``docs/breakdown.md``
("Which step the breakdown describes").
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from profiler.core.categories import CATEGORIES, COMPUTE, FRAMEWORK_OVERHEAD, LABELS, MEMORY_IO
from profiler.core.frameworks import FRAMEWORKS

RESIDUAL_TOLERANCE_PCT = 10.0

#: frameworks whose op records are the toolkit's own spans (the numpy known answer, our numba kernels:
#: ``own_spans`` in their descriptors, core/frameworks.py), and the names "numpy" and "user" that
#: hand-made entries give such workloads
OWN_SPAN_FRAMEWORKS = (*(n for n, fw in FRAMEWORKS.items() if fw.own_spans), "numpy", "user")

#: framework → (its entry in ``tracer_costs``, the measured configuration its probe runs, the tracer's
#: name), from the descriptors' tracers (core/frameworks.py): the torch probe records shapes and FLOPs
#: by default (``shapes_flops``; its ``info()`` says ``plain`` with ``--probe-option
#: torch.record_shapes=false`` and ``torch.with_flops=false``); Keras runs on TensorFlow's runtime and
#: profiler, in ``tf.function`` (the ``function`` configuration); the MXNet probe records API calls and
#: memory (``api_memory``)
TRACER_ENTRIES: dict[str, tuple[str, str, str]] = {
    n: (fw.tracer.probe, fw.tracer.cost_config, fw.tracer.label)
    for n, fw in FRAMEWORKS.items()
    if fw.tracer is not None and fw.tracer.cost_config is not None
}


def recorded_elsewhere(entry: dict[str, Any]) -> str | None:
    """Why this machine's tracer calibration does not apply to an entry, or ``None`` when it does.

    An imported trace (``profiler report TRACE``: the entry's ``imported`` section) was recorded by
    another machine, tracer version and configuration, whose cost per record is not the one
    ``profiler calibrate`` measured here: it is described as traced. Our own runs and ``trace --
    CMD`` ran under this machine's tracers and are compensated.
    """
    imp = entry.get("imported")
    if not isinstance(imp, dict):
        return None
    host = imp.get("host_name")
    return (
        "an imported trace" + (f" recorded on {host}" if isinstance(host, str) and host else " recorded elsewhere")
        + " (its tracer's cost is not this machine's calibration, so none is removed)"
    )


def record_cost(
    calibration: dict[str, Any] | None, framework: str, config: str | None = None
) -> tuple[dict[str, float] | None, str]:
    """``({"inside_us", "outside_us"}, how)`` for a framework's records, or ``(None, why not)``.

    ``config`` names the measured configuration the framework's probe ran (torch: ``plain`` or
    ``shapes_flops``, from the probe's ``info()``); ``None`` is the probe's default. An imported
    trace is never compensated with it (:func:`recorded_elsewhere`).
    """
    tc = (calibration or {}).get("tracer_costs")
    if not calibration:
        return None, "no calibration of this machine"
    if not isinstance(tc, dict):
        return None, "the calibration has no tracer costs (re-run `profiler calibrate --force`)"
    if framework in TRACER_ENTRIES:
        key, default, tracer = TRACER_ENTRIES[framework]
        name = config or default
        t = tc.get(key) or {}
        cfg = (t.get("configs") or {}).get(name)
        if not cfg:
            if t.get("unavailable"):
                return None, t["unavailable"]
            return None, f"no measured tracer cost for {framework}" + (
                f" ({tracer} configuration {name!r} not measured)" if t.get("configs") else ""
            )
        if cfg.get("unresolved"):
            return None, f"{tracer} ({name}) cost unresolved: {cfg['unresolved']}"
        if not isinstance(cfg.get("inside_us"), dict) or cfg.get("outside_us") is None:
            return None, f"{tracer} ({name}): " + (cfg.get("inside_note") or "where the cost lands is not measured")
        tot = cfg["total_us"]
        return (
            {"inside_us": float(cfg["inside_us"]["median"]), "outside_us": float(cfg["outside_us"])},
            f"{tracer} ({name}) {tot['median']:.2f} µs per op (spread {tot['min']:.2f}–{tot['max']:.2f})",
        )
    if framework in OWN_SPAN_FRAMEWORKS:
        o = tc.get("own_spans") or {}
        if not o.get("total_us"):
            return None, o.get("unavailable") or "own span cost not measured"
        if o.get("unresolved"):
            return None, f"own span cost unresolved: {o['unresolved']}"
        return (
            {"inside_us": float(o["inside_us"]), "outside_us": float(o["outside_us"])},
            f"own spans {o['total_us']['median']:.2f} µs per span",
        )
    entry = tc.get(framework) or {}
    return None, entry.get("unavailable") or f"no measured tracer cost for {framework}"


#: the in-run cost per record and ``profiler calibrate``'s may differ by this factor either way before
#: ``cross_check`` says so (the calibration's one-element op is cheaper to record than a real step's
#: ops with their shapes, and it moved 1.3 → 2.5 µs between two calibrations of one machine)
CROSS_CHECK_FACTOR = 2.0

#: a phrase each of :func:`compensate`'s warnings contains (a re-analysis replaces them)
COMPENSATION_WARNINGS = (
    "tracer compensation left a residual",
    "not a tracer cost, so it is not removed",
    "so no tracer cost is removed",
    "removing the tracer's cost would leave",
)

#: a difference between traced and clean steps that is no tracer's is said from this share of the
#: step, and only beyond this many standard errors of it
DIFFERENCE_WORTH_WARNING = 0.01
DIFFERENCE_SEMS = 2.0

#: removals a category could not take (held at zero or at its independent floor) below this share of
#: the clean step are not worth a warning
CLAMP_WORTH_WARNING = 0.01


def tracer_in_run(traced_steps_ms: Sequence[float], clean_steps_ms: Sequence[float], clean_ms: float | None) -> dict[str, Any] | None:
    """What each traced step took beyond the clean step (``clean_ms``: the clean steps' mean, as the
    traced side is the breakdown's mean), from the steps of the same process: ``per_step_ms`` (mean), ``median_ms``,
    ``min_ms``/``max_ms``, ``sem_ms`` (the standard error of the traced steps' mean minus the clean
    steps', from both sides' spread), with the counts. ``None`` without both."""
    t = [float(v) for v in traced_steps_ms]
    c = [float(v) for v in clean_steps_ms]
    if not t or not c or not clean_ms:
        return None
    ex = [v - clean_ms for v in t]

    def var_of_mean(vs: list[float]) -> float:
        return statistics.variance(vs) / len(vs) if len(vs) > 1 else 0.0

    return {
        "per_step_ms": statistics.fmean(ex),
        "median_ms": statistics.median(ex),
        "min_ms": min(ex),
        "max_ms": max(ex),
        "sem_ms": math.sqrt(var_of_mean(t) + var_of_mean(c)),
        "n_traced": len(t),
        "n_clean": len(c),
        "clean_ms": float(clean_ms),
    }


#: the clean steps the in-run tracer cost is measured against: the last this many (or twice the
#: traced steps, if more) before the traced window, so that a machine whose speed changed during the
#: run does not read as tracer cost
NEAR_CLEAN_STEPS = 10


def clean_reference(clean_ms: Sequence[float], n_traced: int,
                    modes: Sequence[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """The clean steps a traced window is set against (``clean_ms`` in time order, in ms): the last
    ``max(NEAR_CLEAN_STEPS, 2 × n_traced)`` (all of them where the steps follow a multi-modal
    pattern: its cycles need them all), less those the disturbed rule finds among them, and their
    mean (``ms``); ``drift`` when that mean is off the earlier clean steps' (the same rule) by over
    2% and two standard errors: the machine's speed changed during the run, and the traced steps,
    last, inherit the later speed. ``None`` without clean steps."""
    from profiler.analysis.stats import disturbed

    def kept(vs: list[float]) -> list[float]:
        return [v for v, f in zip(vs, disturbed(vs, modes), strict=True) if not f]

    vals = [float(v) for v in clean_ms]
    k = len(vals) if modes else max(NEAR_CLEAN_STEPS, 2 * n_traced)
    near, earlier = kept(vals[-k:]), kept(vals[:-k])
    if not near:
        return None
    ref = statistics.fmean(near)
    drift = None
    if len(near) > 1 and len(earlier) > 1:
        before = statistics.fmean(earlier)
        se = math.sqrt(statistics.variance(near) / len(near) + statistics.variance(earlier) / len(earlier))
        if abs(ref - before) > max(0.02 * before, 2.0 * se):
            drift = {"near_ms": ref, "earlier_ms": before, "n_near": len(near), "n_earlier": len(earlier),
                     "note": (f"the clean steps ran at {before:.2f} ms on average, then at {ref:.2f} ms over the last "
                              f"{len(near)} before the traced ones (the machine's speed changed during the run): the "
                              "tracer's cost is measured against those last ones")}
    return {"values": near, "ms": ref, "drift": drift}

def _worth_saying(diff_ms: float, sem_ms: float, step_ms: float) -> bool:
    """A traced/clean difference worth a warning: at least :data:`DIFFERENCE_WORTH_WARNING` of the
    step and beyond :data:`DIFFERENCE_SEMS` standard errors (the steps' own noise)."""
    return abs(diff_ms) >= max(DIFFERENCE_WORTH_WARNING * step_ms, DIFFERENCE_SEMS * sem_ms)


def roofline_floors(roofline: dict[str, Any] | None, calibration: dict[str, Any] | None,
                    device: str = "cpu") -> dict[str, Any]:
    """What the roofline of the same traced steps says memory I/O and compute hold at least, per
    step: the bytes of its memory-bound ops at the calibrated bandwidth (an op whose bytes fit the
    cache-resident working set at the cache's), the FLOPs of its compute-bound ops at the
    calibrated peak. ``{"ms": {category: ms}, "ops": {category: n}}``; empty without ceilings or
    costed ops. A lower bound: the table lists the costliest ops only."""
    from profiler.analysis.roofline import ceilings_from_calibration

    ceil = ceilings_from_calibration(calibration, "cuda" if device == "cuda" else "cpu")
    ops = (roofline or {}).get("ops") or []
    if ceil is None or not ops:
        return {"ms": {}, "ops": {}}
    cached = bool(ceil.cache_bw and ceil.cache_bytes and ceil.cache_bw > ceil.peak_bw)
    ms = {MEMORY_IO: 0.0, COMPUTE: 0.0}
    n = {MEMORY_IO: 0, COMPUTE: 0}
    for o in ops:
        b = o.get("bound")
        if b == "memory":
            by = float(o.get("mb_per_step") or 0.0) * 1e6
            per_call = by / max(float(o.get("calls_per_step") or 1.0), 1e-9)
            bw = ceil.cache_bw if cached and per_call <= (ceil.cache_bytes or 0.0) else ceil.peak_bw
            ms[MEMORY_IO] += 1e3 * by / bw
            n[MEMORY_IO] += 1
        elif b == "compute":
            ms[COMPUTE] += 1e3 * float(o.get("gflop_per_step") or 0.0) * 1e9 / ceil.peak_flops
            n[COMPUTE] += 1
    return {"ms": {c: v for c, v in ms.items() if n[c]}, "ops": {c: k for c, k in n.items() if k}}


def _take_in_proportion(
    comp: dict[str, float | None], amount: float, weights: dict[str, float], floors: dict[str, float]
) -> float:
    """Take ``amount`` ms out of ``comp``'s categories in proportion to ``weights``, none below its
    floor (a category that reaches it passes the rest to the others); returns what was taken."""
    taken = 0.0
    open_ = {c: w for c, w in weights.items() if w > 0}
    while amount - taken > 1e-12 and open_:
        total = sum(open_.values())
        want = amount - taken
        full = []
        for c, w in open_.items():
            room = (comp[c] or 0.0) - floors.get(c, 0.0)
            share = want * w / total
            if share >= room:
                share = max(room, 0.0)
                full.append(c)
            comp[c] = (comp[c] or 0.0) - share
            taken += share
        if not full:
            break
        for c in full:
            open_.pop(c)
    return taken


def compensate(
    traced_ms: dict[str, float | None],
    records_per_step: dict[str, float],
    cost: dict[str, float],
    clean_median_ms: float | None,
    not_measured: dict[str, str] | None = None,
    fixed_ms: dict[str, float] | None = None,
    fault_ms: float | None = None,
    in_run: dict[str, Any] | None = None,
    floors_ms: dict[str, float] | None = None,
    records_in_clean: bool = False,
    calibrated_total_us: float | None = None,
    reference_ms: float | None = None,
) -> dict[str, Any]:
    """The compensated breakdown summing to ``clean_median_ms``, with its residual and warnings.

    ``in_run`` (:func:`tracer_in_run`, with ``fault_ms`` measured on both sides) selects the in-run
    method: the traced − clean difference is removed, ``fault_ms`` of it from memory I/O and the
    rest over the records in ``cost``'s inside/outside ratio; otherwise ``cost`` per record is
    removed as calibrated. ``records_in_clean``: the records are made in the clean steps too (the
    toolkit's own spans), so none of the difference is theirs. ``floors_ms``: what independent
    figures say a category holds at least (:func:`roofline_floors`). ``calibrated_total_us``: the
    calibration's cost per record for the cross-check (default: ``cost``'s inside + outside).
    ``reference_ms``: the clean statistic the in-run total was measured against (``in_run``'s
    ``clean_ms``, the clean steps' mean: the traced side is a mean too), which the compensated
    categories are fitted to and the residual is of; the result is then scaled to
    ``clean_median_ms``, the headline (default: the headline itself)."""
    nm = set(not_measured or {})
    fixed = {c: float(v) for c, v in (fixed_ms or {}).items() if c not in nm and v is not None}
    total_records = sum(records_per_step.values())
    cal_total = calibrated_total_us if calibrated_total_us is not None else cost["inside_us"] + cost["outside_us"]
    warnings: list[str] = []
    notes: list[str] = []
    method = "in run" if in_run is not None and clean_median_ms else "calibrated"
    ref = float(reference_ms) if reference_ms and clean_median_ms else clean_median_ms
    inside_us, outside_us = cost["inside_us"], cost["outside_us"]
    placed: dict[str, Any] | None = None
    cross: dict[str, Any] | None = None
    if records_in_clean:
        inside_us = outside_us = 0.0  # the clean step pays for the same records
    if method == "in run":
        assert in_run is not None and ref
        free_traced = sum(float(traced_ms.get(c) or 0.0) for c in CATEGORIES if c not in nm and c not in fixed)
        target = ref - sum(fixed.values())
        fault = float(fault_ms or 0.0)
        measured = free_traced - target  # what tracing added to the categories the clean step does not fix
        tracer_ms = 0.0 if records_in_clean else measured - fault
        placed = {"measured_ms": measured, "fault_ms": fault, "tracer_ms": tracer_ms, "records_per_step": total_records,
                  "per_record_us": None, "inside_us": None, "outside_us": None, "placed_by": None}
        per_record = None
        if records_in_clean:
            placed["placed_by"] = "nothing: the clean steps record the same spans"
            if _worth_saying(measured - fault, in_run["sem_ms"], ref):
                warnings.append(
                    f"the traced steps took {measured - fault:+.2f} ms per step (± {in_run['sem_ms']:.2f}) beyond the clean "
                    "step and their page faults, though no tracer ran in them alone (the toolkit's own spans are "
                    "recorded in the clean steps too): not a tracer cost, so it is not removed"
                )
        elif tracer_ms <= 0:
            placed["placed_by"] = "nothing: the traced steps were not slower beyond their page faults"
            if _worth_saying(tracer_ms, in_run["sem_ms"], ref):
                warnings.append(
                    f"the traced steps were {-tracer_ms:.2f} ms per step faster than the clean step beyond their page "
                    f"faults (± {in_run['sem_ms']:.2f}): the clean steps were slowed by something other than the tracer, "
                    "so no tracer cost is removed"
                )
        elif cal_total <= 0:
            placed["placed_by"] = "nothing: the calibration measured no cost per record to say where it lands"
        elif total_records <= 0:
            placed["placed_by"] = "nothing: no records in the traced steps to carry it"
        else:
            per_record = 1e3 * tracer_ms / total_records
            share_in = cost["inside_us"] / cal_total
            inside_us, outside_us = per_record * share_in, per_record * (1.0 - share_in)
            # the per-record figure over the traced steps' spread (the rest of the difference is the same in each)
            off = in_run["per_step_ms"] - tracer_ms
            placed.update(
                per_record_us=per_record, inside_us=inside_us, outside_us=outside_us,
                per_record_range_us=[1e3 * (in_run["min_ms"] - off) / total_records,
                                     1e3 * (in_run["max_ms"] - off) / total_records],
                placed_by=f"the calibrated ratio: {100 * share_in:.0f}% inside the records, {100 * (1 - share_in):.0f}% between them",
            )
            ratio = per_record / cal_total
            cross = {"in_run_us": per_record, "calibrated_us": cal_total, "ratio": ratio, "factor": CROSS_CHECK_FACTOR,
                     "agrees": 1.0 / CROSS_CHECK_FACTOR <= ratio <= CROSS_CHECK_FACTOR, "note": None}
            if not cross["agrees"]:
                cross["note"] = (
                    f"`profiler calibrate`'s {cal_total:.2f} µs per record is {ratio:.1f}× off the {per_record:.2f} µs "
                    f"a record cost in these steps (beyond the {CROSS_CHECK_FACTOR:g}× the cross-check allows): the "
                    "in-run figure is the one removed"
                )
                notes.append(cross["note"])
        if per_record is None:
            inside_us = outside_us = 0.0
    comp: dict[str, float | None] = {}
    clamped: dict[str, dict[str, float]] = {}
    floors = {c: float(v) for c, v in (floors_ms or {}).items() if v is not None and v > 0}
    # a floor above what the traced steps themselves measured is contradicted by them (the ops ran
    # faster than the calibrated roof: data that stayed in a cache, a cost model's bytes counted
    # twice): it bounds nothing and is set aside, said in ``floors_contradicted``
    contradicted = {c: f for c, f in floors.items() if traced_ms.get(c) is not None and f > float(traced_ms[c] or 0.0)}
    floors = {c: f for c, f in floors.items() if c not in contradicted}
    for c in CATEGORIES:
        v = traced_ms.get(c)
        if c in nm or v is None:
            comp[c] = None
            continue
        v0 = float(v)
        v = v0 - records_per_step.get(c, 0.0) * inside_us / 1e3
        if c == FRAMEWORK_OVERHEAD:
            v -= total_records * outside_us / 1e3
        if c == MEMORY_IO and fault_ms:
            v -= fault_ms
        floor = floors.get(c, 0.0)
        if v < max(0.0, floor):
            clamped[c] = {"would_be_ms": v, "kept_ms": max(0.0, floor), "floor_ms": floors.get(c, 0.0)}
            v = max(0.0, floor)
        comp[c] = v
    # page faults are paid inside whatever op first touches fresh memory, not only in memory-bound
    # ops: the fault time memory I/O cannot hold (below its floor) comes out of the other op
    # categories in proportion to what they hold, each down to its own floor
    mk = clamped.get(MEMORY_IO)
    if mk is not None and fault_ms and fault_ms > 0:
        spill = min(mk["kept_ms"] - mk["would_be_ms"], float(fault_ms))
        takers = {c: max(0.0, (comp.get(c) or 0.0) - floors.get(c, 0.0)) for c in (COMPUTE, FRAMEWORK_OVERHEAD)
                  if comp.get(c) is not None and c not in clamped}
        room = sum(takers.values())
        if spill > 0 and room > 0:
            taken = min(spill, room)
            for c, r in takers.items():
                comp[c] = (comp[c] or 0.0) - taken * r / room
            mk["faults_elsewhere_ms"] = taken
            notes.append(f"{taken:.2f} ms of page-fault time that memory I/O could not hold (its floor "
                         f"{mk['floor_ms']:.2f} ms) taken from compute and framework overhead in proportion: "
                         "faults are paid in whichever op first touches fresh memory")
    # the tracer's time between records is taken from framework overhead as the calibration's ratio
    # says; where framework overhead holds less than that (the run's measured total is larger than
    # the calibrated split leaves room for), the rest was spent inside the records: it comes out of
    # the categories that hold records, in proportion to their records, each down to its floor
    fo = clamped.get(FRAMEWORK_OVERHEAD)
    if fo is not None and method == "in run" and outside_us > 0 and total_records > 0:
        spill = min(fo["kept_ms"] - fo["would_be_ms"], total_records * outside_us / 1e3)
        taken = _take_in_proportion(
            comp, spill,
            {c: float(records_per_step.get(c) or 0.0) for c in CATEGORIES
             if c not in (FRAMEWORK_OVERHEAD, *fixed) and c not in clamped and comp.get(c) is not None},
            floors,
        )
        if taken > 0:
            fo["inside_records_ms"] = taken
            notes.append(
                f"{taken:.2f} ms of the tracer's cost that framework overhead could not hold (the calibration puts "
                f"{100 * (1 - inside_us / (inside_us + outside_us)):.0f}% of it between records) taken from the "
                "categories holding the records, in proportion to their records: the run's total is measured, "
                "where it lands is not"
            )
    comp_step = sum(v for v in comp.values() if v is not None)
    removed = sum(float(traced_ms.get(c) or 0.0) for c in CATEGORIES if c not in nm) - comp_step
    for c, k in clamped.items():
        placed_elsewhere = k.get("faults_elsewhere_ms", 0.0) + k.get("inside_records_ms", 0.0)
        if ref and k["kept_ms"] - k["would_be_ms"] - placed_elsewhere < CLAMP_WORTH_WARNING * ref:
            continue  # what it could not take was placed elsewhere (fault time), or is too small to say
        if k["floor_ms"] > 0:
            warnings.append(
                f"{LABELS[c]}: removing the tracer's cost would leave {k['would_be_ms']:.2f} ms, below the "
                f"{k['floor_ms']:.2f} ms the same steps' roofline says it holds; kept at {k['kept_ms']:.2f} ms "
                "(what could not be removed stays in the residual)"
            )
        else:
            warnings.append(
                f"{LABELS[c]}: removing the tracer's cost would leave {k['would_be_ms']:.2f} ms; kept at 0 "
                "(what could not be removed stays in the residual)"
            )
    base = {"method": method, "in_run": in_run, "placed": placed, "cross_check": cross, "clamped": clamped,
            "floors_ms": floors or None, "floors_contradicted": contradicted or None, "notes": notes}
    uncertain: list[str] = []
    if not clean_median_ms:
        return {
            **base,
            "ms": comp,
            "compensated_traced_step_ms": comp_step,
            "removed_ms": removed,
            "residual_pct": None,
            "fixed": [],
            "uncertain": [],
            "warnings": warnings,
        }
    free = [c for c in CATEGORIES if comp.get(c) is not None and c not in fixed]
    scaled = _scaled({**comp, **fixed}, set(fixed), clean_median_ms) if fixed else None
    if scaled is None:
        # nothing measured on the clean steps (or it leaves no room): scale every category
        fixed, free = {}, [c for c in CATEGORIES if comp.get(c) is not None]
        scaled = _scaled(comp, set(), clean_median_ms) or dict(comp)
    rest_comp = sum(comp[c] or 0.0 for c in free)
    assert ref
    residual_pct = 100.0 * (rest_comp - (ref - sum(fixed.values()))) / ref
    out_ms: dict[str, float | None] = scaled
    if abs(residual_pct) > RESIDUAL_TOLERANCE_PCT:
        raw_total = sum(float(v) for v in traced_ms.values() if v is not None) or 1.0
        moved = sorted(
            (c for c in free if out_ms.get(c) is not None),
            key=lambda c: -abs((out_ms[c] or 0.0) / clean_median_ms - float(traced_ms.get(c) or 0.0) / raw_total),
        )
        # categories under 1% of the step are not named: their share cannot move much
        uncertain = [c for c in moved if (out_ms.get(c) or 0.0) >= 0.01 * clean_median_ms][:2]
        warnings.append(
            f"tracer compensation left a residual of {residual_pct:+.1f}% against the clean "
            + ("median " if not reference_ms else f"steps' mean ({ref:.2f} ms) ")
            + f"(tolerance ±{RESIDUAL_TOLERANCE_PCT:g}%): "
            + (", ".join(LABELS[c] for c in uncertain) or "every category")
            + " uncertain"
        )
    return {
        **base,
        "ms": out_ms,
        "compensated_traced_step_ms": comp_step,
        "removed_ms": removed,
        "residual_pct": residual_pct,
        "fixed": sorted(fixed),
        "uncertain": uncertain,
        "warnings": warnings,
    }


def cost_phrase(res: dict[str, Any], calibrated: str) -> str:
    """How the tracer's cost was measured and placed, in words, for ``breakdown["describes"]``:
    ``res`` is :func:`compensate`'s result, ``calibrated`` :func:`record_cost`'s description."""
    run, placed = res.get("in_run"), res.get("placed")
    if res.get("method") != "in run" or not run or not placed:
        return f"{calibrated} as calibrated (not measured in this run: no page-fault counters or no clean steps)"
    head = (f"measured in this run: {run['per_step_ms']:.2f} ms per traced step over the clean step "
            f"(± {run['sem_ms']:.2f}, {run['min_ms']:.2f} to {run['max_ms']:.2f} over {run['n_traced']} steps)")
    if placed.get("per_record_us") is None:
        return f"{head}; removed per record: {placed['placed_by']}; calibration {calibrated}"
    lo, hi = placed["per_record_range_us"]
    return (f"{head}, {placed['tracer_ms']:.2f} ms of it over {placed['records_per_step']:,.0f} records = "
            f"{placed['per_record_us']:.2f} µs each ({lo:.2f} to {hi:.2f}); where it lands: {placed['placed_by']} "
            f"(calibration {calibrated})")


def _scaled(ms: dict[str, float | None], keep: set[str], total: float) -> dict[str, float | None] | None:
    """``ms`` with every measured category not in ``keep`` scaled by one factor so that all sum to
    ``total``; ``None`` when they cannot (nothing to scale, or ``keep`` alone reaches ``total``)."""
    free_sum = sum(v for c, v in ms.items() if v is not None and c not in keep)
    target = total - sum(ms[c] or 0.0 for c in keep if c in ms)
    if free_sum <= 0 or target <= 0:
        return None
    k = target / free_sum
    return {c: (v if v is None or c in keep else v * k) for c, v in ms.items()}


def show_step(breakdown: dict[str, Any], ms: dict[str, float | None], step_ms: float) -> None:
    """Make ``breakdown`` (its dict form) speak of ``step_ms`` with the categories ``ms``: what the
    table, the explanations and the report read (``ms``, ``step_ms``, ``pct``, the residual)."""
    breakdown["ms"] = {c: (v or 0.0) for c, v in ms.items()}
    breakdown["step_ms"] = step_ms
    breakdown["pct"] = {c: 100.0 * v / step_ms if step_ms else 0.0 for c, v in breakdown["ms"].items()}
    breakdown["residual_ms"] = step_ms - sum(breakdown["ms"].values())
    breakdown["residual_pct"] = 100.0 * breakdown["residual_ms"] / step_ms if step_ms else 0.0


def records_per_category(seg_categories: dict[str, int], n_steps: int) -> dict[str, float]:
    """Records per step in each category from counts over ``n_steps`` traced steps."""
    return {c: k / n_steps for c, k in seg_categories.items()} if n_steps else {}


def rescale_to_median(breakdown: dict[str, Any] | None, breakdown_ms: dict[str, float | None] | None,
                      median_ms: Any) -> tuple[dict[str, Any] | None, dict[str, float | None] | None]:
    """A compensated breakdown moved to another clean headline: the pooled statistic of several
    worker processes, when the traced process's own clean steps were the ones it was fitted to.
    ``median_ms`` is that figure, or the pooled step statistics themselves (a dict or a
    ``StepStats``), whose headline statistic is used (the median, or the mean of a multi-modal
    distribution: :func:`profiler.analysis.stats.headline_ms`). Categories measured on the clean
    steps (``compensation.fixed``) keep their values; the others are scaled so that everything sums
    to the headline, and the input-bound verdict is taken again from the breakdown as shown.
    Uncompensated breakdowns are returned unchanged."""
    from profiler.analysis.stats import MEAN, headline_ms

    statistic = "median"
    if not isinstance(median_ms, int | float):
        get = median_ms.get if isinstance(median_ms, dict) else (lambda k: getattr(median_ms, k, None))
        statistic = MEAN if get("statistic") == MEAN else "median"
        median_ms = headline_ms(median_ms)
    if not breakdown or not breakdown_ms or not breakdown.get("compensation") or not median_ms:
        return breakdown, breakdown_ms
    ms = _scaled(breakdown_ms, set(breakdown["compensation"].get("fixed") or []), median_ms)
    if ms is None:
        return breakdown, breakdown_ms
    bd = dict(breakdown)
    show_step(bd, ms, median_ms)
    shown_input_bound(bd)
    if bd.get("describes"):
        bd["describes"] += f"; moved to the {statistic} of every process's clean steps ({median_ms:.2f} ms)"
    return bd, ms


def shown_input_bound(breakdown: dict[str, Any]) -> None:
    """The input-bound verdict of a compensated breakdown taken from the breakdown as shown (its data
    loading over its step), so that verdict and table describe the same steps with the same
    statistic; the traced steps' own share stays as ``traced_pct``. Nothing changes where the input
    was not measured or the breakdown is the traced one."""
    from profiler.analysis.breakdown import input_bound_verdict

    ib = breakdown.get("input_bound")
    if not breakdown.get("compensation") or not isinstance(ib, dict) or ib.get("verdict") == "not measured":
        return
    if "data_loading" in (breakdown.get("not_measured") or {}):
        return
    dl, step = (breakdown.get("ms") or {}).get("data_loading"), breakdown.get("step_ms")
    if dl is None or not step:
        return
    new = {**ib, **input_bound_verdict(float(dl), float(step))}
    new.setdefault("traced_pct", ib.get("pct"))
    new["of"] = "the breakdown's step: its data loading over the step it describes"
    breakdown["input_bound"] = new
