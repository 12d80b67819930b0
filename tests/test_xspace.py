"""The TensorFlow profiler XSpace (*.xplane.pb) importer: mapping, clock, breakdown, bad input.

``tests/data/xspace/tiny_train.xplane.pb`` is a real recording (TF 2.21, CPU; re-record with
``tests/data/xspace/record.py``): two steps of a conv + dense model trained in a ``tf.function``,
each inside ``Trace("train", step_num=i, _r=1)``. The GPU-plane test builds its XSpace in code, to
the layout TF documents for ``/device:GPU:n`` and ``/host:CUPTI`` planes (no GPU build of TF runs
here). Reading needs TensorFlow's generated ``xplane_pb2`` (not a TensorFlow import).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from profiler.core.errors import InputError, UnavailableError
from profiler.core.events import DEVICE_TID_BASE, split_device_tid

xspace = pytest.importorskip("profiler.importers.xspace")

try:
    xspace.xplane_pb2()
    _HAVE_PB2 = True
except UnavailableError:
    _HAVE_PB2 = False

pytestmark = pytest.mark.skipif(not _HAVE_PB2, reason="TensorFlow's XSpace classes (xplane_pb2) are not installed")


@pytest.fixture
def fixture_path(data_dir):
    return data_dir / "xspace" / "tiny_train.xplane.pb"


@pytest.fixture
def wall(data_dir):
    return json.loads((data_dir / "xspace" / "tiny_train.json").read_text())


def _rows(table, cat=None):
    return [r for r in table.iter_spans() if cat is None or r["cat"] == cat]


def test_real_recording_maps_ops_steps_and_runtime(fixture_path):
    t = xspace.load_xspace(fixture_path, pid=42)
    steps = _rows(t, "step")
    assert [r["args"]["index"] for r in steps] == [0, 1]
    ops = _rows(t, "op")
    names = {r["name"] for r in ops}
    # TF op kernels are named by op type; on x86 TF rewrites them to oneDNN kernels.
    assert any("Conv2D" in n for n in names), names
    assert any("MatMul" in n for n in names), names
    assert all(":" not in n for n in names)
    assert all(r["args"].get("tf_op") for r in ops)  # node names kept
    runtime = {r["name"] for r in _rows(t, "runtime")}
    assert "ExecutorState::Process" in runtime or "EagerExecute" in runtime
    assert all(r["dur_ns"] > 0 for r in t.iter_spans())  # zero-length flow markers dropped
    assert set(t.spans["pid"].tolist()) == {42}
    assert (t.spans["tid"] < DEVICE_TID_BASE).all()  # a CPU recording: host threads only
    assert len(set(t.spans["tid"].tolist())) >= 2  # the Python thread and a TF compute thread


def test_unix_time_and_rebasing(fixture_path, wall):
    t = xspace.load_xspace(fixture_path)
    lo, hi = t.time_range()
    # Event times are profile_start_time + line offset + event offset: inside the recorded window.
    assert wall["wall_before_start_ns"] <= lo <= hi <= wall["wall_after_stop_ns"]
    off = 123_456_789
    t2 = xspace.load_xspace(fixture_path, epoch_offset_ns=off)
    assert np.array_equal(t2.spans["start_ns"], t.spans["start_ns"] - off)


def test_ops_fall_inside_their_steps(fixture_path):
    t = xspace.load_xspace(fixture_path)
    steps = _rows(t, "step")
    for r in _rows(t, "op"):
        assert any(s["start_ns"] <= r["start_ns"] and r["start_ns"] + r["dur_ns"] <= s["start_ns"] + s["dur_ns"]
                   for s in steps), r


def test_breakdown_of_a_standalone_recording_closes(fixture_path):
    from profiler.analysis.breakdown import breakdown

    t = xspace.load_xspace(fixture_path)
    bd = breakdown(t)
    assert bd.basis == "host ops"
    assert bd.n_steps == 2
    assert abs(bd.residual_ms) < 1e-6
    assert bd.ms["compute"] > 0


def test_steps_false_keeps_markers_as_regions(fixture_path):
    t = xspace.load_xspace(fixture_path, steps=False)
    assert not _rows(t, "step")
    assert {r["name"] for r in _rows(t, "region")} >= {"train"}


@pytest.mark.slow
def test_loading_never_imports_tensorflow(fixture_path):
    code = (
        "import sys; from profiler.importers.xspace import load_xspace; "
        f"t = load_xspace({str(fixture_path)!r}); print(t.n_spans, 'tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    n, imported = out.stdout.split()
    assert int(n) > 0 and imported == "False"


def test_a_log_directory_reads_its_newest_profile(tmp_path, fixture_path):
    d = tmp_path / "plugins" / "profile" / "2026_01_01_00_00_00"
    d.mkdir(parents=True)
    (d / "host.xplane.pb").write_bytes(fixture_path.read_bytes())
    assert xspace.load_xspace(tmp_path).n_spans == xspace.load_xspace(fixture_path).n_spans
    empty = tmp_path / "empty_logdir"
    empty.mkdir()
    with pytest.raises(InputError, match=r"no \*\.xplane\.pb"):
        xspace.load_xspace(empty)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b'{"traceEvents": []}',
        bytes(range(256)) * 4,
        b"PK\x03\x04" + b"\x00" * 60,
    ],
    ids=["empty", "chrome-json", "random-bytes", "zip-header"],
)
def test_foreign_files_are_one_line_input_errors(tmp_path, content):
    p = tmp_path / "x.xplane.pb"
    p.write_bytes(content)
    with pytest.raises(InputError) as e:
        xspace.load_xspace(p)
    assert "\n" not in str(e.value) and str(p) in str(e.value)


def test_truncated_and_missing_files(tmp_path, fixture_path):
    data = fixture_path.read_bytes()
    p = tmp_path / "cut.xplane.pb"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError):
        xspace.load_xspace(p)
    with pytest.raises(InputError, match="no such file"):
        xspace.load_xspace(tmp_path / "absent.xplane.pb")


def _gpu_space():
    """An XSpace laid out as TF writes GPU runs: CUPTI host plane, one stream line, derived lines."""
    pb = xspace.xplane_pb2()
    space = pb.XSpace(hostnames=["gpuhost"])
    env = space.planes.add(name="Task Environment")
    env.stat_metadata[1].name = "profile_start_time"
    env.stats.add(metadata_id=1, uint64_value=1_700_000_000_000_000_000)

    gpu = space.planes.add(name="/device:GPU:0", id=1)
    for k, name in ((1, "correlation_id"), (2, "memcpy_details"), (3, "tf_op"), (4, "flops")):
        gpu.stat_metadata[k].name = name
    gpu.event_metadata[1].name = "volta_sgemm_128x64_nn"
    gpu.event_metadata[2].name = "MemcpyH2D"
    stream = gpu.lines.add(id=7, name="Stream #7(Compute)", timestamp_ns=1_000)
    ev = stream.events.add(metadata_id=1, offset_ps=2_000_000, duration_ps=5_000_000)
    ev.stats.add(metadata_id=1, uint64_value=99)
    ev.stats.add(metadata_id=3, str_value="dense/MatMul:MatMul")
    ev.stats.add(metadata_id=4, uint64_value=1_000_000)
    mc = stream.events.add(metadata_id=2, offset_ps=8_000_000, duration_ps=1_000_000)
    mc.stats.add(metadata_id=2, str_value="kind_src:host kind_dst:device size:4096")
    derived = gpu.lines.add(id=10_000, name="TensorFlow Ops", timestamp_ns=1_000)
    derived.events.add(metadata_id=1, offset_ps=2_000_000, duration_ps=5_000_000)

    cupti = space.planes.add(name="/host:CUPTI", id=2)
    cupti.stat_metadata[1].name = "correlation_id"
    cupti.event_metadata[1].name = "cuLaunchKernel"
    cupti.event_metadata[2].name = "cuStreamSynchronize"
    line = cupti.lines.add(id=123, name="python", timestamp_ns=1_000)
    launch = line.events.add(metadata_id=1, offset_ps=1_000_000, duration_ps=500_000)
    launch.stats.add(metadata_id=1, uint64_value=99)
    line.events.add(metadata_id=2, offset_ps=1_600_000, duration_ps=8_000_000)
    return space


def test_gpu_planes_built_to_the_documented_layout(tmp_path):
    p = tmp_path / "gpu.xplane.pb"
    p.write_bytes(_gpu_space().SerializeToString())
    t = xspace.load_xspace(p, pid=7)
    rows = {r["name"]: r for r in t.iter_spans()}
    k = rows["volta_sgemm_128x64_nn"]
    assert k["cat"] == "kernel" and k["corr"] == 99 and k["flops"] == 1_000_000
    assert split_device_tid(k["tid"]) == (0, 7)
    assert k["start_ns"] == 1_700_000_000_000_000_000 + 1_000 + 2_000 and k["dur_ns"] == 5_000
    assert rows["MemcpyH2D"]["cat"] == "memcpy"
    assert rows["cuLaunchKernel"]["cat"] == "runtime" and rows["cuLaunchKernel"]["corr"] == 99
    assert rows["cuStreamSynchronize"]["cat"] == "sync"
    # the derived "TensorFlow Ops" line repeats the kernel and is not read twice
    assert sum(r["name"] == "volta_sgemm_128x64_nn" for r in t.iter_spans()) == 1


def test_input_pipeline_ops_are_shown_but_not_counted_as_step_work(tmp_path):
    pb = xspace.xplane_pb2()
    space = pb.XSpace()
    host = space.planes.add(name="/host:CPU")
    host.event_metadata[1].name = "DecodeJpeg:DecodeJpeg"
    host.event_metadata[1].display_name = "DecodeJpeg"
    host.event_metadata[2].name = "conv/Relu:_MklNativeFusedConv2D"
    host.event_metadata[2].display_name = "_MklNativeFusedConv2D"
    data_line = host.lines.add(id=1, name="tf_data_private_threadpool/123", timestamp_ns=1_800_000_000_000_000_000)
    data_line.events.add(metadata_id=1, offset_ps=0, duration_ps=1_000_000)
    compute_line = host.lines.add(id=2, name="tf_Compute/9", timestamp_ns=1_800_000_000_000_000_000)
    compute_line.events.add(metadata_id=2, offset_ps=0, duration_ps=1_000_000)
    p = tmp_path / "pipe.xplane.pb"
    p.write_bytes(space.SerializeToString())
    rows = {r["name"]: r for r in xspace.load_xspace(p).iter_spans()}
    assert rows["DecodeJpeg"]["cat"] == "region" and rows["DecodeJpeg"]["args"]["input_pipeline"]
    assert rows["_MklNativeFusedConv2D"]["cat"] == "op"
