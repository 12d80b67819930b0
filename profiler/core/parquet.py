"""The event model's files: an :class:`~profiler.core.events.EventTable` as Arrow/Parquet tables.

A worker's events are ``events.parquet`` (one row per span, written last, its metadata the store's
manifest) and sibling tables (strings, steps, instants, counters, samples, stacks, flows, tracks),
each written atomically, zstd-compressed, readable by any Parquet reader. The schema, versioned by
:data:`STORE_VERSION`, is ``docs/store.md``. pyarrow is imported only when a store is read or
written.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from profiler.core import faults
from profiler.core.errors import InputError
from profiler.core.files import json_default, output_mode

STORE_FORMAT = "profiler-store"
STORE_VERSION = 1
#: key of the manifest in ``events.parquet``'s key-value metadata
MANIFEST_KEY = b"profiler.store"
#: the tables besides ``events``, in the order they are written; each is ``<stem>.<name>.parquet``
SIBLINGS = ("strings", "steps", "instants", "counters", "samples", "stacks", "flows", "tracks")
TABLES = ("events", *SIBLINGS)

_RANK_RX = re.compile(r"^rank (\d+)\b")


def table_path(path: str | Path, table: str) -> Path:
    """The file of ``table`` in the store whose events file is ``path``."""
    path = Path(path)
    if table == "events":
        return path
    stem = path.name[: -len(".parquet")] if path.name.endswith(".parquet") else path.name
    return path.with_name(f"{stem}.{table}.parquet")


def ranks_of(table: Any) -> dict[int, int]:
    """pid -> rank, from process names ``rank N …`` (what merged rank traces and torchrun write)."""
    out = {}
    for pid, name in table.processes.items():
        m = _RANK_RX.match(str(name))
        if m:
            out[int(pid)] = int(m.group(1))
    return out


# ------------------------------------------------------------------------------------------ write


def to_arrow(table: Any, categories: tuple[str, ...], device_tid_base: int, rank: int | None = None) -> dict[str, Any]:
    """The store's tables (``pyarrow.Table`` each) for an EventTable.

    ``categories``/``device_tid_base``: the event model's span categories (by code) and device tid
    base (:mod:`profiler.core.events` passes them: this module does not import it). ``rank``: the rank
    of every event (one rank's own trace); otherwise each event's rank comes from its process's name
    (``rank N``) and is NULL where none says.
    """
    import pyarrow as pa

    SPAN_CATEGORIES, DEVICE_TID_BASE = categories, device_tid_base

    strings = pa.array(table.strings.strings, type=pa.string())
    sp = table.spans
    n = len(sp["start_ns"])
    pid_rank = ranks_of(table)

    def rank_np(pids: np.ndarray) -> np.ndarray:
        """Each row's rank, -1 where unknown."""
        if rank is not None:
            return np.full(len(pids), rank, np.int32)
        if not pid_rank or not len(pids):
            return np.full(len(pids), -1, np.int32)
        keys = np.array(sorted(pid_rank), dtype=np.int64)
        vals = np.array([pid_rank[k] for k in keys.tolist()], dtype=np.int32)
        pos = np.clip(np.searchsorted(keys, pids), 0, len(keys) - 1)
        return np.where(keys[pos] == pids, vals[pos], -1).astype(np.int32)

    def rank_col(pids: np.ndarray) -> Any:
        r = rank_np(pids)
        return pa.array(r, pa.int32(), mask=r < 0)

    def names(ids: np.ndarray) -> Any:
        return pa.DictionaryArray.from_arrays(pa.array(ids, pa.int32()), strings)

    def json_col(args: dict[int, Any], count: int) -> Any:
        col: list[str | None] = [None] * count
        for k, v in args.items():
            try:
                col[k] = json.dumps(v)  # the shared encoder: several times faster than one made per call
            except TypeError:  # numpy scalars, paths
                col[k] = json.dumps(v, default=json_default)
        return pa.array(col, pa.string())

    cat = sp["cat"].astype(np.int32)
    tid = sp["tid"]
    dev = tid >= DEVICE_TID_BASE
    rest = np.where(dev, tid - DEVICE_TID_BASE, 0)
    span_rank = rank_np(sp["pid"])
    ranks = pa.array(span_rank, pa.int32(), mask=span_rank < 0)
    steps_col, step_rows = _step_of(table, span_rank, SPAN_CATEGORIES.index("step"))
    shapes = sp["shapes"]
    events = pa.table(
        {
            "rank": ranks,
            "step": pa.array(steps_col, pa.int32(), mask=steps_col < 0),
            "category": pa.DictionaryArray.from_arrays(pa.array(cat), pa.array(SPAN_CATEGORIES, pa.string())),
            "name": names(sp["name"]),
            "start_ns": pa.array(sp["start_ns"]),
            "dur_ns": pa.array(sp["dur_ns"]),
            "pid": pa.array(sp["pid"]),
            "tid": pa.array(tid),
            "device": pa.array((rest // 1000).astype(np.int32), mask=~dev),
            "stream": pa.array((rest % 1000).astype(np.int32), mask=~dev),
            "flops": pa.array(sp["flops"], mask=np.isnan(sp["flops"])),
            "bytes": pa.array(sp["bytes"], mask=np.isnan(sp["bytes"])),
            "corr": pa.array(sp["corr"], mask=sp["corr"] < 0),
            "shapes": pa.DictionaryArray.from_arrays(pa.array(np.maximum(shapes, 0), pa.int32(), mask=shapes < 0),
                                                     strings if len(strings) else pa.array([""])),
            "args": json_col(table.span_args, n),
        }
    )
    sr = step_rows
    step_args = [table.span_args.get(int(r), {}) for r in sr.tolist()]
    steps = pa.table(
        {
            "rank": pa.array(span_rank[sr], pa.int32(), mask=span_rank[sr] < 0),
            "step": pa.array([int(a.get("index", i)) for i, a in enumerate(step_args)], pa.int32()),
            "name": names(sp["name"][sr]),
            "start_ns": pa.array(sp["start_ns"][sr]),
            "dur_ns": pa.array(sp["dur_ns"][sr]),
            "end_ns": pa.array(sp["start_ns"][sr] + sp["dur_ns"][sr]),
            "pid": pa.array(sp["pid"][sr]),
            "tid": pa.array(sp["tid"][sr]),
            "traced": pa.array([bool(a.get("traced", False)) for a in step_args], pa.bool_()),
            "event": pa.array(sr, pa.int64()),
        }
    )
    ins, ctr, smp, fl = table.instants, table.counters, table.samples, table.flows
    out = {
        "events": events,
        "strings": pa.table({"id": pa.array(np.arange(len(strings), dtype=np.int32)), "string": strings}),
        "steps": steps,
        "instants": pa.table(
            {
                "ts_ns": pa.array(ins["ts_ns"]),
                "name": names(ins["name"]),
                "pid": pa.array(ins["pid"]),
                "tid": pa.array(ins["tid"]),
                "rank": rank_col(ins["pid"]),
                "args": json_col(table.instant_args, len(ins["ts_ns"])),
            }
        ),
        "counters": pa.table(
            {
                "ts_ns": pa.array(ctr["ts_ns"]),
                "name": names(ctr["name"]),
                "value": pa.array(ctr["value"]),
                "pid": pa.array(ctr["pid"]),
                "rank": rank_col(ctr["pid"]),
            }
        ),
        "samples": pa.table(
            {
                "ts_ns": pa.array(smp["ts_ns"]),
                "pid": pa.array(smp["pid"]),
                "tid": pa.array(smp["tid"]),
                "rank": rank_col(smp["pid"]),
                "stack": pa.array(smp["stack"]),
            }
        ),
        "stacks": pa.table(
            {
                "stack": pa.array(np.arange(len(table.stacks), dtype=np.int32)),
                "frames": pa.array([[table.strings[f] for f in st] for st in table.stacks], pa.list_(pa.string())),
            }
        ),
        "flows": pa.table(
            {
                "id": pa.array(fl["id"]),
                "category": names(fl["name"]),
                "src_ts_ns": pa.array(fl["src_ts_ns"]),
                "src_pid": pa.array(fl["src_pid"]),
                "src_tid": pa.array(fl["src_tid"]),
                "dst_ts_ns": pa.array(fl["dst_ts_ns"]),
                "dst_pid": pa.array(fl["dst_pid"]),
                "dst_tid": pa.array(fl["dst_tid"]),
            }
        ),
        "tracks": pa.table(
            {
                "pid": pa.array([*table.processes, *(p for p, _ in table.threads)], pa.int64()),
                "tid": pa.array([None] * len(table.processes) + [t for _, t in table.threads], pa.int64()),
                "name": pa.array([*table.processes.values(), *table.threads.values()], pa.string()),
            }
        ),
    }
    return out


def _step_of(table: Any, ranks: np.ndarray, step_code: int) -> tuple[np.ndarray, np.ndarray]:
    """Each span's step (the ``index`` of the step span of its rank whose window holds its start;
    -1 outside every step) and the rows of the step spans."""
    sp = table.spans
    n = len(sp["start_ns"])
    step_rows = np.flatnonzero(sp["cat"] == step_code) if n else np.empty(0, np.int64)
    out = np.full(n, -1, np.int32)
    if not len(step_rows):
        return out, step_rows
    idx = np.array([int(table.span_args.get(int(r), {}).get("index", i)) for i, r in enumerate(step_rows.tolist())],
                   dtype=np.int32)
    start = sp["start_ns"]
    # a rank's steps hold its own events; without ranks every step holds every event
    if (ranks < 0).all():
        groups = {None: (np.arange(n), np.arange(len(step_rows)))}
    else:
        groups = {g: (np.flatnonzero(ranks == g), np.flatnonzero(ranks[step_rows] == g)) for g in np.unique(ranks).tolist()}
    for rows, srows in groups.values():
        if not len(srows):
            continue
        rows_s = step_rows[srows]
        order = np.argsort(start[rows_s], kind="stable")
        s0 = start[rows_s][order]
        s1 = s0 + sp["dur_ns"][rows_s][order]
        ix = idx[srows][order]
        at = np.searchsorted(s0, start[rows], side="right") - 1
        ok = at >= 0
        inside = np.zeros(len(rows), bool)
        inside[ok] = start[rows][ok] < np.maximum(s1[at[ok]], s0[at[ok]] + 1)
        out[rows[inside]] = ix[at[inside]]
    return out, step_rows


def write(table: Any, path: str | Path, categories: tuple[str, ...], device_tid_base: int, compress: bool = True,
          rank: int | None = None) -> None:
    """Write ``table`` as a store whose events file is ``path`` (``….parquet``).

    Each file goes to a temporary name and is renamed into place, ``events.parquet`` last; on any
    failure (a full disk included) every file written so far is removed and the error names the store.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tables = to_arrow(table, categories, device_tid_base, rank)
    manifest = {
        "format": STORE_FORMAT,
        "version": STORE_VERSION,
        "rows": {k: v.num_rows for k, v in tables.items()},
        "rank": rank,
    }
    ev = tables["events"]
    tables["events"] = ev.replace_schema_metadata({**(ev.schema.metadata or {}), MANIFEST_KEY: json.dumps(manifest)})
    compression = "zstd" if compress else "none"
    mode = output_mode()
    temps: list[str] = []
    done: list[Path] = []
    try:
        for name in (*SIBLINGS, "events"):
            dest = table_path(path, name)
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
            os.close(fd)
            temps.append(tmp)
            faults.check("write", dest)  # the injected fault (PROFILER_FAULT), as for every other file
            os.chmod(tmp, mode)  # what a new file gets, not a temporary file's 0600: runs are shared
            pq.write_table(tables[name], tmp, compression=compression, row_group_size=1 << 20,
                           use_dictionary=True, write_statistics=True)
            os.replace(tmp, dest)
            temps.remove(tmp)
            done.append(dest)
    except BaseException as e:
        for p in [*temps, *done]:
            try:
                os.unlink(p)
            except OSError:
                pass
        if not isinstance(e, (OSError, pa.ArrowException)):
            raise
        raise InputError(f"{path}: cannot write the event store ({type(e).__name__}: {e}); the partial store was removed") from None


# ------------------------------------------------------------------------------------------- read


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of the store at ``path``; :class:`InputError` when it is not a store we read."""
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        meta = pq.ParquetFile(path).metadata.metadata or {}  # the file's key-value metadata (the schema's, and any added at its close)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except Exception as e:
        raise InputError(f"{path}: unreadable event store ({type(e).__name__}: {e})") from None
    raw = meta.get(MANIFEST_KEY)
    try:
        manifest = json.loads(raw) if raw else None
    except ValueError:
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != STORE_FORMAT:
        raise InputError(f"{path}: not a profiler event store")
    if manifest.get("version") != STORE_VERSION:
        raise InputError(
            f"{path}: event store version {manifest.get('version')} is not supported (this profiler reads "
            f"version {STORE_VERSION}); import the trace again to rewrite it"
        )
    return manifest


def read(path: str | Path, categories: tuple[str, ...]) -> dict[str, Any]:
    """The parts of the EventTable stored at ``path`` (its ``events.parquet``), as keyword arguments
    of ``EventTable`` with ``strings`` a list; :class:`InputError` when broken."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    SPAN_CATEGORIES = categories
    flow_ends = ("src_ts_ns", "src_pid", "src_tid", "dst_ts_ns", "dst_pid", "dst_tid")
    path = Path(path)
    read_manifest(path)
    try:
        t = {}
        for name in TABLES:
            p = table_path(path, name)
            if not p.exists():
                raise InputError(f"{path}: incomplete event store ({p.name} is missing)")
            t[name] = pq.read_table(p)
        strings_tbl = t["strings"].sort_by("id")
        strings_list = strings_tbl.column("string").to_pylist()
        strings_arr = pa.array(strings_list, pa.string())

        def ids(col: Any, missing: int | None = None) -> np.ndarray:
            """String ids of a text column (NULL -> ``missing``)."""
            col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
            if pa.types.is_dictionary(col.type):
                col = col.cast(pa.string())
            got = pc.index_in(col, value_set=strings_arr)
            if missing is not None:
                got = pc.fill_null(got, missing) if col.null_count else got
            elif got.null_count:
                raise InputError(f"{path}: a name is not in the string table")
            return np.asarray(got.to_numpy(zero_copy_only=False), dtype=np.int32)

        def num(col: Any, dtype: Any, fill: Any = None) -> np.ndarray:
            if fill is not None and col.null_count:
                col = pc.fill_null(col, fill)
            return np.asarray(col.to_numpy(), dtype=dtype)

        def args(col: Any) -> dict[int, Any]:
            col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
            rows = np.flatnonzero(np.asarray(col.is_valid().to_numpy(zero_copy_only=False)))
            if not len(rows):
                return {}
            texts = col.take(pa.array(rows)).to_pylist()
            doc = "[" + ",".join(texts) + "]"  # one parse, not one per row
            try:
                values = msgspec.json.decode(doc.encode())  # the same values, about twice json's speed
            except msgspec.DecodeError:  # what msgspec does not take (an integer over 64 bits): json
                values = json.loads(doc)
            if len(values) != len(texts):
                raise InputError(f"{path}: an args value is not one JSON object")
            return dict(zip(rows.tolist(), values, strict=True))

        ev = t["events"]
        cat_text = ev.column("category").combine_chunks()
        if pa.types.is_dictionary(cat_text.type):
            cat_text = cat_text.cast(pa.string())
        cat = pc.index_in(cat_text, value_set=pa.array(SPAN_CATEGORIES, pa.string()))
        if cat.null_count:
            raise InputError(f"{path}: unknown span category")
        spans = {
            "start_ns": num(ev.column("start_ns"), np.int64),
            "dur_ns": num(ev.column("dur_ns"), np.int64),
            "cat": np.asarray(cat.to_numpy(zero_copy_only=False), dtype=np.int16),
            "name": ids(ev.column("name")),
            "pid": num(ev.column("pid"), np.int64),
            "tid": num(ev.column("tid"), np.int64),
            "flops": num(ev.column("flops"), np.float64, np.nan),
            "bytes": num(ev.column("bytes"), np.float64, np.nan),
            "corr": num(ev.column("corr"), np.int64, -1),
            "shapes": ids(ev.column("shapes"), -1),
        }
        ins, ctr, smp, fl, tr = t["instants"], t["counters"], t["samples"], t["flows"], t["tracks"]
        stacks_tbl = t["stacks"].sort_by("stack")
        frames = stacks_tbl.column("frames").to_pylist()
        sid = {s: i for i, s in enumerate(strings_list)}
        processes: dict[int, str] = {}
        threads: dict[tuple[int, int], str] = {}
        for p, th, nm in zip(tr.column("pid").to_pylist(), tr.column("tid").to_pylist(), tr.column("name").to_pylist(), strict=True):
            if th is None:
                processes[int(p)] = nm
            else:
                threads[(int(p), int(th))] = nm
        out = dict(
            strings=strings_list,
            spans=spans,
            counters={
                "ts_ns": num(ctr.column("ts_ns"), np.int64),
                "name": ids(ctr.column("name")),
                "value": num(ctr.column("value"), np.float64),
                "pid": num(ctr.column("pid"), np.int64),
            },
            instants={
                "ts_ns": num(ins.column("ts_ns"), np.int64),
                "name": ids(ins.column("name")),
                "pid": num(ins.column("pid"), np.int64),
                "tid": num(ins.column("tid"), np.int64),
            },
            samples={
                "ts_ns": num(smp.column("ts_ns"), np.int64),
                "pid": num(smp.column("pid"), np.int64),
                "tid": num(smp.column("tid"), np.int64),
                "stack": num(smp.column("stack"), np.int32),
            },
            stacks=[tuple(sid[f] for f in st) for st in frames],
            span_args=args(ev.column("args")),
            instant_args=args(ins.column("args")),
            processes=processes,
            threads=threads,
            flows={
                "id": num(fl.column("id"), np.int64),
                "name": ids(fl.column("category")),
                **{k: num(fl.column(k), np.int64) for k in flow_ends},
            },
        )
    except InputError:
        raise
    except Exception as e:  # a damaged or foreign file: one line naming it
        raise InputError(f"{path}: unreadable event store ({type(e).__name__}: {e})") from None
    return out


class StoreWriter:
    """One store written part by part (:meth:`append`, e.g. one rank's table at a time), never all
    parts in memory: each table's file gets one row group per part (or more for a part over 2**20
    rows); the strings table (every part's strings, first seen first: what ``EventTable.concat``
    interns) and the manifest are written by :meth:`close`. The store read back is the parts'
    concatenation. Files go to temporary names, renamed into place by :meth:`close` (``events.parquet``
    last); on any failure every file is removed and the error names the store, as in :func:`write`."""

    def __init__(self, path: str | Path, categories: tuple[str, ...], device_tid_base: int, compress: bool = True,
                 empty: Any = None) -> None:
        self.path = Path(path)
        #: the part written when none was appended (an empty EventTable: this module does not import
        #: the event model); ``None``: a store of no part is an error
        self.empty = empty
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.categories, self.device_tid_base = categories, device_tid_base
        self.compression = "zstd" if compress else "none"
        self._writers: dict[str, Any] = {}
        self._temps: dict[str, str] = {}
        self._rows = dict.fromkeys(TABLES, 0)
        self._strings: dict[str, int] = {}
        self._spans = self._stacks = 0
        self._done: list[Path] = []
        self._tracks: set[tuple[int, int | None]] = set()

    def append(self, table: Any, rank: int | None = None) -> None:
        """Add one part (an EventTable) to the store; ``rank``: the rank of every event of the part
        (one rank's table), else each event's from its process's name (:func:`to_arrow`)."""
        import pyarrow as pa

        try:
            tables = to_arrow(table, self.categories, self.device_tid_base, rank=rank)
            # row numbers and stack ids are the part's own: moved past the parts written before
            tables["steps"] = tables["steps"].set_column(
                tables["steps"].schema.get_field_index("event"), "event",
                pa.array(np.asarray(tables["steps"].column("event").to_numpy(), np.int64) + self._spans))
            if self._stacks:
                for name, col in (("stacks", "stack"), ("samples", "stack")):
                    t = tables[name]
                    tables[name] = t.set_column(t.schema.get_field_index(col), col,
                                                pa.array(np.asarray(t.column(col).to_numpy(), np.int32) + self._stacks))
            # a process or thread several parts name (a shared pid): the first part's name, as concat keeps
            tr = tables["tracks"]
            keys = list(zip(tr.column("pid").to_pylist(), tr.column("tid").to_pylist(), strict=True))
            new = [k not in self._tracks for k in keys]
            self._tracks.update(keys)
            tables["tracks"] = tr.filter(pa.array(new, pa.bool_())) if not all(new) else tr
            for s in table.strings.strings:
                self._strings.setdefault(s, len(self._strings))
            for name in (*SIBLINGS, "events"):
                if name != "strings":
                    self._put(name, tables[name])
            self._spans += table.n_spans
            self._stacks += len(table.stacks)
        except BaseException as e:
            self._fail(e)

    def _put(self, name: str, t: Any) -> None:
        import pyarrow.parquet as pq

        w = self._writers.get(name)
        if w is None:
            dest = table_path(self.path, name)
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
            os.close(fd)
            self._temps[name] = tmp
            faults.check("write", dest)
            os.chmod(tmp, output_mode())
            w = self._writers[name] = pq.ParquetWriter(tmp, t.schema, compression=self.compression,
                                                       use_dictionary=True, write_statistics=True)
        elif not t.schema.equals(w.schema):
            t = t.cast(w.schema)
        w.write_table(t, row_group_size=1 << 20)
        self._rows[name] += t.num_rows

    def close(self) -> None:
        """Write the strings and the manifest, and move every file into place."""
        import pyarrow as pa

        try:
            if not self._writers:  # no part: an empty store
                if self.empty is None:
                    raise ValueError("a store of no part: nothing was appended")
                self.append(self.empty)
            strings = pa.array(list(self._strings), pa.string())
            self._put("strings", pa.table({"id": pa.array(np.arange(len(strings), dtype=np.int32)), "string": strings}))
            manifest = {"format": STORE_FORMAT, "version": STORE_VERSION, "rows": dict(self._rows), "rank": None}
            self._writers["events"].add_key_value_metadata({MANIFEST_KEY: json.dumps(manifest)})
            for w in self._writers.values():
                w.close()
            for name in (*SIBLINGS, "events"):
                os.replace(self._temps[name], table_path(self.path, name))
                del self._temps[name]
                self._done.append(table_path(self.path, name))
        except BaseException as e:
            self._fail(e)

    def abort(self) -> None:
        """Remove every file written so far (another output of the same report failed)."""
        self._discard()

    def _discard(self) -> None:
        for w in self._writers.values():
            try:
                w.close()
            except Exception:  # the file is removed below
                pass
        self._writers.clear()
        for p in [*self._temps.values(), *self._done]:  # the files moved into place by a close that then failed too
            try:
                os.unlink(p)
            except OSError:
                pass
        self._temps.clear()
        self._done.clear()

    def _fail(self, e: BaseException) -> None:
        import pyarrow as pa

        self._discard()
        if isinstance(e, InputError):
            raise e
        if not isinstance(e, (OSError, pa.ArrowException)):
            raise e
        raise InputError(f"{self.path}: cannot write the event store ({type(e).__name__}: {e}); "
                         "the partial store was removed") from None
