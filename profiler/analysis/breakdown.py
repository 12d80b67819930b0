"""Step time broken down into categories that sum exactly to the step's wall time.

Categories, highest priority first (each slice of a step's wall time goes to the highest-priority
category active during it; see docs/breakdown.md):

1. ``data_loading``       — the step's thread waiting for or producing its input batch
2. ``communication``      — collectives (NCCL/gloo kernels and calls)
3. ``memory_io``          — memcpy/memset and memory-bound ops or kernels (elementwise, copies, norms ...)
4. ``compute``            — compute-bound ops or kernels (GEMM, convolution, fused RNN ...)
5. ``framework_overhead`` — the host busy with dispatch, Python, autograd bookkeeping while no data
                            work runs (on a GPU run: host ops/launches while the device is idle)
6. ``idle``               — the host waiting on the device (synchronisation) while nothing runs

Which spans supply each category:

* host ops (framework op spans on any host thread of the worker) are cut into *self time*
  (innermost op owns each slice); on a run with device kernels, host ops only dispatch, so their time
  is framework overhead; without a device, each op's self time goes to the category of its kind
  (:mod:`profiler.analysis.opkinds`) or, when a classifier is given (roofline), to its verdict;
* device kernels/memcpy/memset by kind; collectives to communication;
* whatever is left of the step is framework overhead (the interpreter between ops).

The residual (step wall time minus the sum of categories) is computed, not assumed; it is non-zero
only if spans fall outside the step or the arithmetic is wrong, and reports print it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from profiler.analysis.intervals import clip, innermost_segments, merge
from profiler.analysis.opkinds import op_kind
from profiler.events import (
    COLLECTIVE,
    DATA_LOADING,
    DEVICE_TID_BASE,
    KERNEL,
    MEMCPY,
    MEMSET,
    OP,
    RUNTIME,
    STEP,
    SYNC,
    EventTable,
)

CATEGORIES: tuple[str, ...] = (
    "data_loading",
    "communication",
    "memory_io",
    "compute",
    "framework_overhead",
    "idle",
)

#: ``classifier(name, flops, bytes) -> category or None`` (None: fall back to the op's kind)
Classifier = Callable[[str, float, float], str | None]


@dataclass
class StepWindow:
    index: int
    start_ns: int
    dur_ns: int
    traced: bool
    pid: int

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.dur_ns


def step_windows(table: EventTable, pid: int | None = None, traced: bool | None = None) -> list[StepWindow]:
    """The measured steps (``step`` spans) of a worker, in time order."""
    rows = np.flatnonzero(table.cat_mask(STEP) & ((table.spans["pid"] == pid) if pid is not None else True))
    out = []
    for r in rows.tolist():
        args = table.span_args.get(r, {})
        tr = bool(args.get("traced", False))
        if traced is not None and tr != traced:
            continue
        out.append(
            StepWindow(
                int(args.get("index", len(out))),
                int(table.spans["start_ns"][r]),
                int(table.spans["dur_ns"][r]),
                tr,
                int(table.spans["pid"][r]),
            )
        )
    out.sort(key=lambda w: w.start_ns)
    return out


@dataclass
class Breakdown:
    """Mean per-step milliseconds per category over the analysed steps."""

    ms: dict[str, float]
    step_ms: float  # mean wall time of the analysed steps
    n_steps: int
    basis: str  # "host ops" | "device kernels" | "steps only"
    per_step: list[dict[str, float]] = field(default_factory=list)
    not_measured: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def residual_ms(self) -> float:
        return self.step_ms - sum(self.ms.values())

    @property
    def residual_pct(self) -> float:
        return 100.0 * self.residual_ms / self.step_ms if self.step_ms else 0.0

    def pct(self) -> dict[str, float]:
        return {k: (100.0 * v / self.step_ms if self.step_ms else 0.0) for k, v in self.ms.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "ms": self.ms,
            "pct": self.pct(),
            "step_ms": self.step_ms,
            "n_steps": self.n_steps,
            "basis": self.basis,
            "residual_ms": self.residual_ms,
            "residual_pct": self.residual_pct,
            "not_measured": self.not_measured,
            "notes": self.notes,
        }


def _span_category(name: str, flops: float, nbytes: float, classifier: Classifier | None) -> str:
    if classifier is not None:
        c = classifier(name, flops, nbytes)
        if c is not None:
            return c
    return op_kind(name)[1]


def breakdown(
    table: EventTable,
    pid: int | None = None,
    steps: list[StepWindow] | None = None,
    classifier: Classifier | None = None,
) -> Breakdown:
    """Break the traced steps of one worker (``pid``) down into :data:`CATEGORIES`."""
    if steps is None:
        steps = step_windows(table, pid, traced=True) or step_windows(table, pid)
    sp = table.spans
    pid_mask = (sp["pid"] == pid) if pid is not None else np.ones(table.n_spans, bool)
    host = sp["tid"] < DEVICE_TID_BASE
    ends = sp["start_ns"] + sp["dur_ns"]
    names = table.strings.strings

    device_rows = np.flatnonzero(pid_mask & table.cat_mask(KERNEL, MEMCPY, MEMSET))
    has_device = len(device_rows) > 0
    op_rows = np.flatnonzero(pid_mask & host & table.cat_mask(OP))
    basis = "device kernels" if has_device else ("host ops" if len(op_rows) else "steps only")

    # Category -> list of (starts, ends) arrays, filled from each source.
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {c: [] for c in CATEGORIES}

    def add(cat: str, rows: np.ndarray) -> None:
        if len(rows):
            parts[cat].append((sp["start_ns"][rows], ends[rows]))

    # 1. host ops → self-time segments per thread
    if len(op_rows):
        tids = sp["tid"][op_rows]
        for tid in np.unique(tids).tolist():
            rows = op_rows[tids == tid]
            s, e, owner = innermost_segments(sp["start_ns"][rows], ends[rows])
            if not len(s):
                continue
            owner_rows = rows[owner]
            cats = np.empty(len(s), dtype=object)
            cache: dict[tuple[int, float, float], str] = {}
            for j, r in enumerate(owner_rows.tolist()):
                key = (int(sp["name"][r]), float(sp["flops"][r]), float(sp["bytes"][r]))
                c = cache.get(key)
                if c is None:
                    c = _span_category(names[key[0]], key[1], key[2], classifier)
                    if has_device and c != "communication":
                        c = "framework_overhead"  # host ops only dispatch when a device does the work
                    cache[key] = c
                cats[j] = c
            for c in CATEGORIES:
                m = cats == c
                if m.any():
                    parts[c].append((s[m], e[m]))

    # 2. device work
    if has_device:
        dcat = np.array([_device_category(table, r, classifier) for r in device_rows.tolist()], dtype=object)
        for c in CATEGORIES:
            m = dcat == c
            if m.any():
                parts[c].append((sp["start_ns"][device_rows[m]], ends[device_rows[m]]))

    # 3. data loading on the worker's own threads; collectives; host runtime; syncs
    add("data_loading", np.flatnonzero(pid_mask & host & table.cat_mask(DATA_LOADING)))
    add("communication", np.flatnonzero(pid_mask & table.cat_mask(COLLECTIVE)))
    add("framework_overhead", np.flatnonzero(pid_mask & host & table.cat_mask(RUNTIME)))
    add("idle", np.flatnonzero(pid_mask & host & table.cat_mask(SYNC)))

    per_step: list[dict[str, float]] = []
    for w in steps:
        covered = (np.empty(0, np.int64), np.empty(0, np.int64))
        covered_len = 0
        row: dict[str, float] = {}
        for c in CATEGORIES:
            if parts[c]:
                cs = np.concatenate([p[0] for p in parts[c]])
                ce = np.concatenate([p[1] for p in parts[c]])
                cs, ce = clip(cs, ce, w.start_ns, w.end_ns)
                s_all, e_all = merge(np.concatenate([covered[0], cs]), np.concatenate([covered[1], ce]))
                new_len = int((e_all - s_all).sum())
                row[c] = (new_len - covered_len) / 1e6
                covered, covered_len = (s_all, e_all), new_len
            else:
                row[c] = 0.0
        # what no span covers: the host between ops (interpreter, framework glue)
        row["framework_overhead"] += (w.dur_ns - covered_len) / 1e6
        per_step.append(row)

    n = len(per_step)
    ms = {c: (sum(r[c] for r in per_step) / n if n else 0.0) for c in CATEGORIES}
    step_ms = (sum(w.dur_ns for w in steps) / n / 1e6) if n else 0.0
    bd = Breakdown(ms=ms, step_ms=step_ms, n_steps=n, basis=basis, per_step=per_step)
    if basis == "steps only":
        for c in ("memory_io", "compute"):
            bd.not_measured[c] = "no op or kernel spans were recorded (no framework tracer ran)"
        bd.notes.append("without op spans, all non-data-loading step time shows as framework overhead")
    if not has_device:
        bd.notes.append(
            "host-only run: op self time is split by op kind; gaps between ops are "
            "framework overhead (interpreter, dispatch)"
        )
    return bd


def _device_category(table: EventTable, row: int, classifier: Classifier | None) -> str:
    cat = table.span_category(row)
    if cat in (MEMCPY, MEMSET):
        return "memory_io"
    sp = table.spans
    return _span_category(
        table.strings[int(sp["name"][row])], float(sp["flops"][row]), float(sp["bytes"][row]), classifier
    )
