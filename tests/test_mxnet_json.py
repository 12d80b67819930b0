"""Reading MXNet profiler JSON into the event model (no MXNet needed).

``tests/data/mxnet/mlp_train_profile.json`` is a real profile recorded here with MXNet 1.9.1 on CPU:
two training steps of an imperative Gluon MLP (Dense(32, sigmoid) → Dense(4), batch 8, softmax
cross-entropy, SGD with momentum), ``mx.profiler.set_config(profile_all=True)``, each step followed
by ``mx.nd.waitall()``.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from profiler.analysis.breakdown import breakdown
from profiler.core.errors import InputError
from profiler.core.events import DEVICE_TID_BASE, OP, RUNTIME, STEP, SYNC, EventBuilder, EventTable
from profiler.importers.mxnet_json import MXNET_TID_BASE, load_mxnet_profile, parse_mxnet_trace

PROFILE = "mxnet/mlp_train_profile.json"


@pytest.fixture
def profile(data_dir):
    return data_dir / PROFILE


def test_real_profile_operators_and_api_calls(profile):
    t = load_mxnet_profile(profile, pid=42)
    rows = list(t.iter_spans())
    ops = Counter(r["name"] for r in rows if r["cat"] == OP)
    # 2 steps × 2 Dense layers forward; one fused multi-tensor SGD update and one softmax per step
    assert ops["FullyConnected"] == 4
    assert ops["multi_sgd_mom_update"] == 2
    assert ops["log_softmax"] == 2
    syncs = [r["name"] for r in rows if r["cat"] == SYNC]
    assert syncs == ["MXNDArrayWaitAll", "MXNDArrayWaitAll"]
    runtime = Counter(r["name"] for r in rows if r["cat"] == RUNTIME)
    assert runtime["MXImperativeInvokeEx"] > 0 and runtime["DeleteVariable"] > 0
    assert all(r["pid"] == 42 for r in rows)
    # every MXNet thread is a host thread of the worker, named after MXNet's device/domain
    tids = {r["tid"] for r in rows}
    assert all(MXNET_TID_BASE <= tid < DEVICE_TID_BASE for tid in tids)
    names = {t.threads[(42, tid)] for tid in tids}
    assert "mxnet MXNET_C_API (thread 1)" in names
    assert any(n.startswith("mxnet cpu/0") for n in names)
    assert t.counter_names() == ["mxnet Memory: cpu/0"]


def test_operator_domain_duplicates_are_dropped(profile):
    doc = json.loads(profile.read_text())
    n_async_ops = sum(1 for e in doc["traceEvents"] if e.get("cat") == "operator" and e.get("ph") == "b")
    n_device_ops = sum(1 for e in doc["traceEvents"] if e.get("cat") == "operator" and e.get("ph") == "B")
    assert n_async_ops == n_device_ops > 0  # the recorded profile has both copies
    t, dropped = parse_mxnet_trace(doc)
    assert dropped["duplicate_async"] == n_async_ops
    assert dropped["unmatched_end"] == dropped["unclosed_begin"] == 0
    n_ops = sum(1 for r in t.iter_spans() if r["cat"] == OP) + sum(
        1 for r in t.iter_spans() if r["name"] in ("DeleteVariable", "DeleteOperator")
    )
    assert n_ops == n_device_ops


def test_rebasing_is_exact_integer_arithmetic(profile):
    doc = json.loads(profile.read_text())
    first_b = min(e["ts"] for e in doc["traceEvents"] if e.get("ph") in ("B", "b"))
    t0, _ = parse_mxnet_trace(doc, epoch_offset_ns=0)
    offset = 1_795_000_000_000_000_000
    t1, _ = parse_mxnet_trace(doc, epoch_offset_ns=offset)
    assert int(t0.spans["start_ns"].min()) == first_b * 1000  # µs → ns without float rounding
    assert np.array_equal(t1.spans["start_ns"], t0.spans["start_ns"] - offset)
    assert np.array_equal(t1.spans["dur_ns"], t0.spans["dur_ns"])
    assert (t0.spans["dur_ns"] >= 0).all()


def test_breakdown_of_imported_ops_closes(profile):
    t = load_mxnet_profile(profile, pid=7)
    lo = int(t.spans["start_ns"].min())
    hi = int((t.spans["start_ns"] + t.spans["dur_ns"]).max())
    b = EventBuilder()
    b.span(STEP, "step 0", lo, hi - lo, 7, 0, args={"index": 0, "traced": True})
    bd = breakdown(EventTable.concat([b.build(), t]), pid=7)
    assert bd.basis == "host ops"
    assert abs(bd.residual_ms) < 1e-6
    assert bd.ms["compute"] > 0  # FullyConnected
    assert bd.ms["memory_io"] > 0  # log_softmax, sgd_mom_update


def _doc(events):
    return {
        "traceEvents": [{"ph": "M", "name": "process_name", "pid": 0, "args": {"name": "cpu/0"}}, *events]
    }


def test_nesting_unmatched_and_complete_events():
    ev = [
        {"name": "outer", "cat": "operator", "ph": "B", "ts": 10, "pid": 0, "tid": 2**63 + 5},
        {"name": "inner", "cat": "operator", "ph": "B", "ts": 11, "pid": 0, "tid": 2**63 + 5},
        {"name": "inner", "cat": "operator", "ph": "E", "ts": 13, "pid": 0, "tid": 2**63 + 5},
        {"name": "outer", "cat": "operator", "ph": "E", "ts": 20, "pid": 0, "tid": 2**63 + 5},
        {"name": "stray", "cat": "operator", "ph": "E", "ts": 21, "pid": 0, "tid": 2**63 + 5},
        {"name": "open", "cat": "operator", "ph": "B", "ts": 22, "pid": 0, "tid": 1},
        {"name": "user task", "cat": "my domain", "ph": "X", "ts": 30.5, "dur": 2.25, "pid": 9, "tid": 1},
    ]
    t, dropped = parse_mxnet_trace(_doc(ev))
    rows = {r["name"]: r for r in t.iter_spans()}
    assert set(rows) == {"outer", "inner", "user task"}
    assert rows["outer"]["start_ns"] == 10_000 and rows["outer"]["dur_ns"] == 10_000
    assert rows["inner"]["dur_ns"] == 2_000
    assert rows["user task"]["cat"] == "region"
    assert rows["user task"]["start_ns"] == 30_500 and rows["user task"]["dur_ns"] == 2_250
    assert dropped["unmatched_end"] == 1 and dropped["unclosed_begin"] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "not valid JSON"),
        ('{"traceEvents": [', "not valid JSON"),
        ("[1, 2]", "not an MXNet profile"),
        ('{"displayTimeUnit": "ms"}', "not an MXNet profile"),
        ('{"traceEvents": [3]}', "traceEvents[0] is not an object"),
        ('{"traceEvents": [{"ph": "B", "name": "x", "pid": 0, "tid": 0}]}', "no name or numeric 'ts'"),
        ('{"traceEvents": [{"ph": "X", "name": "x", "ts": 1, "dur": "a"}]}', "non-numeric 'dur'"),
        ('{"traceEvents": [{"ph": "X", "name": "x", "ts": 1, "dur": -5}]}', "out-of-range 'dur'"),
        ('{"traceEvents": [{"ph": "B", "name": "x", "ts": 1e300}]}', "out-of-range 'ts'"),
        ('{"traceEvents": [{"ph": "B", "name": "x", "ts": 1, "pid": [1]}]}', "non-scalar 'pid'"),
    ],
)
def test_malformed_input_is_one_line_input_error(tmp_path, content, message):
    p = tmp_path / "profile.json"
    p.write_text(content)
    with pytest.raises(InputError) as e:
        load_mxnet_profile(p)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).startswith(str(p))


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_mxnet_profile(tmp_path / "absent.json")
    p = tmp_path / "binary.json"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match=r"cannot be read|not valid JSON"):
        load_mxnet_profile(p)


def test_events_appended_after_the_document_end_are_read(tmp_path):
    # MXNet appends later windows (and late engine clean-up) after the closed document, as it did
    # here for three windows profiled in one process: "...]}\n,\n{event}\n...]}".
    first = {"name": "dot", "cat": "operator", "ph": "B", "ts": 100, "pid": 0, "tid": 1}
    text = json.dumps(_doc([first, {**first, "ph": "E", "ts": 110}]), indent=4)
    text += '\n,\n\n    {"name": "dot", "cat": "operator", "ph": "B", "ts": 200, "pid": 0, "tid": 1}\n,\n'
    text += '    {"name": "dot", "cat": "operator", "ph": "E", "ts": 230, "pid": 0, "tid": 1,'
    text += ' "args": {"k": {"nested": 1}}}\n\n\n    ],\n    "displayTimeUnit": "ms"\n}\n'
    p = tmp_path / "appended.json"
    p.write_text(text)
    t = load_mxnet_profile(p)
    assert [(r["start_ns"], r["dur_ns"]) for r in t.iter_spans()] == [(100_000, 10_000), (200_000, 30_000)]
    # a reader of one window keeps only what started inside it
    from profiler.importers.mxnet_json import read_mxnet_json

    t2, dropped = parse_mxnet_trace(read_mxnet_json(text), window_ns=(150_000, 300_000))
    assert [r["start_ns"] for r in t2.iter_spans()] == [200_000]
    assert dropped["outside_window"] == 1
    # a torn tail keeps what parsed before it
    p.write_text(text[: text.rindex('"args"')])
    assert load_mxnet_profile(p).n_spans == 1


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("broadcast_add", "memory_io"),  # MXNet elementwise, not the broadcast collective
        ("_backward_broadcast_mul", "memory_io"),
        ("broadcast_to", "memory_io"),
        ("Activation", "memory_io"),
        ("SetValueOp", "memory_io"),
        ("pick", "memory_io"),
        ("Convolution", "compute"),
        ("FullyConnected", "compute"),
        ("RNN", "compute"),
        ("_ + _", "memory_io"),  # Chainer's labels for its arithmetic
        ("-_", "memory_io"),
        ("Reshape", "framework_overhead"),
        ("Convolution2DGradW", "compute"),
        ("ncclBroadcast", "communication"),  # the collectives keep their category
        ("c10d::broadcast_", "communication"),
    ],
)
def test_mxnet_and_chainer_op_names_get_the_kind_of_work_they_do(name, category):
    from profiler.core.opkinds import op_kind

    assert op_kind(name)[1] == category
