"""Builds every_section.json: a run record holding every registered section, from real imports.

Variant 0 is the 2-rank gloo trace (tests/data/kineto/ddp2: ranks, ops, roofline); its GPU figures,
launches and probe figures are those of the hand-built GPU trace (tests/data/kineto/gpu_handbuilt.json);
variant 1 is the small CPU trace. Comparisons come from analysis.variant.comparisons; the step usage,
trace budget and world sizes are small tables in the shape the analyses write. Rerun after a section
changes shape:  .venv/bin/python tests/data/records/make_every_section.py
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
KINETO = HERE.parent / "kineto"


def imported(path: Path, out: str) -> dict:
    subprocess.run([sys.executable, "-m", "profiler.cli.main", "report", str(path), "--out", out, "-q"],
                   check=True, capture_output=True)
    (run,) = sorted(Path(out).glob(f"*{path.name.split('.')[0]}*/run.json"))
    return json.loads(run.read_text())


def main() -> None:
    from profiler.analysis.variant import comparisons

    with tempfile.TemporaryDirectory() as out:
        ddp = imported(KINETO / "ddp2", out)
        gpu = imported(KINETO / "gpu_handbuilt.json", out)
        cpu = imported(KINETO / "torch_cpu_small.json", out)
    rec = ddp
    v0, g = rec["variants"][0], gpu["variants"][0]
    for k in ("gpu", "launches", "probe_summary"):
        v0[k] = g.get(k)
    v0["probe_summary"] = {"process": {"peak_rss_mib": 612.5, "mean_cpu_pct": 187.0}}
    v0["step_usage"] = {"clean": {"minflt": 1520.0, "majflt": 0.0, "nvcsw": 3.0, "nivcsw": 12.0, "utime_us": 61000.0,
                                  "stime_us": 4100.0},
                        "traced": {"minflt": 9718.0, "majflt": 0.0, "nvcsw": 5.0, "nivcsw": 30.0, "utime_us": 70000.0,
                                   "stime_us": 22600.0}, "n_clean": 5, "n_traced": 3}
    v0["warnings"] = ["torch/ddp2: a warning the analysis wrote"]
    v0.setdefault("info", {})["trace_window"] = {
        "requested": 3, "steps": 6, "period": 2, "modes": None, "settle": 2, "covered": True, "bound": None,
        "why": "the clean steps repeat every 2 steps: 3 whole cycles traced", "planned": 6, "cap": 40}
    v1 = cpu["variants"][0]
    v1["variant"] = "cpu_small"
    rec["variants"] = [v0, v1]
    rec["comparisons"] = comparisons(rec["variants"])
    rec["trace_budget"] = {"budget_mb": 2.0, "dropped_spans": 1200, "dropped_up_to_us": 4.0, "dropped_time_ms": 3.5, "kept_share_pct": 80.0, "min_ops_per_step": 50, "steps_with_ops": 3,
                           "steps": 3, "per_step": [{"dropped": 390}, {"dropped": 410}, {"dropped": 400}],
                           "dropped": {"op": {"count": 1200, "time_ms": 3.5, "longest_us": 4.0}}}
    rec["world_sizes"] = [
        {"framework": "torch", "variant": "ddp2", "mode": "train", "world_size": 1, "step_ms": 40.0, "items_per_s": 1600.0,
         "speedup": 1.0, "efficiency": 1.0, "time_ratio": 1.0},
        {"framework": "torch", "variant": "ddp2", "mode": "train", "world_size": 2, "step_ms": 75.25, "items_per_s": 1701.0,
         "speedup": 1.06, "efficiency": 0.53, "time_ratio": 0.94},
    ]
    rec["failure"] = {"reason": "cannot write /runs/x/run.json: No space left on device", "errno": "ENOSPC",
                      "path": "/runs/x/run.json"}
    for k in ("id", "created"):
        rec[k] = "fixture"
    (HERE / "every_section.json").write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
