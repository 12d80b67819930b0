"""py-spy probe: parsing a real py-spy chrometrace recording, stacks → nested slices, the speedscope
document, the workload-Python share, and (where py-spy may attach) a live recording."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import DATA

from profiler.core.events import PYTHON, EventBuilder
from profiler.probes import probe_class
from profiler.probes.base import ProbeTarget
from profiler.probes.pyspy import (
    PySpyProbe,
    frame_package,
    parse_chrometrace,
    samples_to_spans,
    speedscope_document,
    workload_python_share,
)

# recorded here with: py-spy record --pid P --rate 100 --format chrometrace --threads --idle --nonblocking
# of a script whose main thread spins in spin() while a "helper" thread alternates spin() and sleep()
FIX = DATA / "probes" / "pyspy_chrometrace.json"


def test_parse_real_recording_threads_and_stacks():
    samples, names, end = parse_chrometrace(json.loads(FIX.read_text()), base_ns=10**9)
    assert set(names.values()) >= {"MainThread", "helper"}
    main_tid = next(t for t, n in names.items() if n == "MainThread")
    stacks = [f for ts, tid, f in samples if tid == main_tid and f]
    assert any(f[-1].startswith("spin (") and any(x.startswith("main (") for x in f) for f in stacks)
    assert all(not x.startswith("thread (") for _, _, f in samples for x in f)  # thread frame removed
    assert all(10**9 <= ts <= end for ts, _, _ in samples)


def test_samples_to_spans_merges_consecutive_identical_frames():
    s = [(0, 1, ("a", "b")), (10, 1, ("a", "b")), (20, 1, ("a", "c")), (30, 1, ())]
    spans = samples_to_spans(s, end_ns=40)
    assert (0, 30, 1, 0, "a") in spans  # one slice for a, across all samples that had it
    assert (0, 20, 1, 1, "b") in spans  # b merged over two samples, ended where c began
    assert (20, 10, 1, 1, "c") in spans
    assert len(spans) == 3


def test_samples_to_spans_closes_open_frames_at_the_end_and_nests():
    spans = samples_to_spans([(5, 2, ("x", "y", "z"))], end_ns=9)
    assert sorted(spans) == [(5, 4, 2, 0, "x"), (5, 4, 2, 1, "y"), (5, 4, 2, 2, "z")]


def test_speedscope_document_is_balanced():
    spans = samples_to_spans([(0, 1, ("a (m.py:1)", "b (m.py:2)")), (10, 1, ("a (m.py:1)",))], 20)
    doc = speedscope_document(spans, {1: "MainThread"}, "w")
    (prof,) = doc["profiles"]
    depth = 0
    for e in prof["events"]:
        depth += 1 if e["type"] == "O" else -1
        assert depth >= 0
    assert depth == 0 and prof["unit"] == "nanoseconds"
    assert {f["name"] for f in doc["shared"]["frames"]} == {"a", "b"}


def test_frame_package():
    assert frame_package("forward (torch/nn/modules/rnn.py:1124)") == "torch"
    assert frame_package("step (scenarios/rnn/torch_rnn.py:80)") == "scenarios"


def test_workload_python_share():
    b = EventBuilder()
    b.sample(0, 7, 7, ["run (profiler/worker.py:1)", "step (scenarios/x.py:3)"])
    b.sample(50, 7, 7, ["run (profiler/worker.py:1)", "forward (torch/nn/modules/rnn.py:9)"])
    b.sample(100, 7, 7, ["run (profiler/worker.py:1)"])
    t = b.build()
    assert workload_python_share(t, 7, [(0, 100)]) == pytest.approx(0.5)
    assert workload_python_share(t, 7, [(50, 100)]) == pytest.approx(0.0)
    assert workload_python_share(t, 8, [(0, 100)]) is None


def test_command_defaults_to_nonblocking():
    cmd = PySpyProbe().command(123, DATA / "x.json")
    assert "--nonblocking" in cmd and "--idle" in cmd and "chrometrace" in cmd
    assert "--nonblocking" not in PySpyProbe({"native": True}).command(1, DATA / "x")


def test_failure_reason_for_ptrace_denial():
    msg = PySpyProbe()._failure("Error: Permission denied (os error 13)", 1)
    assert "ptrace" in msg and "ptrace_scope" in msg


SCRIPT = """
import time
def spin(t):
    while time.monotonic() < t: pass
spin(time.monotonic() + 1.0)
"""


@pytest.mark.slow
@pytest.mark.skipif(
    not probe_class("pyspy").availability().available,
    reason=f"py-spy unavailable: {probe_class('pyspy').availability().reason}",
)
def test_live_recording_of_a_child(tmp_path):
    script = tmp_path / "spin.py"
    script.write_text(SCRIPT)
    child = subprocess.Popen([sys.executable, str(script)])
    p = PySpyProbe({"rate_hz": 50})
    p.start(ProbeTarget(pid=child.pid, run_dir=str(tmp_path)))
    child.wait(timeout=30)
    p.stop()
    assert not p.errors, p.errors
    t = p.events()
    assert len(t.samples["ts_ns"]) >= 1
    assert any(n.startswith("spin (") for n in t.span_names(t.cat_mask(PYTHON)))
    assert (tmp_path / "pyspy.speedscope.json").exists()
