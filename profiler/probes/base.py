"""The probe contract.

A probe collects one kind of low-level evidence and hands it over in the shared event model. It
declares where it runs — ``"parent"`` (samplers that watch the worker from outside: NVML, process,
py-spy) or ``"worker"`` (tracers inside the measured process: torch.profiler, CUPTI) — and whether it
is available here, with a reason when not. Availability is decided without importing any framework.

Life cycle: ``probe = Cls(options)``; ``probe.start(target)``; ...; ``probe.stop()``;
``probe.events()``. ``stop()`` must be safe after a failed or partial ``start()``, and a probe that
fails mid-run records the error (``probe.errors``) instead of raising: nothing collected is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from profiler.core.events import EventTable
from profiler.core.frameworks import Availability


@dataclass
class ProbeTarget:
    """What a probe is pointed at."""

    pid: int  # the worker's pid (parent probes sample it; worker probes record it as their pid)
    run_dir: str | None = None  # where a probe may leave its own files (e.g. a speedscope profile)
    epoch_offset_ns: int = 0  # wall-clock ns minus run-clock ns, for probes that stamp in Unix time
    extra: dict[str, Any] = field(default_factory=dict)


class Probe:
    name: ClassVar[str]
    where: ClassVar[str]  # "parent" or "worker"
    summary: ClassVar[str] = ""
    #: frameworks whose worker can host this probe (worker probes); empty: any
    frameworks: ClassVar[tuple[str, ...]] = ()
    #: what the probe is known to cost, shown in reports (measured by benchmarks/probe_overhead.py)
    overhead_note: ClassVar[str] = ""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        self.errors: list[str] = []

    @classmethod
    def availability(cls) -> Availability:
        raise NotImplementedError

    def start(self, target: ProbeTarget) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def events(self) -> EventTable:
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """Extra facts for run.json (e.g. which CUDA source was used)."""
        return {}

    # Each probe summarises its own data: the report and run.json ask every registered probe, so
    # shared code never branches on a probe's name.
    @classmethod
    def summarise(cls, events: EventTable, pid: int, windows: Sequence[tuple[int, int]]) -> Any:
        """This probe's figures over the step ``windows`` of worker ``pid`` (``None``: no data)."""
        return None

    @classmethod
    def summary_lines(cls, figures: Any) -> list[str]:
        """The report's lines for :meth:`summarise`'s figures."""
        return []


def in_windows(ts: np.ndarray, windows: Sequence[tuple[int, int]]) -> np.ndarray:
    """Which timestamps fall inside any of the ``[start, end]`` windows."""
    m = np.zeros(len(ts), dtype=bool)
    for a, b in windows:
        m |= (ts >= a) & (ts <= b)
    return m
