"""Does the main job's answer survive a rerun? ``profiler trace --scenario cudnn_lstm`` N times.

Runs the README's main job (``profiler trace --scenario cudnn_lstm --json``, every variant available
here) ``--runs`` times (default 3), each in a fresh ``profiler`` process, one after another, and
prints:

* per variant and run: the clean headline (its statistic), the traced median, traced/clean, the
  compensation residual *before* the final rescale (``compensation_residual_pct``), and whether the
  breakdown is marked reliable (``R``), unreliable (``U``), or was measured again (``+again``);
* per variant over the runs: the median residual and whether it is within ±10% (the target);
* the interval each run prints beside the headline and how often the intervals of two runs overlap,
  against what the interval claims: a CI95 over fresh processes (``--repeat`` ≥ 2) claims that two
  runs' intervals overlap nearly always (two independent 95% intervals of the same quantity miss
  each other well under 5% of the time); a single process's median ± MAD is a spread of its own
  steps and claims nothing about a rerun, so its overlaps are printed as what they are;
* the machine load (``/proc/loadavg``) before and after each run.

    .venv/bin/python benchmarks/main_job_reruns.py [--runs 3] [--repeat N] [--out DIR] [-- extra trace args]

Not a test: every figure is measured here, now, and as noisy as the machine it ran on.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE_PCT = 10.0


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unavailable"


def one_run(args: argparse.Namespace, out: Path) -> dict:
    cmd = [sys.executable, "-m", "profiler", "trace", "--scenario", args.scenario, "--out", str(out), "--json",
           "--quiet"]
    if args.repeat:
        cmd += ["--repeat", str(args.repeat)]
    cmd += args.extra
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if r.returncode not in (0, 1) or not r.stdout.strip():
        raise SystemExit(f"trace failed (exit {r.returncode}): {r.stderr.strip().splitlines()[-1:]}")
    doc = json.loads(r.stdout)
    doc["_wall_s"] = time.monotonic() - t0
    return doc


def interval(step: dict) -> tuple[float, float, str] | None:
    """The interval printed beside the headline: ``(low, high, what)``."""
    med = step.get("median")
    if step.get("ci95") and (step.get("n_processes") or 1) >= 2:
        lo, hi = step["ci95"]
        return float(lo), float(hi), "CI95 between processes"
    if isinstance(med, (int, float)) and isinstance(step.get("mad"), (int, float)):
        return med - step["mad"], med + step["mad"], "median ± MAD within one process"
    return None


def cell(v: dict) -> str:
    st, tr = v.get("step_ms") or {}, v.get("traced_step_ms") or {}
    stat = st.get("statistic") or "median"
    clean, traced = st.get(stat), tr.get("median")
    res = v.get("compensation_residual_pct")
    rel = ((v.get("breakdown") or {}).get("reliability") or {})
    mark = "R" if rel.get("reliable") else "U"
    if isinstance(rel.get("remeasured"), dict):
        mark += "+again"
    parts = [f"{clean:7.2f}" if isinstance(clean, (int, float)) else "      -",
             f"{traced:7.2f}" if isinstance(traced, (int, float)) else "      -",
             f"{traced / clean:5.2f}×" if isinstance(clean, (int, float)) and isinstance(traced, (int, float)) and clean
             else "    -",
             f"{res:+6.1f}%" if isinstance(res, (int, float)) else "      -", mark]
    return " ".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scenario", default="cudnn_lstm")
    ap.add_argument("--repeat", type=int, help="--repeat for trace (default: the command's, 1)")
    ap.add_argument("--out", type=Path, help="where the runs go (default: a temporary directory)")
    ap.add_argument("extra", nargs="*", help="more trace arguments, after --")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="main-job-reruns-"))
    runs = []
    for i in range(args.runs):
        before = load()
        doc = one_run(args, out)
        runs.append(doc)
        print(f"run {i + 1}: {doc['_wall_s']:.0f} s, load {before} → {load()}, {doc['run_dir']}", flush=True)
    names = sorted({f"{v['framework']}/{v['variant']}" for d in runs for v in d["variants"] if v["status"] == "ok"})
    by = [{f"{v['framework']}/{v['variant']}": v for v in d["variants"]} for d in runs]

    print("\nper run: clean (headline statistic) ms, traced median ms, traced/clean, residual before rescaling, "
          "R reliable / U unreliable (+again: measured again)")
    w = max(len(n) for n in names) if names else 10
    for n in names:
        print(f"{n:<{w}}  " + "  |  ".join(cell(b[n]) if n in b else "not run" for b in by))

    print(f"\nresidual before rescaling, median of {len(runs)} runs (target |r| ≤ {TOLERANCE_PCT:g}%):")
    met = 0
    for n in names:
        rs = [b[n]["compensation_residual_pct"] for b in by
              if n in b and isinstance(b[n].get("compensation_residual_pct"), (int, float))]
        if not rs:
            print(f"  {n:<{w}}  no residual (not compensated)")
            continue
        m = statistics.median(rs)
        ok = abs(m) <= TOLERANCE_PCT
        met += ok
        print(f"  {n:<{w}}  {m:+6.1f}%  {'within' if ok else 'OUTSIDE'}  (runs: {', '.join(f'{r:+.1f}' for r in rs)})")
    print(f"  {met} of {len(names)} variants within ±{TOLERANCE_PCT:g}%")

    print("\nintervals of two runs: do they overlap?")
    kinds: dict[str, list[bool]] = {}
    for n in names:
        ivs = [interval(b[n]["step_ms"] or {}) for b in by if n in b and b[n].get("step_ms")]
        ivs = [iv for iv in ivs if iv]
        hits = [max(a[0], b[0]) <= min(a[1], b[1]) for a, b in itertools.combinations(ivs, 2)]
        what = ivs[0][2] if ivs else "none"
        kinds.setdefault(what, []).extend(hits)
        print(f"  {n:<{w}}  {sum(hits)} of {len(hits)} pairs overlap  ({what}: "
              + ", ".join(f"{lo:.2f}–{hi:.2f}" for lo, hi, _ in ivs) + ")")
    for what, hits in kinds.items():
        share = 100.0 * sum(hits) / len(hits) if hits else 0.0
        claim = ("claims ≥ 95% (nearly all)" if what.startswith("CI95")
                 else "claims nothing about a rerun (a spread of one process's steps)")
        print(f"  {what}: {sum(hits)} of {len(hits)} pairs overlap ({share:.0f}%); the interval {claim}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
