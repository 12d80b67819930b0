"""What an imported trace was: its format and dialect, where it was recorded, what the reader took
from it and what it left out, and the reader's notes (one sentence each)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.sections.blocks import Block, Line
from profiler.sections.registry import VARIANT, Section, View


@dataclass(frozen=True)
class Imported:
    path: str | None = None
    format: str | None = None
    dialect: str | None = None
    host_name: str | None = None
    steps_marked: bool | None = None
    categories: dict[str, int] = field(default_factory=dict)
    unknown_categories: dict[str, int] = field(default_factory=dict)
    skipped_events: dict[str, int] = field(default_factory=dict)
    skipped_files: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def show(im: Imported, view: View) -> tuple[Block, ...]:
    what = im.format or "trace"
    if im.dialect:
        what += f", dialect {im.dialect}"
    where = f" recorded on {im.host_name}" if im.host_name else ""
    n = sum(im.categories.values())
    cats = ", ".join(f"{k} {v:,}" for k, v in sorted(im.categories.items(), key=lambda kv: -kv[1])[:6])
    out: list[Block] = [Line(f"imported {what}{where}: {im.path or '?'}" + (f"; {n:,} events ({cats})" if n else ""),
                             "dim")]
    if im.steps_marked is False:
        out.append(Line("no ProfilerStep markers: the whole trace is analysed as one window", "warn"))
    if im.unknown_categories:
        out.append(Line("skipped, category not known: " + ", ".join(f"{k} ×{v:,}" for k, v in im.unknown_categories.items()),
                        "warn"))
    if im.skipped_events:
        out.append(Line("not read: " + ", ".join(f"{k} {v:,}" for k, v in im.skipped_events.items()), "dim"))
    for f, why in im.skipped_files.items():
        out.append(Line(f"file skipped: {f}: {why}", "warn"))
    out.extend(Line(x, "warn") for x in im.notes)
    return tuple(out)


SECTION = Section(
    key="imported", title="imported trace", scope=VARIANT, model=Imported, show=show,
    computed_by="profiler.run.imported.import_as_run", order=2,
)
