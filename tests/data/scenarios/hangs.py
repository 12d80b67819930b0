"""A user scenario that hangs in a chosen phase of the worker, with a child process (like a
DataLoader worker), so tests can kill the profiler there (tests/test_chaos_kill.py).

Variants: ``build``, ``warmup``, ``measure``, ``trace`` hang in that phase (run with ``--warmup 2
--steps 3 --trace-steps 2`` and no in-worker probe: steps 1-2 warm up, 3-5 measure, 6-7 trace; each
hangs in the second step of its phase, so one is finished);
``stubborn`` hangs while measuring and ignores SIGTERM, as does its child: only SIGKILL ends them.
With ``HANGS_AT_IMPORT=1`` the worker hangs while importing this file (not while the parent reads its
declaration). When it hangs it writes its pid and its child's to ``$HANGS_MARK``.
"""

import os
import signal
import subprocess
import sys
import time

from profiler.core.scenario import Implementation, Scenario, Variant

VARIANTS = ("build", "warmup", "measure", "trace", "stubborn")
HANG_AT_STEP = {"warmup": 2, "measure": 4, "stubborn": 4, "trace": 7}  # after one step of it

SCENARIO = Scenario(
    name="hangs",
    summary="a worker that hangs in a chosen phase, with a child process",
    presets={"cpu": {"batch": 1}},
    implementations=(Implementation("python", tuple(Variant(v, f"hangs in {v}") for v in VARIANTS)),),
)

_CHILD = "import signal, sys, time\nif sys.argv[1] == '1': signal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(600)"


def hang(stubborn: bool = False) -> None:
    if stubborn:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", _CHILD, "1" if stubborn else "0"])
    mark = os.environ.get("HANGS_MARK")
    if mark:
        with open(mark + ".tmp", "w") as f:
            f.write(f"{os.getpid()} {child.pid}\n")
        os.replace(mark + ".tmp", mark)
    while True:
        time.sleep(0.1)


if os.environ.get("HANGS_AT_IMPORT") == "1" and "--describe" not in sys.argv:
    hang()


class Hangs:
    def __init__(self, ctx):
        self.variant = ctx.spec.variant
        self.n = 0
        if self.variant == "build":
            hang()

    def step(self):
        self.n += 1
        time.sleep(0.01)
        if self.n >= HANG_AT_STEP.get(self.variant, 10**9):
            hang(stubborn=self.variant == "stubborn")


def build(ctx):
    return Hangs(ctx)
