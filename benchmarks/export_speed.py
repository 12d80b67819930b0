"""The Chrome export and the events file of a large imported trace, against another checkout's.

One process imports the trace once (:func:`profiler.importers.load_trace`), then times, ``--repeat``
times, alternating A and B so that a change of load hits both alike:

* ``write``: ``ChromeTraceExporter().write(table, PATH)`` (``--ext .json.gz``, what ``profiler report``
  writes, or ``.json``);
* ``save``: ``table.save(PATH)``, the ``events.npz`` of every run.

A is this checkout; B is ``profiler/export/chrome.py`` and ``profiler/core/events.py`` of the
checkout at ``--against`` (e.g. ``git worktree add /tmp/base HEAD~3``), loaded as separate modules and
run on the same table. Printed: each side's median, spread ((max - min) / median) and A/B ratio,
whether the two traces are the same bytes and the two events files hold the same arrays, the files'
sizes, and the 1-minute load average before and after (on a shared machine the figures are only as
good as that). Without ``--against`` only A is timed.

Usage: ``PYTHONPATH=. .venv/bin/python benchmarks/export_speed.py TRACE [--against DIR] [--repeat 5]
[--ext .json.gz]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _same_npz(a: Path, b: Path) -> bool:
    with np.load(a, allow_pickle=False) as x, np.load(b, allow_pickle=False) as y:
        return x.files == y.files and all(
            x[k].dtype == y[k].dtype and np.array_equal(x[k], y[k], equal_nan=x[k].dtype.kind == "f")
            for k in x.files
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace", type=Path)
    ap.add_argument("--against", type=Path, help="another checkout: time its exporter and save too")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--ext", default=".json.gz", choices=[".json.gz", ".json"])
    a = ap.parse_args()

    from profiler.core.events import EventTable
    from profiler.export.chrome import ChromeTraceExporter
    from profiler.importers import load_trace

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    t0 = time.perf_counter()
    table = load_trace(a.trace).table
    print(f"{a.trace}: {table.n_spans} spans, {len(table.flows['id'])} flows, imported in "
          f"{time.perf_counter() - t0:.1f} s")
    sides = {"A": (ChromeTraceExporter, EventTable.save)}
    if a.against:
        chrome_b = _module("_b_chrome", a.against / "profiler" / "export" / "chrome.py")
        events_b = _module("_b_events", a.against / "profiler" / "core" / "events.py")
        sides["B"] = (chrome_b.ChromeTraceExporter, events_b.EventTable.save)
    times: dict[tuple[str, str], list[float]] = {(s, w): [] for s in sides for w in ("write", "save")}
    with tempfile.TemporaryDirectory() as tmp:
        out = {s: (Path(tmp) / f"{s}{a.ext}", Path(tmp) / f"{s}.npz") for s in sides}
        for i in range(a.repeat):
            for s in sides if i % 2 == 0 else reversed(sides):
                exporter, save = sides[s]
                t0 = time.perf_counter()
                exporter().write(table, out[s][0])
                times[(s, "write")].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                save(table, out[s][1])
                times[(s, "save")].append(time.perf_counter() - t0)
        for what in ("write", "save"):
            line = []
            for s in sides:
                v = times[(s, what)]
                med = statistics.median(v)
                line.append(f"{s} {med:.3f} s (spread {(max(v) - min(v)) / med:.0%}, "
                            f"{out[s][0 if what == 'write' else 1].stat().st_size / 1e6:.2f} MB)")
            if "B" in sides:
                line.append(f"A/B {statistics.median(times[('A', what)]) / statistics.median(times[('B', what)]):.2f}")
            print(f"{what:5s}  " + "  ".join(line))
        if "B" in sides:
            print("same trace bytes:", out["A"][0].read_bytes() == out["B"][0].read_bytes(),
                  " same events arrays:", _same_npz(out["A"][1], out["B"][1]))
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
