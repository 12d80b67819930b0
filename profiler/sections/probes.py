"""The low-level probes' figures (NVML, process sampler, py-spy …): each probe words its own."""

from __future__ import annotations

from typing import Any

from profiler.probes.summary import summary_lines
from profiler.sections.blocks import Block, Line
from profiler.sections.registry import VARIANT, Section, View


def show(s: dict[str, Any], view: View) -> tuple[Block, ...]:
    return tuple(Line(x, "dim") for x in summary_lines(s))


SECTION = Section(
    key="probe_summary", title="probe figures", scope=VARIANT, model=dict[str, Any], show=show,
    computed_by="profiler.probes.summary.probe_summary", order=60, detail=True,
)
