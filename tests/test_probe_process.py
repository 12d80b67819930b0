"""Process probe: busy-thread counting, sampling a real child process, and the report figures."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from profiler.probes.base import ProbeTarget
from profiler.probes.process import (
    BUSY_THREADS,
    CPU_TREE,
    RSS,
    ProcessProbe,
    busy_threads,
    count_busy_threads,
    process_summary,
    thread_cpu_seconds,
)
from profiler.probes.summary import summary_lines

SPIN = """
import threading, time
def spin(t):
    while time.monotonic() < t: pass
t = time.monotonic() + 1.2
th = threading.Thread(target=spin, args=(t,)); th.start()
time.sleep(t - time.monotonic())   # main thread idle, one thread busy
th.join()
"""


def test_count_busy_threads():
    before = {1: 0.0, 2: 0.0, 3: 5.0}
    after = {1: 0.9, 2: 0.1, 3: 5.6, 4: 0.0}
    assert count_busy_threads(before, after, 1.0) == 2
    assert count_busy_threads(before, after, 1.0, threshold=0.95) == 0
    assert count_busy_threads(before, after, 0.0) == 0


def test_thread_cpu_seconds_of_this_process():
    t = thread_cpu_seconds(os.getpid())
    assert os.getpid() in t and all(v >= 0 for v in t.values())
    assert thread_cpu_seconds(2**22 + 12345) == {}


@pytest.mark.slow
def test_samples_a_real_child_and_counts_its_busy_thread():
    child = subprocess.Popen([sys.executable, "-c", SPIN])
    # a low threshold: on a loaded machine the spinning thread may get a fraction of a core
    p = ProcessProbe({"rate_hz": 10, "busy_threshold": 0.03})
    p.start(ProbeTarget(pid=child.pid))
    t0 = time.monotonic_ns()
    child.wait(timeout=30)
    t1 = time.monotonic_ns()
    p.stop()
    assert not p.errors  # the worker exiting ends sampling quietly
    t = p.events()
    _, rss = t.counter_series(RSS, child.pid)
    assert len(rss) >= 5 and rss.max() > 1
    _, cpu = t.counter_series(CPU_TREE, child.pid)
    assert cpu.max() > 3  # one thread spinning
    assert busy_threads(t, child.pid, t0, t1, stat="max") == 1  # the sleeping main thread is not busy
    assert busy_threads(t, child.pid, t1 + 10**9, t1 + 2 * 10**9) is None
    _, busy = t.counter_series(BUSY_THREADS, child.pid)
    assert busy.max() <= 2  # never more than the threads that exist
    s = process_summary(t, child.pid, [(t0, t1)])
    assert s is not None and s["peak_rss_mib"] > 1 and "mean_cpu_pct" in s
    assert summary_lines({"process": s})[0].startswith("process: peak RSS")
