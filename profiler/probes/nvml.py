"""NVML probe: every GPU's utilisation, memory, power, clocks, temperature, PCIe traffic and throttle
reasons, sampled from the parent through nvidia-ml-py (``pynvml``), as counters on the run clock.

:class:`NvmlProbe` samples from a thread of the parent (counters on the worker's pid);
:func:`nvml_summary` and :func:`nvml_summary_lines` give the report's power, energy per step,
kernel-active share and throttling (:func:`decode_reasons`, :data:`THROTTLE_REASONS`). An
unsupported metric is dropped and listed; any other NVML error stops the sampler, never the run.
The counters and what ``util %`` does not mean: ``docs/probes.md`` ("NVML").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from profiler.core.events import EventTable
from profiler.core.frameworks import Availability, _dist_version
from profiler.probes.base import ProbeTarget, in_windows
from profiler.probes.sampling import SamplerProbe

#: Clock-event (throttle) reason bits as nvml.h defines them.
THROTTLE_REASONS: dict[int, str] = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
#: Bits that mean the clocks were held down by power or heat (reported as throttling).
THROTTLING_MASK = 0x4 | 0x8 | 0x20 | 0x40 | 0x80

# nvmlSamplingType_t values and the counter each buffered series becomes
_DRIVER_SAMPLES = {0: "power W (driver)", 1: "util % (driver)", 5: "sm clock MHz (driver)"}
# nvmlValueType_t -> field of the nvmlValue_t union
_VALUE_FIELDS = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}


def decode_reasons(mask: int) -> list[str]:
    """Names of the throttle-reason bits set in ``mask``."""
    return [n for bit, n in THROTTLE_REASONS.items() if mask & bit]


def driver_sample_values(value_type: int, samples: list[Any]) -> list[tuple[int, float]]:
    """``(timestamp_us, value)`` pairs of an ``nvmlDeviceGetSamples`` result.

    ``samples`` are ``c_nvmlSample_t`` records (``timeStamp`` in µs of Unix time, ``sampleValue`` a
    ``nvmlValue_t`` union read through the field that ``value_type`` names).
    """
    field = _VALUE_FIELDS.get(int(value_type))
    if field is None:
        raise ValueError(f"unknown NVML value type {value_type}")
    return [(int(s.timeStamp), float(getattr(s.sampleValue, field))) for s in samples]


class NvmlProbe(SamplerProbe):
    name: ClassVar[str] = "nvml"
    where: ClassVar[str] = "parent"

    @classmethod
    def summarise(cls, events: EventTable, pid: int, windows: Sequence[tuple[int, int]]) -> Any:
        return nvml_summary(events, pid, windows)

    @classmethod
    def summary_lines(cls, figures: Any) -> list[str]:
        return nvml_summary_lines(figures)
    summary: ClassVar[str] = "NVML: GPU utilization, memory, power, clocks, temperature, PCIe, throttling"
    overhead_note: ClassVar[str] = (
        "runs in the parent, nothing inside the worker; its parent CPU per tick is not measured yet "
        "(no GPU run so far)"
    )
    default_rate_hz = 50.0

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.pcie_every = max(1, int(self.options.get("pcie_every", 10)))
        self.driver_samples = bool(self.options.get("driver_samples", True))
        self.nv: Any = None
        self.handles: list[Any] = []
        self.unsupported: set[str] = set()
        self._tick = 0
        self._last_driver_us: dict[tuple[int, int], int] = {}
        self._energy0: dict[int, float] = {}
        self.gpus: list[str] = []

    @classmethod
    def availability(cls) -> Availability:
        try:
            import pynvml
        except ImportError:
            return Availability(False, "nvidia-ml-py is not installed; install with pip install nvidia-ml-py")
        version = _dist_version("nvidia-ml-py")
        try:
            pynvml.nvmlInit()
        except Exception as e:
            return Availability(
                False, f"NVML cannot load ({type(e).__name__}): no NVIDIA driver or GPU", version
            )
        try:
            n = pynvml.nvmlDeviceGetCount()
            drv = pynvml.nvmlSystemGetDriverVersion()
        finally:
            pynvml.nvmlShutdown()
        if n == 0:
            return Availability(False, "NVML found no GPU", version)
        drv = drv.decode() if isinstance(drv, bytes) else drv
        return Availability(True, None, f"{version} (driver {drv}, {n} GPU{'s' if n > 1 else ''})")

    # --------------------------------------------------------------- sampling
    def setup(self, target: ProbeTarget) -> None:
        import pynvml

        self.nv = pynvml
        pynvml.nvmlInit()
        n = pynvml.nvmlDeviceGetCount()
        self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(n)]
        for h in self.handles:
            name = pynvml.nvmlDeviceGetName(h)
            self.gpus.append(name.decode() if isinstance(name, bytes) else str(name))
        # buffered samples start from now, not from whatever the driver held before the run
        now_us = (target.epoch_offset_ns + _run_now()) // 1000
        for i in range(n):
            for st in _DRIVER_SAMPLES:
                self._last_driver_us[(i, st)] = now_us

    def teardown(self) -> None:
        if self.nv is not None:
            try:
                self._fetch_driver_samples()
            except Exception as e:
                self.errors.append(f"driver samples: {type(e).__name__}: {e}")
            self.nv.nvmlShutdown()

    def _read(self, key: str, fn: Callable[[], Any]) -> Any:
        """One NVML read; ``None`` (and the metric dropped) when the GPU does not support it."""
        if key in self.unsupported:
            return None
        try:
            return fn()
        except self.nv.NVMLError as e:
            if getattr(e, "value", None) == self.nv.NVML_ERROR_NOT_SUPPORTED:
                self.unsupported.add(key)
                return None
            raise

    def sample(self, t_ns: int) -> None:
        nv, b = self.nv, self.b
        assert self.target is not None
        pid = self.target.pid
        pcie = self._tick % self.pcie_every == 0
        for i, h in enumerate(self.handles):
            g = f"gpu{i} "
            u = self._read("utilization", lambda h=h: nv.nvmlDeviceGetUtilizationRates(h))
            if u is not None:
                b.counter(g + "util %", t_ns, u.gpu, pid)
                b.counter(g + "mem util %", t_ns, u.memory, pid)
            m = self._read("memory", lambda h=h: nv.nvmlDeviceGetMemoryInfo(h))
            if m is not None:
                b.counter(g + "memory MiB", t_ns, m.used / 2**20, pid)
            p = self._read("power", lambda h=h: nv.nvmlDeviceGetPowerUsage(h))
            if p is not None:
                b.counter(g + "power W", t_ns, p / 1000.0, pid)
            e = self._read("energy", lambda h=h: nv.nvmlDeviceGetTotalEnergyConsumption(h))
            if e is not None:
                e0 = self._energy0.setdefault(i, float(e))
                b.counter(g + "energy J", t_ns, (float(e) - e0) / 1000.0, pid)
            for key, clk in (("sm clock MHz", nv.NVML_CLOCK_SM), ("mem clock MHz", nv.NVML_CLOCK_MEM)):
                c = self._read(key, lambda h=h, clk=clk: nv.nvmlDeviceGetClockInfo(h, clk))
                if c is not None:
                    b.counter(g + key, t_ns, c, pid)
            tc = self._read(
                "temperature", lambda h=h: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)
            )
            if tc is not None:
                b.counter(g + "temperature C", t_ns, tc, pid)
            r = self._read("throttle reasons", lambda h=h: _clock_event_reasons(nv, h))
            if r is not None:
                b.counter(g + "throttle reasons", t_ns, int(r), pid)
            if pcie:
                for key, ctr in (
                    ("pcie tx MB/s", nv.NVML_PCIE_UTIL_TX_BYTES),
                    ("pcie rx MB/s", nv.NVML_PCIE_UTIL_RX_BYTES),
                ):
                    kb = self._read(key, lambda h=h, ctr=ctr: nv.nvmlDeviceGetPcieThroughput(h, ctr))
                    if kb is not None:  # NVML reports KB/s
                        b.counter(g + key, t_ns, kb / 1000.0, pid)
        self._tick += 1
        if self.driver_samples and self._tick % max(1, int(self.rate_hz)) == 0:
            self._fetch_driver_samples()

    def _fetch_driver_samples(self) -> None:
        """Pull the driver's buffered samples since the last fetch and re-base them."""
        if not self.driver_samples or self.target is None:
            return
        nv, b, pid = self.nv, self.b, self.target.pid
        for i, h in enumerate(self.handles):
            for st, label in _DRIVER_SAMPLES.items():
                key = f"driver samples {st}"
                if key in self.unsupported:
                    continue
                last = self._last_driver_us[(i, st)]
                try:
                    vtype, samples = nv.nvmlDeviceGetSamples(h, st, last)
                except nv.NVMLError as e:
                    # NOT_FOUND: nothing new since ``last``; NOT_SUPPORTED: never on this GPU
                    if getattr(e, "value", None) == nv.NVML_ERROR_NOT_SUPPORTED:
                        self.unsupported.add(key)
                    elif getattr(e, "value", None) != getattr(nv, "NVML_ERROR_NOT_FOUND", -1):
                        raise
                    continue
                scale = 1e-3 if st == 0 else 1.0  # power samples are in mW
                for ts_us, v in driver_sample_values(vtype, samples):
                    if ts_us <= last:
                        continue
                    b.counter(f"gpu{i} {label}", ts_us * 1000 - self.target.epoch_offset_ns, v * scale, pid)
                    self._last_driver_us[(i, st)] = max(self._last_driver_us[(i, st)], ts_us)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "gpus": self.gpus, "unsupported": sorted(self.unsupported)}


def _clock_event_reasons(nv: Any, h: Any) -> int:
    fn = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None)
    if fn is None:  # older nvidia-ml-py
        fn = nv.nvmlDeviceGetCurrentClocksThrottleReasons
    return int(fn(h))


def _run_now() -> int:
    from profiler.core.clock import now_ns

    return now_ns()


_GPU_RE = re.compile(r"^gpu(\d+) power W$")


def _energy_from_counter(
    ts: np.ndarray, joules: np.ndarray, windows: Sequence[tuple[int, int]]
) -> float | None:
    if len(ts) < 2:
        return None
    total = 0.0
    for a, b in windows:
        if a < ts[0] or b > ts[-1]:
            return None  # a window outside the sampled range: no honest interpolation
        total += float(np.interp(b, ts, joules) - np.interp(a, ts, joules))
    return total


def _energy_from_power(ts: np.ndarray, watts: np.ndarray, windows: Sequence[tuple[int, int]]) -> float | None:
    if len(ts) < 2:
        return None
    total = 0.0
    for a, b in windows:
        if a < ts[0] or b > ts[-1]:
            return None
        inner = (ts > a) & (ts < b)
        t = np.concatenate([[a], ts[inner], [b]])
        p = np.concatenate([[np.interp(a, ts, watts)], watts[inner], [np.interp(b, ts, watts)]])
        total += float(np.sum((p[1:] + p[:-1]) / 2 * np.diff(t)) / 1e9)
    return total


def nvml_summary(events: EventTable, pid: int, windows: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    """Per-GPU power, energy per step and throttling during ``windows`` (empty without NVML data)."""
    out = []
    gpus = sorted({int(m.group(1)) for n in events.counter_names() if (m := _GPU_RE.match(n))})
    for i in gpus:
        ts, w = events.counter_series(f"gpu{i} power W", pid)
        m = in_windows(ts, windows)
        rec: dict[str, Any] = {"gpu": i, "samples": int(m.sum())}
        if m.any():
            rec["mean_power_w"] = float(w[m].mean())
            rec["max_power_w"] = float(w[m].max())
        ets, ej = events.counter_series(f"gpu{i} energy J", pid)
        energy = _energy_from_counter(ets, ej, windows)
        rec["energy_source"] = "energy counter"
        if energy is None:
            energy = _energy_from_power(ts, w, windows)
            rec["energy_source"] = "integrated power"
        rec["energy_per_step_j"] = energy / len(windows) if energy is not None and windows else None
        rts, rv = events.counter_series(f"gpu{i} throttle reasons", pid)
        rm = in_windows(rts, windows)
        mask = int(np.bitwise_or.reduce(rv[rm].astype(np.int64))) if rm.any() else 0
        rec["throttle_reasons"] = decode_reasons(mask & THROTTLING_MASK)
        if rm.any():
            rec["throttled_pct"] = float(100.0 * np.mean((rv[rm].astype(np.int64) & THROTTLING_MASK) != 0))
        ut, uv = events.counter_series(f"gpu{i} util %", pid)
        um = in_windows(ut, windows)
        if um.any():
            rec["mean_util_pct"] = float(uv[um].mean())
        out.append(rec)
    return out


def nvml_summary_lines(figures: Any) -> list[str]:
    """The report's lines for :func:`nvml_summary`'s figures."""
    summary = {"nvml": figures}
    lines: list[str] = []
    for g in summary.get("nvml", []):
        parts = [f"GPU {g['gpu']}"]
        if g.get("mean_power_w") is not None:
            peak = f", max {g['max_power_w']:.0f} W" if g.get("max_power_w") is not None else ""
            parts.append(f"power mean {g['mean_power_w']:.0f} W{peak}")
        if g.get("energy_per_step_j") is not None:
            parts.append(f"energy {g['energy_per_step_j']:.2f} J/step ({g['energy_source']})")
        if g.get("mean_util_pct") is not None:
            parts.append(f"kernel-active {g['mean_util_pct']:.0f}% (utilization.gpu, not SM occupancy)")
        reasons = g.get("throttle_reasons") or []
        parts.append(
            f"throttled {g.get('throttled_pct', 0):.0f}% of samples: {', '.join(reasons)}"
            if reasons
            else "no throttling"
        )
        lines.append(" · ".join(parts))
    return lines
