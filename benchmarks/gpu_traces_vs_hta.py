"""Our whole-trace GPU figures beside HTA's own, for every trace in ``../shared/data/gpu-traces``.

For each trace: the profiler's importer and :mod:`profiler.analysis.gpu_timeline` /
:mod:`profiler.analysis.launches` here, and HTA 0.5 in its own interpreter (``.venv-hta``, through
``benchmarks/hta_reference.py``) twice: with ``HTA_DISABLE_NS_ROUNDING=1`` (timestamps as written,
the column the difference is taken against) and with HTA's default, which rounds fractional
microseconds inward. Prints one Markdown table (``--out FILE`` writes it there too).

Usage: ``.venv/bin/python benchmarks/gpu_traces_vs_hta.py [--traces DIR] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from profiler.analysis.gpu_timeline import (  # noqa: E402
    device_activities,
    hta_selection,
    idle_split,
    queue_length,
    select,
    timeline,
)
from profiler.analysis.launches import HTA_LAUNCH_NAMES, launch_calls  # noqa: E402
from profiler.importers import load_trace  # noqa: E402

HTA_PY = ROOT / ".venv-hta" / "bin" / "python"


def run_hta(path: Path, rounding: bool) -> dict | None:
    env = dict(os.environ)
    if not rounding:
        env["HTA_DISABLE_NS_ROUNDING"] = "1"
    r = subprocess.run([str(HTA_PY), str(ROOT / "benchmarks" / "hta_reference.py"), str(path)],
                       capture_output=True, text=True, env=env, check=False)
    if r.returncode != 0:
        print(f"HTA failed on {path}: {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(r.stdout)


def ours(path: Path) -> dict:
    imp = load_trace(path)
    acts = device_activities(imp.table, imp.facts.get("host_pid"))
    a = acts[0]
    keep = hta_selection(imp.table, a)
    s = select(a, keep)
    t = timeline(s)
    sp = idle_split(s)
    lc = launch_calls(imp.table, imp.facts.get("host_pid"))
    delay = None
    if lc is not None:
        m = np.isin(np.array(lc.name, dtype=object), HTA_LAUNCH_NAMES)
        delay = float(np.median(lc.delay[m])) / 1e3 if m.any() else None
    q = queue_length(imp.table, s)
    return {
        "devices": len(acts), "left_out": int((~keep).sum()),
        "window": t.window_ms, "busy": t.busy_ms, "idle": t.idle_ms, "computation": t.computation_ms,
        "non-compute": t.non_compute_ms, "communication": t.comm_ms, "memcpy+memset": t.memcpy_ms,
        "exposed comm": t.exposed_comm_ms, "exposed memcpy": t.exposed_memcpy_ms,
        "comm overlap %": t.comm_overlap_pct, "host wait": sp.host_wait_ms, "kernel wait": sp.kernel_wait_ms,
        "other idle": sp.other_ms, "launch delay median µs": delay,
        "queue mean (busiest stream)": max((v["mean"] for v in q.values()), default=None),
    }


def theirs(h: dict | None) -> dict:
    if h is None:
        return {}
    tb, u, i = h["temporal"], h["union_us"], h["idle_breakdown_us"]
    ov = h["comm_comp_overlap_pct"]
    q = h.get("queue") or {}
    return {
        "window": tb["kernel_time_us"] / 1e3, "busy": (tb["kernel_time_us"] - tb["idle_us"]) / 1e3,
        "idle": tb["idle_us"] / 1e3, "computation": tb["compute_us"] / 1e3,
        "non-compute": tb["non_compute_us"] / 1e3, "communication": u["COMMUNICATION"] / 1e3,
        "memcpy+memset": u["MEMORY"] / 1e3, "exposed comm": None, "exposed memcpy": None,
        "comm overlap %": None if ov != ov else ov, "host wait": i.get("host_wait", 0) / 1e3,
        "kernel wait": i.get("kernel_wait", 0) / 1e3, "other idle": i.get("other", 0) / 1e3,
        "launch delay median µs": (h["launch"] or {}).get("launch_delay_median_us"),
        "queue mean (busiest stream)": max((v["mean"] for v in q.values()), default=None),
    }


def fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:,.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", type=Path, default=ROOT.parent / "shared" / "data" / "gpu-traces")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    if not a.traces.is_dir():
        print(f"no traces at {a.traces}", file=sys.stderr)
        return 2
    if not HTA_PY.exists():
        print(f"HTA is not installed ({HTA_PY} absent)", file=sys.stderr)
        return 2
    lines = ["| trace | figure (ms unless named) | ours | HTA | difference | HTA, default rounding |",
             "|---|---|--:|--:|--:|--:|"]
    for path in sorted(a.traces.rglob("*.json.gz")):
        rel = str(path.relative_to(a.traces))
        o = ours(path)
        h, hr = theirs(run_hta(path, False)), theirs(run_hta(path, True))
        note = f" ({o['devices']} device" + ("s" if o["devices"] > 1 else "") + (
            f", {o['left_out']} activities launched outside the recorded host time left out, as HTA does)"
            if o["left_out"] else ")")
        for k, v in o.items():
            if k in ("devices", "left_out"):
                continue
            ref = h.get(k)
            if v is not None and ref is not None:
                diff = f"{100 * (v - ref) / ref:+.2f}%" if ref else ("0" if v == 0 else f"{v:+.3f}")
            else:
                diff = ""
            lines.append(f"| {rel}{note} | {k} | {fmt(v)} | {fmt(ref)} | {diff} | {fmt(hr.get(k))} |")
            note = ""
    text = "\n".join(lines)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
