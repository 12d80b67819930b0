"""Why a run is ``failed`` when it could not be saved (disk full, a path too long, no permission):
the reason, the error and the path, beside the status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.sections.blocks import Block, Line
from profiler.sections.registry import RUN, Section, View


@dataclass(frozen=True)
class Failure:
    reason: str
    errno: str | None = None
    path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def show(f: Failure, view: View) -> tuple[Block, ...]:
    return (Line(f"run failed: {f.reason}" + (f" ({f.errno})" if f.errno and f.errno not in f.reason else ""), "bad"),)


SECTION = Section(
    key="failure", title="why the run failed", scope=RUN, model=Failure, show=show,
    computed_by="profiler.run.execute.execute", order=1,
)
