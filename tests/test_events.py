"""The event model: building, querying, merging, re-basing and storing events."""

from __future__ import annotations

import numpy as np
import pytest

from profiler.core.errors import InputError
from profiler.core.events import (
    KERNEL,
    OP,
    STEP,
    EventBuilder,
    EventTable,
    device_tid,
    split_device_tid,
)


def _table() -> EventTable:
    b = EventBuilder()
    b.name_process(10, "worker")
    b.name_thread(10, 0, "steps")
    b.span(STEP, "step 0", 1_000, 500, 10, 0, args={"index": 0, "traced": True})
    b.span(OP, "aten::mm", 1_100, 200, 10, 1, flops=2e6, shapes="[[4, 8], [8, 4]]")
    b.span(KERNEL, "sgemm", 1_150, 100, 10, device_tid(0, 7), corr=42)
    b.counter("power_w", 1_000, 75.5, pid=10)
    b.counter("power_w", 1_400, 80.0, pid=10)
    b.instant("oom", 1_300, 10, 0, args={"bytes": 5})
    b.sample(1_200, 10, 0, ["main", "step", "forward"])
    b.sample(1_250, 10, 0, ["main", "step", "forward"])
    return b.build()


def test_builder_columns_and_queries():
    t = _table()
    assert t.n_spans == 3
    assert len(t) == 3 + 2 + 1 + 2
    assert t.span_names() == ["step 0", "aten::mm", "sgemm"]
    assert t.cat_mask(OP, KERNEL).tolist() == [False, True, True]
    rows = list(t.iter_spans(t.cat_mask(OP)))
    assert rows[0]["flops"] == 2e6 and rows[0]["shapes"] == "[[4, 8], [8, 4]]"
    assert np.isnan(next(t.iter_spans(t.cat_mask(STEP)))["flops"])
    ts, v = t.counter_series("power_w")
    assert ts.tolist() == [1_000, 1_400] and v.tolist() == [75.5, 80.0]
    assert len(t.stacks) == 1  # identical stacks interned once
    assert t.time_range() == (1_000, 1_500)


def test_device_tid_roundtrip():
    assert split_device_tid(device_tid(3, 21)) == (3, 21)
    assert split_device_tid(12345) is None


def test_save_load_roundtrip(tmp_path):
    t = _table()
    p = tmp_path / "events.npz"
    t.save(p)
    u = EventTable.load(p)
    for k in t.spans:
        np.testing.assert_array_equal(t.spans[k], u.spans[k])
    assert u.span_args == t.span_args
    assert u.instant_args == {0: {"bytes": 5}}
    assert u.processes == {10: "worker"} and u.threads == {(10, 0): "steps"}
    assert u.stacks == t.stacks
    assert u.strings.strings == t.strings.strings


@pytest.mark.parametrize("compress", [True, False])
def test_saved_file_is_a_plain_npz(tmp_path, compress):
    """What np.savez_compressed (np.savez uncompressed) would write: the same members, each a .npy
    that np.load reads without pickles, deflated (stored)."""
    import io
    import zipfile

    t = _table()
    p = tmp_path / "events.npz"
    t.save(p, compress=compress)
    with zipfile.ZipFile(p) as z:
        infos = z.infolist()
    assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED}
    ref = io.BytesIO()
    with np.load(p, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez_compressed(ref, **arrays)
    with zipfile.ZipFile(ref) as z:
        assert [i.filename for i in infos] == [i.filename for i in z.infolist()]
    assert all(i.filename.endswith(".npy") for i in infos) and "meta.json" in arrays
    for k, v in t.spans.items():
        assert arrays[f"span.{k}"].dtype == v.dtype
        np.testing.assert_array_equal(arrays[f"span.{k}"], v)  # NaN (no FLOPs) equals NaN here
    assert EventTable.load(p).span_args == t.span_args


def test_concat_reinterns_strings_and_offsets_args():
    a, b2 = _table(), EventBuilder()
    b2.span(OP, "other", 5, 5, 11, 1, args={"x": 1})
    b2.sample(6, 11, 1, ["main", "other"])
    m = EventTable.concat([a, b2.build()])
    assert m.n_spans == 4
    assert m.span_names()[-1] == "other"
    assert m.span_args[3] == {"x": 1}
    assert m.span_args[0] == {"index": 0, "traced": True}
    # the second table's sample stack points at its own frames
    st = m.stacks[int(m.samples["stack"][-1])]
    assert [m.strings[i] for i in st] == ["main", "other"]
    m.validate()


def test_shifted_moves_every_timestamp():
    t = _table().shifted(-1_000)
    assert t.time_range() == (0, 500)
    assert int(t.samples["ts_ns"][0]) == 200


def test_negative_duration_is_clamped_by_builder():
    b = EventBuilder()
    b.span(OP, "x", 10, -5, 1, 1)
    assert int(b.build().spans["dur_ns"][0]) == 0


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04garbage"])
def test_load_rejects_garbage_with_one_line(tmp_path, content):
    p = tmp_path / "bad.npz"
    p.write_bytes(content)
    with pytest.raises(InputError) as e:
        EventTable.load(p)
    assert "\n" not in str(e.value)


def test_load_rejects_foreign_npz_and_missing(tmp_path):
    p = tmp_path / "foreign.npz"
    np.savez(p, a=np.arange(3))
    with pytest.raises(InputError, match="not a profiler events file"):
        EventTable.load(p)
    with pytest.raises(InputError, match="no such file"):
        EventTable.load(tmp_path / "missing.npz")


def test_million_spans_build_and_roundtrip_are_cheap(tmp_path):
    # Columnar storage: a million spans is a few arrays, not a million objects.
    n = 1_000_000
    t = EventTable()
    t.strings.intern("aten::add")
    t.spans = {
        "start_ns": np.arange(n, dtype=np.int64) * 10,
        "dur_ns": np.full(n, 5, np.int64),
        "cat": np.full(n, 2, np.int16),
        "name": np.zeros(n, np.int32),
        "pid": np.ones(n, np.int64),
        "tid": np.ones(n, np.int64),
        "flops": np.full(n, np.nan),
        "bytes": np.full(n, np.nan),
        "corr": np.full(n, -1, np.int64),
        "shapes": np.full(n, -1, np.int32),
    }
    t.validate()
    p = tmp_path / "big.npz"
    t.save(p)
    assert EventTable.load(p).n_spans == n
