"""What a page fault costs a step, timed bare: the check behind the fault compensation.

The compensation (``profiler/analysis/step_usage.py``) takes the kernel CPU time a traced step spent
beyond the clean step's, divided by the framework's thread count, as the wall time its extra page
faults cost, and removes it from memory I/O. This script checks that conversion without the
toolkit's harness or analysis: the ``cudnn_lstm`` unfused training step of ``scenarios/rnn``, run in
a plain loop here, bare and under ``torch.profiler`` (plain, then shapes+FLOPs, each in its own fresh
interpreter, alternated), each step timed with ``perf_counter`` and its ``getrusage`` counters read
directly. Within one configuration the steps do the same work, so the extra wall time of a step
that faulted more is the faults' cost:

    extra wall (step − the configuration's fewest-fault steps' median)  vs  extra kernel CPU / threads

For each configuration it prints the per-step figures, the least-squares slope of extra wall on
extra kernel CPU / threads (1.0: the conversion is exact), and the wall cost per fault it implies.
A second check times a bare ``torch.empty(n).fill_`` on a fresh buffer against the same fill on a
resident one, per counted fault, beside ``profiler calibrate``'s figure for this machine.

    .venv/bin/python benchmarks/page_faults.py [--steps 12] [--rounds 2]

Not a test: timings on a shared machine are noisy. The machine's load is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
from contextlib import nullcontext
from types import SimpleNamespace
import torch
from scenarios.rnn import RNN_PRESETS
from scenarios.rnn.torch_rnn import RNNWorkload

config, steps = sys.argv[1], int(sys.argv[2])
p = {**RNN_PRESETS["cpu"], "cell": "lstm"}
spec = SimpleNamespace(threads=None, seed=0, device="cpu", mode="train", variant="unfused")
w = RNNWorkload(SimpleNamespace(spec=spec, params=p, region=lambda *a: nullcontext()))
for _ in range(3):
    w.step()

def usage():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_minflt, r.ru_stime

opts = {"plain": {}, "shapes_flops": {"record_shapes": True, "with_flops": True}}.get(config)
ctx = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], **opts) if opts is not None else nullcontext()
rows = []
with ctx:
    w.step()  # the first step under the tracer pays its set-up, as in the harness
    for _ in range(steps):
        f0, s0 = usage(); t0 = time.perf_counter()
        w.step()
        t1 = time.perf_counter(); f1, s1 = usage()
        rows.append({"wall_ms": (t1 - t0) * 1e3, "faults": f1 - f0, "kernel_ms": (s1 - s0) * 1e3})
print(json.dumps({"config": config, "threads": torch.get_num_threads(), "steps": rows}))
"""

FILL = r"""
import json, resource, statistics, sys, time
import torch
n = int(sys.argv[1])
per = []
for _ in range(9):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter(); x = torch.empty(n); x.fill_(1.0); t1 = time.perf_counter()
    f = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    x.fill_(2.0); t2 = time.perf_counter()
    del x
    if f:
        per.append(((t1 - t0) - (t2 - t1)) / f * 1e6)
print(json.dumps({"us_per_fault": statistics.median(per), "threads": torch.get_num_threads()}))
"""


def child(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"child failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def fit(rows: list[dict], threads: int) -> dict | None:
    """Extra wall against extra kernel CPU / threads, from the configuration's fewest-fault steps."""
    lo = min(r["faults"] for r in rows)
    base = [r for r in rows if r["faults"] <= lo + 100]
    if len(base) == len(rows):
        return None  # every step faulted alike: nothing to fit
    w0 = statistics.median(r["wall_ms"] for r in base)
    k0 = statistics.median(r["kernel_ms"] for r in base)
    f0 = statistics.median(r["faults"] for r in base)
    xs = [(r["kernel_ms"] - k0) / threads for r in rows]
    ys = [r["wall_ms"] - w0 for r in rows]
    sxx = sum(x * x for x in xs)
    slope = sum(x * y for x, y in zip(xs, ys, strict=True)) / sxx if sxx else float("nan")
    extra_f = [r["faults"] - f0 for r in rows if r["faults"] > lo + 100]
    extra_w = [r["wall_ms"] - w0 for r in rows if r["faults"] > lo + 100]
    return {
        "slope": slope,
        "us_per_fault_wall": 1e3 * statistics.median(w / f for w, f in zip(extra_w, extra_f, strict=True)),
        "n_faulting": len(extra_f),
        "base_ms": w0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    print(f"load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for rnd in range(a.rounds):
        for config in ("bare", "plain", "shapes_flops"):
            res = child(CHILD, config, str(a.steps))
            rows, th = res["steps"], res["threads"]
            cells = " ".join(f"{r['wall_ms']:.0f}/{r['faults']}/{r['kernel_ms']:.0f}" for r in rows)
            print(f"round {rnd + 1} {config:12s} threads {th}  wall ms/faults/kernel ms per step: {cells}")
            f = fit(rows, th)
            if f is None:
                print("  every step faulted alike: no fit")
            else:
                print(f"  extra wall = {f['slope']:.2f} × extra kernel CPU/threads ({f['n_faulting']} faulting "
                      f"steps against {f['base_ms']:.1f} ms); wall per extra fault {f['us_per_fault_wall']:.2f} µs")
    for mib in (16, 64):
        r = child(FILL, str((mib << 20) // 4))
        print(f"bare torch fill_ of a fresh {mib} MiB buffer: {r['us_per_fault']:.2f} µs wall per fault "
              f"({r['threads']} threads)")
    try:
        sys.path.insert(0, str(ROOT))
        from profiler.core.calibration import load_cached

        pf = ((load_cached() or {}).get("cpu") or {}).get("page_fault_us")
        print("profiler calibrate: " + (f"{pf['median']:.2f} µs per fault on {pf['threads']} threads, "
                                        f"{pf['one_thread']['median']:.2f} on one" if pf else "not calibrated here"))
    except Exception as e:  # the bare figures above stand on their own
        print(f"profiler calibrate: unreadable ({type(e).__name__})")


if __name__ == "__main__":
    main()
