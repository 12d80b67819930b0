"""What passes between the parent and a worker: the spec in, progress messages and results out.

The parent writes ``spec.json`` into the worker's directory and starts
``python -m profiler.run.worker SPEC``. The worker reports progress as JSON lines on a pipe whose fd it
gets in ``PROFILER_PROGRESS_FD`` (its own stdout and stderr belong to the workload and go to log
files), and leaves its event store (``events.parquet`` and its sibling tables, ``docs/store.md``) and
``result.json`` in the same directory.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from profiler.core import defaults
from profiler.core.scenario import WorkloadSpec

PROGRESS_FD_ENV = "PROFILER_PROGRESS_FD"
#: Comma-separated CPU ids the worker pins itself to before anything loads (``profiler scale --pin``).
PIN_CPUS_ENV = "PROFILER_PIN_CPUS"
SPEC_FILE = "spec.json"
RESULT_FILE = "result.json"
EVENTS_FILE = "events.parquet"  # runs before the event store wrote events.npz (still read)
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"

#: Worker phases, in order. The parent's progress display shows them.
PHASES = ("start", "import", "build", "warmup", "measure", "trace", "save", "done")


@dataclass
class WorkerSpec:
    workload: WorkloadSpec
    module: str | None  # dotted module of the implementation (None: scenario_file)
    scenario_file: str | None = None  # a user's scenario file
    warmup: int = defaults.WARMUP
    steps: int = defaults.STEPS  # clean (untraced) measured steps: the headline step time
    trace_steps: int = defaults.TRACE_STEPS  # traced steps: the breakdown and the Chrome trace
    #: calibration of the clean steps: stop once they took ``min_time_s`` and at least ``min_steps``
    #: ran, or after ``max_time_s``; ``steps`` stays the upper bound (0: run exactly ``steps``)
    min_time_s: float = 0.0
    max_time_s: float | None = None
    min_steps: int = 1
    probes: list[str] = field(default_factory=list)  # in-worker probes to run in the trace window
    probe_options: dict[str, Any] = field(default_factory=dict)
    epoch_offset_ns: int = 0  # the parent's wall-minus-monotonic offset, for re-basing

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @staticmethod
    def from_json(text: str) -> WorkerSpec:
        d = json.loads(text)
        d["workload"] = WorkloadSpec(**d["workload"])
        return WorkerSpec(**d)

    def write(self, path: Path) -> None:
        from profiler.core.files import atomic_write_text

        atomic_write_text(path, self.to_json())


class ProgressChannel:
    """Worker side: JSON lines to the parent (silently a no-op when no pipe was given)."""

    def __init__(self) -> None:
        fd = os.environ.get(PROGRESS_FD_ENV)
        self._f = None
        if fd and fd.isdigit():
            try:
                self._f = os.fdopen(int(fd), "w", buffering=1)
            except OSError:
                self._f = None

    def send(self, **msg: Any) -> None:
        if self._f is None:
            return
        try:
            self._f.write(json.dumps(msg) + "\n")
        except (OSError, ValueError):
            self._f = None


#: Names the worker spec of a profiled command (read once, then removed, by the start-up shim).
COMMAND_SPEC_ENV = "PROFILER_COMMAND_SPEC"
#: JSON with the step options of a profiled command (``skip_steps``, ``step_marker``), merged into
#: its spec by the start-up shim (read once, then removed, like the spec variable).
COMMAND_STEPS_ENV = "PROFILER_COMMAND_STEPS"
# ---------------------------------------------------------------- both sides of every worker
#: The thread id of the harness's own spans (steps, phases, data-loading marks) in a worker's events:
#: the same "steps" track for the harness, the profiled command's recorder and the Python API.
HARNESS_TID = 0

# ---------------------------------------------------------------- the launcher and its ranks
#: The launcher's own output, in the worker folder of a ``--nproc`` run.
LAUNCHER_LOG = "launcher.log"
#: Ping-pong rounds per rank of the clock exchange at the start and at the end of a run.
CLOCK_ROUNDS = 16
CLOCK_END_ROUNDS = 8
#: Seconds a collective may wait for a peer before the backend gives up.
PG_TIMEOUT_S = 180.0
#: Seconds the launcher waits for the other ranks to save after it stopped them.
SHUTDOWN_TIMEOUT_S = 20

#: The folder whose ``sitecustomize.py`` installs the recorder in a profiled command.
INJECT_DIR = Path(__file__).resolve().parent.parent / "inject"


def command_env(spec_path: Path, inject: bool = True) -> dict[str, str]:
    """Environment additions for a command worker."""
    if not inject:
        return {}
    parts = [str(INJECT_DIR)]
    pkg_parent = str(Path(__file__).resolve().parents[2])
    if "site-packages" not in pkg_parent:  # a source checkout: make ``profiler`` importable there too
        parts.append(pkg_parent)
    old = os.environ.get("PYTHONPATH")
    if old:
        parts.append(old)
    return {"PYTHONPATH": os.pathsep.join(parts), COMMAND_SPEC_ENV: str(spec_path)}
