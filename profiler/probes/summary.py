"""What the low-level probes say about a worker's steps: every registered probe summarises itself.

:func:`probe_summary` asks each probe of :data:`profiler.probes.PROBES` for its figures over the
step windows (:meth:`profiler.probes.base.Probe.summarise`), :func:`summary_lines` for the report's
lines; a probe that left no data adds no key. Windows are the clean (untraced) steps when there are
any, else the traced ones. No framework import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from profiler.core.events import EventTable
from profiler.probes import PROBES, probe_class


def probe_summary(events: EventTable, pid: int | None, windows: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """Every probe's figures for one worker's steps (keys only for probes that left data)."""
    if pid is None or not windows:
        return {}
    out: dict[str, Any] = {}
    for name in PROBES:
        fig = probe_class(name).summarise(events, pid, windows)
        if fig:
            out[name] = fig
    return out


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The report's lines for a :func:`probe_summary` result, in the registry's order."""
    lines: list[str] = []
    for name in PROBES:
        if summary.get(name):
            lines.extend(probe_class(name).summary_lines(summary[name]))
    return lines
