"""Compensated breakdown vs an independent replay of the same ops, for the torch LSTM variants.

For each variant of ``cudnn_lstm`` in torch, one ``profiler trace`` run (fresh workers) gives the
clean step median, the raw traced breakdown (``traced_breakdown_ms``) and the compensated one
(``breakdown_ms``). The **replay** is independent of the analysis: the outermost data-moving and computing ops recorded in the
traced steps (name + input shapes, as torch.profiler recorded them) are called again through
``torch.ops.aten`` on random float32 tensors of those shapes, in a fresh interpreter with the worker's
thread count, without any profiler. Each op's *work* is its bare time minus the same op's time on
one-element inputs (what dispatch costs it); the work of memory-kind ops (elementwise, copies,
norms, …) and of compute-kind ops (GEMM, RNN) per step, summed over the recorded calls, is the
replay's estimate of memory I/O and compute, as a band: from the fastest repetitions (load only ever
adds time) to the median ones plus the traced time of the ops that could not be replayed (their work
lies between nothing and all of it). Views,
allocations and autograd records are not replayed (they move no data); ops whose arguments cannot
be rebuilt from shapes alone (tensor lists: the fused RNN) are skipped and the replayed share of
the category's traced time is printed. A fill (``fill_``/``zero_``, how ``zeros`` initialises a new gradient
buffer) writes to a freshly allocated tensor each repetition, as it does in the step (first-touch
page faults included); every other op reuses its inputs.

    .venv/bin/python benchmarks/breakdown_compensation.py [--variants fused,unfused,unfused_layernorm] [--preset cpu]

Not a test: timings on a shared machine are noisy. The machine's load is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: the replay, run with ``python -c``: nothing from profiler is imported
REPLAY = r"""
import json, sys, time
import numpy as np, torch
sigs, threads, reps = json.loads(sys.stdin.read()), int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)

def build(shapes, one):
    args = []
    for s in shapes:
        if s:
            args.append(torch.rand([1] * len(s) if one else s) + 0.5)
        else:
            args.append(1)
    return args

def timed(fn, args, fresh):
    fn(*args)
    out = []
    for _ in range(reps):
        if fresh:  # a fill's target as the framework makes it: just allocated, pages untouched
            args = [torch.empty(args[0].shape)] + list(args[1:])
        t0 = time.perf_counter_ns(); fn(*args); out.append(time.perf_counter_ns() - t0)
    return np.array(out, float) / 1e3

res = []
for name, shapes in sigs:
    base = name.split("::", 1)[-1]
    full, one = build(shapes, False), build(shapes, True)
    why = "no such op"
    fn = getattr(torch.ops.aten, base, None)
    done = False
    # trailing scalars may be keyword-only (add's alpha) or have defaults: drop them one by one
    while fn is not None and not done:
        try:
            with torch.no_grad():
                fresh = base in ("fill_", "zero_")
                t_full, t_one = timed(fn, full, fresh), timed(fn, one, fresh)
            done = True
        except Exception as e:
            why = type(e).__name__
            if not full or not isinstance(full[-1], int):
                break
            full, one = full[:-1], one[:-1]
    if not done:
        res.append({"ok": False, "why": why})
        continue
    floor = float(t_one.min())
    res.append({"ok": True, "min": float(t_full.min()) - floor, "p50": float(np.median(t_full)) - floor})
print(json.dumps(res))
"""


def work_kind(name: str) -> bool:
    from profiler.core.opkinds import COMPUTE, MEMORY, op_kind

    return op_kind(name)[1] in (MEMORY, COMPUTE)


def work_signatures(
    run_dir: Path, key: str
) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float], float]:
    """``({(name, shapes): calls per traced step}, {…: traced ms per step}, steps)`` of one worker: the
    outermost memory- and compute-kind ops (inside autograd records and views, not inside each other)."""
    import numpy as np

    from profiler.core.events import OP, STEP, EventTable

    t = EventTable.load(run_dir / "workers" / key / "events.npz")
    sp, names = t.spans, t.strings.strings
    steps = [r for r in np.flatnonzero(t.cat_mask(STEP)) if t.span_args.get(int(r), {}).get("traced")]
    calls: Counter = Counter()
    in_situ: Counter = Counter()
    for w in steps:
        s0, e0 = sp["start_ns"][w], sp["start_ns"][w] + sp["dur_ns"][w]
        rows = np.flatnonzero(t.cat_mask(OP) & (sp["start_ns"] >= s0) & (sp["start_ns"] < e0))
        # only ops that move data or compute; views, allocations and autograd records around them
        # do not count
        rows = rows[[work_kind(names[i]) for i in sp["name"][rows].tolist()]]
        for tid in np.unique(sp["tid"][rows]).tolist():
            r = rows[sp["tid"][rows] == tid]
            r = r[np.lexsort((-sp["dur_ns"][r], sp["start_ns"][r]))]
            st, en = sp["start_ns"][r], sp["start_ns"][r] + sp["dur_ns"][r]
            # outermost: not inside an earlier work op of the thread (aten::linear, not the addmm
            # and bias copy inside it: replaying linear replays them)
            run_end = np.maximum.accumulate(np.r_[np.iinfo(np.int64).min, en[:-1]])
            for i in np.flatnonzero(st >= run_end).tolist():
                name = names[sp["name"][r[i]]]
                sid = int(sp["shapes"][r[i]])
                shapes = names[sid] if sid >= 0 else ""
                if not shapes.startswith("["):
                    continue
                calls[(name, shapes)] += 1
                in_situ[(name, shapes)] += float(sp["dur_ns"][r[i]]) / 1e6
    n = max(1, len(steps))
    return {k: v / n for k, v in calls.items()}, {k: v / n for k, v in in_situ.items()}, float(len(steps))


def replay(
    sigs: dict[tuple[str, str], float], in_situ: dict[tuple[str, str], float], threads: int, reps: int
) -> dict[str, dict[str, float]]:
    """Per category, the replayed work per step: ``low`` (fastest repetitions) and ``high`` (median
    repetitions plus the traced time of the ops that could not be replayed: their work lies between
    nothing and all of it), and the share of the category's traced op time that was replayed."""
    from profiler.core.opkinds import COMPUTE, MEMORY, op_kind

    todo = [(k, v) for k, v in sigs.items() if op_kind(k[0])[1] in (MEMORY, COMPUTE)]
    payload = json.dumps([[k[0], json.loads(k[1])] for k, _ in todo])
    r = subprocess.run([sys.executable, "-c", REPLAY, str(threads), str(reps)], input=payload,
                       capture_output=True, text=True, check=True, timeout=900)
    out = {c: {"low": 0.0, "high": 0.0, "replayed_ms": 0.0, "skipped_ms": 0.0} for c in (MEMORY, COMPUTE)}
    for (k, per_step), res in zip(todo, json.loads(r.stdout), strict=True):
        o = out[op_kind(k[0])[1]]
        if not res["ok"]:
            o["skipped_ms"] += in_situ[k]
            o["high"] += in_situ[k]
            continue
        o["replayed_ms"] += in_situ[k]
        o["low"] += max(0.0, res["min"]) * per_step / 1e3  # ms per step
        o["high"] += max(0.0, res["p50"]) * per_step / 1e3
    for o in out.values():
        total = o["replayed_ms"] + o["skipped_ms"]
        o["cover"] = o["replayed_ms"] / total if total else 1.0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="fused,unfused,unfused_layernorm")
    ap.add_argument("--preset", default=None)
    ap.add_argument("--reps", type=int, default=30)
    a = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bd-comp-"))
    cmd = [sys.executable, "-m", "profiler", "trace", "-s", "cudnn_lstm", "-f", "torch", "-v", a.variants,
           "--repeat", "1", "--out", str(out), "--json"] + (["-p", a.preset] if a.preset else [])
    load0 = os.getloadavg()[0]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        sys.exit(f"profiler trace failed ({r.returncode}): {r.stderr.strip().splitlines()[-1:]}")
    doc = json.loads(r.stdout)
    run_dir = Path(doc["run_dir"])
    print(f"cudnn_lstm torch, run {run_dir}, load {load0:.2f} → {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    hdr = (f"{'variant':<18} {'clean':>7} {'traced':>7} | {'raw mem':>8} {'raw comp':>8} {'raw ovh':>8} | "
           f"{'mem':>7} {'comp':>7} {'ovh':>7} {'resid':>6} | {'replay mem (cover)':>20} {'replay comp (cover)':>20}")
    print(hdr)
    print("-" * len(hdr))
    saved = {e["variant"]: e for e in json.loads((run_dir / "run.json").read_text())["variants"]}
    for v in doc["variants"]:
        if v["status"] != "ok":
            print(f"{v['variant']:<18} {v['status']}")
            continue
        key = f"torch-{v['variant']}-{v['mode']}"
        sigs, in_situ, _ = work_signatures(run_dir, key)
        entry = saved.get(v["variant"]) or {}
        threads = int((entry.get("info") or {}).get("torch_threads") or os.cpu_count() or 1)
        rp = replay(sigs, in_situ, threads, a.reps)
        raw, bd = v["traced_breakdown_ms"] or {}, v["breakdown_ms"] or {}
        res = ((entry.get("breakdown") or {}).get("compensation") or {}).get("residual_pct")
        m, c = rp["memory_io"], rp["compute"]
        print(f"{v['variant']:<18} {v['step_ms']['median']:7.2f} {(v['traced_step_ms'] or {}).get('median', 0):7.2f} | "
              f"{raw.get('memory_io') or 0:8.2f} {raw.get('compute') or 0:8.2f} {raw.get('framework_overhead') or 0:8.2f} | "
              f"{bd.get('memory_io') or 0:7.2f} {bd.get('compute') or 0:7.2f} {bd.get('framework_overhead') or 0:7.2f} "
              f"{res if res is not None else float('nan'):+6.1f} | "
              f"{m['low']:6.2f}–{m['high']:<6.2f} ({100 * m['cover']:3.0f}%) {c['low']:6.2f}–{c['high']:<6.2f} ({100 * c['cover']:3.0f}%)"
              + ("  mem in band" if m["low"] <= (bd.get("memory_io") or 0) <= m["high"] else "  mem OUTSIDE band"))
    print("ms per step; clean = median of untraced steps; raw = traced steps as recorded; mem/comp/ovh = "
          "compensated (sums to clean); resid = compensation residual %; replay band = bare work of the "
          "same ops (time on recorded shapes − fastest time on one-element inputs), from the fastest "
          "repetitions to the median ones plus the traced time of ops that could not be replayed; "
          "cover = share of the category's traced op time replayed")


if __name__ == "__main__":
    main()
