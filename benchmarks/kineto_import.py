"""Import + breakdown of REAL torch.profiler traces: time, peak memory, linearity, parsers, HTA.

The traces are written here, now, by torch.profiler itself: an ``nn.LSTMCell`` CPU training loop
(``record_shapes=True``, a schedule so every step is a ``ProfilerStep#N`` span) sized to about
``--events`` (default 250k and 1M). Each measurement runs in a fresh process (peak RSS is that
process's ``ru_maxrss``) and is repeated ``--repeat`` times, alternating sizes; printed are the
median and the spread ((max - min) / median).

Measured per trace:

* ``profiler``: :func:`profiler.importers.load_trace` + :func:`profiler.analysis.breakdown.breakdown`
  (targets at 1M events: <= 11 s, <= 1 GiB peak RSS; time per event flat from 250k to 1M);
* the parsers alone: stdlib ``json.loads``, ``orjson.loads`` and msgspec's raw split + typed decode
  (what the importer uses), to show why it was chosen;
* HTA's ``TraceAnalysis`` parse, when HolisticTraceAnalysis is installed (else "unavailable").

Usage: ``.venv/bin/python benchmarks/kineto_import.py [--events 250000 1000000] [--repeat 2]
[--keep DIR]``. Timings on a shared machine are noisy: the 1-minute load average is printed with
them and a warning when it exceeds the core count.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WRITER = r"""
import sys, torch
from torch.profiler import ProfilerActivity, profile, schedule
steps, seq, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
torch.manual_seed(0); torch.set_num_threads(1)
cell, head = torch.nn.LSTMCell(32, 64), torch.nn.Linear(64, 8)
opt = torch.optim.SGD([*cell.parameters(), *head.parameters()], lr=0.01)
x, y = torch.randn(seq, 16, 32), torch.randint(0, 8, (16,))
with profile(activities=[ProfilerActivity.CPU], record_shapes=True,
             schedule=schedule(wait=0, warmup=0, active=steps)) as prof:
    for _ in range(steps):
        h = c = torch.zeros(16, 64)
        for i in range(seq):
            h, c = cell(x[i], (h, c))
        loss = torch.nn.functional.cross_entropy(head(h), y)
        opt.zero_grad(); loss.backward(); opt.step(); prof.step()
prof.export_chrome_trace(out)
"""

MEASURE = r"""
import gc, json, resource, sys, time
kind, path = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if kind == "profiler":
    from profiler.importers import load_trace
    from profiler.analysis.breakdown import breakdown
    imp = load_trace(path)
    bd = breakdown(imp.table)
    n = len(imp.table.spans["start_ns"]) + 2 * len(imp.table.flows["id"])
    extra = f"steps={len(bd['steps']) if isinstance(bd, dict) and 'steps' in bd else '?'}"
elif kind == "json":
    raw = open(path, "rb").read(); gc.disable(); n = len(json.loads(raw)["traceEvents"]); extra = ""
elif kind == "orjson":
    import orjson
    raw = open(path, "rb").read(); gc.disable(); n = len(orjson.loads(raw)["traceEvents"]); extra = ""
elif kind == "msgspec":
    from profiler.importers.chrome_json import EVENT, read_chrome
    doc = read_chrome(path); dec = EVENT.decode
    for r in doc.events:
        dec(r)
    n = len(doc.events); extra = ""
elif kind == "hta":
    import os
    from hta.trace_analysis import TraceAnalysis
    TraceAnalysis(trace_dir=os.path.dirname(path)); n = 0; extra = ""
dt = time.perf_counter() - t0
print(json.dumps({"s": dt, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "n": n, "extra": extra}))
"""


def _py(*args: str, timeout: float = 1800) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # output through files, not pipes: torch.profiler can leave a helper holding inherited pipes open
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        r = subprocess.run([sys.executable, *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                           timeout=timeout, env=env)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if r.returncode:
        raise RuntimeError(stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {r.returncode}")
    lines = stdout.strip().splitlines()
    return lines[-1] if lines else ""


def write_trace(path: Path, steps: int, seq: int) -> None:
    _py("-c", WRITER, str(steps), str(seq), str(path))


def count_events(path: Path) -> int:
    from profiler.importers.chrome_json import read_chrome

    return len(read_chrome(path).events)


def measure(kind: str, path: Path) -> dict:
    import json

    return json.loads(_py("-c", MEASURE, kind, str(path)))


def _fmt(xs: list[float], unit: str, nd: int = 2) -> str:
    med = statistics.median(xs)
    spread = (max(xs) - min(xs)) / med * 100 if med and len(xs) > 1 else 0.0
    return f"{med:.{nd}f} {unit} (n={len(xs)}, spread {spread:.0f}%)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, nargs="+", default=[250_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--parsers", action="store_true", help="also time json/orjson/msgspec alone")
    ap.add_argument("--keep", type=Path, help="write the traces here (else a temporary directory)")
    a = ap.parse_args()
    try:
        import torch
    except ImportError as e:
        print(f"unavailable: torch is needed to write real traces ({e})")
        return 0
    tmp = a.keep or Path(tempfile.mkdtemp(prefix="kineto-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    seq = 60
    probe = tmp / "probe.json"
    write_trace(probe, 4, seq)
    per_step = count_events(probe) / 4
    probe.unlink()
    traces: dict[int, Path] = {}
    for target in a.events:
        steps = max(2, round(target / per_step))
        p = tmp / f"lstm_{target}" / "trace.json"  # one directory each: HTA reads a directory
        p.parent.mkdir(exist_ok=True)
        if not p.exists():
            write_trace(p, steps, seq)
        traces[target] = p
        n = count_events(p)
        print(f"trace {p}: {n:,} events, {steps} steps, {p.stat().st_size / 1e6:.1f} MB, "
              f"{p.stat().st_size / n:.0f} bytes/event (torch {torch.__version__}, LSTMCell, record_shapes)")
    try:
        import hta  # noqa: F401

        hta_ok: str | None = None
    except ImportError as e:
        hta_ok = f"unavailable: HolisticTraceAnalysis not installed ({e})"
    kinds = ["profiler"] + (["json", "orjson", "msgspec"] if a.parsers else []) + ([] if hta_ok else ["hta"])
    res: dict[tuple[str, int], list[dict]] = {}
    for _ in range(a.repeat):  # alternate sizes and tools, fresh process each
        for target, p in traces.items():
            for k in kinds:
                try:
                    res.setdefault((k, target), []).append(measure(k, p))
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    res.setdefault((k, target), []).append({"error": str(e)})
    load1 = os.getloadavg()[0]
    print(f"\nmachine: {os.cpu_count()} cores, 1-min load {load1:.2f} after the runs"
          + ("  WARNING: busier than its core count, figures are inflated" if load1 > (os.cpu_count() or 1) else ""))
    per_event: dict[int, float] = {}
    for (k, target), rs in res.items():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            print(f"{k:9s} {target:>9,}: failed: {rs[0]['error']}")
            continue
        t = [r["s"] for r in ok]
        m = [r["rss_mib"] for r in ok]
        n = count_events(traces[target])
        line = f"{k:9s} {target:>9,} target events: {_fmt(t, 's')}, peak RSS {_fmt(m, 'MiB', 0)}"
        if k == "profiler":
            per_event[target] = statistics.median(t) / n * 1e9
            line += f", {per_event[target]:.0f} ns/event"
        print(line)
    if hta_ok:
        print(f"hta       {hta_ok}")
    if len(per_event) > 1:
        lo, hi = min(per_event), max(per_event)
        print(f"linearity: time per event at {hi:,} / at {lo:,} = {per_event[hi] / per_event[lo]:.2f} (1.00 = linear)")
    big = max(traces)
    ok = [r for r in res.get(("profiler", big), []) if "error" not in r]
    if ok:
        t, m = statistics.median(r["s"] for r in ok), statistics.median(r["rss_mib"] for r in ok)
        print(f"targets at {big:,}: time {t:.2f} s {'<=' if t <= 11 else '>'} 11 s, "
              f"peak RSS {m:.0f} MiB {'<=' if m <= 1024 else '>'} 1024 MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
