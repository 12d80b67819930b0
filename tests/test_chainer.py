"""Chainer scenarios: DenseNet-121 from Chainer's layers, the zoo ResNet-50, FCN-5, disk loading through
``MultiprocessIterator``, and the in-worker ``chainer`` probe (function hooks)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from profiler.core.events import OP, EventBuilder
from profiler.probes.chainer_tracer import SpanRecorder, shapes_of
from tests.conftest import have, run_cli

pytestmark = pytest.mark.slow  # the framework runs in this process or in workers

needs_chainer = pytest.mark.skipif(not have("chainer"), reason="chainer is not installed")


# ------------------------------------------------------------------ the hook body (no Chainer needed)
class _Arr:
    def __init__(self, *shape: int) -> None:
        self.shape = shape


def test_recorder_nests_and_pops_back_to_the_matching_call():
    ticks = iter(range(0, 1000, 10))
    b = EventBuilder()
    r = SpanRecorder(b, pid=5, clock=lambda: next(ticks))
    r.begin("Conv backward", [_Arr(2, 3)])  # t=0
    r.begin("ConvGradW", [_Arr(2, 3), _Arr(4)])  # t=10
    r.end("ConvGradW")  # t=20
    r.begin("Deconv", None)  # t=30: raises inside, never ends
    r.end("Conv backward")  # t=40: pops the open Deconv first
    t = b.build()
    rows = {x["name"]: x for x in t.iter_spans()}
    assert set(rows) == {"Conv backward", "ConvGradW"}
    assert (rows["Conv backward"]["start_ns"], rows["Conv backward"]["dur_ns"]) == (0, 40)
    assert (rows["ConvGradW"]["start_ns"], rows["ConvGradW"]["dur_ns"]) == (10, 10)
    assert rows["ConvGradW"]["shapes"] == "[[2, 3], [4]]"
    assert all(x["cat"] == OP and x["pid"] == 5 for x in rows.values())
    assert r.calls == 2 and r.unmatched == 1
    r.end("never begun")
    assert r.unmatched == 2


def test_shapes_of_handles_missing_inputs():
    assert shapes_of(None) is None
    assert shapes_of([None, None]) is None
    assert shapes_of([_Arr(3), None]) == "[[3], []]"


# --------------------------------------------------------------------------------- Chainer itself
def _ctx(scenario: str, params: dict[str, Any], mode: str, data: str = "ram") -> Any:
    from profiler.core.scenario import WorkloadSpec
    from profiler.run.worker import Context

    spec = WorkloadSpec(scenario, "chainer", "default", mode, "test", "cpu", params, data=data)
    return Context(spec, EventBuilder(), os.getpid())


@pytest.mark.slow
@needs_chainer
def test_densenet121_from_chainer_layers_matches_the_reference_architecture():
    import chainer.links as L
    import numpy as np

    from scenarios.densenet121_train.chainer_densenet import DenseNet121, parameter_count

    m = DenseNet121(1000)
    assert parameter_count(m) == 7_978_856  # torchvision / Keras / Gluon DenseNet-121
    convs = [lk for lk in m.links() if isinstance(lk, L.Convolution2D)]
    fcs = [lk for lk in m.links() if isinstance(lk, L.Linear)]
    assert len(convs) + len(fcs) == 121  # the "121": weighted layers
    assert all(c.b is None for c in convs)  # convolutions followed by batch norm carry no bias
    assert m.features_out == 1024
    y = m(np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32))
    assert y.shape == (2, 1000)


@pytest.mark.slow
@needs_chainer
def test_chainer_probe_records_forward_and_nested_backward():
    import chainer
    import chainer.functions as F
    import chainer.links as L
    import numpy as np

    from profiler.core.clock import now_ns
    from profiler.probes.base import ProbeTarget
    from profiler.probes.chainer_tracer import ChainerProbe

    lin = L.Linear(8, 16)
    x = np.ones((4, 8), np.float32)
    probe = ChainerProbe()
    t0 = now_ns()
    probe.start(ProbeTarget(pid=os.getpid()))
    loss = F.sum(F.relu(lin(x)))
    loss.backward()
    probe.stop()
    t1 = now_ns()
    F.relu(lin(x))  # after stop: not recorded
    rows = list(probe.events().iter_spans())
    names = [r["name"] for r in rows]
    assert names.count("LinearFunction") == 1 and names.count("ReLU") == 1
    assert "LinearFunction backward" in names and "ReLU backward" in names
    lin_fwd = next(r for r in rows if r["name"] == "LinearFunction")
    assert lin_fwd["shapes"] == "[[4, 8], [16, 8], [16]]"
    # functions called by a backward nest inside it
    bwd = next(r for r in rows if r["name"] == "LinearFunction backward")
    inner = [
        r
        for r in rows
        if r["start_ns"] > bwd["start_ns"]
        and r["start_ns"] + r["dur_ns"] <= bwd["start_ns"] + bwd["dur_ns"]
        and r is not bwd
    ]
    assert inner, "LinearFunction's gradient is computed by other functions, which must nest inside it"
    assert all(t0 <= r["start_ns"] and r["start_ns"] + r["dur_ns"] <= t1 for r in rows)
    assert probe.info()["unmatched"] == 0 and probe.info()["function_calls"] == len(rows)
    assert "profiler_spans" not in chainer.get_function_hooks()  # unregistered on stop


@pytest.mark.slow
@needs_chainer
def test_workloads_build_and_step():
    import chainer
    import numpy as np

    from scenarios.densenet121_train import chainer_impl as dn
    from scenarios.fcn5_infer import chainer_impl as fcn
    from scenarios.resnet50_infer import chainer_impl as rn

    w = fcn.build(_ctx("fcn5_infer", {"batch": 4, "layers": [32, 16, 16, 16, 8]}, "infer"))
    w.step()
    y = w.forward(w.model, w.pool[0][0]).array
    assert y.shape == (4, 8) and np.allclose(y.sum(axis=1), 1.0, atol=1e-5)
    assert w.info["parameters"] == 32 * 16 + 16 + 2 * (16 * 16 + 16) + 16 * 8 + 8

    w = rn.build(_ctx("resnet50_infer", {"batch": 1, "image_size": 32}, "infer"))
    w.step()
    # cut after pool5; Chainer's conv1 has a bias: 64 over the scenario's 23,508,032
    assert w.info["parameters"] == 23_508_096
    with chainer.using_config("train", False):
        assert w.forward(w.model, w.pool[0][0]).shape == (1, 2048)

    ctx = _ctx("densenet121_train", {"batch": 2, "image_size": 32}, "train")
    w = dn.build(ctx)
    before = w.model.conv0.W.array.copy()
    w.step()
    assert w.info["parameters"] == 7_978_856
    assert np.abs(w.model.conv0.W.array - before).max() > 0
    spans = [s["name"] for s in ctx._b.build().iter_spans()]
    assert spans == ["next_batch (ram)", "optimizer.update (MomentumSGD)"]


@pytest.mark.slow
@needs_chainer
def test_disk_mode_decodes_in_iterator_worker_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("PROFILER_DATA_DIR", str(tmp_path))
    from scenarios.resnet50_infer import chainer_impl as rn

    params = {"batch": 4, "image_size": 16, "dataset_images": 8, "classes": 10, "loader_workers": 2}
    ctx = _ctx("resnet50_infer", params, "infer", data="disk")
    w = rn.build(ctx)
    for _ in range(5):
        w.step()
    w.close()
    spans = list(ctx._b.build().iter_spans())
    assert sum(1 for s in spans if s["name"].startswith("next_batch (disk")) == 5
    assert sum(1 for s in spans if s["name"] == "evict page cache") == 3  # epochs of 2 batches
    decode_pids = {s["pid"] for s in spans if s["name"] == "decode"}
    assert decode_pids and os.getpid() not in decode_pids
    assert all(s["cat"] == "data_loading" for s in spans)


@pytest.mark.slow
@needs_chainer
def test_trace_fcn5_in_chainer_end_to_end(tmp_path):
    r = run_cli(
        "trace",
        "-s",
        "fcn5_infer",
        "-f",
        "chainer",
        "--preset",
        "mnist_cpu",
        "--warmup",
        "1",
        "--steps",
        "2",
        "--trace-steps",
        "1",
        "--out",
        str(tmp_path),
        "--json",
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    (v,) = doc["variants"]
    assert v["status"] == "ok" and v["framework"] == "chainer"
    assert abs(v["residual_pct"]) < 1.0
    assert v["breakdown_ms"]["compute"] > 0  # LinearFunction spans from the chainer probe
