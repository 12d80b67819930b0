"""``profiler report DIR`` on rank sets of 2 to 64 ranks built from a real trace: time and peak RSS
of every process (the client and each Dask worker), first and second report, in-process against a
local cluster, time per event as the rank count grows, and HTA beside ours on the 8-rank set.

The rank set: one real torch.profiler trace (default ``../shared/data/gpu-traces/hta-nccl_data.json.gz``:
rank 0 of a 2-rank A100 job, NCCL all-reduce beside compute, 40,573 events) repeated end to end until
it holds ``--events-per-rank`` events (default 250,000: 7 copies, 284k events, 21 steps; steps
renumbered and ids moved as in ``report_vs_json_load.py``), then copied once per rank, with
``distributedInfo.rank``/``world_size`` rewritten, every timestamp moved by a per-rank clock offset
(rank × 3.1 ms plus up to 1 ms, so the traces' clocks disagree and must be aligned), and time
stretched per rank by ``1 + U(0, 1%)`` — and by 8% on one rank (``n // 3``), the straggler the
report must find (``distributed.straggler_cost.costliest_rank``). The recipe and seed are printed
with the figures.

Each measured command is a fresh ``python -m profiler report SET --out OUT --json`` (every output of a
report written: run.json, events, Chrome trace, PNGs). The process tree is sampled every 50 ms for
each process's resident set (``VmHWM``, the kernel's own peak, read while it lives). "first" uses an
empty ``PROFILER_CACHE_DIR`` (every rank imported into its store), "second" the same cache again
(nothing imported; the report kept by the first is reused: ``run.fleet.ReportCache``). The
commands run from a snapshot of ``profiler/`` copied into the work folder at the start, so that
edits to the working tree during the benchmark neither slow it nor change the kept report's key.
Figures are the median of ``--repeats`` runs with their spread
(min–max). HTA 0.5 (``.venv-hta``) loads the same folder (``TraceAnalysis(trace_dir=…)``, its own
process pool) and computes its temporal breakdown, communication/computation overlap and kernel
breakdown over every rank, alternated with our first report run by run on the 8-rank set (their
ratio given per pair).

Usage: ``.venv/bin/python benchmarks/fleet_ranks.py [--ranks 8,32] [--repeats 3] [--events-per-rank N] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from profiler.run.fleet import IN_PROCESS_MAX_RANKS  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from report_vs_json_load import repeated  # noqa: E402

BASE = ROOT.parent / "shared" / "data" / "gpu-traces" / "hta-nccl_data.json.gz"
HTA_PY = ROOT / ".venv-hta" / "bin" / "python"
SEED = 23
#: where the measured commands run: a snapshot of the package (main), else the repository
CODE: Path | None = None
STRAGGLER_STRETCH = 0.08
JITTER = 0.01

HTA_SCRIPT = r"""
import logging, sys, warnings
warnings.filterwarnings("ignore"); logging.disable(logging.CRITICAL)
from hta.trace_analysis import TraceAnalysis
ta = TraceAnalysis(trace_dir=sys.argv[1], include_last_profiler_step=True)
ta.get_temporal_breakdown(visualize=False)
ta.get_comm_comp_overlap(visualize=False)
ta.get_gpu_kernel_breakdown(visualize=False)
print(len(ta.t.traces))
"""


# ------------------------------------------------------------------------------------ rank sets


def build_rank_set(base: Path, n: int, out: Path, seed: int = SEED, per_rank: int = 0) -> dict:
    """``n`` copies of ``base`` as the ranks of one job, each ``base`` repeated end to end until it
    holds ``per_rank`` events (module docstring); returns the recipe."""
    doc = json.loads(gzip.decompress(base.read_bytes()))
    if per_rank > len(doc["traceEvents"]):
        doc = repeated(doc, per_rank)[0]
    events = doc["traceEvents"]
    stamped = [e for e in events if e.get("ph") != "M" and isinstance(e.get("ts"), (int, float))]
    t0 = min(float(e["ts"]) for e in stamped)
    rng = random.Random(seed)
    straggler = n // 3
    recipe = {"base": str(base), "seed": seed, "ranks": n, "straggler": straggler, "events_per_rank": len(events),
              "scale": {}, "offset_us": {}}
    out.mkdir(parents=True, exist_ok=True)
    for r in range(n):
        scale = 1.0 + (STRAGGLER_STRETCH if r == straggler else rng.uniform(0.0, JITTER))
        offset = r * 3100.0 + rng.uniform(0.0, 1000.0)
        recipe["scale"][r], recipe["offset_us"][r] = round(scale, 6), round(offset, 3)
        new = []
        for e in events:
            if e.get("ph") != "M" and isinstance(e.get("ts"), (int, float)):
                e = dict(e, ts=round(t0 + (float(e["ts"]) - t0) * scale + offset, 3))
                if isinstance(e.get("dur"), (int, float)):
                    e["dur"] = round(float(e["dur"]) * scale, 3)
            new.append(e)
        di = dict(doc.get("distributedInfo") or {}, rank=r, world_size=n)
        di.pop("pg_config", None)
        (out / f"rank{r}.pt.trace.json.gz").write_bytes(
            gzip.compress(json.dumps({**doc, "distributedInfo": di, "traceEvents": new}).encode(), compresslevel=1))
    return recipe


# ------------------------------------------------------------------------------------ measuring


def _hwm_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _role(p: psutil.Process, root: int) -> str:
    if p.pid == root:
        return "client"
    try:
        cmd = " ".join(p.cmdline())
    except psutil.Error:
        return "child"
    if "multiprocessing.spawn" in cmd or "spawn_main" in cmd:
        return "worker"
    if "resource_tracker" in cmd or "forkserver" in cmd:
        return "helper"
    return "child"


def measure(cmd: list[str], env: dict[str, str]) -> dict:
    """Wall time and each process's peak RSS (MiB) of ``cmd`` and everything it starts."""
    sink = tempfile.TemporaryFile()  # not a pipe: a large --json document must not block the child
    errs = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=sink, stderr=errs, cwd=CODE or ROOT)
    peaks: dict[int, tuple[str, int]] = {}
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            procs = []
        for p in procs:
            kib = _hwm_kib(p.pid)
            if kib is not None:
                role = peaks[p.pid][0] if p.pid in peaks else _role(p, proc.pid)
                peaks[p.pid] = (role, max(kib, peaks.get(p.pid, ("", 0))[1]))
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    sink.seek(0)
    errs.seek(0)
    out, err = sink.read(), errs.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err.decode()[-400:]}")
    client = peaks.get(proc.pid, ("client", 0))[1] / 1024
    others = sorted(((r, k / 1024) for pid, (r, k) in peaks.items() if pid != proc.pid), key=lambda x: -x[1])
    return {"wall_s": wall, "client_mib": client, "others": others, "stdout": out}


def spread(xs: list[float]) -> str:
    med = statistics.median(xs)
    return f"{med:.2f} ({min(xs):.2f}–{max(xs):.2f})" if len(xs) > 1 else f"{med:.2f}"


def ours(folder: Path, repeats: int, scheduler: str | None, work: Path, second: bool,
         force_cluster: bool = False) -> dict:
    """``repeats`` first (and ``second``) reports of ``folder``; ``force_cluster``: a local cluster
    even where the default would run in-process (``IN_PROCESS_MAX_RANKS`` lowered for the run)."""
    rows: dict[str, list] = {"first": [], "second": []}
    doc = None
    for i in range(repeats):
        cache = Path(tempfile.mkdtemp(prefix="fleet-cache-", dir=work))
        env = dict(os.environ, PROFILER_CACHE_DIR=str(cache), PROFILER_SCHEDULER=scheduler or "")
        cmd = [sys.executable, "-m", "profiler", "report", str(folder), "--out", str(work / f"out-{i}"), "--json"]
        if force_cluster:
            cmd = [sys.executable, "-c", "import sys, runpy, profiler.run.fleet as f; f.IN_PROCESS_MAX_RANKS = 0; "
                   "sys.argv = ['profiler', *sys.argv[1:]]; runpy.run_module('profiler', run_name='__main__')",
                   *cmd[3:]]
        m = measure(cmd, env)
        rows["first"].append(m)
        doc = json.loads(m["stdout"])
        if second:
            rows["second"].append(measure(cmd, env))
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(work / f"out-{i}", ignore_errors=True)
    return {"rows": rows, "doc": doc}


def hta(folder: Path, repeats: int) -> list[dict] | str:
    if not HTA_PY.exists():
        return f"HTA not installed ({HTA_PY})"
    out = []
    for _ in range(repeats):
        try:
            out.append(measure([str(HTA_PY), "-c", HTA_SCRIPT, str(folder)], dict(os.environ)))
        except SystemExit as e:
            return f"HTA failed: {str(e)[-300:]}"
    return out


def line(label: str, rows: list[dict], events: int) -> str:
    walls = [r["wall_s"] for r in rows]
    cl = [r["client_mib"] for r in rows]
    wk = [max((m for role, m in r["others"] if role == "worker"), default=0.0) for r in rows]
    oth = [max((m for _, m in r["others"]), default=0.0) for r in rows]
    nproc = statistics.median(len(r["others"]) + 1 for r in rows)
    per_ev = [w / events * 1e6 for w in walls]
    return (f"| {label} | {spread(walls)} | {spread(per_ev)} | {spread(cl)} | "
            f"{spread(wk) if any(wk) else '–'} | {spread(oth) if any(oth) else '–'} | {nproc:g} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", default="8,32")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--base", type=Path, default=BASE)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--no-hta", action="store_true")
    ap.add_argument("--events-per-rank", type=int, default=250_000,
                    help="each rank is the base trace repeated end to end until it holds this many events")
    ap.add_argument("--compare-local", default="2,8", help="rank counts run both in-process and on a local cluster")
    a = ap.parse_args()
    if not a.base.exists():
        raise SystemExit(f"no base trace at {a.base}")
    work = a.work or Path(tempfile.mkdtemp(prefix="fleet-ranks-"))
    global CODE
    CODE = work / "code"
    shutil.rmtree(CODE, ignore_errors=True)
    shutil.copytree(ROOT / "profiler", CODE / "profiler", ignore=shutil.ignore_patterns("__pycache__"))
    counts = sorted({int(x) for x in a.ranks.split(",")} | {int(x) for x in a.compare_local.split(",") if x})
    compare = {int(x) for x in a.compare_local.split(",") if x}
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; work dir {work}")
    header = ("| run | wall s | µs per event | client peak RSS MiB | largest worker MiB | largest other process MiB "
              "| processes |\n|---|---|---|---|---|---|---|")
    lines = [header]
    per_event: dict[int, float] = {}
    speedups: dict[int, str] = {}
    ours_8: list[float] = []
    for n in counts:
        folder = work / f"ranks{n}"
        t = time.perf_counter()
        recipe = build_rank_set(a.base, n, folder, per_rank=a.events_per_rank)
        events = recipe["events_per_rank"] * n
        print(f"\n{n} ranks × {recipe['events_per_rank']:,} events = {events:,} (built in {time.perf_counter() - t:.1f} s); "
              f"straggler rank {recipe['straggler']} (+{STRAGGLER_STRETCH:.0%}), jitter ≤ {JITTER:.0%}, seed {SEED}")
        if n in compare:  # the other way than the default for this many ranks
            other = None if n <= IN_PROCESS_MAX_RANKS else "in-process"
            r = ours(folder, a.repeats, other or "", work, second=False, force_cluster=other is None)
            lines.append(line(f"ours {n} ranks, first, {other or 'local cluster'}", r["rows"]["first"], events))
        h: list[dict] | str = []
        if n == 8 and not a.no_hta:  # alternated with HTA, a pair at a time: one machine state each
            r = {"rows": {"first": [], "second": []}, "doc": None}
            for _ in range(a.repeats):
                one = ours(folder, 1, None, work, second=True)
                r["doc"] = one["doc"]
                for k in ("first", "second"):
                    r["rows"][k] += one["rows"][k]
                got = hta(folder, 1)
                if isinstance(got, str):
                    h = got
                elif isinstance(h, list):
                    h += got
        else:
            r = ours(folder, a.repeats, None, work, second=True)
        sched = "in-process" if n <= IN_PROCESS_MAX_RANKS else "local cluster"
        lines.append(line(f"ours {n} ranks, first ({sched})", r["rows"]["first"], events))
        lines.append(line(f"ours {n} ranks, second (kept report)", r["rows"]["second"], events))
        ratios = [f["wall_s"] / s["wall_s"] for f, s in zip(r["rows"]["first"], r["rows"]["second"], strict=True)]
        speedups[n] = spread(ratios)
        print(f"  second report faster than the first (each pair): {speedups[n]}×")
        per_event[n] = statistics.median(x["wall_s"] for x in r["rows"]["first"]) / events * 1e6
        if n == 8:
            ours_8 = [x["wall_s"] for x in r["rows"]["first"]]
        cost = r["doc"]["variants"][0]["distributed"]["straggler_cost"]
        print(f"  straggler_cost: costliest rank {cost.get('costliest_rank')} (built: {recipe['straggler']}); "
              f"{cost['sentence']}")
        if n == 8 and not a.no_hta:
            lines.append(line("HTA 8 ranks (load + temporal, overlap, kernel breakdown)", h, events)
                         if isinstance(h, list) and h else f"| HTA 8 ranks | {h} | | | | | |")
            if isinstance(h, list) and h and ours_8:
                pairs = [x["wall_s"] / o for x, o in zip(h, ours_8, strict=False)]
                print(f"  HTA / ours (first report), 8 ranks, each alternated pair: {spread(pairs)}×")
        print("\n".join(lines))
        print(f"  load average now {os.getloadavg()[0]:.1f}")
    print("\n" + "\n".join(lines))
    if per_event:
        ref = 8 if 8 in per_event else min(per_event)
        print("\nfirst report, µs per event (median): " + ", ".join(
            f"{n} ranks {v:.2f} ({100 * (v / per_event[ref] - 1):+.0f}% vs {ref})" for n, v in sorted(per_event.items())))
    if speedups:
        print("second report faster than the first, per pair: " + ", ".join(f"{n} ranks {v}×" for n, v in sorted(speedups.items())))
    shutil.rmtree(work, ignore_errors=True) if a.work is None else None


if __name__ == "__main__":
    main()
