"""Tracer-cost compensation: the traced breakdown turned into the composition of the clean step.

Pure functions. Inputs: the raw traced breakdown (mean ms per category over the traced steps), how
many records the tracer made per traced step in each category (:func:`records_per_category`), the
measured per-record cost (``calibration["tracer_costs"]``, :mod:`profiler.run.tracer_cost`) and the
clean step median the entry headlines.

1. Remove the measured cost where it lands: ``inside_us`` × records of a category from that category
   (inside each recorded op's self time), ``outside_us`` × all records from framework overhead (the
   gaps between records); and the wall time of the page faults the traced steps took beyond the
   clean step's (their extra kernel CPU over the framework's threads) from memory I/O (``fault_ms``,
   :mod:`profiler.analysis.step_usage`; negative when the clean step faults more: its faults are the
   clean step's memory I/O). A category never goes below zero.
2. The *residual* is the compensated traced step minus the clean median, in % of the clean median.
3. Categories measured on the clean steps themselves (``fixed_ms``: the input wait, marked by the
   harness's own ``data_loading`` spans in every step) take their clean values; the other
   compensated categories are scaled by one factor so that everything sums to the clean median. The
   residual says how much that factor had to do: (compensated traced − clean) for the scaled part,
   in % of the clean median. Above :data:`RESIDUAL_TOLERANCE_PCT` a warning names the categories
   whose compensated share moved most (the uncertain ones).
4. Without a clean median (a profiled program runs only traced steps) the compensated traced
   categories are the estimate, unscaled; there is no residual to report.

Only the tracer cost of the machine that recorded the steps is removed: an imported trace
(:func:`recorded_elsewhere`) is described as traced, never compensated with this machine's
calibration.

Categories that were not measured stay ``None`` and are not scaled.
"""

from __future__ import annotations

from typing import Any

from profiler.core.categories import CATEGORIES, FRAMEWORK_OVERHEAD, LABELS, MEMORY_IO

RESIDUAL_TOLERANCE_PCT = 10.0

#: the torch probe records shapes and FLOPs by default (probes/torch_tracer.py); its ``info()`` says
#: which configuration it ran (``plain`` with ``--probe-option torch.record_shapes=false`` and
#: ``torch.with_flops=false``)
TORCH_PROBE_CONFIG = "shapes_flops"

#: framework → (its entry in ``tracer_costs``, the measured configuration its probe runs, the tracer's
#: name): Keras runs on TensorFlow's runtime and profiler, in ``tf.function`` (the ``function``
#: configuration); the MXNet probe records API calls and memory (``api_memory``)
#: frameworks whose op records are the toolkit's own spans (the numpy known answer, our numba kernels)
OWN_SPAN_FRAMEWORKS = ("python", "numpy", "numba", "user")

TRACER_ENTRIES: dict[str, tuple[str, str, str]] = {
    "torch": ("torch", TORCH_PROBE_CONFIG, "torch.profiler"),
    "tensorflow": ("tensorflow", "function", "tf.profiler"),
    "keras": ("tensorflow", "function", "tf.profiler"),
    "mxnet": ("mxnet", "api_memory", "mx.profiler"),
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
        return (
            {"inside_us": float(o["inside_us"]), "outside_us": float(o["outside_us"])},
            f"own spans {o['total_us']['median']:.2f} µs per span",
        )
    entry = tc.get(framework) or {}
    return None, entry.get("unavailable") or f"no measured tracer cost for {framework}"


def compensate(
    traced_ms: dict[str, float | None],
    records_per_step: dict[str, float],
    cost: dict[str, float],
    clean_median_ms: float | None,
    not_measured: dict[str, str] | None = None,
    fixed_ms: dict[str, float] | None = None,
    fault_ms: float | None = None,
) -> dict[str, Any]:
    """The compensated breakdown summing to ``clean_median_ms``, with its residual and warnings."""
    nm = set(not_measured or {})
    fixed = {c: float(v) for c, v in (fixed_ms or {}).items() if c not in nm and v is not None}
    comp: dict[str, float | None] = {}
    total_records = sum(records_per_step.values())
    for c in CATEGORIES:
        v = traced_ms.get(c)
        if c in nm or v is None:
            comp[c] = None
            continue
        v = float(v) - records_per_step.get(c, 0.0) * cost["inside_us"] / 1e3
        if c == FRAMEWORK_OVERHEAD:
            v -= total_records * cost["outside_us"] / 1e3
        if c == MEMORY_IO and fault_ms:
            v -= fault_ms
        comp[c] = max(0.0, v)
    comp_step = sum(v for v in comp.values() if v is not None)
    removed = sum(float(traced_ms.get(c) or 0.0) for c in CATEGORIES if c not in nm) - comp_step
    warnings: list[str] = []
    uncertain: list[str] = []
    if not clean_median_ms:
        return {
            "ms": comp,
            "compensated_traced_step_ms": comp_step,
            "removed_ms": removed,
            "residual_pct": None,
            "fixed": [],
            "uncertain": [],
            "warnings": [],
        }
    free = [c for c in CATEGORIES if comp.get(c) is not None and c not in fixed]
    scaled = _scaled({**comp, **fixed}, set(fixed), clean_median_ms) if fixed else None
    if scaled is None:
        # nothing measured on the clean steps (or it leaves no room): scale every category
        fixed, free = {}, [c for c in CATEGORIES if comp.get(c) is not None]
        scaled = _scaled(comp, set(), clean_median_ms) or dict(comp)
    rest_comp = sum(comp[c] or 0.0 for c in free)
    residual_pct = 100.0 * (rest_comp - (clean_median_ms - sum(fixed.values()))) / clean_median_ms
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
            f"tracer compensation left a residual of {residual_pct:+.1f}% against the clean median "
            f"(tolerance ±{RESIDUAL_TOLERANCE_PCT:g}%): "
            + (", ".join(LABELS[c] for c in uncertain) or "every category")
            + " uncertain"
        )
    return {
        "ms": out_ms,
        "compensated_traced_step_ms": comp_step,
        "removed_ms": removed,
        "residual_pct": residual_pct,
        "fixed": sorted(fixed),
        "uncertain": uncertain,
        "warnings": warnings,
    }


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
                      median_ms: float) -> tuple[dict[str, Any] | None, dict[str, float | None] | None]:
    """A compensated breakdown moved to another clean median: the pooled median of several worker
    processes, when the traced process's own clean median was the one it was fitted to. Categories
    measured on the clean steps (``compensation.fixed``) keep their values; the others are scaled so
    that everything sums to ``median_ms``. Uncompensated breakdowns are returned unchanged."""
    if not breakdown or not breakdown_ms or not breakdown.get("compensation") or not median_ms:
        return breakdown, breakdown_ms
    ms = _scaled(breakdown_ms, set(breakdown["compensation"].get("fixed") or []), median_ms)
    if ms is None:
        return breakdown, breakdown_ms
    bd = dict(breakdown)
    show_step(bd, ms, median_ms)
    if bd.get("describes"):
        bd["describes"] += f"; moved to the median of every process's clean steps ({median_ms:.2f} ms)"
    return bd, ms
