"""The event store (``profiler/core/parquet.py``, ``docs/store.md``): an EventTable written as Parquet
tables reads back equal in every column of every table; pyarrow and DuckDB read it without our code
and its figures match the trace's own JSON; runs saved as ``events.npz`` still load."""

from __future__ import annotations

import errno
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from profiler.core.errors import InputError
from profiler.core.events import (
    _COUNTER_COLUMNS,
    _FLOW_COLUMNS,
    _INSTANT_COLUMNS,
    _SAMPLE_COLUMNS,
    _SPAN_COLUMNS,
    DEVICE_TID_BASE,
    EventBuilder,
    EventTable,
    device_tid,
)
from profiler.core.parquet import TABLES, table_path

DATA = Path(__file__).parent / "data" / "kineto"
SMALL = DATA / "torch_cpu_small.json"


def assert_tables_equal(a: EventTable, b: EventTable) -> None:
    for kind, spec in (("spans", _SPAN_COLUMNS), ("counters", _COUNTER_COLUMNS), ("instants", _INSTANT_COLUMNS),
                       ("samples", _SAMPLE_COLUMNS), ("flows", _FLOW_COLUMNS)):
        ta, tb = getattr(a, kind), getattr(b, kind)
        assert set(ta) == set(tb) == set(spec), kind
        for col, dt in spec.items():
            assert tb[col].dtype == np.dtype(dt), (kind, col, tb[col].dtype)
            assert np.array_equal(ta[col], tb[col], equal_nan=ta[col].dtype.kind == "f"), (kind, col)
    assert a.strings.strings == b.strings.strings
    assert a.stacks == b.stacks
    assert a.span_args == b.span_args
    assert a.instant_args == b.instant_args
    assert a.processes == b.processes
    assert a.threads == b.threads


def rich_table() -> EventTable:
    """Every kind of record, every column with a set and an unset value."""
    b = EventBuilder()
    b.name_process(10, "rank 1 · host-a")
    b.name_process(20, "loader")
    b.name_thread(10, 11, "main")
    b.name_thread(10, device_tid(0, 7), "stream 7")
    b.span("step", "ProfilerStep#4", 1_000, 10_000, 10, 11, args={"index": 4, "traced": True})
    b.span("op", "aten::mm", 1_500, 2_000, 10, 11, flops=2.5e9, nbytes=4096.0, corr=77, shapes="[[4, 4], [4, 4]]",
           args={"Sequence number": 3, "nested": {"a": [1, 2.5, None]}})
    b.span("kernel", "gemm_kernel", 2_000, 1_000, 10, device_tid(0, 7), corr=77)
    b.span("op", "aten::add", 20_000, 500, 10, 11)  # after the step: no step
    b.span("data_loading", "next(batch)", 100, 50, 20, 21, nbytes=12.0, args={"batch": np.int64(3)})  # numpy value
    b.counter("gpu0 power W", 1_200, 250.5, pid=10)
    b.counter("rss MiB", 1_300, 1024.0, pid=20)
    b.instant("oom", 3_000, 10, 11, args={"bytes": 123})
    b.instant("warm-up done", 900, 10)
    b.sample(1_400, 10, 11, ["main", "train", "forward"])
    b.sample(1_600, 10, 11, ["main", "train"])
    b.sample(1_700, 20, 21, ["main", "train", "forward"])
    t = b.build()
    t.flows = {
        "id": np.array([5, 6], np.int64),
        "name": np.array([t.strings.intern("ac2g"), t.strings.intern("fwdbwd")], np.int32),
        "src_ts_ns": np.array([1_500, 1_600], np.int64),
        "src_pid": np.array([10, 10], np.int64),
        "src_tid": np.array([11, 11], np.int64),
        "dst_ts_ns": np.array([2_000, 2_100], np.int64),
        "dst_pid": np.array([10, 10], np.int64),
        "dst_tid": np.array([device_tid(0, 7), 11], np.int64),
    }
    return t


def test_round_trip_every_column_every_table(tmp_path):
    t = rich_table()
    p = tmp_path / "w" / "events.parquet"
    t.save(p)
    for name in TABLES:
        assert table_path(p, name).is_file(), name
    assert_tables_equal(t, EventTable.load(p))
    t.save(p, compress=False)  # a checkpoint overwrites the store in place
    assert_tables_equal(t, EventTable.load(p))


def test_args_json_refuses_are_read_as_json_reads_them(tmp_path):
    """The args column is decoded by msgspec; a value it does not take (NaN, as json writes it) is
    read by json instead, the same values either way."""
    t = rich_table()
    t.span_args[0] = {"index": 4, "traced": True, "ratio": float("nan"), "big": 2**70}
    p = tmp_path / "events.parquet"
    t.save(p)
    back = EventTable.load(p).span_args
    assert back[0]["big"] == 2**70 and np.isnan(back[0]["ratio"]) and back[1] == t.span_args[1]


def test_round_trip_imported_trace_and_empty_table(tmp_path):
    from profiler.importers import load_trace

    t = load_trace(SMALL).table
    assert t.n_spans and len(t.flows["id"]) and t.span_args  # the fixture exercises flows and args
    t.save(tmp_path / "events.parquet")
    assert_tables_equal(t, EventTable.load(tmp_path / "events.parquet"))
    EventTable().save(tmp_path / "e" / "events.parquet")
    assert_tables_equal(EventTable(), EventTable.load(tmp_path / "e" / "events.parquet"))


@pytest.mark.slow
def test_store_read_by_pyarrow_and_duckdb_directly(tmp_path):
    """The files are plain Parquet: columns as docs/store.md names them, NULL for unset values."""
    import duckdb
    import pyarrow.parquet as pq

    t = rich_table()
    p = tmp_path / "events.parquet"
    t.save(p)
    ev = pq.read_table(p)
    assert ev.column_names == ["rank", "step", "category", "name", "start_ns", "dur_ns", "pid", "tid", "device",
                               "stream", "flops", "bytes", "corr", "shapes", "args"]
    meta = json.loads(ev.schema.metadata[b"profiler.store"])
    assert meta["format"] == "profiler-store" and meta["version"] == 1 and meta["rows"]["events"] == 5
    rows = ev.to_pylist()
    mm, kern, late, load = rows[1], rows[2], rows[3], rows[4]
    assert (mm["rank"], mm["step"], mm["category"], mm["name"]) == (1, 4, "op", "aten::mm")
    assert (mm["flops"], mm["bytes"], mm["corr"], mm["shapes"]) == (2.5e9, 4096.0, 77, "[[4, 4], [4, 4]]")
    assert json.loads(mm["args"]) == {"Sequence number": 3, "nested": {"a": [1, 2.5, None]}}
    assert (mm["device"], mm["stream"]) == (None, None)
    assert (kern["device"], kern["stream"], kern["tid"]) == (0, 7, DEVICE_TID_BASE + 7)
    assert kern["step"] == 4 and late["step"] is None
    assert (load["rank"], load["flops"], load["corr"], load["shapes"]) == (None, None, None, None)
    assert json.loads(load["args"]) == {"batch": 3} and rows[0]["args"] == '{"index": 4, "traced": true}'
    assert (mm["args"] is not None) and all(r["args"] is None for r in (kern, late))
    con = duckdb.connect()
    q = lambda sql: con.execute(sql.replace("T(", f"read_parquet('{tmp_path}/events.")).fetchall()  # noqa: E731
    assert q("SELECT rank, step, start_ns, end_ns, traced FROM T(steps.parquet')") == [(1, 4, 1_000, 11_000, True)]
    assert q("SELECT name, value, rank FROM T(counters.parquet') ORDER BY ts_ns") == [("gpu0 power W", 250.5, 1),
                                                                                       ("rss MiB", 1024.0, None)]
    assert q("SELECT s.ts_ns, st.frames FROM T(samples.parquet') s JOIN T(stacks.parquet') st USING (stack) "
             "ORDER BY 1") == [(1_400, ["main", "train", "forward"]), (1_600, ["main", "train"]),
                               (1_700, ["main", "train", "forward"])]
    assert q("SELECT category, dst_tid FROM T(flows.parquet') ORDER BY id") == [("ac2g", DEVICE_TID_BASE + 7),
                                                                                ("fwdbwd", 11)]
    assert q("SELECT name, args FROM T(instants.parquet') ORDER BY ts_ns") == [("warm-up done", None),
                                                                               ("oom", '{"bytes": 123}')]
    assert q("SELECT pid, tid, name FROM T(tracks.parquet') WHERE tid IS NULL ORDER BY pid") == [
        (10, None, "rank 1 · host-a"), (20, None, "loader")]


def test_events_figures_match_the_original_json(tmp_path):
    """Per name: count and summed duration of the trace's complete events, computed from the JSON
    here, equal DuckDB's over the stored ``events`` table; steps are the trace's ProfilerStep#N."""
    import duckdb

    from profiler.importers import load_trace

    raw = json.loads(SMALL.read_text())["traceEvents"]
    want_n, want_dur = Counter(), Counter()
    for e in raw:
        if e.get("ph") == "X":
            want_n[e["name"]] += 1
            want_dur[e["name"]] += round(e["dur"] * 1000)
    load_trace(SMALL).table.save(tmp_path / "events.parquet")
    got = duckdb.sql(f"SELECT name, count(*), sum(dur_ns) FROM read_parquet('{tmp_path}/events.parquet') "
                     "GROUP BY name").fetchall()
    assert {n: c for n, c, _ in got} == dict(want_n)
    for n, _, d in got:
        assert abs(d - want_dur[n]) <= want_n[n], n  # µs with three decimals -> ns: rounding only
    # start times: the importer may move the trace onto another clock, but not apart
    first = min(e["ts"] for e in raw if e.get("ph") == "X")
    want_at = Counter()
    for e in raw:
        if e.get("ph") == "X":
            want_at[e["name"]] += round((e["ts"] - first) * 1000)
    got_at = duckdb.sql(f"SELECT name, sum(start_ns - (SELECT min(start_ns) FROM read_parquet('{tmp_path}/events.parquet'))) "
                        f"FROM read_parquet('{tmp_path}/events.parquet') GROUP BY name").fetchall()
    for n, at in got_at:
        assert abs(at - want_at[n]) <= want_n[n], n
    steps = sorted(e["name"] for e in raw if e.get("ph") == "X" and e["name"].startswith("ProfilerStep#"))
    got_steps = duckdb.sql(f"SELECT name FROM read_parquet('{tmp_path}/events.steps.parquet') ORDER BY name").fetchall()
    assert [n for (n,) in got_steps] == steps
    # every op inside a step's window carries that step
    n_in = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{tmp_path}/events.parquet') e JOIN "
        f"read_parquet('{tmp_path}/events.steps.parquet') s ON e.start_ns >= s.start_ns AND e.start_ns < s.end_ns "
        "WHERE e.step IS DISTINCT FROM s.step").fetchall()[0][0]
    assert n_in == 0


def test_merged_ranks_label_every_event(tmp_path):
    from profiler.analysis.ranks import merge_rank_traces
    from profiler.importers import load_trace

    imp = load_trace(DATA / "ddp2")
    merged, section = merge_rank_traces(imp.ranks)
    merged.save(tmp_path / "events.parquet")
    import duckdb

    by_rank = dict(duckdb.sql(f"SELECT rank, count(*) FROM read_parquet('{tmp_path}/events.parquet') "
                              "GROUP BY rank").fetchall())
    pid_rank = {r["pid"]: r["rank"] for r in section["ranks"]}
    want = Counter(pid_rank.get(int(p)) for p in merged.spans["pid"].tolist())
    assert by_rank == dict(want) and set(by_rank) >= {0, 1}
    steps = duckdb.sql(f"SELECT rank, count(*) FROM read_parquet('{tmp_path}/events.steps.parquet') "
                       "GROUP BY rank ORDER BY rank").fetchall()
    assert steps == [(r["rank"], r["steps"]) for r in section["ranks"]]


def test_old_npz_run_still_loads(tmp_path):
    from profiler.core.rundir import RunDir

    t = rich_table()
    t.span_args[4] = {"batch": 3}  # the .npz writer takes plain JSON values only
    (tmp_path / "workers" / "w").mkdir(parents=True)
    t.save(tmp_path / "workers" / "w" / "events.npz")
    (tmp_path / "run.json").write_text(json.dumps({"schema": "profiler/2", "variants": []}))
    run = RunDir.open(tmp_path)
    assert_tables_equal(t, run.load_events({"events": "workers/w/events.npz"}))
    t.save(tmp_path / "workers" / "w" / "events.parquet")
    assert_tables_equal(t, run.load_events({"events": "workers/w/events.parquet"}))


def test_disk_full_removes_the_partial_store(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    real = pq.write_table
    calls = []

    def full(table, where, **kw):
        calls.append(where)
        if len(calls) == 4:
            raise OSError(errno.ENOSPC, "No space left on device", where)
        return real(table, where, **kw)

    monkeypatch.setattr(pq, "write_table", full)
    p = tmp_path / "events.parquet"
    with pytest.raises(InputError, match=r"events\.parquet: cannot write the event store.*No space left"):
        rich_table().save(p)
    assert list(tmp_path.iterdir()) == []


def test_foreign_damaged_and_newer_stores_are_one_line_errors(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "events.parquet"
    pq.write_table(pa.table({"x": [1]}), p)
    with pytest.raises(InputError, match="not a profiler event store"):
        EventTable.load(p)
    rich_table().save(p)
    ev = pq.read_table(p)
    meta = json.loads(ev.schema.metadata[b"profiler.store"])
    pq.write_table(ev.replace_schema_metadata({b"profiler.store": json.dumps({**meta, "version": 99})}), p)
    with pytest.raises(InputError, match=r"version 99 is not supported.*import the trace again"):
        EventTable.load(p)
    rich_table().save(p)
    table_path(p, "flows").unlink()
    with pytest.raises(InputError, match="incomplete event store"):
        EventTable.load(p)
    p.write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match="unreadable event store"):
        EventTable.load(p)
    with pytest.raises(InputError, match="no such file"):
        EventTable.load(tmp_path / "nothing" / "events.parquet")


def test_nan_free_figures_stay_exact(tmp_path):
    """Integers past 2**53 (device tids, shifted pids) survive: the store keeps int64, not doubles."""
    b = EventBuilder()
    big = (3 << 32) + 12345
    b.span("op", "x", 2**62, 1, big, DEVICE_TID_BASE + 999_007)
    t = b.build()
    t.save(tmp_path / "events.parquet")
    u = EventTable.load(tmp_path / "events.parquet")
    assert int(u.spans["start_ns"][0]) == 2**62 and int(u.spans["pid"][0]) == big
    assert math.isnan(u.spans["flops"][0])


GPU_TRACE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "gpu-traces" / "hta-queue-rank0.json.gz"


@pytest.mark.skipif(not GPU_TRACE.is_file(), reason=f"{GPU_TRACE} absent (shared GPU traces not mounted)")
def test_device_and_stream_columns_match_a_real_gpu_trace(tmp_path):
    """Kernels per (device, stream) in DuckDB over the store equal the trace's own ``args``."""
    import gzip

    import duckdb

    from profiler.importers import load_trace

    with gzip.open(GPU_TRACE, "rt") as f:
        raw = [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X" and e.get("cat") == "kernel"]
    want = Counter((e["args"]["device"], e["args"]["stream"]) for e in raw)
    load_trace(GPU_TRACE).table.save(tmp_path / "events.parquet")
    got = duckdb.sql(f"SELECT device, stream, count(*) FROM read_parquet('{tmp_path}/events.parquet') "
                     "WHERE category = 'kernel' GROUP BY ALL").fetchall()
    assert {(d, s): n for d, s, n in got} == dict(want) and len(want) > 1


def _second_rank() -> EventTable:
    """rich_table's events as another rank's: its own processes, later, some strings new."""
    from profiler.analysis.ranks import _with_pids

    t = _with_pids(rich_table().shifted(50_000), {10: 30})
    t.processes = {30: "rank 2 · host-b", 20: "loader"}
    t.strings.intern("only in rank 2")
    t.counters = dict(t.counters, name=np.full(len(t.counters["name"]), t.strings.intern("only in rank 2"), np.int32))
    return t


def test_store_written_part_by_part_reads_as_the_concatenation(tmp_path):
    from profiler.core.events import SPAN_CATEGORIES
    from profiler.core.parquet import StoreWriter, read_manifest

    parts = [rich_table(), _second_rank(), EventTable()]
    w = StoreWriter(tmp_path / "events.parquet", SPAN_CATEGORIES, DEVICE_TID_BASE)
    for p in parts:
        w.append(p)
    w.close()
    whole = EventTable.concat(parts)
    assert_tables_equal(whole, EventTable.load(tmp_path / "events.parquet"))
    assert EventTable.load(tmp_path / "events.parquet").strings.strings == whole.strings.strings
    whole.save(tmp_path / "w" / "events.parquet")
    assert read_manifest(tmp_path / "events.parquet")["rows"] == read_manifest(tmp_path / "w" / "events.parquet")["rows"]
    import pyarrow.parquet as pq

    for name in TABLES:  # every table as the one-piece writer's, the steps' row numbers included
        got, want = (pq.read_table(table_path(d / "events.parquet", name)).to_pylist() for d in (tmp_path, tmp_path / "w"))
        if name == "tracks":  # each part's processes then threads: the same rows in another order
            got, want = sorted(got, key=str), sorted(want, key=str)
        assert got == want, name


def test_store_written_part_by_part_removed_when_it_fails(tmp_path, monkeypatch):
    from profiler.core.events import SPAN_CATEGORIES
    from profiler.core.parquet import StoreWriter

    w = StoreWriter(tmp_path / "events.parquet", SPAN_CATEGORIES, DEVICE_TID_BASE)
    w.append(rich_table())
    w.abort()
    assert list(tmp_path.iterdir()) == []
    w = StoreWriter(tmp_path / "events.parquet", SPAN_CATEGORIES, DEVICE_TID_BASE)
    w.append(rich_table())
    real = os_replace = __import__("os").replace
    calls = []

    def full(a, b):
        calls.append(b)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", b)
        return real(a, b)

    monkeypatch.setattr("os.replace", full)
    with pytest.raises(InputError, match=r"events\.parquet: cannot write the event store.*No space left"):
        w.close()
    monkeypatch.setattr("os.replace", os_replace)
    assert list(tmp_path.iterdir()) == []


def test_chrome_trace_written_part_by_part_holds_the_concatenations_events(tmp_path):
    import gzip

    from profiler.export.chrome import ChromeTraceExporter

    a, b = rich_table(), _second_rank()
    for t in (a, b):
        t.span_args[4] = {"batch": 3}  # a plain JSON value (the trace's args are)
    b.spans = dict(b.spans, corr=np.where(b.spans["corr"] >= 0, b.spans["corr"] + 1000, -1))  # ranks' own ids
    b.flows = dict(b.flows, src_pid=np.full(2, 30), dst_pid=np.full(2, 30))
    whole = EventTable.concat([a, b])
    ChromeTraceExporter().write(whole, tmp_path / "one.json.gz")
    ChromeTraceExporter().write_parts(iter([a, b]), tmp_path / "parts.json.gz", whole.time_range()[0])

    def events(name: str) -> Counter:
        evs = json.loads(gzip.decompress((tmp_path / name).read_bytes()))["traceEvents"]
        threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in evs if e.get("name") == "thread_name"}
        out = []
        for e in evs:
            if e.get("name") in ("process_sort_index", "thread_sort_index"):
                continue
            if "tid" in e and e.get("name") != "process_name":
                e["tid"] = threads.get((e["pid"], e["tid"]), e["tid"])
            out.append(json.dumps(e, sort_keys=True))
        return Counter(out)

    assert events("one.json.gz") == events("parts.json.gz")
    with pytest.raises(ValueError, match="n_parts"):
        ChromeTraceExporter(budget_mb=1).write_parts(iter([a]), tmp_path / "x.json", 0)


def test_a_budget_across_parts_gives_each_part_an_equal_share(tmp_path):
    """``--trace-budget`` on a folder of ranks: each rank's part is kept under budget / ranks, as
    :meth:`write` keeps one table under its budget, and the record sums what they lost."""
    import gzip

    from profiler.export.chrome import ChromeTraceExporter

    parts = [_many_spans(r) for r in range(3)]
    sizes = []
    for t in parts:  # each part's JSON alone, without a budget
        ChromeTraceExporter().write(t, tmp_path / "alone.json")
        sizes.append((tmp_path / "alone.json").stat().st_size / 1e6)
    budget = sum(sizes) * 0.5
    ex = ChromeTraceExporter(budget_mb=budget)
    origin = min(t.time_range()[0] for t in parts)
    path = ex.write_parts(iter(parts), tmp_path / "parts.json.gz", origin, n_parts=3)
    text = gzip.decompress(path.read_bytes())
    doc = json.loads(text)
    d = doc["otherData"]["trace_budget"]
    assert d == ex.dropped and d["budget_mb"] == budget and len(d["parts"]) == 3
    assert all(p["budget_mb"] == pytest.approx(budget / 3) and p["json_mb"] <= budget / 3 for p in d["parts"])
    assert len(text) / 1e6 <= budget + 0.01  # the whole file (its metadata and separators too)
    assert d["dropped_spans"] == sum(p["dropped_spans"] for p in d["parts"]) > 0
    each = []
    for t in parts:  # about what each part written alone under its share loses (a later part's texts
        alone = ChromeTraceExporter(budget_mb=budget / 3)  # are a little longer: its ids count on)
        alone.write(t, tmp_path / "share.json")
        each.append(alone.dropped)
    assert d["dropped_spans"] == pytest.approx(sum(x["dropped_spans"] for x in each), rel=0.05)
    assert d["dropped_time_ms"] == pytest.approx(sum(x["dropped_time_ms"] for x in each), rel=0.05)
    assert len(d["per_step"]) == 12 and d["steps"] == 12 and d["min_ops_per_step"] >= 1
    assert "equal share" in d["how"]
    notes = [e for e in doc["traceEvents"] if e.get("name") == "trace budget"]
    assert len(notes) == 3  # one per part, at its own process


def _many_spans(rank: int) -> EventTable:
    """One rank: 4 steps of 300 ops of varied lengths each, under its own process."""
    b = EventBuilder()
    pid = 100 + rank
    b.name_process(pid, f"rank {rank}")
    t0 = 1_000_000 * rank
    for k in range(4):
        s = t0 + k * 100_000
        b.span("step", f"ProfilerStep#{k}", s, 90_000, pid, 1, args={"index": k, "traced": True})
        for i in range(300):
            b.span("op", f"aten::op{i % 7}", s + i * 250, 50 + (i * 37) % 200, pid, 1)
    return b.build()


def test_page_series_read_from_the_store_equal_those_of_the_whole_table(tmp_path):
    """The report page reads a store's counters and steps tables only: the same series as from the
    whole table (the .npz path), another process's samples left out, every process's names seen."""
    from profiler.export.html import probe_series

    b = EventBuilder()
    for i in range(3):
        b.span("step", "step", 1_000 + i * 10_000, 9_000, 10, 11, args={"index": i, "traced": i == 2})
    for k in range(500):  # more samples than a chart draws: downsampled the same way
        b.counter("rss MiB", 1_000 + k * 50, 100.0 + k, pid=10)
        b.counter("gpu0 util %", 1_000 + k * 50, float(k % 7), pid=10)
        b.counter("rss MiB", 1_000 + k * 50, 5.0, pid=20)
    b.counter("gpu1 util %", 2_000, 3.0, pid=20)  # only another process's: GPU 1 idle in this one's
    t = b.build()
    (tmp_path / "w").mkdir()
    t.save(tmp_path / "w" / "events.parquet")
    t.save(tmp_path / "w" / "events.npz")
    got = probe_series(tmp_path, {"events": "w/events.parquet", "pid": 10})
    want = probe_series(tmp_path, {"events": "w/events.npz", "pid": 10})
    assert got == want and len(got[0]) == 2 and got[1] and "GPU 1" in got[1]
