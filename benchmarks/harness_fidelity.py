"""Harness fidelity: does ``profiler`` (probes off) time a workload as a bare loop would?

For one torch scenario, alternates two measurements, each in a fresh process with the same thread
environment:

* **profiler** — the scenario through :func:`profiler.run.execute.plan` / ``execute`` with no probes
  and no traced steps: worker harness, ``ctx.region`` around each batch fetch, per-step ``sync``,
  span recording and the progress pipe all included; the figure is the worker's clean-step median.
* **bare** — the same model, built the same way from torchvision / ``torch.nn``, the same input shape
  and the same step (inference under ``inference_mode``, or SGD training), timed with
  ``perf_counter_ns`` in a plain loop with nothing else around it.

Prints each round's medians, the median over rounds, the spread, and the difference (target ≤ 3 %).
Not a test: timings on a shared machine are noisy, so read the spread before the difference.

    .venv/bin/python benchmarks/harness_fidelity.py --scenario resnet50_infer --rounds 5 --steps 10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: The bare loop, run with ``python -c``: model building mirrors scenarios/*/torch_impl.py, nothing
#: from profiler or scenarios is imported.
BARE = r"""
import json, statistics, sys, time
import torch, torchvision
from torch import nn
scenario, mode, p, warmup, steps = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.manual_seed(0)
if scenario == "resnet50_infer":
    model = torchvision.models.resnet50(weights=None); model.fc = nn.Identity(); classes = 1000
    shape = (3, p["image_size"], p["image_size"])
elif scenario == "densenet121_train":
    classes = p.get("classes", 1000)
    model = torchvision.models.densenet121(weights=None, num_classes=classes)
    shape = (3, p["image_size"], p["image_size"])
else:
    layers = p["layers"]; mods = []
    for i, (a, b) in enumerate(zip(layers, layers[1:])):
        mods += [nn.Linear(a, b), nn.Sigmoid() if i < len(layers) - 2 else nn.Softmax(dim=1)]
    model = nn.Sequential(*mods); classes = layers[-1]; shape = (layers[0],)
train = mode == "train"
model.train(train)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) if train else None
loss = nn.CrossEntropyLoss()
g = torch.Generator().manual_seed(0)
pool = [(torch.rand((p["batch"], *shape), generator=g), torch.randint(0, classes, (p["batch"],), generator=g))
        for _ in range(2)]
def step(i):
    x, y = pool[i % 2]
    if train:
        opt.zero_grad(set_to_none=True); loss(model(x), y).backward(); opt.step()
    else:
        with torch.inference_mode():
            model(x)
for i in range(warmup):
    step(i)
ts = []
for i in range(steps):
    t0 = time.perf_counter_ns(); step(i); ts.append(time.perf_counter_ns() - t0)
print(json.dumps({"median_ms": statistics.median(ts) / 1e6, "min_ms": min(ts) / 1e6}))
"""


def profiler_round(
    scenario: str, preset: str, warmup: int, steps: int, threads: int, out: Path
) -> tuple[float, float]:
    from profiler.core.registry import resolve
    from profiler.run.execute import execute
    from profiler.run.plan import TraceRequest, plan

    req = TraceRequest(
        scenario=resolve(scenario),
        frameworks=["torch"],
        preset=preset,
        device="cpu",
        steps=steps,
        warmup=warmup,
        trace_steps=0,
        threads=threads,
        probes=[],  # probes off
        out=out,
    )
    rec, _ = execute(plan(req))
    record = rec.to_dict()
    v = record["variants"][0]
    if v["status"] != "ok":
        raise SystemExit(f"profiler run failed: {v.get('error')}")
    return float(v["step_ms"]["median"]), float(v["step_ms"]["min"])


def bare_round(
    scenario: str, mode: str, params: dict, warmup: int, steps: int, threads: int
) -> tuple[float, float]:
    from profiler.run.process import thread_env

    env = {**os.environ, **thread_env(threads)}
    out = subprocess.run(
        [sys.executable, "-c", BARE, scenario, mode, json.dumps(params), str(warmup), str(steps)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=1800,
    )
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    return float(doc["median_ms"]), float(doc["min_ms"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--scenario", default="resnet50_infer", choices=("resnet50_infer", "densenet121_train", "fcn5_infer")
    )
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--rounds", type=int, default=5, help="A/B rounds, alternating which goes first")
    ap.add_argument("--steps", type=int, default=10, help="measured steps per round")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="same thread count on both sides")
    a = ap.parse_args()

    from profiler.core.registry import resolve

    sc = resolve(a.scenario)
    params = {k: v for k, v in sc.presets[a.preset].items() if k not in ("warmup", "steps", "trace_steps")}
    print(
        f"harness fidelity · torch · {a.scenario} · preset {a.preset} · {a.threads} thread(s) · "
        f"{a.rounds} rounds × {a.steps} steps (warm-up {a.warmup})"
    )
    prof, bare, prof_min, bare_min = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="fidelity-") as tmp:
        for r in range(a.rounds):
            order = ("profiler", "bare") if r % 2 == 0 else ("bare", "profiler")
            got = {}
            for side in order:
                if side == "profiler":
                    got[side] = profiler_round(a.scenario, a.preset, a.warmup, a.steps, a.threads, Path(tmp))
                else:
                    got[side] = bare_round(a.scenario, sc.default_mode, params, a.warmup, a.steps, a.threads)
            (pm, pn), (bm, bn) = got["profiler"], got["bare"]
            prof.append(pm)
            bare.append(bm)
            prof_min.append(pn)
            bare_min.append(bn)
            print(
                f"  round {r + 1} ({order[0]} first): median profiler {pm:9.2f}  bare {bm:9.2f} ms/step "
                f"{100 * (pm / bm - 1):+6.1f}%   min profiler {pn:9.2f}  bare {bn:9.2f} {100 * (pn / bn - 1):+6.1f}%"
            )

    def spread(xs: list[float]) -> float:
        return 100.0 * (max(xs) - min(xs)) / statistics.median(xs)

    mp, mb = statistics.median(prof), statistics.median(bare)
    diffs = [100 * (p / b - 1) for p, b in zip(prof, bare, strict=True)]
    print(f"median over rounds: profiler {mp:.2f} ms/step (spread {spread(prof):.1f}%), "
          f"bare {mb:.2f} ms/step (spread {spread(bare):.1f}%)")  # fmt: skip
    print(
        f"difference: {100 * (mp / mb - 1):+.2f}% (per-round median {statistics.median(diffs):+.2f}%, "
        f"range {min(diffs):+.1f}% … {max(diffs):+.1f}%); target ≤ 3%"
    )
    # The fastest step is the least disturbed by other load on the machine: a second opinion.
    print(
        f"fastest step over all rounds: profiler {min(prof_min):.2f}, bare {min(bare_min):.2f} ms/step, "
        f"difference {100 * (min(prof_min) / min(bare_min) - 1):+.2f}%"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
