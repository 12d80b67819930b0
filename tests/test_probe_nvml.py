"""NVML probe without a GPU: availability reason, sampling and faults against a stand-in pynvml, the
driver's buffered samples re-based (fixture built to nvidia-ml-py's layout), and the report figures."""

from __future__ import annotations

import json
import time
import types

import pytest
from conftest import DATA

from profiler.core.events import EventBuilder
from profiler.core.hardware import gpu_present
from profiler.probes import probe_class
from profiler.probes.base import ProbeTarget
from profiler.probes.nvml import NvmlProbe, decode_reasons, driver_sample_values, nvml_summary
from profiler.probes.summary import summary_lines


class FakeNVMLError(Exception):
    def __init__(self, value):
        super().__init__(f"NVML error {value}")
        self.value = value


def fake_pynvml(fail_after: int | None = None, unsupported: tuple[str, ...] = ("pcie",)):
    """A stand-in for pynvml with one GPU: constant readings, optional failure after N power reads."""
    calls = {"power": 0}
    nv = types.SimpleNamespace(
        NVMLError=FakeNVMLError,
        NVML_ERROR_NOT_SUPPORTED=3,
        NVML_ERROR_NOT_FOUND=6,
        NVML_ERROR_GPU_IS_LOST=15,
        NVML_CLOCK_SM=1,
        NVML_CLOCK_MEM=2,
        NVML_TEMPERATURE_GPU=0,
        NVML_PCIE_UTIL_TX_BYTES=0,
        NVML_PCIE_UTIL_RX_BYTES=1,
    )
    nv.nvmlInit = lambda: None
    nv.nvmlShutdown = lambda: None
    nv.nvmlDeviceGetCount = lambda: 1
    nv.nvmlDeviceGetHandleByIndex = lambda i: f"h{i}"
    nv.nvmlDeviceGetName = lambda h: b"Fake GPU"
    nv.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=90, memory=40)
    nv.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=2 * 2**30)

    def power(h):
        calls["power"] += 1
        if fail_after is not None and calls["power"] > fail_after:
            raise FakeNVMLError(15)  # GPU is lost
        return 200000  # mW

    nv.nvmlDeviceGetPowerUsage = power
    nv.nvmlDeviceGetTotalEnergyConsumption = lambda h: 1000 * calls["power"]  # mJ
    nv.nvmlDeviceGetClockInfo = lambda h, c: 1410 if c == 1 else 1215
    nv.nvmlDeviceGetTemperature = lambda h, s: 55
    nv.nvmlDeviceGetCurrentClocksEventReasons = lambda h: 0x4 | 0x1

    def pcie(h, c):
        if "pcie" in unsupported:
            raise FakeNVMLError(3)
        return 1000

    nv.nvmlDeviceGetPcieThroughput = pcie
    nv.nvmlDeviceGetSamples = lambda h, st, last: (_ for _ in ()).throw(FakeNVMLError(3))
    return nv


def _run(monkeypatch, nv, seconds=0.3, rate=50.0):
    monkeypatch.setitem(__import__("sys").modules, "pynvml", nv)
    p = NvmlProbe({"rate_hz": rate})
    p.start(ProbeTarget(pid=77, epoch_offset_ns=0))
    time.sleep(seconds)
    p.stop()
    return p


@pytest.mark.skipif(gpu_present(), reason="a GPU is present")
def test_unavailable_here_with_the_reason():
    av = probe_class("nvml").availability()
    assert not av.available and ("NVML" in av.reason or "nvidia-ml-py" in av.reason)


def test_samples_every_metric_and_drops_unsupported_ones(monkeypatch):
    p = _run(monkeypatch, fake_pynvml())
    t = p.events()
    names = set(t.counter_names())
    for n in (
        "util %",
        "mem util %",
        "memory MiB",
        "power W",
        "energy J",
        "sm clock MHz",
        "mem clock MHz",
        "temperature C",
        "throttle reasons",
    ):
        assert f"gpu0 {n}" in names
    assert "gpu0 pcie tx MB/s" not in names
    assert "pcie tx MB/s" in p.info()["unsupported"]
    _, w = t.counter_series("gpu0 power W", 77)
    assert len(w) >= 5 and set(w.tolist()) == {200.0}
    assert not p.errors


def test_nvml_error_mid_run_stops_sampling_and_keeps_what_was_sampled(monkeypatch):
    p = _run(monkeypatch, fake_pynvml(fail_after=3))
    assert p.errors and "sampling stopped after 3 samples" in p.errors[0]
    assert p.info()["stopped_by_error"]
    _, w = p.events().counter_series("gpu0 power W", 77)
    assert len(w) == 3
    assert len(p.events().instants["ts_ns"]) == 1  # the error is on the timeline too


def test_driver_samples_fixture_decodes_and_rebases():
    d = json.loads((DATA / "probes" / "nvml_samples.json").read_text())
    assert "NOT recorded" in d["provenance"]
    samples = [
        types.SimpleNamespace(timeStamp=s["timeStamp"], sampleValue=types.SimpleNamespace(uiVal=s["uiVal"]))
        for s in d["power"]["samples"]
    ]
    vals = driver_sample_values(d["power"]["value_type"], samples)
    assert vals[1] == (1700000001020000, 250500.0)
    run_ns = vals[1][0] * 1000 - d["epoch_offset_ns"]
    assert run_ns == 1_020_000_000
    with pytest.raises(ValueError):
        driver_sample_values(99, samples)


def test_throttle_reason_names():
    assert decode_reasons(0x4 | 0x40) == ["sw_power_cap", "hw_thermal_slowdown"]


def test_summary_power_energy_throttling():
    b = EventBuilder()
    for k in range(11):  # 0..1 s at 100 ms, 200 W constant, energy counter 200 J/s
        t = k * 100_000_000
        b.counter("gpu0 power W", t, 200.0, 5)
        b.counter("gpu0 energy J", t, 0.2 * k * 100, 5)
        b.counter("gpu0 throttle reasons", t, 0x4 if k == 5 else 0x1, 5)
    t = b.build()
    windows = [(100_000_000, 300_000_000), (500_000_000, 700_000_000)]
    (g,) = nvml_summary(t, 5, windows)
    assert g["mean_power_w"] == 200.0 and g["energy_source"] == "energy counter"
    assert g["energy_per_step_j"] == pytest.approx(40.0)
    assert g["throttle_reasons"] == ["sw_power_cap"]
    line = summary_lines({"nvml": [g]})[0]
    assert "40.00 J/step" in line and "sw_power_cap" in line
