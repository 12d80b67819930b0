"""This machine's calibration cache: the ceilings (and tracer costs) ``profiler calibrate`` measured.

The record is cached per machine under ``~/.cache/profiler/`` (``$PROFILER_CACHE_DIR`` overrides),
keyed by host name, CPU model, usable cores and GPU names; a record from another machine or another
calibration version is not trusted (``load_cached`` returns ``None`` and the next trace re-measures).
Measuring lives in :mod:`profiler.run.calibrate`; this module only reads, writes and summarises.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from profiler.core.errors import InputError
from profiler.core.frameworks import measured_tracers

#: 2: tracer costs per record (profiler.run.tracer_cost) added; 3: TensorFlow and MXNet tracer costs
#: measured (each in its own worker)
CALIBRATION_VERSION = 4


def cache_dir() -> Path:
    env = os.environ.get("PROFILER_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "profiler"


def machine_key() -> str:
    """Identifies this machine's hardware: host name, CPU model, usable cores, GPU names."""
    import socket

    from profiler.core.hardware import cpu_model, gpus, usable_cores

    g = ",".join(x["name"] for x in gpus()[0])
    raw = f"{socket.gethostname()}|{cpu_model()}|{usable_cores()}|{g}"
    return hashlib.sha1(raw.encode()).hexdigest()[:12]


def cache_file() -> Path:
    return cache_dir() / f"calibration-{machine_key()}.json"


def load_cached() -> dict[str, Any] | None:
    """The cached calibration of this machine, ``None`` when there is none (or it is unreadable)."""
    p = cache_file()
    try:
        rec = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("version") != CALIBRATION_VERSION:
        return None
    return rec


def save(rec: dict[str, Any]) -> Path:
    from profiler.core.files import atomic_write_json

    p = cache_file()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(p, rec)
    except OSError as e:
        raise InputError(f"cannot write the calibration cache {p} ({e.strerror or e})") from None
    return p


def summary_line(rec: dict[str, Any] | None) -> str:
    """One line for doctor and reports."""
    if not rec:
        return "not calibrated: run `profiler calibrate`"
    c = rec.get("cpu", {})
    s = (
        f"CPU {c.get('peak_gflops', 0):,.1f} GFLOP/s ({c.get('flops_from')}), "
        f"{c.get('peak_gbs', 0):,.1f} GB/s ({c.get('bw_from')})"
    )
    g = rec.get("gpu") or {}
    if g.get("peak_gflops"):
        s += f"; GPU {g['peak_gflops']:,.0f} GFLOP/s, {g['peak_gbs']:,.0f} GB/s"
    elif g.get("unavailable"):
        s += f"; GPU {g['unavailable']}"
    s += f"; tracers {tracer_cost_line(rec)} · measured {rec.get('created')}"
    noise = rec.get("noise") if isinstance(rec.get("noise"), dict) else {}
    if noise.get("disturbed"):  # kept only because nothing better was cached: say why it is doubtful
        s += " · DISTURBED while measured (" + "; ".join(map(str, noise.get("reasons") or ["see calibrate"])) + \
             "): run `profiler calibrate --force` on a quiet machine"
    return s


def tracer_cost_line(rec: dict[str, Any] | None) -> str:
    """The measured per-record tracer costs in one phrase (median µs and spread)."""
    tc = (rec or {}).get("tracer_costs")
    if not isinstance(tc, dict):
        return "cost not measured"
    if tc.get("unavailable"):
        return tc["unavailable"]
    parts = []
    for i, tracer in enumerate(measured_tracers()):  # the frameworks' descriptors, in calibrate's order
        t = tc.get(tracer.probe) or {}
        for name, cfg in (t.get("configs") or {}).items():
            u = cfg["total_us"]
            unit = "call" if name == "eager" else "op"
            parts.append(f"{tracer.label} {name} {u['median']:.2f} µs/{unit} ({u['min']:.2f}–{u['max']:.2f})")
        if t.get("unavailable"):
            parts.append(f"{tracer.probe} {t['unavailable']}")
        if i == 0:  # the first tracer's worker also measured the toolkit's own spans
            own = tc.get("own_spans") or {}
            o = own.get("total_us")
            if o:
                parts.append(f"own spans {o['median']:.2f} µs/span ({o['min']:.2f}–{o['max']:.2f})")
            elif own.get("unavailable"):
                parts.append(f"own spans {own['unavailable']}")
    ld = tc.get("load") or {}
    if ld.get("busy"):
        parts.append(
            f"WARNING machine busy while measuring (load {ld['loadavg_1min']:.1f} on {ld['cores']} cores): "
            "spread wide, re-run `profiler calibrate --force` when quiet"
        )
    return ", ".join(parts) or "cost not measured"
