"""Every default of a measurement, defined once: steps, warm-up, traced steps, clean-step
calibration, worker processes per command, and the thresholds the reports apply.

A scenario's preset may override the step counts; the command line overrides both.
"""

from __future__ import annotations

from pathlib import Path

#: Where run directories are created.
OUT_DIR = Path("runs")

#: Clean (untraced) measured steps per worker process when nothing else says: the headline.
STEPS = 10
#: Warm-up steps per process, excluded from every figure.
WARMUP = 2
#: Traced steps (the breakdown and the Chrome trace), in one process per variant.
TRACE_STEPS = 3

#: Clean-step calibration when ``--steps`` is not given: measure at least this long per process …
MIN_TIME_S = 1.0
#: … but no longer than this (the time budget of one process's clean steps) …
MAX_TIME_S = 30.0
#: … and at least this many steps, at most this many.
MIN_CALIBRATED_STEPS = 3
MAX_CALIBRATED_STEPS = 1000

#: Fresh worker processes per variant (``--repeat``), per command. ``trace`` keeps one so that the
#: main job stays near two minutes here (docs/compare.md); ``compare`` and ``scale`` rank, so they
#: repeat.
REPEAT = {"trace": 1, "compare": 5, "scale": 5}
