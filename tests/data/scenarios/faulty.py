"""A user scenario that misbehaves on purpose, one way per variant (used by tests/test_reliability.py).

Steps before the fault are real (a short sleep each), so there is something measured to keep.
"""

import os
import signal
import subprocess
import sys
import time

from profiler.core.scenario import Implementation, Scenario, Variant

VARIANTS = ("ok", "raise", "abort", "segfault", "oom", "hang", "hang_with_child", "slow")

SCENARIO = Scenario(
    name="faulty",
    summary="workloads that fail in every way a profiled program can",
    presets={"cpu": {"batch": 1, "fault_at": 3, "warmup": 1, "steps": 6, "trace_steps": 1}},
    implementations=(Implementation("python", tuple(Variant(v, v) for v in VARIANTS)),),
)


class Faulty:
    def __init__(self, ctx):
        self.variant = ctx.spec.variant
        self.fault_at = ctx.params["fault_at"]
        self.n = 0
        self.child = None

    def step(self):
        self.n += 1
        time.sleep(0.01)
        if self.n < self.fault_at or self.variant == "ok":
            return
        v = self.variant
        if v == "raise":
            raise RuntimeError(f"boom at step {self.n}")
        if v == "abort":
            os.abort()
        if v == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        if v == "oom":
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))
            blocks = []
            while True:
                blocks.append(bytearray(256 * 1024**2))
        if v == "hang_with_child" and self.child is None:
            # like a DataLoader worker: a child process that would outlive a naive kill
            self.child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            with open(os.environ["FAULTY_CHILD_PID_FILE"], "w") as f:
                f.write(str(self.child.pid))
        if v in ("hang", "hang_with_child"):
            while True:
                time.sleep(0.1)
        if v == "slow":
            time.sleep(0.5)


def build(ctx):
    return Faulty(ctx)
