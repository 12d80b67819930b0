"""The msgspec Chrome/Kineto reader: bad input as one line or a report of what was skipped, flows kept."""

from __future__ import annotations

import gzip
import json

import pytest

from profiler.core.errors import InputError
from profiler.core.events import OP, EventTable
from profiler.importers import load_trace
from profiler.importers.chrome_json import check_fits
from profiler.importers.kineto_json import read_kineto_json
from tests.conftest import DATA

CPU = DATA / "kineto" / "torch_cpu_small.json"


def _ev(name, ts, dur=1.0, **kw):
    return {"ph": "X", "cat": "cpu_op", "name": name, "pid": 7, "tid": 7, "ts": ts, "dur": dur, **kw}


def test_truncated_gzip_is_one_line(tmp_path):
    p = tmp_path / "t.json.gz"
    p.write_bytes(gzip.compress(CPU.read_bytes())[:5000])
    with pytest.raises(InputError, match="truncated gzip"):
        read_kineto_json(p)


def test_gzip_reads_like_plain(tmp_path):
    p = tmp_path / "t.json.gz"
    p.write_bytes(gzip.compress(CPU.read_bytes()))
    a, _ = read_kineto_json(CPU)
    b, _ = read_kineto_json(p)
    assert (a.spans["start_ns"] == b.spans["start_ns"]).all() and len(b.flows["id"]) == len(a.flows["id"])


def test_json_array_trace(tmp_path):
    p = tmp_path / "a.json"
    p.write_text(json.dumps([_ev("aten::mm", 10.0), _ev("aten::add", 12.0)]))
    imp = load_trace(p)
    assert imp.format == "kineto-json" and int(imp.table.cat_mask(OP).sum()) == 2


def test_leading_whitespace_in_either_form(tmp_path):
    # the reader no longer strips a copy of the file: the decoders skip the whitespace themselves
    evs = [_ev("aten::mm", 10.0), _ev("aten::add", 12.0)]
    for i, doc in enumerate((evs, {"traceEvents": evs, "schemaVersion": 1})):
        p = tmp_path / f"w{i}.json"
        p.write_text("\n \t\r\n" * 100 + json.dumps(doc))
        imp = load_trace(p)
        assert int(imp.table.cat_mask(OP).sum()) == 2


def test_missing_ts_skipped_and_reported(tmp_path):
    p = tmp_path / "m.json"
    bad = {"ph": "X", "cat": "cpu_op", "name": "x", "pid": 7, "tid": 7}
    p.write_text(json.dumps({"schemaVersion": 1, "traceEvents": [_ev("aten::mm", 10.0), bad, 3]}))
    t, facts = read_kineto_json(p)
    assert int(t.cat_mask(OP).sum()) == 1
    assert facts["skipped_events"]["without a numeric ts"] == 1 and facts["skipped_events"]["malformed"] == 1
    p.write_text(json.dumps({"schemaVersion": 1, "traceEvents": [bad]}))
    with pytest.raises(InputError, match=r"no complete .* 1 without a numeric ts"):
        read_kineto_json(p)


def test_duplicates_dropped_out_of_order_sorted(tmp_path):
    p = tmp_path / "d.json"
    evs = [_ev("b", 20.0), _ev("b", 20.0), _ev("a", 10.0)]
    p.write_text(json.dumps({"schemaVersion": 1, "traceEvents": evs}))
    t, facts = read_kineto_json(p)
    assert facts["skipped_events"]["duplicates"] == 1 and facts["reordered_events"] == 1
    assert t.span_names()[:2] == ["a", "b"]


def test_too_large_refused_with_needed_size(tmp_path):
    with pytest.raises(InputError, match=r"needs about .* GiB of memory"):
        check_fits(CPU, CPU.read_bytes()[:2], available=1000)


def test_flows_and_string_pids_survive_save(tmp_path):
    t, facts = read_kineto_json(CPU)
    assert facts["flows"] == len(t.flows["id"]) > 0
    assert (t.flows["dst_ts_ns"] >= t.flows["src_ts_ns"]).all()
    t.save(tmp_path / "e.npz")
    u = EventTable.load(tmp_path / "e.npz")
    assert (u.flows["id"] == t.flows["id"]).all()
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"schemaVersion": 1, "traceEvents": [dict(_ev("step", 1.0), pid="Spans")]}))
    s, _ = read_kineto_json(p)
    assert "Spans" in s.processes.values()


def test_mxnet_profile_takes_the_same_fast_path_read_once(monkeypatch):
    import profiler.importers.chrome_json as cj
    from profiler.importers.mxnet_json import parse_mxnet_trace, read_mxnet_json

    mx = DATA / "mxnet" / "mlp_train_profile.json"
    calls = []
    real = cj.read_bytes
    monkeypatch.setattr(cj, "read_bytes", lambda p: calls.append(p) or real(p))
    imp = load_trace(mx)
    assert imp.format == "mxnet-json" and len(calls) == 1  # one read serves the Kineto check and MXNet
    # the raw-slice path and the parsed-document path (the in-worker probe's) give the same table
    slow, _ = parse_mxnet_trace(read_mxnet_json(mx.read_text()), source=str(mx))
    assert imp.table.n_spans == slow.n_spans > 0
    for k in ("start_ns", "dur_ns", "cat", "tid"):
        assert (imp.table.spans[k] == slow.spans[k]).all()
    assert imp.table.span_names() == slow.span_names()
