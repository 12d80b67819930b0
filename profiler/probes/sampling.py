"""A periodic sampler thread shared by the parent-side probes that poll (NVML, process).

A sampler calls ``sample(t_ns)`` every ``1 / rate_hz`` seconds on its own daemon thread until it is
stopped. The first exception stops the sampling, is recorded in ``probe.errors`` (and as an instant
in the events), and leaves the run alone: a GPU lost mid-run or a vanished worker never fails the run
and never loses what was sampled before.
"""

from __future__ import annotations

import threading
from typing import Any

from profiler.core.clock import now_ns
from profiler.core.events import EventBuilder, EventTable
from profiler.probes.base import Probe, ProbeTarget


class StopSampling(Exception):
    """Raised by ``sample()`` when there is nothing left to sample (the worker exited): not an error."""


class SamplerProbe(Probe):
    """Base of probes that poll something at a fixed rate in the parent."""

    default_rate_hz: float = 20.0

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        rate = float(self.options.get("rate_hz", self.default_rate_hz))
        if not rate > 0:
            raise ValueError(f"{self.name}: rate_hz must be positive, got {rate}")
        self.rate_hz = rate
        self.b = EventBuilder()
        self.target: ProbeTarget | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.n_samples = 0
        self.late = 0  # ticks that started later than one period after they were due
        self.stopped_by_error: str | None = None

    # -- hooks for subclasses
    def setup(self, target: ProbeTarget) -> None:
        """Open handles; raise to make the probe fail to start (recorded, run continues)."""

    def sample(self, t_ns: int) -> None:
        raise NotImplementedError

    def teardown(self) -> None:
        """Release handles (always called once after sampling ends)."""

    # -- contract
    def start(self, target: ProbeTarget) -> None:
        self.target = target
        self.setup(target)
        self._thread = threading.Thread(target=self._loop, name=f"{self.name}-sampler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        period = int(1e9 / self.rate_hz)
        due = now_ns()
        try:
            while not self._stop.is_set():
                t = now_ns()
                if t - due > period:
                    self.late += 1
                    due = t  # do not try to catch up with a burst of samples
                try:
                    self.sample(t)
                    self.n_samples += 1
                except StopSampling:
                    return
                except Exception as e:  # stop sampling, keep the run and what was sampled
                    msg = f"sampling stopped after {self.n_samples} samples: {type(e).__name__}: {e}"
                    self.stopped_by_error = msg
                    self.errors.append(msg)
                    pid = self.target.pid if self.target else 0
                    self.b.instant(f"{self.name} error", now_ns(), pid, 0, args={"error": msg})
                    return
                due += period
                self._stop.wait(max(0.0, (due - now_ns()) / 1e9))
        finally:
            try:
                self.teardown()
            except Exception as e:
                self.errors.append(f"teardown: {type(e).__name__}: {e}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def events(self) -> EventTable:
        return self.b.build()

    def info(self) -> dict[str, Any]:
        return {
            "rate_hz": self.rate_hz,
            "samples": self.n_samples,
            "late_ticks": self.late,
            "stopped_by_error": self.stopped_by_error,
        }
