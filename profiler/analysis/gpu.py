"""GPU specifics from device spans (CUPTI through torch.profiler/Kineto, or an imported trace).

:func:`gpu_summary` gives per device: busy time (the union of kernels; memcpy/memset beside it),
the idle gaps inside each step split by HTA's rule, launches per step and the launch delay
(:mod:`profiler.analysis.launches`), the device timeline (:mod:`profiler.analysis.gpu_timeline`)
and the occupancy estimate (:func:`occupancy_estimate`, :func:`theoretical_occupancy`). Pure.
Definitions: ``docs/breakdown.md`` ("GPU specifics") and ``docs/gpu-figures.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from profiler.analysis.breakdown import StepWindow, in_steps
from profiler.analysis.gpu_timeline import KERNEL_WAIT_NS, device_timeline
from profiler.analysis.intervals import merge
from profiler.analysis.launches import LAUNCH_DELAY_DEFINITION, launch_calls
from profiler.core.events import DEVICE_TID_BASE, KERNEL, MEMCPY, MEMSET, RUNTIME, EventTable

LAUNCH_NAMES = ("launchkernel", "launchcooperativekernel", "graphlaunch", "culaunch")


@dataclass(frozen=True)
class SmLimits:
    """Per-SM resource limits (defaults: compute capability 8.0/9.0)."""

    sms: int = 108
    max_warps: int = 64
    max_blocks: int = 32
    registers: int = 65536
    shared_bytes: int = 167936
    reg_alloc_unit: int = 256  # registers are allocated per warp in units of this many


def limits_from_kineto(props: list[dict[str, Any]] | None) -> SmLimits | None:
    """SM limits of GPU 0 from a Kineto trace's ``deviceProperties``; ``None`` when absent."""
    if not props or not isinstance(props[0], dict):
        return None
    p = props[0]
    d = SmLimits()
    try:
        return SmLimits(
            sms=int(p.get("numSms", d.sms)),
            max_warps=int(p.get("maxThreadsPerMultiprocessor", d.max_warps * 32)) // 32,
            max_blocks=d.max_blocks,
            registers=int(p.get("regsPerMultiprocessor", d.registers)),
            shared_bytes=int(p.get("sharedMemPerMultiprocessor", d.shared_bytes)),
        )
    except (TypeError, ValueError):
        return None


def theoretical_occupancy(
    block_threads: int, regs_per_thread: int, smem_per_block: int, lim: SmLimits
) -> tuple[float, int]:
    """``(occupancy 0..1, resident blocks per SM)`` for one launch configuration."""
    if block_threads <= 0:
        return 0.0, 0
    warps = math.ceil(block_threads / 32)
    by_warps = lim.max_warps // warps
    if regs_per_thread > 0:
        regs_per_warp = math.ceil(regs_per_thread * 32 / lim.reg_alloc_unit) * lim.reg_alloc_unit
        by_regs = lim.registers // (regs_per_warp * warps)
    else:
        by_regs = lim.max_blocks
    by_smem = lim.shared_bytes // smem_per_block if smem_per_block > 0 else lim.max_blocks
    blocks = max(0, min(by_warps, by_regs, by_smem, lim.max_blocks))
    return min(1.0, blocks * warps / lim.max_warps), blocks


def _prod3(v: Any) -> int:
    """Threads in a block / blocks in a grid from ``[x, y, z]`` (missing dimensions count as 1)."""
    if isinstance(v, (list, tuple)):
        dims = [int(x) for x in v if isinstance(x, (int, float)) and 0 < x < 2**31]
        return math.prod(dims) if dims else 0
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


def launch_config(a: dict[str, Any]) -> tuple[Any, Any, int, int] | None:
    """``(grid, block, registers per thread, shared bytes per block)`` from a kernel's args.

    Kineto writes ``registers per thread``/``shared memory``; the CUPTI probe writes
    ``registers_per_thread`` and static + dynamic shared memory.
    """
    if "grid" not in a or "block" not in a:
        return None
    regs = a.get("registers per thread", a.get("registers_per_thread")) or 0
    smem = a.get("shared memory")
    try:
        if smem is None:
            smem = (a.get("static_shared_memory") or 0) + (a.get("dynamic_shared_memory") or 0)
        return a["grid"], a["block"], int(regs), int(smem or 0)
    except (TypeError, ValueError, OverflowError):
        return None  # a configuration that is not numbers: no estimate for this kernel


def occupancy_estimate(grid: Any, block: Any, regs: int, smem: int, lim: SmLimits) -> float:
    """Theoretical occupancy scaled by how much of the GPU one wave of the grid fills."""
    occ, per_sm = theoretical_occupancy(_prod3(block), int(regs or 0), int(smem or 0), lim)
    n_blocks = _prod3(grid)
    if per_sm <= 0 or n_blocks <= 0:
        return 0.0
    fill = min(1.0, n_blocks / (lim.sms * per_sm))
    return occ * fill


def gpu_summary(
    table: EventTable, pid: int | None, steps: list[StepWindow], limits: SmLimits | None = None
) -> dict[str, Any] | None:
    """Busy, idle-gap split, launches and occupancy over ``steps``; ``None`` without device spans."""
    sp = table.spans
    pid_mask = (sp["pid"] == pid) if pid is not None else np.ones(table.n_spans, bool)
    dev_mask = pid_mask & table.cat_mask(KERNEL, MEMCPY, MEMSET) & (sp["tid"] >= DEVICE_TID_BASE)
    if not dev_mask.any() or not steps:
        return None
    lim = limits or SmLimits()
    ends = sp["start_ns"] + sp["dur_ns"]
    step_ns = sum(w.dur_ns for w in steps)
    n_steps = len(steps)
    win_s = np.array([w.start_ns for w in steps], np.int64)
    win_e = np.array([w.end_ns for w in steps], np.int64)

    # launch call start by correlation id
    corr = sp["corr"]
    launch_rows = np.flatnonzero(pid_mask & table.cat_mask(RUNTIME) & (corr >= 0))
    lo_ = np.argsort(corr[launch_rows], kind="stable")
    launch_corr = corr[launch_rows][lo_]
    launch_start = sp["start_ns"][launch_rows][lo_]

    def launch_of(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found mask, launch start) for correlation ids ``c``."""
        if not len(launch_corr):
            return np.zeros(len(c), bool), np.zeros(len(c), np.int64)
        i = np.minimum(np.searchsorted(launch_corr, c), len(launch_corr) - 1)
        found = (launch_corr[i] == c) & (c >= 0)
        return found, launch_start[i]

    names = table.strings.strings
    launch_name_ids = [i for i, s in enumerate(names) if any(k in s.lower() for k in LAUNCH_NAMES)]
    n_launch_calls = int(
        (
            pid_mask
            & table.cat_mask(RUNTIME)
            & np.isin(sp["name"], launch_name_ids)
            & in_steps(sp["start_ns"], steps)
        ).sum()
    )

    devices: dict[int, dict[str, Any]] = {}
    dev_rows_all = np.flatnonzero(dev_mask)
    dev_of = (sp["tid"][dev_rows_all] - DEVICE_TID_BASE) // 1000  # see profiler.core.events.device_tid
    for d in np.unique(dev_of).tolist():
        rows = dev_rows_all[dev_of == d]
        rows = rows[in_steps(sp["start_ns"][rows], steps)]
        krows = rows[table.cat_mask(KERNEL)[rows]]
        ks, ke = merge(sp["start_ns"][krows], ends[krows])
        busy = 0
        for lo, hi in zip(win_s.tolist(), win_e.tolist(), strict=True):
            s = np.clip(ks, lo, hi)
            e = np.clip(ke, lo, hi)
            busy += int((e - s).sum())
        mrows = rows[~table.cat_mask(KERNEL)[rows]]
        mem_ns = int(sum(hi - lo for lo, hi in zip(*merge(sp["start_ns"][mrows], ends[mrows]), strict=True)))

        # idle gaps between consecutive device activities, by step
        order = rows[np.argsort(sp["start_ns"][rows], kind="stable")]
        gap = {"host_launch_bound": 0, "kernel_wait": 0, "other": 0}
        a_s, a_e, a_c = sp["start_ns"][order], ends[order], corr[order]
        for lo, hi in zip(win_s.tolist(), win_e.tolist(), strict=True):
            i0, i1 = np.searchsorted(a_s, lo), np.searchsorted(a_s, hi)
            if i1 <= i0:
                gap["other"] += hi - lo
                continue
            s, e, c = a_s[i0:i1], np.minimum(a_e[i0:i1], hi), a_c[i0:i1]
            run_end = np.maximum.accumulate(np.concatenate([[lo], e]))[:-1]  # device busy until here
            g = s - run_end
            pos = g > 0
            found, launch = launch_of(c[pos])
            gp, rp = g[pos], run_end[pos]
            gap["other"] += int(gp[~found].sum())
            gap["host_launch_bound"] += int(gp[found & (launch >= rp)].sum())
            queued = found & (launch < rp)
            gap["kernel_wait"] += int(gp[queued & (gp < KERNEL_WAIT_NS)].sum())
            gap["other"] += int(gp[queued & (gp >= KERNEL_WAIT_NS)].sum())
            tail = hi - max(int(run_end[-1]), int(e.max()))
            if tail > 0:
                gap["other"] += tail

        occ_num = occ_den = 0.0
        kineto_num = kineto_den = 0.0
        occ_of: dict[str, float] = {}  # one estimate per launch configuration
        for r, dur in zip(krows.tolist(), sp["dur_ns"][krows].astype(float).tolist(), strict=True):
            a = table.span_args.get(r)
            if not a:
                continue
            cfg = launch_config(a)
            if cfg is not None:
                key = repr(cfg)  # the args as JSON gave them: lists, or anything else
                occ = occ_of.get(key)
                if occ is None:
                    occ = occ_of[key] = occupancy_estimate(*cfg, lim)
                occ_num += dur * occ
                occ_den += dur
            est = a.get("est. achieved occupancy %")
            if isinstance(est, (int, float)):
                kineto_num += dur * est / 100.0
                kineto_den += dur
        idle = step_ns - busy
        devices[d] = {
            "kernels_per_step": len(krows) / n_steps,
            "memcpy_memset_per_step": len(mrows) / n_steps,
            "busy_ms_per_step": busy / n_steps / 1e6,
            "busy_pct": 100.0 * busy / step_ns if step_ns else 0.0,
            "memcpy_memset_ms_per_step": mem_ns / n_steps / 1e6,
            "idle_ms_per_step": idle / n_steps / 1e6,
            "idle_gaps_ms_per_step": {k: v / n_steps / 1e6 for k, v in gap.items()},
            "occupancy_estimate": (occ_num / occ_den) if occ_den else None,
            "occupancy_kineto": (kineto_num / kineto_den) if kineto_den else None,
            "occupancy_note": None
            if occ_den
            else "not measured: kernels carry no grid/block/registers (CUPTI kernel records lack them)",
        }
    lc = launch_calls(table, pid, steps)
    delays = lc.delay if lc is not None else np.empty(0, np.int64)
    first = devices[min(devices)]
    out = {
        "devices": {str(k): v for k, v in devices.items()},
        "busy_pct": first["busy_pct"],
        "launch_calls_per_step": n_launch_calls / n_steps,
        "launch_delay_us": {
            "definition": LAUNCH_DELAY_DEFINITION,
            "median": float(np.median(delays)) / 1e3,
            "p90": float(np.percentile(delays, 90)) / 1e3,
            "n": len(delays),
        }
        if len(delays)
        else None,
        "sm_limits": {"sms": lim.sms, "max_warps": lim.max_warps, "registers": lim.registers},
    }
    out.update(device_timeline(table, pid, [(w.start_ns, w.end_ns) for w in steps]) or {})
    return out
