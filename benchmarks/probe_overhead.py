"""What each probe costs the CPU ``cudnn_lstm`` step: fresh workers, A/B alternated, medians.

For every parent-side probe (process, py-spy, NVML) the same workload runs in fresh ``profiler trace``
processes with the probe off (A) and on (B), alternating A, B, A, B ... so that drift of a shared
machine hits both arms alike; each run's headline is its median clean step, and the probe's overhead
is median(B) / median(A) − 1 over the repeats, printed with the spread of each arm. In-worker tracers
(torch.profiler, CUPTI) only run in the traced window, so their cost is read inside each run: traced
step median / clean step median − 1 (the same workers as the A arm).

Usage::

    .venv/bin/python benchmarks/probe_overhead.py [--repeats 5] [--variant unfused] [--steps 8]
        [--probes process,pyspy,nvml] [--pyspy-rate 50] [--pyspy-blocking]

Prints figures only; nothing here is a pass/fail test. On a loaded machine the spread of each arm
is printed so that an overhead inside the noise is read as such.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_once(variant: str, steps: int, probes: list[str], out: Path, opts: list[str]) -> dict:
    cmd = [sys.executable, "-m", "profiler.cli.main", "trace", "-s", "cudnn_lstm", "-f", "torch", "-v", variant]
    cmd += ["--steps", str(steps), "--warmup", "2", "--trace-steps", "3", "--probes", ",".join(probes)]
    cmd += ["--out", str(out), "--json", *opts]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if p.returncode != 0:
        raise SystemExit(f"run failed ({p.returncode}): {p.stderr.strip().splitlines()[-1:]}")
    (v,) = json.loads(p.stdout)["variants"]
    return v


def spread(xs: list[float]) -> str:
    if len(xs) < 2:
        return "n=1"
    return f"min {min(xs):.1f} / max {max(xs):.1f} ms (±{100 * (max(xs) - min(xs)) / 2 / statistics.median(xs):.0f}%)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="A/B pairs per probe")
    ap.add_argument("--variant", default="unfused")
    ap.add_argument("--steps", type=int, default=8, help="clean steps per worker")
    ap.add_argument("--probes", default="process,pyspy,nvml")
    ap.add_argument("--pyspy-rate", type=int, default=None, help="py-spy samples per second")
    ap.add_argument("--pyspy-blocking", action="store_true", help="py-spy pauses the worker per sample")
    args = ap.parse_args()
    opts: list[str] = []
    if args.pyspy_rate:
        opts += ["--probe-option", f"pyspy.rate_hz={args.pyspy_rate}"]
    if args.pyspy_blocking:
        opts += ["--probe-option", "pyspy.nonblocking=false"]

    sys.path.insert(0, str(ROOT))
    from profiler.probes import availability_of

    base = ["torch"]  # the in-worker tracer stays on in both arms: it only runs in the traced window
    print(f"cudnn_lstm · torch · {args.variant} · train · cpu preset · {args.steps} clean steps per worker")
    print(f"{args.repeats} A/B pairs per probe, alternated; figures are medians of per-run median steps")
    print(f"probe options: {' '.join(opts) or 'defaults'}\n")
    torch_ratio: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for probe in [p for p in args.probes.split(",") if p]:
            av = availability_of(probe)
            if not av.available:
                print(f"{probe:8s} unavailable: {av.reason}")
                continue
            a: list[float] = []
            b: list[float] = []
            t0 = time.monotonic()
            for _ in range(args.repeats):
                va = run_once(args.variant, args.steps, base, out, opts)
                a.append(va["step_ms"]["median"])
                if va.get("traced_step_ms"):
                    torch_ratio.append(va["traced_step_ms"] / va["step_ms"]["median"])
                vb = run_once(args.variant, args.steps, [*base, probe], out, opts)
                b.append(vb["step_ms"]["median"])
            ma, mb = statistics.median(a), statistics.median(b)
            print(
                f"{probe:8s} off {ma:8.1f} ms  on {mb:8.1f} ms  overhead {100 * (mb / ma - 1):+6.1f}%"
                f"   [off {spread(a)}; on {spread(b)}; {time.monotonic() - t0:.0f} s]"
            )
    if torch_ratio:
        print(
            f"{'torch':8s} traced window vs clean steps: {100 * (statistics.median(torch_ratio) - 1):+6.1f}% "
            f"(median of {len(torch_ratio)} workers; only the traced window pays it)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
