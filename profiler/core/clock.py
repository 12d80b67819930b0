"""The run clock: integer nanoseconds of CLOCK_MONOTONIC.

CLOCK_MONOTONIC is one clock for every process on a machine, so the parent's samplers and the
worker's spans line up without exchanging offsets. Wall time is recorded once per run (``epoch_ns``)
so that the monotonic timeline can be mapped to dates and to sources that stamp in Unix time.
"""

from __future__ import annotations

import time


def now_ns() -> int:
    """Current time on the run clock."""
    return time.monotonic_ns()


def epoch_offset_ns() -> int:
    """Unix-epoch ns minus run-clock ns, measured as the median of a few paired reads."""
    pairs = []
    for _ in range(5):
        a = time.monotonic_ns()
        w = time.time_ns()
        b = time.monotonic_ns()
        pairs.append((b - a, w - (a + b) // 2))
    return min(pairs)[1]
