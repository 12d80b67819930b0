"""Do compare's headlines survive a rerun? ``profiler compare`` three times, rankings and verdicts.

Runs ``profiler compare -s resnet50_infer --frameworks torch,tensorflow,keras,mxnet --preset cpu``
``--runs`` times (default 3) with the command's defaults (``--repeat 5`` interleaved worker processes
per framework, clean steps calibrated to ``--min-time``), each run in a fresh ``profiler`` process,
and prints for every run the ranking with each framework's median and 95% CI, the verdict of every
pair (the ratio's 95% CI: faster, or no significant difference), the warnings, and the machine load
(``uptime``) before and after. Then the target: the verdicts of the runs agree — every pair that one
run calls significant is called the same way, or not significant, by the others.

Usage: ``.venv/bin/python benchmarks/compare_stability.py [--runs N] [--frameworks ...] [--repeat N]
[--min-time S] [--out DIR]``. Every figure printed is measured here, now.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from profiler.analysis.stats import ratio_verdict, step_samples  # noqa: E402


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unavailable"


def one_run(args: argparse.Namespace, out: Path) -> dict:
    cmd = [sys.executable, "-m", "profiler", "compare", "-s", args.scenario, "--frameworks", args.frameworks,
           "--preset", args.preset, "--out", str(out), "--json"]
    if args.repeat is not None:
        cmd += ["--repeat", str(args.repeat)]
    if args.min_time is not None:
        cmd += ["--min-time", str(args.min_time)]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.monotonic() - t0
    if r.returncode not in (0, 1) or not r.stdout.strip():
        raise SystemExit(f"compare failed (exit {r.returncode}): {r.stderr.strip().splitlines()[-1:]}")
    doc = json.loads(r.stdout)
    doc["_wall_s"] = wall
    return doc


def pair_verdicts(doc: dict) -> dict[tuple[str, str], str | None]:
    """Every pair of completed rows (sorted names) → the verdict of the first name against the second."""
    ok = {f"{v['framework']}/{v['variant']}": v for v in doc["variants"] if v["status"] == "ok"}
    out = {}
    for a, b in itertools.combinations(sorted(ok), 2):
        out[(a, b)] = ratio_verdict(step_samples(ok[a]), step_samples(ok[b]))[2]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scenario", default="resnet50_infer")
    ap.add_argument("--frameworks", default="torch,tensorflow,keras,mxnet")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--repeat", type=int, help="--repeat for compare (default: the command's)")
    ap.add_argument("--min-time", type=float, help="--min-time for compare (default: the command's)")
    ap.add_argument("--out", type=Path, help="where the runs go (default: a temporary directory)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="compare-stability-"))
    runs = []
    for i in range(args.runs):
        before = load()
        doc = one_run(args, out)
        after = load()
        runs.append(doc)
        s = doc["settings"]
        print(f"\nrun {i + 1}: {doc['run_dir']} · {doc['_wall_s']:.0f} s · load (1/5/15 min) before {before}, "
              f"after {after} · {s.get('repeat')} processes per framework, clean steps ≥{s.get('min_time_s')} s")
        ranked = sorted((v for v in doc["variants"] if v["status"] == "ok"), key=lambda v: v["step_ms"]["median"])
        for n, v in enumerate(ranked, 1):
            st = v["step_ms"]
            ci = st["ci95"] or [float("nan")] * 2
            print(f"  {n}. {v['framework']}/{v['variant']:<12} {st['median']:8.1f} ms  95% CI "
                  f"{ci[0]:.1f}–{ci[1]:.1f}  ({st['n_steps']} steps in {st['n_processes']} processes; "
                  f"process medians {', '.join(f'{m:.1f}' for m in st['per_process'] or [])})")
        for v in doc["variants"]:
            if v["status"] != "ok":
                print(f"  {v['framework']}/{v['variant']}: {v['status']}: {v['error']}")
        for (a, b), verdict in pair_verdicts(doc).items():
            print(f"  {a} vs {b}: {verdict}")
        print(f"  spread: {doc['spread']}")
        for w in doc["warnings"]:
            print(f"  warning: {w}")
    # agreement: a pair called faster in one run is never called slower in another
    verdicts = [pair_verdicts(d) for d in runs]
    pairs = sorted(set().union(*verdicts))
    conflicts = []
    for p in pairs:
        seen = {v.get(p) for v in verdicts} - {None, "no significant difference"}
        if len(seen) > 1:
            conflicts.append(p)
    print(f"\n{len(pairs)} pairs over {len(runs)} runs; verdicts per pair:")
    for p in pairs:
        print(f"  {p[0]} vs {p[1]}: " + " | ".join(str(v.get(p)) for v in verdicts))
    print("target (verdicts agree: no pair called faster in one run and slower in another): "
          + ("met" if not conflicts else f"NOT met for {', '.join(' vs '.join(p) for p in conflicts)}"))
    return 0 if not conflicts else 1


if __name__ == "__main__":
    sys.exit(main())
