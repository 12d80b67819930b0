"""The whole ``profiler report TRACE`` of one large Kineto trace against ``json.load`` of the same file.

The trace: a real torch.profiler trace (default ``../shared/data/gpu-traces/hta-nccl_data.json.gz``,
40,573 events, 3 steps) repeated end to end until it holds at least ``--events`` events (default
1,000,000): each copy is moved later by the trace's span, its ``ProfilerStep#N`` renumbered and its
correlation, external and flow ids moved past the previous copy's, so the result is one rank's
longer run (about 75 steps at 1M events), written as plain JSON (not gzip: ``json.load`` reads it as
it is).

Measured, alternated A/B ``--repeats`` times, each in a fresh process:

* ``json.load``: ``python -c "import json; json.load(open(F))"`` (the interpreter's start included,
  as in the report's);
* ``report``: ``python -m profiler report F --out OUT --json`` (every output written: run.json, the
  event store, the Chrome trace, PNGs, report.html).

Printed: the medians with their spread (min–max) and the ratio report / json.load of each pair
(the target is ≤ 0.5).

Usage: ``.venv/bin/python benchmarks/report_vs_json_load.py [--events 1000000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT.parent / "shared" / "data" / "gpu-traces" / "hta-nccl_data.json.gz"
_STEP = re.compile(r"^ProfilerStep#(\d+)$")


def repeated(doc: dict, want: int) -> tuple[dict, int, int]:
    """``doc`` with its events repeated end to end until it holds ``want`` events (module docstring):
    the new document, the copies made and the steps it holds."""
    events = doc["traceEvents"]
    timed = [e for e in events if e.get("ph") != "M" and isinstance(e.get("ts"), (int, float))]
    t0 = min(float(e["ts"]) for e in timed)
    t1 = max(float(e["ts"]) + float(e.get("dur") or 0) for e in timed)
    span = t1 - t0 + 1000.0
    steps = [int(m.group(1)) for e in timed if (m := _STEP.match(str(e.get("name", ""))))]
    n_steps = max(steps) - min(steps) + 1 if steps else 0
    ids = [int(v) for e in timed for v in (e.get("id"), (e.get("args") or {}).get("correlation"),
                                           (e.get("args") or {}).get("External id")) if isinstance(v, int)]
    id_step = (max(ids) + 1) if ids else 0
    copies = max(1, -(-want // len(events)))
    new: list[dict] = [e for e in events if e.get("ph") == "M"]
    for c in range(copies):
        for e in timed:
            e = dict(e, ts=round(float(e["ts"]) + c * span, 3))
            if c:
                m = _STEP.match(str(e.get("name", "")))
                if m:
                    e["name"] = f"ProfilerStep#{int(m.group(1)) + c * n_steps}"
                if isinstance(e.get("id"), int):
                    e["id"] += c * id_step
                a = e.get("args")
                if isinstance(a, dict):
                    a = dict(a)
                    for k in ("correlation", "External id"):
                        if isinstance(a.get(k), int):
                            a[k] += c * id_step
                    e["args"] = a
            new.append(e)
    return {**doc, "traceEvents": new}, copies, copies * n_steps


def build(base: Path, want: int, out: Path) -> dict:
    """``base`` repeated end to end until it holds ``want`` events (module docstring)."""
    raw = base.read_bytes()
    doc, copies, steps = repeated(json.loads(gzip.decompress(raw) if base.suffix == ".gz" else raw), want)
    out.write_text(json.dumps(doc))
    return {"base": str(base), "copies": copies, "events": len(doc["traceEvents"]), "steps": steps,
            "mib": out.stat().st_size / 2**20}


def timed_run(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.decode()[-400:]}")
    return time.perf_counter() - t


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--base", type=Path, default=BASE)
    a = ap.parse_args()
    if not a.base.exists():
        raise SystemExit(f"no base trace at {a.base}")
    work = Path(tempfile.mkdtemp(prefix="report-vs-json-"))
    try:
        trace = work / "big.pt.trace.json"
        t = time.perf_counter()
        info = build(a.base, a.events, trace)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
        print(f"trace: {info['events']:,} events, {info['steps']} steps, {info['mib']:.0f} MiB "
              f"({info['copies']} copies of {Path(info['base']).name}; built in {time.perf_counter() - t:.1f} s)")
        env = dict(os.environ, PROFILER_CACHE_DIR=str(work / "cache"))
        load_cmd = [sys.executable, "-c", "import json, sys; json.load(open(sys.argv[1]))", str(trace)]
        loads, reports, ratios = [], [], []
        for i in range(a.repeats):
            loads.append(timed_run(load_cmd, env))
            out = work / f"out-{i}"
            reports.append(timed_run([sys.executable, "-m", "profiler", "report", str(trace), "--out", str(out), "--json"], env))
            shutil.rmtree(out, ignore_errors=True)
            ratios.append(reports[-1] / loads[-1])
            print(f"  run {i + 1}: json.load {loads[-1]:.2f} s, report {reports[-1]:.2f} s, ratio {ratios[-1]:.2f}")
        print(f"\njson.load s: {spread(loads)}\nreport s:    {spread(reports)}\n"
              f"report / json.load (each pair): {spread(ratios)} (target ≤ 0.50); "
              f"load average now {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
