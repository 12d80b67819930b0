"""Roofline attribution: each op's arithmetic intensity against the machine's measured ceilings.

An op at or above the machine balance (peak FLOP/s over peak bytes/s, from ``profiler calibrate``:
:func:`ceilings_from_calibration`) is compute-bound, below it memory-bound (:func:`bound_of`).
:func:`make_classifier` is the breakdown's ``classifier`` hook (an op with known costs counted by
its intensity, not its name); :func:`roofline_table` gives per-op figures over the traced steps for
the report and the roofline picture, wrappers left out (:func:`leaf_costed`). Pure. Rules:
``docs/breakdown.md`` ("Roofline attribution").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from profiler.analysis.breakdown import Classifier, StepWindow, in_steps
from profiler.analysis.nesting import costed_wrappers
from profiler.core.events import DEVICE_TID_BASE, KERNEL, OP, EventTable


@dataclass(frozen=True)
class Ceilings:
    """Peak arithmetic rate and memory bandwidth of one device, and where they came from."""

    peak_flops: float  # FLOP/s
    peak_bw: float  # bytes/s
    device: str  # "cpu" or "gpu0" ...
    source: str  # e.g. "calibrate 2026-11-27: sgemm, stream triad"
    cache_bw: float | None = None  # bytes/s of a working set that stays in cache
    cache_bytes: float | None = None  # the working-set size that bandwidth was measured at

    @property
    def balance(self) -> float:
        """FLOPs per byte at which the two roofs meet."""
        return self.peak_flops / self.peak_bw

    def to_dict(self) -> dict[str, Any]:
        return {
            "peak_gflops": self.peak_flops / 1e9,
            "peak_gbs": self.peak_bw / 1e9,
            "balance_flops_per_byte": self.balance,
            "device": self.device,
            "source": self.source,
        }


def ceilings_from_calibration(cal: dict[str, Any] | None, device: str = "cpu") -> Ceilings | None:
    """The ceilings of ``device`` ("cpu" or "cuda") in a calibration record; ``None`` when absent."""
    if not cal:
        return None
    part = cal.get("gpu" if device == "cuda" else "cpu") or {}
    flops, bw = part.get("peak_gflops"), part.get("peak_gbs")
    if not flops or not bw:
        return None
    cache_bw, cache_bytes = part.get("cache_gbs"), part.get("cache_bytes")
    return Ceilings(
        float(flops) * 1e9,
        float(bw) * 1e9,
        "gpu0" if device == "cuda" else "cpu",
        f"profiler calibrate {cal.get('created', '')}: {part.get('flops_from', '?')}, {part.get('bw_from', '?')}",
        float(cache_bw) * 1e9 if cache_bw else None,
        float(cache_bytes) if cache_bytes else None,
    )


def bound_of(flops: float, nbytes: float, ceilings: Ceilings) -> str | None:
    """ "compute" or "memory" for one op; ``None`` when its costs are unknown."""
    if not (flops == flops and nbytes == nbytes) or (flops <= 0 and nbytes <= 0):
        return None
    if nbytes <= 0:
        return "compute"
    return "compute" if flops / nbytes >= ceilings.balance else "memory"


def make_classifier(ceilings: Ceilings) -> Classifier:
    """The breakdown hook: compute-bound → ``compute``, memory-bound → ``memory_io``, unknown → by kind."""

    def classify(name: str, flops: float, nbytes: float) -> str | None:
        b = bound_of(flops, nbytes, ceilings)
        if b is None:
            return None
        return "compute" if b == "compute" else "memory_io"

    return classify


def roof_time_ns(ceilings: Ceilings) -> Any:
    """``(flops, bytes) -> ns`` on arrays: the least time an op of those costs can take on this machine
    (the larger of FLOPs ÷ peak and bytes ÷ bandwidth), NaN where neither cost is known. An op whose
    bytes fit the cache-resident working set the calibration measured is held to that bandwidth,
    not the memory's: its data need not leave the cache."""
    cache_bw, cache_bytes = ceilings.cache_bw, ceilings.cache_bytes
    cached = bool(cache_bw and cache_bytes and cache_bw > ceilings.peak_bw)

    def roof(flops: np.ndarray, nbytes: np.ndarray) -> np.ndarray:
        f = np.asarray(flops, np.float64)
        b = np.asarray(nbytes, np.float64)
        f = np.where(np.isfinite(f) & (f > 0), f, 0.0)
        b = np.where(np.isfinite(b) & (b > 0), b, 0.0)
        bw = np.where(b <= cache_bytes, cache_bw, ceilings.peak_bw) if cached else ceilings.peak_bw
        t = 1e9 * np.maximum(f / ceilings.peak_flops, b / bw)
        return np.where((f > 0) | (b > 0), t, np.nan)

    return roof


def leaf_costed(table: EventTable, rows: np.ndarray) -> np.ndarray:
    """The costed spans that are not a wrapper around another costed span of the same thread
    (:func:`~profiler.analysis.nesting.costed_wrappers`): the work is counted once, in the child."""
    if not len(rows):
        return rows
    sp = table.spans
    start = sp["start_ns"][rows]
    wrapper = costed_wrappers(
        sp["pid"][rows], sp["tid"][rows], start, start + sp["dur_ns"][rows], sp["flops"][rows], sp["bytes"][rows]
    )
    order = np.lexsort((-sp["dur_ns"][rows], start, sp["tid"][rows], sp["pid"][rows]))
    return rows[order][~wrapper[order]]


def roofline_table(
    table: EventTable,
    pid: int | None,
    steps: list[StepWindow],
    ceilings: Ceilings | None,
    top: int = 40,
) -> dict[str, Any]:
    """Per-op roofline figures per step over ``steps`` (table annotated by the cost model first)."""
    sp = table.spans
    n_steps = max(1, len(steps))
    mask = table.cat_mask(OP, KERNEL)
    if pid is not None:
        mask &= sp["pid"] == pid
    mask &= in_steps(sp["start_ns"], steps)
    all_rows = np.flatnonzero(mask)
    known = ~np.isnan(sp["flops"][all_rows]) & ~np.isnan(sp["bytes"][all_rows])
    rows = leaf_costed(table, all_rows[known])
    dev_rows = rows[sp["tid"][rows] >= DEVICE_TID_BASE]
    if len(dev_rows):
        # on a device run the work is the kernels' (their costs come from the launching ops); the
        # host ops only launched it, and their time says nothing about achieved FLOP/s
        rows = dev_rows
    out: dict[str, Any] = {
        "ceilings": ceilings.to_dict() if ceilings else None,
        "ops": [],
        "not_measured": None,
    }
    if not len(all_rows):
        out["not_measured"] = "no op or kernel spans in the traced steps"
        return out
    if not len(rows):
        has_shapes = bool((sp["shapes"][all_rows] >= 0).any())
        out["not_measured"] = (
            "ops were recorded without shapes or costs (no record_shapes/FLOPs from the tracer)"
            if not has_shapes
            else "no recorded op shape matches a family of the cost model"
        )
        return out
    names = table.strings.strings
    dev = (sp["tid"][rows] >= DEVICE_TID_BASE).astype(np.int64)
    key = sp["name"][rows].astype(np.int64) * 2 + dev
    uk, inv = np.unique(key, return_inverse=True)
    calls_a = np.bincount(inv, minlength=len(uk))
    t_a = np.bincount(inv, weights=sp["dur_ns"][rows].astype(np.float64), minlength=len(uk))
    f_a = np.bincount(inv, weights=sp["flops"][rows], minlength=len(uk))
    b_a = np.bincount(inv, weights=sp["bytes"][rows], minlength=len(uk))
    ops = []
    for kk, calls, t_ns, fl, by in zip(
        uk.tolist(), calls_a.tolist(), t_a.tolist(), f_a.tolist(), b_a.tolist(), strict=True
    ):
        nid, d = divmod(kk, 2)
        if t_ns <= 0:
            continue
        t_s = t_ns / 1e9
        ai = fl / by if by > 0 else float("inf")
        rec: dict[str, Any] = {
            "name": names[nid],
            "where": "device" if d else "host",
            "calls_per_step": calls / n_steps,
            "time_ms_per_step": t_ns / n_steps / 1e6,
            "gflop_per_step": fl / n_steps / 1e9,
            "mb_per_step": by / n_steps / 1e6,
            "intensity": ai if ai != float("inf") else None,
            "achieved_gflops": fl / t_s / 1e9,
            "achieved_gbs": by / t_s / 1e9,
        }
        if ceilings:
            attainable = min(ceilings.peak_flops, ai * ceilings.peak_bw) if by > 0 else ceilings.peak_flops
            rec["bound"] = bound_of(fl, by, ceilings)
            rec["frac_peak_flops"] = fl / t_s / ceilings.peak_flops
            rec["frac_peak_bw"] = by / t_s / ceilings.peak_bw
            rec["frac_attainable"] = (
                (fl / t_s / attainable) if attainable > 0 and fl > 0 else (by / t_s / ceilings.peak_bw)
            )
        ops.append(rec)
    ops.sort(key=lambda o: -o["time_ms_per_step"])
    total_t = float(sp["dur_ns"][rows].sum())
    out["ops"] = ops[:top]
    out["n_ops"] = len(ops)
    out["costed_ms_per_step"] = total_t / n_steps / 1e6
    out["gflop_per_step"] = float(sp["flops"][rows].sum()) / n_steps / 1e9
    out["mb_per_step"] = float(sp["bytes"][rows].sum()) / n_steps / 1e6
    if not ceilings:
        out["note"] = "no calibration for this machine: run `profiler calibrate` for the ceilings"
    return out


