"""Profiling any command: resolving the command, step detection and the traced window (pure, with a
stand-in clock), and a real tiny training script run through ``profiler trace -- python ...``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import needs_torch

from profiler.core.errors import InputError
from profiler.core.events import DATA_LOADING, STEP, WARMUP, EventTable
from profiler.core.protocol import command_env
from profiler.inject.recorder import CommandRecorder
from profiler.run.command import resolve_command


def test_resolve_command():
    assert resolve_command(["python", "x.py"]) == [sys.executable, "x.py"]
    assert resolve_command(["sh", "-c", "true"])[0].endswith("/sh")
    with pytest.raises(InputError, match="command not found: no-such-program-xyz"):
        resolve_command(["no-such-program-xyz"])
    with pytest.raises(InputError, match="not executable"):
        resolve_command(["/no/such/file"])


def test_command_env_injects_the_shim_and_can_be_switched_off(tmp_path):
    env = command_env(tmp_path / "spec.json")
    assert env["PYTHONPATH"].split(":")[0].endswith("profiler/inject")
    assert env["PROFILER_COMMAND_SPEC"].endswith("spec.json")
    assert command_env(tmp_path / "spec.json", inject=False) == {}


def _recorder(tmp_path, **spec) -> CommandRecorder:
    return CommandRecorder({"warmup": 1, "steps": 2, "trace_steps": 2, "probes": [], **spec}, tmp_path)


def test_steps_from_optimizer_boundaries_replace_dataloader_ones(tmp_path):
    r = _recorder(tmp_path)
    t = 1_000
    r.data_wait(t, t + 50, exhausted=False)  # batch 0 fetched: the start of step 0
    for k in range(1, 6):
        r.data_wait(t + 100 * k - 40, t + 100 * k - 30, exhausted=False)  # ignored as a boundary later
        r.boundary("optimizer.step", t + 100 * k)
    r.finish()
    assert r.source == "optimizer.step"
    res = json.loads((tmp_path / "result.json").read_text())
    assert len(res["warmup_ns"]) == 1 and len(res["step_ns"]) == 4 and res["step_ns"][0] == 100
    assert res["info"]["step_source"] == "optimizer.step"
    ev = EventTable.load(tmp_path / "events.parquet")
    assert ev.cat_mask(STEP).sum() == 4 and ev.cat_mask(WARMUP).sum() == 1
    assert ev.cat_mask(DATA_LOADING).sum() == 6


def test_torch_profiler_step_markers_take_precedence(tmp_path):
    r = _recorder(tmp_path, warmup=0)
    r.boundary("optimizer.step", 0)
    r.boundary("torch.profiler.step", 10)
    r.boundary("optimizer.step", 50)  # ignored from now on
    r.boundary("torch.profiler.step", 110)
    r.boundary("torch.profiler.step", 200)
    r.finish()
    res = json.loads((tmp_path / "result.json").read_text())
    assert res["info"]["step_source"] == "torch.profiler.step"
    assert res["step_ns"] == [10, 100, 90]  # step 0 starts at the first boundary seen
    assert res["info"]["boundaries_seen"] == {"optimizer.step": 2, "torch.profiler.step": 3}


def test_dataloader_batches_are_steps_without_an_optimizer(tmp_path):
    r = _recorder(tmp_path, warmup=0)
    for k in range(4):
        r.data_wait(100 * k, 100 * k + 10, exhausted=False)
    r.data_wait(400, 401, exhausted=True)  # StopIteration ends the last step
    r.finish()
    res = json.loads((tmp_path / "result.json").read_text())
    assert res["info"]["step_source"] == "dataloader" and res["step_ns"] == [100, 100, 100, 100]


def test_traced_window_marks_steps_and_first_traced_is_warmup(tmp_path):
    r = _recorder(tmp_path)
    r.probe_names = ["fake"]  # window bookkeeping only; starting an unknown probe records an error
    for k in range(9):
        r.boundary("optimizer.step", 1000 * k)
    r.finish()
    res = json.loads((tmp_path / "result.json").read_text())
    # 8 steps: 1 warm-up, 2 clean, 1 warm-up under the tracer, 2 traced, then clean again
    assert len(res["warmup_ns"]) == 2 and len(res["traced_step_ns"]) == 2 and len(res["step_ns"]) == 4
    assert res["info"]["steps"] == {"skipped": 0, "warmup": 1, "clean": 4, "traced_warmup": 1, "traced": 2,
                                    "after_trace": 0}
    assert res["info"]["steps_detected"] == 8
    assert "error" in res["probes"]["fake"]


def test_no_steps_detected_is_said(tmp_path):
    r = _recorder(tmp_path)
    r.finish()
    res = json.loads((tmp_path / "result.json").read_text())
    assert "no steps detected" in res["info"]["note"] and "whole run" in res["info"]["note"]
    assert len(res["step_ns"]) == 1 and res["step_ns"][0] > 0
    ev = EventTable.load(tmp_path / "events.parquet")
    assert ev.cat_mask(STEP).sum() == 1


TRAIN = """
import torch
from torch.utils.data import DataLoader, TensorDataset
ds = TensorDataset(torch.randn(12 * 8, 16), torch.randint(0, 3, (12 * 8,)))
model = torch.nn.Linear(16, 3)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in DataLoader(ds, batch_size=8):
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
print("trained")
"""


@pytest.mark.slow
@needs_torch
def test_trace_a_training_script(cli, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    r = cli(
        "trace",
        "--probes",
        "torch,process",
        "--steps",
        "4",
        "--warmup",
        "1",
        "--trace-steps",
        "2",
        "--out",
        str(tmp_path / "runs"),
        "--json",
        "--",
        "python",
        str(script),
        cwd=tmp_path,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    (v,) = doc["variants"]
    assert v["status"] == "ok" and v["step_ms"]["median"] > 0 and v["traced_step_ms"]["median"] > 0
    assert v["breakdown_ms"]["data_loading"] > 0  # the DataLoader wait is data loading
    rec = json.loads((Path(doc["run_dir"]) / "run.json").read_text())
    (entry,) = rec["variants"]
    assert entry["info"]["step_source"] == "optimizer.step"
    assert entry["probes"]["torch"]["ran"] and entry["probes"]["process"]["ran"]
    out_log = Path(doc["run_dir"]) / entry["worker_dir"] / "stdout.log"
    assert "trained" in out_log.read_text()


@pytest.mark.slow
def test_missing_command_is_one_line_exit_127(cli, tmp_path):
    r = cli("trace", "--out", str(tmp_path), "--", "no-such-program-xyz", "--flag", timeout=60)
    assert r.returncode == 127  # as a shell says "command not found" (docs/cli.md: exit codes)
    assert r.stderr.strip().splitlines() == ["profiler: error: command not found: no-such-program-xyz"]


def test_dataloader_step_cut_by_the_tracer_stop_is_not_a_clean_step(tmp_path):
    """A DataLoader step begins with its input wait; the tracer stops after that wait, and the step
    is timed from when the tracer is done: it lacks its wait, so it must not count as clean."""
    r = _recorder(tmp_path)
    r.probe_names = ["fake"]
    for k in range(9):
        r.data_wait(1000 * k, 1000 * k + 400, exhausted=False)
    r.finish()
    res = json.loads((tmp_path / "result.json").read_text())
    assert res["info"]["steps"]["after_trace"] == 1
    # the clean steps are whole: each holds its 400 ns wait and lasts the full 1000 ns
    assert res["step_ns"] and all(ns == 1000 for ns in res["step_ns"]), res["step_ns"]
