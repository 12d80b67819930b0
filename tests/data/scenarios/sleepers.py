"""Two variants of known speed (a sleep per step) and one whose second process fails (used by
tests/test_repeats.py): the known answer for the repeat, CI and verdict machinery."""

import os
import time

from profiler.core.scenario import Implementation, Scenario, Variant

SCENARIO = Scenario(
    name="sleepers",
    summary="steps of a known length: 10 ms and 20 ms; a variant whose second process fails",
    presets={"cpu": {"batch": 1, "warmup": 1, "steps": 8, "trace_steps": 1}},
    implementations=(
        Implementation("python", (Variant("short", "10 ms"), Variant("long", "20 ms"),
                                  Variant("flaky", "10 ms; fails in its second process"))),
    ),
)


class Sleeper:
    def __init__(self, ctx):
        self.s = 0.02 if ctx.spec.variant == "long" else 0.01

    def step(self):
        time.sleep(self.s)


def build(ctx):
    if ctx.spec.variant == "flaky":
        marker = os.environ["SLEEPERS_MARKER"]
        n = int(open(marker).read()) if os.path.exists(marker) else 0
        with open(marker, "w") as f:
            f.write(str(n + 1))
        if n == 1:
            raise RuntimeError("flaky: fails in its second process")
    return Sleeper(ctx)
