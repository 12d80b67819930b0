"""``profiler report TRACE --json`` on REAL torch.profiler traces: time, peak memory, linearity, HTA.

The traces are written here, now, by torch.profiler itself: an ``nn.LSTMCell`` CPU training loop
(``record_shapes=True``, a schedule so every step is a ``ProfilerStep#N`` span). Their size is set
from a measured rate: two short probe traces (``PROBE_STEPS``) give the events per step (their
difference) and the fixed part, and the number of steps for each ``--events`` target follows.

Each measurement runs in a fresh process, alternating sizes and tools, ``--repeat`` times; printed are
the median and the spread ((max - min) / median):

* ``report``: the command a user runs, ``python -m profiler report TRACE --json --out TMP`` (import,
  every analysis, the Chrome export, the pictures, run.json); its peak RSS is the child's
  ``ru_maxrss`` from :func:`os.wait4`;
* ``import``: :func:`profiler.importers.load_trace` + :func:`profiler.analysis.breakdown.breakdown`
  alone, in a fresh interpreter (the issue's target: 1M events in <= 11 s and <= 1 GiB);
* ``json``: stdlib ``json.load`` of the same file, for comparison;
* ``hta``: HolisticTraceAnalysis's ``TraceAnalysis`` parse, when it is importable (else "unavailable"),
  by ``--hta-python`` (default ``.venv-hta``, which ``scripts/bootstrap.sh`` builds: HTA wants
  numpy >= 2, which MXNet 1.9 in the project's environment cannot have) or by this interpreter.

Usage: ``PYTHONPATH=. .venv/bin/python benchmarks/kineto_import.py [--events 250000 1000000]
[--repeat 3] [--keep DIR] [--hta-python PY]``. The machine's 1-minute load average is printed before and after: on a
shared machine the figures are only as good as that.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: the two probe traces' step counts: their event difference over the step difference is the rate
PROBE_STEPS = (3, 9)
SEQ = 60  # LSTMCell time steps per training step

WRITER = r"""
import sys, torch
from torch.profiler import ProfilerActivity, profile, schedule
steps, seq, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
torch.manual_seed(0); torch.set_num_threads(1)
cell, head = torch.nn.LSTMCell(32, 64), torch.nn.Linear(64, 8)
opt = torch.optim.SGD([*cell.parameters(), *head.parameters()], lr=0.01)
x, y = torch.randn(seq, 16, 32), torch.randint(0, 8, (16,))
# repeat=1: one window of `steps` steps (with the default repeat=0 a second, empty window starts
# after the first and export_chrome_trace writes that one)
with profile(activities=[ProfilerActivity.CPU], record_shapes=True,
             schedule=schedule(wait=0, warmup=0, active=steps, repeat=1)) as prof:
    for _ in range(steps):
        h = c = torch.zeros(16, 64)
        for i in range(seq):
            h, c = cell(x[i], (h, c))
        loss = torch.nn.functional.cross_entropy(head(h), y)
        opt.zero_grad(); loss.backward(); opt.step(); prof.step()
prof.export_chrome_trace(out)
"""

IMPORT = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from profiler.importers import load_trace
from profiler.analysis.breakdown import breakdown, step_windows
imp = load_trace(sys.argv[1])
bd = breakdown(imp.table, imp.facts.get("host_pid"), step_windows(imp.table))
dt = time.perf_counter() - t0
print(json.dumps({"s": dt, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "steps": bd.n_steps}))
"""

JSON_LOAD = r"""
import gc, json, resource, sys, time
t0 = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    n = len(json.load(f)["traceEvents"])
dt = time.perf_counter() - t0
print(json.dumps({"s": dt, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "n": n}))
"""

HTA = r"""
import json, os, resource, sys, time
t0 = time.perf_counter()
from hta.trace_analysis import TraceAnalysis
TraceAnalysis(trace_dir=os.path.dirname(sys.argv[1]))
dt = time.perf_counter() - t0
print(json.dumps({"s": dt, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT))


def _run(argv: list[str], timeout: float = 1800) -> tuple[str, float, float]:
    """Run a fresh process; ``(last stdout line, wall s, peak RSS MiB of that process)``."""
    # output through files, not pipes: torch.profiler can leave a helper holding inherited pipes open
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=_env())
        deadline = t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                p.kill()
                os.wait4(p.pid, 0)
                raise RuntimeError(f"timed out after {timeout:g} s")
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if p.returncode:
        tail = stderr.strip().splitlines()
        raise RuntimeError(tail[-1] if tail else f"exit {p.returncode}")
    lines = stdout.strip().splitlines()
    return (lines[-1] if lines else ""), wall, ru.ru_maxrss / 1024


def write_trace(path: Path, steps: int) -> None:
    _run([sys.executable, "-c", WRITER, str(steps), str(SEQ), str(path)])


COUNT = r"""
import sys
from profiler.importers.chrome_json import read_chrome
print(len(read_chrome(sys.argv[1]).events))
"""


def count_events(path: Path) -> int:
    """Events in the file, counted in a child: this process stays small, because a child's peak RSS
    (``ru_maxrss``) starts from the size of the process it was forked from."""
    return int(_run([sys.executable, "-c", COUNT, str(path)])[0])


def measure(kind: str, path: Path, out_dir: Path, hta_python: str | None = None) -> dict:
    if kind == "hta" and hta_python:
        text, wall, rss = _run([hta_python, "-c", HTA, str(path)])
        return {**json.loads(text), "rss_mib": rss}
    if kind == "report":
        _, wall, rss = _run([sys.executable, "-m", "profiler", "report", str(path), "--json", "--out", str(out_dir)])
        return {"s": wall, "rss_mib": rss}
    script = {"import": IMPORT, "json": JSON_LOAD, "hta": HTA}[kind]
    text, wall, rss = _run([sys.executable, "-c", script, str(path)])
    r = json.loads(text)
    r["rss_mib"] = rss  # the whole process's peak, measured from outside like the report's
    return r


def _report_json(path: Path, out_dir: Path) -> dict:
    """The report's --json document (printed indented over several lines)."""
    with tempfile.TemporaryFile("w+") as out:
        subprocess.run([sys.executable, "-m", "profiler", "report", str(path), "--json", "--out", str(out_dir)],
                       stdout=out, stderr=subprocess.DEVNULL, env=_env(), check=True)
        out.seek(0)
        return json.loads(out.read())


def _fmt(xs: list[float], unit: str, nd: int = 2) -> str:
    med = statistics.median(xs)
    spread = (max(xs) - min(xs)) / med * 100 if med and len(xs) > 1 else 0.0
    return f"{med:.{nd}f} {unit} (n={len(xs)}, spread {spread:.0f}%)"


def _load() -> str:
    la = os.getloadavg()
    return f"load average {la[0]:.2f} / {la[1]:.2f} / {la[2]:.2f} (1/5/15 min) on {os.cpu_count()} cores"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, nargs="+", default=[250_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--kinds", nargs="+", default=["report", "import", "json", "hta"],
                    choices=["report", "import", "json", "hta"])
    ap.add_argument("--keep", type=Path, help="write the traces here and reuse them (else a temporary directory)")
    ap.add_argument("--hta-python", default=str(ROOT / ".venv-hta" / "bin" / "python") if (
        ROOT / ".venv-hta" / "bin" / "python").exists() else None,
        help="an interpreter that has HolisticTraceAnalysis (default: .venv-hta, built by scripts/bootstrap.sh)")
    a = ap.parse_args()
    if any(n < 10_000 for n in a.events) or a.repeat < 1:
        print("--events must be at least 10000 and --repeat at least 1", file=sys.stderr)
        return 2
    # torch is not imported here: this process stays small (see count_events)
    if importlib.util.find_spec("torch") is None:
        print("unavailable: torch is needed to write real traces")
        return 0
    torch_version = importlib.metadata.version("torch")
    print(f"before: {_load()}")
    tmp = a.keep or Path(tempfile.mkdtemp(prefix="kineto-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    # events per step, measured: two probe traces, the difference over the step difference
    counts = []
    for n in PROBE_STEPS:
        probe = tmp / f"probe{n}.json"
        write_trace(probe, n)
        counts.append(count_events(probe))
        probe.unlink()
    per_step = (counts[1] - counts[0]) / (PROBE_STEPS[1] - PROBE_STEPS[0])
    fixed = counts[0] - per_step * PROBE_STEPS[0]
    if per_step <= 0:
        print(f"probe traces of {PROBE_STEPS} steps had {counts} events: no events per step to size from")
        return 1
    print(f"probe traces: {PROBE_STEPS[0]} steps {counts[0]:,} events, {PROBE_STEPS[1]} steps {counts[1]:,} "
          f"events -> {per_step:,.0f} events per step + {fixed:,.0f} fixed")
    traces: dict[int, Path] = {}
    sizes: dict[int, tuple[int, int]] = {}
    for target in a.events:
        steps = max(2, round((target - fixed) / per_step))
        p = tmp / f"lstm_{target}" / "trace.json"  # one directory each: HTA reads a directory
        p.parent.mkdir(exist_ok=True)
        how = "reused from --keep"
        if not p.exists():
            t0 = time.perf_counter()
            write_trace(p, steps)
            how = f"written in {time.perf_counter() - t0:.0f} s"
        traces[target] = p
        n = count_events(p)
        sizes[target] = (n, p.stat().st_size)
        print(f"trace {p} ({how}): {n:,} events for {steps} steps at the measured rate, "
              f"{p.stat().st_size / 1e6:.1f} MB, {p.stat().st_size / n:.0f} bytes/event "
              f"(torch {torch_version}, LSTMCell, record_shapes)")
    kinds = list(a.kinds)
    hta_why = None
    if "hta" in kinds and a.hta_python:
        probe = subprocess.run([a.hta_python, "-c", "import hta"], capture_output=True, text=True)
        if probe.returncode:
            hta_why = f"unavailable: {a.hta_python} cannot import hta ({(probe.stderr.strip().splitlines() or ['?'])[-1]})"
            kinds.remove("hta")
    elif "hta" in kinds and importlib.util.find_spec("hta") is None:
        hta_why = "unavailable: HolisticTraceAnalysis is not installed here (see --hta-python)"
        kinds.remove("hta")
    # the report's own view of each trace, once (steps, status): what the timed runs produce
    for target, p in traces.items():
        if "report" in kinds:
            doc = _report_json(p, tmp / "runs")
            v = (doc.get("variants") or [{}])[0]
            print(f"report of {target:,}: status {doc.get('status')}, "
                  f"{(v.get('step_ms') or {}).get('n_steps')} steps, step median "
                  f"{(v.get('step_ms') or {}).get('median')} ms")
    res: dict[tuple[str, int], list[dict]] = {}
    for _ in range(a.repeat):  # alternate sizes and tools, a fresh process each
        for target, p in traces.items():
            for k in kinds:
                try:
                    res.setdefault((k, target), []).append(measure(k, p, tmp / "runs", a.hta_python))
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                    res.setdefault((k, target), []).append({"error": str(e)})
    print(f"\nafter: {_load()}")
    per_event: dict[str, dict[int, float]] = {}
    print(f"{'tool':8s} {'events':>10s} {'MB':>7s} {'B/event':>7s}  time, peak RSS")
    for (k, target), rs in sorted(res.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        n, size = sizes[target]
        ok = [r for r in rs if "error" not in r]
        head = f"{k:8s} {n:>10,} {size / 1e6:7.1f} {size / n:7.0f}"
        if not ok:
            print(f"{head}  failed: {rs[0]['error']}")
            continue
        t = [r["s"] for r in ok]
        m = [r["rss_mib"] for r in ok]
        per_event.setdefault(k, {})[target] = statistics.median(t) / n * 1e9
        bad = [r["error"] for r in rs if "error" in r]
        print(f"{head}  {_fmt(t, 's')}, {_fmt(m, 'MiB', 0)}, {per_event[k][target]:.0f} ns/event"
              + (f"  ({len(bad)} failed: {bad[0]})" if bad else ""))
    if hta_why:
        print(f"hta      {hta_why}")
    for k, pe in per_event.items():
        if len(pe) > 1:
            lo, hi = min(pe), max(pe)
            print(f"linearity {k}: time per event at {sizes[hi][0]:,} / at {sizes[lo][0]:,} events = "
                  f"{pe[hi] / pe[lo]:.2f} (1.00 = linear)")
    big = max(traces)
    for k in ("import", "report"):
        ok = [r for r in res.get((k, big), []) if "error" not in r]
        if ok:
            t, m = statistics.median(r["s"] for r in ok), statistics.median(r["rss_mib"] for r in ok)
            print(f"{k} at {sizes[big][0]:,} events: {t:.2f} s ({'<=' if t <= 11 else '>'} 11 s), "
                  f"peak RSS {m:.0f} MiB ({'<=' if m <= 1024 else '>'} 1024 MiB)")
            hta = [r["s"] for r in res.get(("hta", big), []) if "error" not in r]
            if hta:  # measured here, now, on the same file: the comparison the target was set from
                print(f"  HTA's parse of the same file took {statistics.median(hta):.1f} s: "
                      f"{statistics.median(hta) / t:.1f}x the {k}'s time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
