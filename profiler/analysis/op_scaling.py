"""Which ops scale with threads and which do not: the traced op table at the lowest vs highest count.

:func:`op_scaling` takes two variant records of one series (``top_ops``, ``breakdown_ms``,
``traced_step_ms``, ``threads``) and splits the traced breakdown into groups that sum to it (one per
op kind of the compute and memory-I/O ops, the ops' self time scaled to the breakdown's share;
framework overhead, data loading and idle from the breakdown); each group gets its speedup and a
:func:`verdict` (scales, partly, flat, idle), and a sentence names the flat groups that grow. Pure:
no framework, no files. Rules and why: ``docs/scaling.md`` ("Why a framework flattens").
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from profiler.core.opkinds import COMPUTE, MEMORY

KIND_LABELS = {
    "gemm": "GEMM",
    "conv": "convolution",
    "rnn": "fused RNN",
    "elementwise": "elementwise",
    "softmax": "softmax",
    "norm": "normalisation",
    "reduction": "reductions",
    "copy": "copies",
    "embedding": "embedding/gather",
    "pool": "pooling",
    "memcpy": "memcpy",
    "collective": "collectives",
    "other": "unclassified ops",
}
SCALES_EFF = 0.6  # a group "scales" at ≥ 60% of the ideal speedup
PARTLY_SPEEDUP = 1.15  # ... "partly" at ≥ 1.15×, else "flat"
MINOR_SHARE = 0.02  # groups under 2% of the step at both counts are folded into "other ops"


def _short(name: str) -> str:
    return name.split("::", 1)[1] if "::" in name else name


def _groups(v: dict[str, Any]) -> tuple[dict[str, float], dict[str, list[str]]]:
    """``{group: ms per traced step}`` (summing to the traced breakdown) and the op names in each
    group, busiest first."""
    ms: dict[str, float] = defaultdict(float)
    names: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for op in v.get("top_ops") or []:
        if op.get("category") not in (COMPUTE, MEMORY):
            continue  # overhead-kind ops (views, allocations) are inside framework_overhead
        g = KIND_LABELS.get(op.get("kind", "other"), op.get("kind", "other"))
        ms[g] += float(op.get("self_ms_per_step") or 0.0)
        names[g].append((float(op.get("self_ms_per_step") or 0.0), _short(op["name"])))
    # the ops' self times are of the traced steps: split the traced breakdown's compute + memory
    # I/O over them. Where they exceed it, the excess is dispatch (in framework overhead below):
    # scaled down, not counted twice
    bd = (v.get("breakdown") or {}).get("traced_ms") or v.get("breakdown_ms") or {}
    data_ms = float(bd.get("compute") or 0.0) + float(bd.get("memory_io") or 0.0)
    op_sum = sum(ms.values())
    if op_sum > data_ms:
        k = data_ms / op_sum if op_sum > 0 else 0.0
        for g in list(ms):
            ms[g] *= k
    rest = data_ms - sum(ms.values())
    if rest > 1e-12:
        ms["other ops"] += rest
    for cat, label in (
        ("framework_overhead", "framework overhead"),
        ("data_loading", "data loading"),
        ("communication", "communication"),
        ("idle", "idle"),
    ):
        if bd.get(cat):
            ms[label] += float(bd[cat])
    ordered = {g: [n for _, n in sorted(lst, reverse=True)] for g, lst in names.items()}
    return dict(ms), ordered


def _op_self(v: dict[str, Any]) -> float:
    """The op table's self time per step of the compute and memory-I/O ops, as it stands."""
    return sum(float(op.get("self_ms_per_step") or 0.0) for op in v.get("top_ops") or []
               if op.get("category") in (COMPUTE, MEMORY))


def verdict(speedup: float | None, ideal: float) -> str:
    if speedup is None:
        return "flat"
    if speedup >= SCALES_EFF * ideal:
        return "scales"
    if speedup >= PARTLY_SPEEDUP:
        return "partly"
    return "flat"


def op_scaling(lo: dict[str, Any], hi: dict[str, Any], label: str = "") -> dict[str, Any]:
    """Groups of the traced step at the lowest (``lo``) and highest (``hi``) thread count.

    Returns ``{"available": False, "reason": ...}`` when either record lacks a traced breakdown.
    """
    p_lo, p_hi = int(lo.get("threads") or 1), int(hi.get("threads") or 1)
    for v in (lo, hi):
        if not v.get("breakdown_ms") or not (v.get("traced_step_ms") or {}).get("median"):
            return {
                "available": False,
                "reason": f"no traced op table at {v.get('threads')} threads "
                "(no in-worker tracer ran for this framework)",
            }
    if p_hi <= p_lo:
        return {"available": False, "reason": "needs two different thread counts"}
    step_lo = float(lo["traced_step_ms"]["median"])
    step_hi = float(hi["traced_step_ms"]["median"])
    g_lo, n_lo = _groups(lo)
    g_hi, n_hi = _groups(hi)
    # the step the shares cite: the traced breakdown's, which the groups partition (the traced
    # median above is of every traced step, the breakdown of the typical ones)
    bstep_lo = sum(g_lo.values()) or step_lo
    bstep_hi = sum(g_hi.values()) or step_hi
    ideal = p_hi / p_lo
    rows: list[dict[str, Any]] = []
    minor_lo = minor_hi = 0.0
    for g in sorted(set(g_lo) | set(g_hi), key=lambda k: -g_lo.get(k, 0.0)):
        a, b = g_lo.get(g, 0.0), g_hi.get(g, 0.0)
        if g != "other ops" and a < MINOR_SHARE * bstep_lo and b < MINOR_SHARE * bstep_hi:
            minor_lo, minor_hi = minor_lo + a, minor_hi + b
            continue
        rows.append({"group": g, "ms_lo": a, "ms_hi": b, "ops": (n_lo.get(g) or n_hi.get(g) or [])[:3]})
    if minor_lo or minor_hi:
        other = next((r for r in rows if r["group"] == "other ops"), None)
        if other is None:
            other = {"group": "other ops", "ms_lo": 0.0, "ms_hi": 0.0, "ops": []}
            rows.append(other)
        other["ms_lo"] += minor_lo
        other["ms_hi"] += minor_hi
    for r in rows:
        r["speedup"] = (r["ms_lo"] / r["ms_hi"]) if r["ms_hi"] > 0 else None
        # waiting is not work: it can shrink or grow, but "scales" would mislead
        r["verdict"] = "idle" if r["group"] == "idle" else verdict(r["speedup"], ideal)
        r["share_lo_pct"] = 100.0 * r["ms_lo"] / bstep_lo
        r["share_hi_pct"] = 100.0 * r["ms_hi"] / bstep_hi
    flat_lo = sum(r["ms_lo"] for r in rows if r["verdict"] == "flat")
    return {
        "available": True,
        "label": label,
        "threads_lo": p_lo,
        "threads_hi": p_hi,
        "traced_step_ms_lo": step_lo,
        "traced_step_ms_hi": step_hi,
        "traced_speedup": step_lo / step_hi,
        "ideal_speedup": ideal,
        "breakdown_step_ms_lo": bstep_lo,
        "breakdown_step_ms_hi": bstep_hi,
        "op_self_ms_lo": _op_self(lo),
        "op_self_ms_hi": _op_self(hi),
        "groups": rows,
        "flat_share_lo_pct": 100.0 * flat_lo / bstep_lo,
        "sentence": _sentence(label, rows, p_lo, p_hi, step_lo / step_hi),
    }


def _fmt_group(r: dict[str, Any]) -> str:
    ops = f" ({', '.join(r['ops'])})" if r["ops"] and r["group"] not in ("other ops",) else ""
    s = f"{r['speedup']:.2f}×" if r["speedup"] is not None else "n/a"
    return f"{r['group']}{ops} {r['ms_lo']:.2f}→{r['ms_hi']:.2f} ms, {s}"


def _sentence(label: str, rows: list[dict[str, Any]], p_lo: int, p_hi: int, speedup: float) -> str:
    who = f"{label}: " if label else ""
    if speedup >= 1:
        head = f"{who}the traced step is {speedup:.2f}× faster at {p_hi} than at {p_lo} thread(s)"
    else:
        head = f"{who}the traced step is {1 / speedup:.2f}× slower at {p_hi} than at {p_lo} thread(s)"
    scal = [r for r in rows if r["verdict"] == "scales"]
    part = [r for r in rows if r["verdict"] == "partly"]
    flat = [r for r in rows if r["verdict"] == "flat"]
    parts = [head]
    if scal:
        parts.append("scales: " + "; ".join(_fmt_group(r) for r in scal))
    if part:
        parts.append("scales partly: " + "; ".join(_fmt_group(r) for r in part))
    if flat:
        s_lo = sum(r["share_lo_pct"] for r in flat)
        s_hi = sum(r["share_hi_pct"] for r in flat)
        parts.append(
            ("nothing in the step scaled: " if not (scal or part) else "does not scale: ")
            + "; ".join(_fmt_group(r) for r in flat)
            + f", {s_lo:.0f}% of the step at {p_lo} → {s_hi:.0f}% at {p_hi}"
            + (" — this is what flattens the curve" if s_hi > s_lo + 1.0 else "")
        )
    return ". ".join(parts) + "."


__all__ = ["KIND_LABELS", "op_scaling", "verdict"]
