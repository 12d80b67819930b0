"""CUPTI probe on CPU: record parsing, clock re-basing, flows and export, on a fixture built to
cupti-python's documented record layout (tests/data/probes/cupti_records.json says so itself)."""

from __future__ import annotations

import gzip
import json

import pytest
from conftest import DATA, have

from profiler.core.events import KERNEL, MEMCPY, MEMSET, RUNTIME, SYNC, split_device_tid
from profiler.export.chrome import ChromeTraceExporter
from profiler.probes import probe_class
from profiler.probes.base import ProbeTarget
from profiler.probes.cupti import ACTIVITY_KINDS, ClockMap, CuptiProbe, record_fields, records_to_events

FIX = DATA / "probes" / "cupti_records.json"


def _names(kind: str, cbid: int) -> str:
    return {
        ("RUNTIME", 211): "cudaLaunchKernel",
        ("RUNTIME", 31): "cudaMemcpy",
        ("DRIVER", 307): "cuLaunchKernel",
    }[(kind, cbid)]


@pytest.fixture
def table():
    d = json.loads(FIX.read_text())
    (c0, r0), (c1, r1) = d["clock"]
    return records_to_events(d["records"], 4242, ClockMap(c0, r0, c1, r1), name_api=_names)


def test_fixture_is_labelled_as_built_not_recorded():
    assert "NOT recorded" in json.loads(FIX.read_text())["provenance"]


def test_never_collects_the_serialising_kernel_kind():
    assert "CONCURRENT_KERNEL" in ACTIVITY_KINDS and "KERNEL" not in ACTIVITY_KINDS


def test_kernels_on_stream_tracks_with_launch_attributes(table):
    rows = list(table.iter_spans(table.cat_mask(KERNEL)))
    assert rows[0]["name"].startswith("RNN_blockPersist_fp_LSTM")
    k = rows[0]
    assert split_device_tid(k["tid"]) == (0, 7)
    assert k["args"]["grid"] == [64, 1, 1] and k["args"]["block"] == [256, 1, 1]
    assert k["args"]["registers_per_thread"] == 96 and k["args"]["dynamic_shared_memory"] == 49152
    assert k["corr"] == 11
    assert split_device_tid(rows[1]["tid"]) == (0, 13)


def test_rebasing_onto_the_run_clock(table):
    k = next(table.iter_spans(table.cat_mask(KERNEL)))
    # cupti 1000005000 -> run 5000005000 (offset 4e9, slope 1 on the fixture's clock pairs)
    assert k["start_ns"] == 5000005000 and k["dur_ns"] == 20000


def test_clock_map_absorbs_drift():
    m = ClockMap(0, 100, 1000, 1102)  # the source runs 0.2% slow
    assert m(0) == 100 and m(1000) == 1102 and m(500) == 601
    assert ClockMap.offset(40)(140) == 100


def test_memcpy_memset_runtime_sync(table):
    mc = next(table.iter_spans(table.cat_mask(MEMCPY)))
    assert mc["name"] == "Memcpy DtoH" and mc["bytes"] == 1048576 and mc["corr"] == 12
    ms = next(table.iter_spans(table.cat_mask(MEMSET)))
    assert ms["bytes"] == 4096
    rt = {r["name"]: r for r in table.iter_spans(table.cat_mask(RUNTIME))}
    assert set(rt) == {"cudaLaunchKernel", "cudaMemcpy", "cuLaunchKernel"}
    assert rt["cudaLaunchKernel"]["tid"] == 4242 and rt["cuLaunchKernel"]["tid"] == 4243
    sy = next(table.iter_spans(table.cat_mask(SYNC)))
    assert sy["name"] == "sync: cudaDeviceSynchronize" and sy["corr"] == -1


def test_flows_link_each_launch_to_its_kernel_in_the_chrome_trace(table, tmp_path):
    out = ChromeTraceExporter().write(table, tmp_path / "t.json.gz")
    evs = json.loads(gzip.decompress(out.read_bytes()))["traceEvents"]
    starts = {e["id"]: e for e in evs if e["ph"] == "s"}
    ends = {e["id"]: e for e in evs if e["ph"] == "f"}
    assert set(starts) == set(ends) == {11, 12, 13}
    names = {(e["pid"], e["tid"], e["ts"]): e["name"] for e in evs if e["ph"] == "X"}
    assert names[(ends[11]["pid"], ends[11]["tid"], ends[11]["ts"])].startswith("RNN_blockPersist")
    assert names[(starts[11]["pid"], starts[11]["tid"], starts[11]["ts"])] == "cudaLaunchKernel"


@pytest.mark.skipif(not have("cupti"), reason="cupti-python is not installed")
def test_api_names_come_from_cupti_enums_without_a_driver():
    from profiler.probes.cupti import api_name

    assert api_name("RUNTIME", 211) == "cudaLaunchKernel"
    assert api_name("DRIVER", 307) == "cuLaunchKernel"


def test_record_fields_reads_activity_attributes():
    class Act:  # attribute access, as cupti-python's ActivityKernel10 objects give it
        kind = "CONCURRENT_KERNEL"
        start, end, name, correlation_id = 1, 2, "k", 3
        device_id = context_id = stream_id = 0
        grid_x = grid_y = grid_z = block_x = block_y = block_z = 1
        registers_per_thread = static_shared_memory = dynamic_shared_memory = 0

    rec = record_fields(Act())
    assert rec["kind"] == "CONCURRENT_KERNEL" and rec["name"] == "k" and rec["correlation_id"] == 3


def test_unavailable_here_says_why(monkeypatch):
    import profiler.probes.cupti as mod

    monkeypatch.setattr(mod, "_cuda_driver_problem", lambda: "no CUDA driver (libcuda.so.1 cannot be loaded)")
    av = probe_class("cupti").availability()
    assert not av.available and "libcuda" in av.reason


def test_defers_to_torch_when_torch_collects_cuda(monkeypatch):
    p = CuptiProbe()
    monkeypatch.setattr(CuptiProbe, "_torch_has_cuda", staticmethod(lambda: True))
    t = ProbeTarget(pid=1, extra={"probes": ["torch", "cupti"], "torch_cuda": True})
    p.start(t)  # must not touch CUPTI (there is no driver here)
    p.stop()
    assert p.info()["cuda_activity"].startswith("torch.profiler")
    assert len(p.events()) == 0
