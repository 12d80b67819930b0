"""What the in-worker ``mxnet`` and ``chainer`` probes cost per operator call (not a test).

Each framework runs in its own fresh process. A loop of small operator calls (so that the per-call
cost of tracing dominates) is timed with the probe off and on, alternated A/B/A/B for ``--rounds``
rounds; the script prints the median per-call time of each arm, the spread (min–max over rounds) and
the difference, which is the probe's cost per call.

    .venv/bin/python benchmarks/framework_tracer_overhead.py [--calls 3000] [--rounds 5]

Figures are as noisy as the machine: on a shared machine, read the spread before the median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, os, sys, tempfile, time
sys.path.insert(0, {root!r})
from profiler.probes.base import ProbeTarget
fw, calls, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = tempfile.mkdtemp()
if fw == "mxnet":
    from profiler.core.compat import import_mxnet
    from profiler.probes.mxnet_tracer import MxnetProbe as Probe
    mx = import_mxnet()
    x = mx.nd.ones((8, 8))
    def loop():
        for _ in range(calls):
            mx.nd.relu(x)
        mx.nd.waitall()
else:
    import chainer.functions as F, numpy as np
    from profiler.probes.chainer_tracer import ChainerProbe as Probe
    x = np.ones((8, 8), np.float32)
    def loop():
        for _ in range(calls):
            F.relu(x)
loop()
res = {{"off": [], "on": []}}
for _ in range(rounds):
    for arm in ("off", "on"):
        p = Probe() if arm == "on" else None
        if p:
            p.start(ProbeTarget(pid=os.getpid(), run_dir=out))
        t0 = time.perf_counter_ns()
        loop()
        t1 = time.perf_counter_ns()
        if p:
            p.stop()
            assert not p.errors, p.errors
        res[arm].append((t1 - t0) / calls / 1000.0)
print(json.dumps(res))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--frameworks", default="mxnet,chainer")
    args = ap.parse_args()
    print(
        f"{args.calls} calls of a relu on an 8×8 array per arm, {args.rounds} rounds A/B alternated; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    for fw in args.frameworks.split(","):
        code = _CHILD.format(root=str(ROOT))
        r = subprocess.run(
            [sys.executable, "-c", code, fw, str(args.calls), str(args.rounds)],
            capture_output=True,
            text=True,
            check=False,
        )
        if r.returncode != 0:
            print(f"{fw:8s} unavailable: {(r.stderr.strip().splitlines() or ['failed'])[-1]}")
            continue
        res = json.loads(r.stdout.strip().splitlines()[-1])
        off, on = statistics.median(res["off"]), statistics.median(res["on"])
        print(
            f"{fw:8s} probe off {off:7.2f} µs/call (spread {min(res['off']):.2f}–{max(res['off']):.2f})  "
            f"on {on:7.2f} µs/call (spread {min(res['on']):.2f}–{max(res['on']):.2f})  "
            f"cost {on - off:+.2f} µs/call"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
