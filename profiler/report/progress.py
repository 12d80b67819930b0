"""The live progress display on stderr: which worker runs, its phase, its steps, elapsed time."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


class ProgressView:
    """A rich progress display on stderr: which worker runs, its phase and elapsed time."""

    def __init__(self, jobs: list[Any], enabled: bool) -> None:
        self.enabled = enabled
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

    def __enter__(self) -> ProgressView:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def update(self, job: Any, msg: dict[str, Any]) -> None:
        tid = self.tasks.get(job.key)
        if tid is None:
            return
        if "phase" in msg:
            self.progress.start_task(tid)
            ph = msg["phase"]
            if ph == "done":
                self.progress.update(tid, phase=msg.get("status", "done"), total=1, completed=1)
            else:
                self.progress.update(tid, phase=ph, total=msg.get("total"), completed=0)
        elif "step" in msg:
            self.progress.update(tid, completed=msg["step"], total=msg.get("total"))

    def finish(self, entry: Any) -> None:
        tid = self.tasks.get(entry.key or "")
        if tid is not None:
            self.progress.update(tid, phase=entry.status, total=1, completed=1)
