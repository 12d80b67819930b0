"""The low-level probes' figures (NVML, process sampler, py-spy …): each probe words its own."""

from __future__ import annotations

from typing import Any

from profiler.analysis.variant import VariantInputs
from profiler.probes.summary import probe_summary, summary_lines
from profiler.sections.blocks import Block, Line
from profiler.sections.registry import VARIANT, Section, View, calls


def show(s: dict[str, Any], view: View) -> tuple[Block, ...]:
    return tuple(Line(x, "dim") for x in summary_lines(s))


SECTION = Section(
    key="probe_summary", title="probe figures", scope=VARIANT, model=dict[str, Any], show=show,
    compute=calls(probe_summary, VariantInputs.in_windows), order=60, detail=True,
)
