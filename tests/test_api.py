"""The Python API (docs/api.md): the documented example runs, its run directory is one
``profiler report`` re-renders with the same steps, and misuse is a ProfilerError, never a corrupted run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT, needs_torch

import profiler
from profiler.core.errors import InputError, ProfilerError


def _doc_example() -> str:
    text = (ROOT / "docs" / "api.md").read_text()
    return re.search(r"```python\n(.*?)```", text, re.S).group(1)


@pytest.mark.slow
@needs_torch
def test_the_documented_example_runs_and_report_rerenders_it(cli, tmp_path):
    (tmp_path / "example.py").write_text(_doc_example())
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300, env=env, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    m = re.search(r"^(\d+) steps, run in (\S+)$", r.stdout, re.M)
    loop_steps, run_dir = int(m.group(1)), tmp_path / m.group(2)
    assert loop_steps == 20  # counted by the example itself
    assert "status: ok" in r.stdout  # prof.report() printed the report

    rec = json.loads((run_dir / "run.json").read_text())
    (v,) = rec["variants"]
    assert rec["status"] == "ok" and v["status"] == "ok"
    assert v["info"]["steps_detected"] == loop_steps and v["info"]["step_source"] == "profile.step"
    counts = v["info"]["steps"]
    assert sum(counts.values()) == loop_steps
    stat = v["step_ms"]["statistic"]  # "mean" where the steps follow a pattern of modes
    assert f"{stat} of" in r.stdout
    if (v["info"].get("trace_window") or {}).get("period") is None and stat == "median":
        # 2 warm-up, 10 clean, 1 + 3 under the tracer, 4 clean again
        assert counts == {"skipped": 0, "warmup": 2, "clean": 14, "traced_warmup": 1, "traced": 3,
                          "after_trace": 0}
    else:  # a pattern of the steps (on a loaded machine): the traced window grew to whole cycles
        assert counts["warmup"] == 2 and counts["traced"] >= 1 and counts["clean"] >= 10, counts
    clean, traced = counts["clean"], counts["traced"]
    assert v["step_ms"]["n_steps"] == clean and v["traced_step_ms"]["n_steps"] == traced
    assert rec["settings"]["steps"] == clean and rec["settings"]["trace_steps"] == traced  # the header agrees
    assert v["breakdown_ms"]["data_loading"] > 0 and v["top_ops"]  # torch.profiler's window was analysed
    assert v["probes"]["torch"]["ran"] and v["probes"]["process"]["ran"]
    for f in ("trace.json.gz", "report.html"):
        assert (run_dir / f).exists(), f

    again = cli("report", str(run_dir), "--json", timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    doc = json.loads(again.stdout)
    (dv,) = doc["variants"]
    assert dv["step_ms"]["n_steps"] == clean and dv["traced_step_ms"]["n_steps"] == traced
    assert dv["breakdown_ms"] == v["breakdown_ms"]
    text = cli("report", str(run_dir), timeout=120)
    assert f"{clean} clean" in text.stdout and f"{stat} of {clean} clean steps" in text.stdout
    events = cli("report", str(run_dir), "--reanalyse", "--json", timeout=120)
    assert json.loads(events.stdout)["variants"][0]["step_ms"]["n_steps"] == clean  # from the saved events


@pytest.mark.slow
def test_nested_profile_and_calls_outside_are_errors(tmp_path):
    with pytest.raises(ProfilerError, match="outside an active"):
        profiler.step()
    with pytest.raises(ProfilerError, match="outside an active"), profiler.mark("x"):
        pass
    with profiler.profile(out=tmp_path, probes=["process"]) as prof:
        with pytest.raises(ProfilerError, match="already active"), profiler.profile(out=tmp_path, probes=[]):
            pass
        for _ in range(3):
            with profiler.mark("work"):
                time.sleep(0.002)
            prof.step()
    with pytest.raises(ProfilerError, match="has ended"):
        prof.step()
    with pytest.raises(ProfilerError, match="already used"):
        prof.start()
    (run,) = tmp_path.iterdir()  # the nested attempt created nothing
    assert run == prof.run_dir
    rec = json.loads((run / "run.json").read_text())
    assert rec["status"] == "ok" and rec["variants"][0]["info"]["steps_detected"] == 3
    from profiler.core.events import REGION, EventTable

    ev = EventTable.load(run / rec["variants"][0]["events"])
    names = ev.span_names(np.flatnonzero(ev.cat_mask(REGION)))
    assert names.count("work") == 3


@pytest.mark.slow
def test_bad_arguments_are_input_errors_before_anything_starts(tmp_path):
    with pytest.raises(InputError, match="--steps must be a positive integer"):
        profiler.profile(out=tmp_path, steps=0)
    with pytest.raises(InputError, match="unknown probe"):
        profiler.profile(out=tmp_path, probes=["no-such-probe"]).start()
    assert list(tmp_path.iterdir()) == []
    assert profiler.api.active() is None  # a failed start leaves nothing active


@pytest.mark.slow
def test_an_exception_in_the_block_keeps_its_steps_and_goes_on(tmp_path):
    with pytest.raises(ValueError, match="boom"), profiler.profile(out=tmp_path, probes=[], warmup=0) as prof:
        for _ in range(4):
            time.sleep(0.002)
            prof.step()
        raise ValueError("boom")
    rec = prof.record
    (v,) = rec.variants
    assert v.status == "failed" and "ValueError: boom" in v.error
    assert v.step_ms.n_steps == 4  # the completed steps; the one the exception cut short is none
    assert json.loads((prof.run_dir / "run.json").read_text())["variants"][0]["status"] == "failed"


@pytest.mark.slow
def test_decorator_profiles_each_call_as_a_run(tmp_path):
    @profiler.profile(out=tmp_path, probes=[], warmup=1)
    def work(k: int) -> int:
        for _ in range(k):
            time.sleep(0.002)
            profiler.step()
        return k

    assert work(5) == 5
    first = work.profile
    assert first.record.variants[0].info["steps_detected"] == 5
    assert work(2) == 2 and work.profile is not first
    assert len(list(tmp_path.iterdir())) == 2

    @profiler.profile
    def whole() -> str:
        time.sleep(0.01)
        return "done"

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert whole() == "done"
    finally:
        os.chdir(cwd)
    v = whole.profile.record.variants[0]
    assert "no steps detected" in v.info["note"] and v.step_ms.n_steps == 1 and v.step_ms.median >= 10


@pytest.mark.slow
def test_import_profiler_stays_cheap():
    code = "import sys, profiler; assert 'profiler.api' not in sys.modules; " \
           "profiler.profile; assert 'torch' not in sys.modules and 'profiler.api' in sys.modules"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr
