"""A training loop fed by an input pipeline of two workers, in plain Python (used by
tests/test_multimodal_steps.py): the known answer for a multi-modal step time.

Two loader threads each produce a batch in ``load_ms`` (a sleep: I/O, decoding elsewhere) into a
queue of its own, two batches ahead at most, as torch's DataLoader with ``num_workers=2`` does; the
step takes the batches in order, worker 0, 1, 0, 1 …, then computes for ``compute_ms`` (a busy loop).
The loader is slower than the step, so the workers' batches come ready together: one step waits for
its batch almost ``load_ms − 2 × compute_ms``, the next finds its batch ready. The steps alternate
between two modes (period 2), their mean is the loader's pace (``load_ms / 2``), and the wait is most
of it.

The program keeps its own account, independent of the harness's step spans: the ``perf_counter``
time at which each step begins and ends, and how long it waited for its batch, written as JSON to the file
``LOADER_CYCLE_LOG`` names (at ``close()``, every step the harness ran: warm-up, clean and traced).
"""

import json
import os
import queue
import threading
import time

from profiler.core.scenario import Implementation, Scenario, Variant

SCENARIO = Scenario(
    name="loader_cycle",
    summary="a step fed by two loader workers slower than it: steps alternate between a wait and none",
    presets={"cpu": {"batch": 1, "load_ms": 120.0, "compute_ms": 10.0, "warmup": 4, "steps": 10, "trace_steps": 3}},
    implementations=(Implementation("python", (Variant("two_workers", "2 loader workers, period 2"),)),),
)

WORKERS = 2
PREFETCH = 2


class LoaderCycle:
    def __init__(self, ctx):
        self.ctx = ctx
        self.load_s = ctx.params["load_ms"] / 1e3
        self.compute_s = ctx.params["compute_ms"] / 1e3
        self.queues = [queue.Queue(maxsize=PREFETCH) for _ in range(WORKERS)]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._work, args=(w,), daemon=True, name=f"loader {w}")
                        for w in range(WORKERS)]
        for t in self.threads:
            t.start()
        self.n = 0
        self.begins: list[float] = []
        self.waits: list[float] = []
        self.ends: list[float] = []

    def _work(self, w: int) -> None:
        while not self.stop.is_set():
            time.sleep(self.load_s)
            while not self.stop.is_set():
                try:
                    self.queues[w].put(w, timeout=0.05)
                    break
                except queue.Full:
                    continue

    def step(self):
        t0 = time.perf_counter()
        self.begins.append(t0)
        with self.ctx.region("data_loading", "next batch"):
            self.queues[self.n % WORKERS].get()
        self.waits.append(time.perf_counter() - t0)
        self.n += 1
        end = time.perf_counter() + self.compute_s
        x = 0
        while time.perf_counter() < end:
            x += 1
        self.ends.append(time.perf_counter())

    def close(self):
        self.stop.set()
        path = os.environ.get("LOADER_CYCLE_LOG")
        if path:
            with open(path, "w") as f:
                json.dump({"begins_s": self.begins, "ends_s": self.ends, "waits_s": self.waits}, f)


def build(ctx):
    return LoaderCycle(ctx)
