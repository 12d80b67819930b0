"""The live progress display on stderr: which worker runs, its phase, its steps, elapsed time, and
for a run of several workers how long the rest will take (the mean of the finished workers' times)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


class ProgressView:
    """A rich progress display on stderr: which worker runs, its phase and elapsed time."""

    def __init__(self, jobs: list[Any], enabled: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = enabled
        self.clock = clock
        self.n_jobs = len(jobs)
        self.started: dict[str, float] = {}
        self.took: list[float] = []
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            TextColumn("{task.fields[phase]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
            disable=not enabled,
        )
        self.tasks = {
            j.key: self.progress.add_task(j.key, total=None, phase="queued", start=False) for j in jobs
        }
        self.overall = (self.progress.add_task("all workers", total=len(jobs), phase=self.remaining())
                        if len(jobs) > 1 else None)

    def remaining(self) -> str:
        """``k of n done``, and once one worker finished, an estimate of the time the rest take."""
        done = len(self.took)
        text = f"{done} of {self.n_jobs} done"
        if self.took and done < self.n_jobs:
            left = (self.n_jobs - done) * sum(self.took) / done
            text += f" · about {_duration(left)} left (mean {_duration(sum(self.took) / done)} a worker)"
        return text

    def __enter__(self) -> ProgressView:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def update(self, job: Any, msg: dict[str, Any]) -> None:
        tid = self.tasks.get(job.key)
        if tid is None:
            if "phase" not in msg:
                return
            # a worker the run added on its way (a disturbed variant measured again): its own line
            tid = self.tasks[job.key] = self.progress.add_task(job.key, total=None, phase="queued", start=False)
        if "phase" in msg:
            self.started.setdefault(job.key, self.clock())
            self.progress.start_task(tid)
            ph = msg["phase"]
            if ph == "done":
                self.progress.update(tid, phase=msg.get("status", "done"), total=1, completed=1)
            else:
                self.progress.update(tid, phase=ph, total=msg.get("total"), completed=0)
        elif "step" in msg:
            self.progress.update(tid, completed=msg["step"], total=msg.get("total"))

    def finish(self, entry: Any) -> None:
        key = entry.key or ""
        tid = self.tasks.get(key)
        if tid is not None:
            self.progress.update(tid, phase=entry.status, total=1, completed=1)
            t0 = self.started.pop(key, None)
            if t0 is not None:
                self.took.append(self.clock() - t0)
            elif tid is not None and key:
                self.took.append(0.0)  # never started (skipped): takes no time
        if self.overall is not None:
            self.progress.update(self.overall, completed=len(self.took), phase=self.remaining())


def _duration(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} min"
