"""TensorFlow and Keras scenario implementations and the in-worker ``tensorflow`` probe.

Tiny sizes throughout: importing TensorFlow costs seconds, so the tests share one process where
they can and only one goes through a real worker.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from profiler.core.scenario import WorkloadSpec
from tests.conftest import have

pytestmark = [pytest.mark.skipif(not have("tensorflow"), reason="TensorFlow is not installed"), pytest.mark.slow]  # the framework runs in this process


class FakeContext:
    """The worker's Context, minus the event builder: regions are kept as (category, name)."""

    def __init__(self, spec: WorkloadSpec) -> None:
        self.spec = spec
        self.regions: list[tuple[str, str]] = []

    @property
    def params(self) -> dict[str, Any]:
        return self.spec.params

    @contextlib.contextmanager
    def region(self, category: str, name: str, **args: Any):
        yield
        self.regions.append((category, name))

    def log(self, message: str) -> None:
        pass


def _ctx(scenario: str, framework: str, variant: str, mode: str, params: dict, data: str = "ram") -> FakeContext:
    return FakeContext(
        # threads=None: TF's thread pools are fixed once the first test has run an op in this process
        WorkloadSpec(scenario, framework, variant, mode, "test", "cpu", params=params, threads=None, data=data)
    )


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_tf_fused_rnn_kernels_compute_what_the_unfused_ops_compute(cell):
    """BlockLSTMV2 / GRUBlockCell and the op-by-op cells agree, forward and backward.

    The backward check is what caught TF's registered BlockLSTMV2 gradient reading the gates in
    the wrong order; the module wires in BlockLSTMGradV2 itself.
    """
    import tensorflow as tf

    from scenarios.rnn.tensorflow_rnn import RNNClassifier

    fused = RNNClassifier(cell, True, vocab=40, embed=6, hidden=5, classes=3, seed=1)
    unfused = RNNClassifier(cell, False, vocab=40, embed=6, hidden=5, classes=3, seed=2)
    for a, b in zip(fused.trainable_variables, unfused.trainable_variables, strict=True):
        b.assign(a)
    x = tf.random.uniform((4, 7), 0, 40, dtype=tf.int32, seed=3)

    def forward_and_grads(m):
        with tf.GradientTape() as tape:
            out = m(x)
            loss = tf.reduce_sum(tf.sin(out))
        return out, [tf.convert_to_tensor(g) for g in tape.gradient(loss, m.trainable_variables)]

    out_f, g_f = forward_and_grads(fused)
    out_u, g_u = forward_and_grads(unfused)
    np.testing.assert_allclose(out_f.numpy(), out_u.numpy(), atol=1e-5)
    for gf, gu in zip(g_f, g_u, strict=True):
        np.testing.assert_allclose(gf.numpy(), gu.numpy(), atol=1e-5)


def test_keras_rnn_variants_train_and_have_equal_parameters():
    from scenarios.rnn import keras_rnn

    params = {"batch": 4, "seq_len": 5, "embed": 6, "hidden": 8, "vocab": 50, "classes": 2, "cell": "lstm"}
    counts = {}
    for variant in ("fused", "unfused"):
        ctx = _ctx("cudnn_lstm", "keras", variant, "train", params)
        w = keras_rnn.build(ctx)
        w.step()
        w.sync()
        counts[variant] = w.info["parameters"]
        assert ctx.regions == [("data_loading", "next_batch (ram)")]
    e, h, v, c = 6, 8, 50, 2
    assert counts["fused"] == counts["unfused"] == v * e + 4 * (e * h + h * h + h) + h * c + c


def test_fcn5_tensorflow_and_keras_build_the_same_network():
    from scenarios.fcn5_infer import _params, keras_impl, tensorflow_impl

    layers = [12, 8, 8, 8, 12]
    params = {"batch": 3, "layers": layers}
    for mod, fw in ((tensorflow_impl, "tensorflow"), (keras_impl, "keras")):
        w = mod.build(_ctx("fcn5_infer", fw, "default", "infer", params))
        w.step()
        assert w.info["parameters"] == _params(tuple(layers)), fw


def test_tf_data_disk_pipeline_decodes_the_dataset_files(tmp_path, monkeypatch):
    monkeypatch.setenv("PROFILER_DATA_DIR", str(tmp_path))
    from scenarios.data.dataset import dataset_for
    from scenarios.data.tf_input import TfBatches

    # images: 4 files, batches of 2 → an epoch is 2 batches; 3 batches cross into a second epoch
    img = {"batch": 2, "image_size": 16, "dataset_images": 4, "classes": 10, "loader_workers": 1}
    ctx = _ctx("resnet50_infer", "tensorflow", "default", "infer", img, data="disk")
    b = TfBatches(ctx, 10)
    for _ in range(3):
        x, y = b.next()
        assert x.shape == (2, 16, 16, 3) and y.shape == (2,)
        assert 0.0 <= float(x.numpy().min()) and float(x.numpy().max()) <= 1.0
    assert [r for r in ctx.regions if r[0] == "data_loading"] == [("data_loading", "next_batch (tf.data)")] * 3
    assert ("region", "evict page cache") in ctx.regions
    assert b.info["epochs"] == 2 and b.info["steps_per_epoch"] == 2

    # arrays: the raw float32 payload of every .npy file, header sliced off in the graph
    arr = {"batch": 2, "layers": [12, 8, 3], "dataset_items": 4, "loader_workers": 1}
    ctx = _ctx("fcn5_infer", "tensorflow", "default", "infer", arr, data="disk")
    b = TfBatches(ctx, 3)
    ds = dataset_for(arr, 0)
    files = {tuple(np.load(p).round(6)) for p in ds.paths()}
    for _ in range(2):
        x, _ = b.next()
        assert x.shape == (2, 12)
        assert {tuple(row.round(6)) for row in x.numpy()} <= files


@pytest.mark.slow
def test_trace_runs_the_tensorflow_probe_and_its_ops_land_in_the_traced_steps(cli, tmp_path):
    from profiler.core.events import EventTable

    r = cli(
        "trace", "-s", "cudnn_lstm", "-f", "tensorflow", "-v", "fused", "--steps", "2", "--warmup", "1",
        "--trace-steps", "1", "--threads", "1", "--probes", "tensorflow", "--out", str(tmp_path), "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    assert doc["variants"][0]["status"] == "ok"
    worker = next(Path(doc["run_dir"]).glob("workers/*"))
    result = json.loads((worker / "result.json").read_text())
    assert result["probes"]["tensorflow"]["ran"] and result["probes"]["tensorflow"]["tf_spans"] > 0
    # --threads reached TF's own thread pools (set before the model was built)
    assert result["info"]["intra_op_threads"] == result["info"]["inter_op_threads"] == 1
    assert (worker / result["probes"]["tensorflow"]["xspace"]).is_file()
    t = EventTable.load(worker / "events.parquet")
    ops = list(t.iter_spans(t.cat_mask("op")))
    names = {o["name"] for o in ops}
    assert {"BlockLSTMV2", "BlockLSTMGradV2"} <= names
    # Re-based onto the run clock: the fused kernel runs inside the traced step.
    traced = [s for s in t.iter_spans(t.cat_mask("step")) if s["args"].get("traced")]
    assert traced
    blk = [o for o in ops if o["name"] == "BlockLSTMV2"]
    assert any(
        s["start_ns"] <= o["start_ns"] and o["start_ns"] + o["dur_ns"] <= s["start_ns"] + s["dur_ns"]
        for o in blk
        for s in traced
    )
