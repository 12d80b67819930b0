"""Steps and windows of ``profiler trace -- CMD``: ``--skip-steps``, ``--step-marker`` (a function or a
record_function label), and a header whose step counts are the panel's."""

from __future__ import annotations

import json
import re
import sys

import pytest
from conftest import needs_torch

from profiler.inject.recorder import FunctionMarker, StepRecorder


def _recorder(tmp_path, **spec) -> StepRecorder:
    return StepRecorder({"warmup": 1, "steps": 2, "trace_steps": 2, "probes": [], **spec}, tmp_path)


def _result(tmp_path) -> dict:
    return json.loads((tmp_path / "result.json").read_text())


def test_skip_steps_come_before_the_warmup(tmp_path):
    r = _recorder(tmp_path, skip_steps=2)
    for k in range(7):
        r.boundary("optimizer.step", 100 * k)
    r.finish()
    res = _result(tmp_path)
    assert res["info"]["steps"] == {"skipped": 2, "warmup": 1, "clean": 3, "traced_warmup": 0, "traced": 0,
                                    "after_trace": 0}
    assert len(res["skipped_ns"]) == 2 and len(res["warmup_ns"]) == 1 and len(res["step_ns"]) == 3


def test_marker_spans_are_steps_and_the_time_between_them_is_none(tmp_path):
    r = _recorder(tmp_path, warmup=0, step_marker="train_step")
    r.boundary("optimizer.step", 5)  # not the marker: counted as seen, never a step
    for k in range(3):
        r.begin(1000 * k)
        r.begin(1000 * k + 10)  # nested: part of the same step
        r.end(1000 * k + 20)
        r.end(1000 * k + 300)
    r.finish()
    res = _result(tmp_path)
    assert res["step_ns"] == [300, 300, 300]  # each call, start to end; the 700 ns between calls: no step
    assert res["info"]["steps_detected"] == 3 and res["info"]["step_source"] == "marker"
    assert res["info"]["boundaries_seen"]["optimizer.step"] == 1


def test_a_marker_that_never_runs_is_said(tmp_path):
    r = _recorder(tmp_path, step_marker="nope")
    r.boundary("dataloader", 10)
    r.boundary("dataloader", 20)
    r.finish()
    res = _result(tmp_path)
    assert "step marker 'nope' never ran" in res["info"]["note"] and len(res["step_ns"]) == 1


def test_function_marker_times_each_call_and_leaves_no_hook(tmp_path):
    r = _recorder(tmp_path, warmup=0, steps=10, step_marker="train_step")
    marker = FunctionMarker(r, "train_step")
    prev = sys.getprofile()
    sys.setprofile(None)
    calls = []
    ns = {"calls": calls}
    exec("def train_step(i):\n    calls.append(i)\n    return i\n", ns)
    try:
        marker.install()
        exec("out = [train_step(i) for i in range(5)]", ns)
    finally:
        sys.setprofile(prev)
    assert ns["out"] == [0, 1, 2, 3, 4] and calls == [0, 1, 2, 3, 4]  # the program's own results
    assert marker.mode == "wrapped" and ns["train_step"].__wrapped__
    r.finish()
    res = _result(tmp_path)
    assert res["info"]["steps_detected"] == len(calls) and res["info"]["step_marker_hook"] == "wrapped"


TRAIN = """
import torch
from torch.utils.data import DataLoader, TensorDataset
ds = TensorDataset(torch.randn(9 * 8, 16), torch.randint(0, 3, (9 * 8,)))
model = torch.nn.Linear(16, 3)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
n = 0

def train_step(x, y):
    with torch.profiler.record_function("my_step"):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()

for x, y in DataLoader(ds, batch_size=8):
    train_step(x, y)
    n += 1
    if n % 3 == 0:
        opt.step()  # an extra optimizer step: optimizer steps would count 12, not 9
print("steps", n)
"""


def _trace(cli, tmp_path, *opts):
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    return cli("trace", "--probes", "process", "--warmup", "1", "--steps", "3", "--out", str(tmp_path / "runs"),
               *opts, "--", "python", str(script), timeout=300)


@pytest.mark.slow
@needs_torch
def test_step_marker_function_and_label_and_skip_steps(cli, tmp_path):
    for marker in ("train_step", "my_step"):
        r = _trace(cli, tmp_path, "--json", "--step-marker", marker, "--skip-steps", "2")
        assert r.returncode == 0, r.stderr[-2000:]
        n = int(re.search(r"^steps (\d+)$", r.stderr, re.M).group(1))  # the program's own count
        doc = json.loads(r.stdout)
        run = json.loads(open(doc["run_dir"] + "/run.json").read())
        (v,) = run["variants"]
        assert v["info"]["steps_detected"] == n == 9, marker
        assert v["info"]["steps"]["skipped"] == 2 and v["info"]["steps"]["warmup"] == 1
        assert doc["variants"][0]["step_ms"]["n_steps"] == n - 3 == doc["settings"]["steps"]
        assert doc["settings"]["requested"]["steps"] == 3


@pytest.mark.slow
@needs_torch
def test_header_and_panel_agree_on_the_step_count(cli, tmp_path):
    r = _trace(cli, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    # optimizer steps: 12 (9 batches + 3 extra); 1 warm-up, the other 11 clean (no tracer)
    # (the headline is the mean where the steps follow a pattern: here every third optimizer step is
    # the extra one, microseconds long; the median otherwise)
    assert "11 clean" in r.stdout and re.search(r"(median|mean) of 11 clean steps", r.stdout)


@pytest.mark.slow
def test_step_options_need_a_command(cli, tmp_path):
    r = cli("trace", "--scenario", "mlp", "--skip-steps", "2", "--out", str(tmp_path), timeout=60)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "apply to a command" in r.stderr
    r = cli("trace", "--skip-steps", "-1", "--out", str(tmp_path), "--", "python", "-c", "pass", timeout=60)
    assert r.returncode == 2 and r.stderr.strip() == "profiler: error: --skip-steps must be 0 or more, got -1"


def test_steps_of_a_command_carry_the_page_faults_they_took(tmp_path):
    import mmap

    from profiler.analysis.breakdown import step_windows

    r = _recorder(tmp_path, warmup=0)
    r.boundary("optimizer.step")
    r.boundary("optimizer.step")  # step 0: nothing touched
    m = mmap.mmap(-1, 4 << 20)  # step 1 first-touches 1024 fresh pages
    for off in range(0, len(m), mmap.PAGESIZE):
        m[off] = 1
    r.boundary("optimizer.step")
    m.close()
    table, _ = r.snapshot(final=True)
    r.finish()
    steps = step_windows(table)
    assert len(steps) == 2 and all(w.usage is not None for w in steps), steps
    assert steps[1].usage["minflt"] >= 1000 and steps[1].usage["minflt"] > steps[0].usage["minflt"] + 900, steps
