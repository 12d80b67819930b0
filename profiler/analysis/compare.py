"""``compare``'s table from a run record, pure: one row per framework × variant in the seed's layout.

:func:`compare_rows` (headline time in the scenario's unit, the breakdown as shares of the step,
parameter count against the declaration), :func:`param_findings` (differences beyond
:data:`PARAM_TOLERANCE_PCT`, reported, never hidden) and :func:`spread_sentence` (what explains the
spread between the fastest and slowest framework).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from profiler.analysis.explain import explain
from profiler.analysis.stats import NOT_SIGNIFICANT, headline_ms, ratio_verdict, step_samples
from profiler.core.categories import CATEGORIES, LABELS
from profiler.core.frameworks import FRAMEWORKS

#: The columns of a row (and of compare.csv), in order.
ROW_COLUMNS = (
    "framework",
    "display",
    "variant",
    "status",
    "error",
    "step_ms",
    "step_ci95_low",
    "step_ci95_high",
    "n_processes",
    "step_spread_pct",
    "headline_s",
    "headline_unit",
    "items_per_s",
    "parameters",
    "expected_parameters",
    "param_delta_pct",
    *(f"{c}_pct" for c in CATEGORIES),
    *(f"{c}_ms" for c in CATEGORIES),
    "traced_step_ms",
)

#: Parameter counts further than this from the declared count are reported as a finding.
PARAM_TOLERANCE_PCT = 2.0


@dataclass(frozen=True)
class Unavailable:
    """A framework asked for that cannot run this scenario here, with the reason."""

    framework: str
    reason: str


def _first_line(s: str | None) -> str | None:
    if not s:
        return s
    lines = [ln.strip() for ln in str(s).splitlines() if ln.strip()]
    return lines[0] if lines else None


def headline_unit(sc_dict: dict[str, Any]) -> str:
    """``"1000 images"`` for inference scenarios reported per items, else ``"step"``."""
    return str(sc_dict.get("unit") or "step")


def unit_items(unit: str) -> float | None:
    """The number of items in a per-unit headline's unit (``"1000 images"`` → 1000.0); ``None`` for
    ``"step"`` or a unit that does not start with a count."""
    head = str(unit).split()[0] if str(unit).split() else ""
    try:
        n = float(head)
    except ValueError:
        return None
    return n if n > 0 else None


def headline_seconds(median_ms: float | None, unit: str, items_per_step: float | None) -> float | None:
    """The headline in seconds per ``unit``, from the step median shown beside it.

    ``median_ms`` is the pooled median of every process's clean steps (``step_ms.median`` of the
    record), so the per-unit figure, the chart built from it and its error bar (the CI scaled by the
    same factor) all say the same as the ms/step column. Per step: ``median / 1000``. Per items
    (``"1000 images"``): ``median × 1000 / items per step / 1000``; ``None`` when the record does not
    say how many items a step holds (a per-step time under a per-image label would be wrong).
    """
    if not median_ms:
        return None
    if unit == "step":
        return median_ms / 1000.0
    n = unit_items(unit)
    if n is None or not items_per_step:
        return None
    return median_ms * n / float(items_per_step) / 1000.0


def compare_rows(record: dict[str, Any], extra: list[Unavailable] = ()) -> list[dict[str, Any]]:
    """One row per framework × variant of a run record, in the scenario's framework order.

    ``headline_s`` is the pooled clean-step median (``step_ms``, every process's steps) scaled to the
    scenario's unit (seconds per 1000 images for ``resnet50_infer``, seconds per step otherwise); it
    is never the first process's own figure (``per_unit_ms``), which a rerun would not reproduce.
    Breakdown shares are percentages of the traced step (they sum to 100 up to the residual);
    ``*_ms`` are the traced milliseconds per step.
    """
    sc = record.get("scenario") or {}
    unit = headline_unit(sc)
    settings = record.get("settings") or {}
    expected = (settings.get("params") or {}).get("expected_params")
    order = [i["framework"] for i in sc.get("implementations", [])]
    rows: list[dict[str, Any]] = []
    for v in record.get("variants", []):
        fw = v.get("framework")
        row: dict[str, Any] = {
            "framework": fw,
            "display": FRAMEWORKS[fw].display if fw in FRAMEWORKS else fw,
            "variant": v.get("variant"),
            "status": v.get("status"),
            "error": _first_line(v.get("error")),
            "headline_unit": unit,
        }
        st = v.get("step_ms") or {}
        med = headline_ms(st)  # the pooled statistic the headline quotes (the median of clean steps)
        row["step_ms"] = med
        row["step_spread_pct"] = st.get("spread_pct")
        ci = st.get("ci95") or [None, None]
        row["step_ci95_low"], row["step_ci95_high"] = ci[0], ci[1]
        row["n_processes"] = st.get("n_processes")
        row["traced_step_ms"] = (v.get("traced_step_ms") or {}).get("median")
        items = v.get("items_per_step")
        row["headline_s"] = headline_seconds(med, unit, items)
        row["items_per_s"] = (float(items) * 1000.0 / med) if (med and items) else None
        params = (v.get("info") or {}).get("parameters")
        row["parameters"] = params
        row["expected_parameters"] = expected
        row["param_delta_pct"] = (
            100.0 * (params - expected) / expected if (params is not None and expected) else None
        )
        bd = v.get("breakdown") or {}
        bms = bd.get("ms") or v.get("breakdown_ms") or {}
        total = (bd.get("step_ms") or sum(bms.values())) if bms else None
        for c in CATEGORIES:
            ms = bms.get(c) if bms else None
            row[f"{c}_ms"] = ms
            row[f"{c}_pct"] = (100.0 * ms / total) if (ms is not None and total) else None
        rows.append(row)
    for u in extra:
        rows.append(
            {
                "framework": u.framework,
                "display": FRAMEWORKS[u.framework].display,
                "variant": "–",
                "status": "unavailable",
                "error": f"unavailable: {u.reason}",
                "headline_unit": unit,
            }
        )
    rank = {fw: i for i, fw in enumerate(order)}
    rows.sort(key=lambda r: (rank.get(r["framework"], len(rank)), str(r.get("variant"))))
    return [{k: r.get(k) for k in ROW_COLUMNS} for r in rows]


def param_findings(rows: list[dict[str, Any]], tolerance_pct: float = PARAM_TOLERANCE_PCT) -> list[str]:
    """Sentences for every framework whose model differs from the declared size (or, with no
    declaration, from the first framework's) by more than ``tolerance_pct``."""
    have = [r for r in rows if r.get("parameters") is not None]
    if not have:
        return []
    out: list[str] = []
    for r in have:
        ref = r.get("expected_parameters") or have[0]["parameters"]
        ref_name = "the declared" if r.get("expected_parameters") else f"{have[0]['display']}'s"
        if not ref:
            continue
        d = 100.0 * (r["parameters"] - ref) / ref
        if abs(d) > tolerance_pct:
            out.append(
                f"{r['display']}/{r['variant']} has {r['parameters']:,} parameters, {d:+.1f}% from "
                f"{ref_name} {ref:,}: its model is not the same network, so its time is not comparable"
            )
    missing = [r for r in rows if r.get("status") == "ok" and r.get("parameters") is None]
    for r in missing:
        out.append(f"{r['display']}/{r['variant']} did not report its parameter count")
    return out


def _label(v: dict[str, Any]) -> str:
    fw = v.get("framework")
    disp = FRAMEWORKS[fw].display if fw in FRAMEWORKS else fw
    return f"{disp}/{v.get('variant')}"


def spread_sentence(record: dict[str, Any]) -> str:
    """One sentence on the spread: fastest vs slowest framework and which category explains the gap."""
    ok = [
        v
        for v in record.get("variants", [])
        if v.get("status") == "ok" and (v.get("step_ms") or {}).get("median")
    ]
    if not ok:
        return "No framework completed, so there is no spread to explain."
    if len(ok) == 1:
        return f"Only {_label(ok[0])} completed, so there is nothing to compare it with."
    fast = min(ok, key=lambda v: v["step_ms"]["median"])
    slow = max(ok, key=lambda v: v["step_ms"]["median"])
    ratio = slow["step_ms"]["median"] / fast["step_ms"]["median"]
    _, ci, verdict = ratio_verdict(step_samples(fast), step_samples(slow))
    if verdict == NOT_SIGNIFICANT:
        head = (
            f"No framework is significantly faster: {_label(fast)} and {_label(slow)} differ by "
            f"{ratio:.2f}× ({fast['step_ms']['median']:.1f} vs {slow['step_ms']['median']:.1f} ms; "
            f"95% CI of the ratio {ci[0]:.2f}–{ci[1]:.2f}×)"
        )
    else:
        head = (
            f"{_label(fast)} is fastest and {_label(slow)} slowest ({ratio:.2f}× the time per step"
            + (f", 95% CI {ci[0]:.2f}–{ci[1]:.2f}×" if ci else "")
            + f", {fast['step_ms']['median']:.1f} vs {slow['step_ms']['median']:.1f} ms)"
        )
        ranked = sorted(ok, key=lambda v: v["step_ms"]["median"])
        if len(ranked) > 2:
            _, ci2, v2 = ratio_verdict(step_samples(ranked[0]), step_samples(ranked[1]))
            if v2 == NOT_SIGNIFICANT:
                head += (f"; but {_label(ranked[0])} is not significantly faster than {_label(ranked[1])} "
                         f"(95% CI {ci2[0]:.2f}–{ci2[1]:.2f}×), so there is no single winner")
    e = explain(fast, slow)
    if e is None:
        return head + "; no traced breakdown for both, so the gap is not split by category."
    if e["traced_gap_ms"] <= 0:
        return head + "; their analysed steps are not slower, so the gap is not split by category."
    main = e["main_category"]
    share = e["category_share_pct"][main]
    second = sorted(
        (c for c in CATEGORIES if c != main and e["category_delta_ms"][c] > 0),
        key=lambda c: -e["category_delta_ms"][c],
    )
    tail = f", then {LABELS[second[0]]} ({e['category_share_pct'][second[0]]:.0f}%)" if second else ""
    gap = "clean gap" if str(e.get("gap_basis", "")).startswith("clean") else "traced gap"
    return f"{head}; {share:.0f}% of the {gap} is {LABELS[main]} ({e['category_delta_ms'][main]:+.1f} ms/step){tail}."


def compare_result(record: dict[str, Any], extra: list[Unavailable] = ()) -> dict[str, Any]:
    """The ``compare.json`` document for a run record."""
    rows = compare_rows(record, extra)
    sc = record.get("scenario") or {}
    settings = record.get("settings") or {}
    return {
        "scenario": sc.get("name"),
        "origin": sc.get("origin"),
        "unit": headline_unit(sc),
        "mode": settings.get("mode"),
        "settings": settings,
        "rows": rows,
        "param_findings": param_findings(rows),
        "spread": spread_sentence(record),
        "warnings": list(record.get("warnings") or []),
    }


def saved_result(record: dict[str, Any]) -> dict[str, Any]:
    """The compare result of a saved ``compare`` run record (what ``profiler report`` re-renders)."""
    extra = [
        Unavailable(u["framework"], u["reason"])
        for u in (record.get("compare") or {}).get("unavailable", [])
        if isinstance(u, dict) and u.get("framework") in FRAMEWORKS
    ]
    return compare_result(record, extra)
