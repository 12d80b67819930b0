"""The one event model every probe writes into.

:class:`EventTable` holds spans, counters, instants and stack samples as column tables of numpy
arrays (names interned in a :class:`StringTable`, frequent attributes as columns, the rare rest a
sparse JSON ``args`` map); :class:`EventBuilder` collects them. Times are integer nanoseconds on
:func:`profiler.core.clock.now_ns`; device events sit on :func:`device_tid` tracks. Nothing here
imports a framework; files are data only. The model: ``docs/architecture.md`` ("The event model");
the stored tables: ``docs/store.md``.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from profiler.core.errors import InputError

EVENTS_FORMAT_VERSION = 1

#: tids at or above this value are device streams: tid = DEVICE_TID_BASE + device * 1000 + stream.
DEVICE_TID_BASE = 1 << 40

# Span categories. The names are the vocabulary shared by probes, analysis and exporters.
STEP = "step"  # one measured training/inference step (the unit every report is per)
WARMUP = "warmup"  # a warm-up step: recorded so it can be seen, excluded from every figure
OP = "op"  # a framework operator on the host (aten::addmm, MatMul, FullyConnected ...)
KERNEL = "kernel"  # a device kernel
MEMCPY = "memcpy"
MEMSET = "memset"
RUNTIME = "runtime"  # CUDA runtime/driver API calls on the host
SYNC = "sync"  # host waiting for the device (cudaDeviceSynchronize, stream/event sync)
DATA_LOADING = "data_loading"  # waiting for or producing an input batch
COLLECTIVE = "collective"  # allreduce and friends
PYTHON = "python"  # a Python frame reconstructed from stack samples
REGION = "region"  # a user/scenario annotated region that is none of the above
PHASE = "phase"  # worker phases: import, build, warm-up, measure, trace

SPAN_CATEGORIES: tuple[str, ...] = (
    STEP,
    WARMUP,
    OP,
    KERNEL,
    MEMCPY,
    MEMSET,
    RUNTIME,
    SYNC,
    DATA_LOADING,
    COLLECTIVE,
    PYTHON,
    REGION,
    PHASE,
)
_CAT_CODE = {c: i for i, c in enumerate(SPAN_CATEGORIES)}


def device_tid(device: int, stream: int) -> int:
    """The tid under which a device stream's events are stored."""
    return DEVICE_TID_BASE + int(device) * 1000 + int(stream)


def split_device_tid(tid: int) -> tuple[int, int] | None:
    """``(device, stream)`` for a device tid, ``None`` for a host thread."""
    if tid < DEVICE_TID_BASE:
        return None
    rest = tid - DEVICE_TID_BASE
    return rest // 1000, rest % 1000


class StringTable:
    """Interns strings to dense int32 ids."""

    def __init__(self, strings: Iterable[str] = ()) -> None:
        self._strings: list[str] = []
        self._ids: dict[str, int] = {}
        for s in strings:
            self.intern(s)

    def intern(self, s: str) -> int:
        i = self._ids.get(s)
        if i is None:
            i = len(self._strings)
            self._strings.append(s)
            self._ids[s] = i
        return i

    def __getitem__(self, i: int) -> str:
        return self._strings[i]

    def __len__(self) -> int:
        return len(self._strings)

    def id_of(self, s: str) -> int | None:
        return self._ids.get(s)

    @property
    def strings(self) -> list[str]:
        return self._strings


_SPAN_COLUMNS = {
    "start_ns": np.int64,
    "dur_ns": np.int64,
    "cat": np.int16,
    "name": np.int32,
    "pid": np.int64,
    "tid": np.int64,
    "flops": np.float64,  # NaN: unknown
    "bytes": np.float64,  # NaN: unknown
    "corr": np.int64,  # correlation id (launch <-> kernel), -1: none
    "shapes": np.int32,  # string id of input shapes, -1: none
}
_COUNTER_COLUMNS = {"ts_ns": np.int64, "name": np.int32, "value": np.float64, "pid": np.int64}
_INSTANT_COLUMNS = {"ts_ns": np.int64, "name": np.int32, "pid": np.int64, "tid": np.int64}
_SAMPLE_COLUMNS = {"ts_ns": np.int64, "pid": np.int64, "tid": np.int64, "stack": np.int32}
#: flow arrows (Chrome ``s``/``f``: launch -> kernel, forward -> backward), kept by their endpoints'
#: time and track so they survive span selection; ``name`` is the flow's category string id
_FLOW_COLUMNS = {
    "id": np.int64,
    "name": np.int32,
    "src_ts_ns": np.int64,
    "src_pid": np.int64,
    "src_tid": np.int64,
    "dst_ts_ns": np.int64,
    "dst_pid": np.int64,
    "dst_tid": np.int64,
}


@dataclass
class EventTable:
    """Columnar, immutable-by-convention collection of events from one or more probes.

    ``spans``/``counters``/``instants``/``samples`` map column name to a 1-D numpy array.
    ``stacks`` is a list of stacks, each a tuple of string ids, outermost frame first.
    ``span_args`` maps a span row index to a JSON-able dict (sparse, for rare attributes).
    ``processes``/``threads`` name the tracks: ``{pid: name}``, ``{(pid, tid): name}``.
    """

    strings: StringTable = field(default_factory=StringTable)
    spans: dict[str, np.ndarray] = field(default_factory=lambda: _empty(_SPAN_COLUMNS))
    counters: dict[str, np.ndarray] = field(default_factory=lambda: _empty(_COUNTER_COLUMNS))
    instants: dict[str, np.ndarray] = field(default_factory=lambda: _empty(_INSTANT_COLUMNS))
    samples: dict[str, np.ndarray] = field(default_factory=lambda: _empty(_SAMPLE_COLUMNS))
    stacks: list[tuple[int, ...]] = field(default_factory=list)
    span_args: dict[int, dict[str, Any]] = field(default_factory=dict)
    instant_args: dict[int, dict[str, Any]] = field(default_factory=dict)
    processes: dict[int, str] = field(default_factory=dict)
    threads: dict[tuple[int, int], str] = field(default_factory=dict)
    flows: dict[str, np.ndarray] = field(default_factory=lambda: _empty(_FLOW_COLUMNS))

    # ----------------------------------------------------------------- queries
    @property
    def n_spans(self) -> int:
        return len(self.spans["start_ns"])

    def __len__(self) -> int:
        return (
            self.n_spans
            + len(self.counters["ts_ns"])
            + len(self.instants["ts_ns"])
            + len(self.samples["ts_ns"])
        )

    def cat_mask(self, *cats: str) -> np.ndarray:
        """Boolean mask over spans whose category is one of ``cats``."""
        codes = [_CAT_CODE[c] for c in cats]
        return np.isin(self.spans["cat"], codes)

    def span_names(self, idx: np.ndarray | None = None) -> list[str]:
        ids = self.spans["name"] if idx is None else self.spans["name"][idx]
        s = self.strings.strings
        return [s[i] for i in ids.tolist()]

    def counter_names(self) -> list[str]:
        ids = np.unique(self.counters["name"])
        return [self.strings[i] for i in ids.tolist()]

    def counter_series(self, name: str, pid: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(ts_ns, values)`` of one counter, time-ordered."""
        sid = self.strings.id_of(name)
        if sid is None:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        m = self.counters["name"] == sid
        if pid is not None:
            m &= self.counters["pid"] == pid
        ts = self.counters["ts_ns"][m]
        order = np.argsort(ts, kind="stable")
        return ts[order], self.counters["value"][m][order]

    def iter_spans(self, mask: np.ndarray | None = None) -> Iterator[dict[str, Any]]:
        """Rows as dicts (slow path, for tests and small selections)."""
        idx = np.arange(self.n_spans) if mask is None else np.flatnonzero(mask)
        s = self.strings.strings
        for i in idx.tolist():
            row = {k: v[i].item() for k, v in self.spans.items()}
            row["cat"] = SPAN_CATEGORIES[row["cat"]]
            row["name"] = s[row["name"]]
            row["shapes"] = s[row["shapes"]] if row["shapes"] >= 0 else None
            row["args"] = self.span_args.get(i, {})
            row["index"] = i
            yield row

    def time_range(self) -> tuple[int, int] | None:
        """Earliest start and latest end over every record, ``None`` when empty."""
        lo, hi = [], []
        if self.n_spans:
            lo.append(int(self.spans["start_ns"].min()))
            hi.append(int((self.spans["start_ns"] + self.spans["dur_ns"]).max()))
        for tbl in (self.counters, self.instants, self.samples):
            if len(tbl["ts_ns"]):
                lo.append(int(tbl["ts_ns"].min()))
                hi.append(int(tbl["ts_ns"].max()))
        return (min(lo), max(hi)) if lo else None

    # ----------------------------------------------------------------- combine
    @staticmethod
    def concat(tables: Iterable[EventTable]) -> EventTable:
        """Merge tables (e.g. worker + parent probes), re-interning strings."""
        tables = list(tables)
        out = EventTable()
        span_parts: list[dict[str, np.ndarray]] = []
        ctr_parts, inst_parts, smp_parts, flow_parts = [], [], [], []
        n_spans = n_inst = 0
        for t in tables:
            remap = np.array([out.strings.intern(s) for s in t.strings.strings] or [0], dtype=np.int32)
            sp = dict(t.spans)
            sp["name"] = remap[sp["name"]] if len(sp["name"]) else sp["name"]
            sh = sp["shapes"]
            sp["shapes"] = np.where(sh >= 0, remap[np.maximum(sh, 0)], -1).astype(np.int32)
            span_parts.append(sp)
            c = dict(t.counters)
            c["name"] = remap[c["name"]] if len(c["name"]) else c["name"]
            ctr_parts.append(c)
            ins = dict(t.instants)
            ins["name"] = remap[ins["name"]] if len(ins["name"]) else ins["name"]
            inst_parts.append(ins)
            fl = dict(t.flows)
            fl["name"] = remap[fl["name"]] if len(fl["name"]) else fl["name"]
            flow_parts.append(fl)
            stack_base = len(out.stacks)
            out.stacks.extend(tuple(int(remap[f]) for f in st) for st in t.stacks)
            smp = dict(t.samples)
            smp["stack"] = (smp["stack"] + stack_base).astype(np.int32)
            smp_parts.append(smp)
            out.span_args.update({k + n_spans: v for k, v in t.span_args.items()})
            out.instant_args.update({k + n_inst: v for k, v in t.instant_args.items()})
            n_spans += t.n_spans
            n_inst += len(t.instants["ts_ns"])
            # the first table to name a track wins: a worker names its own process, a parent-side
            # sampler only supplies a fallback name for the same pid
            for pid, name in t.processes.items():
                out.processes.setdefault(pid, name)
            for key, name in t.threads.items():
                out.threads.setdefault(key, name)
        out.spans = _concat_cols(span_parts, _SPAN_COLUMNS)
        out.counters = _concat_cols(ctr_parts, _COUNTER_COLUMNS)
        out.instants = _concat_cols(inst_parts, _INSTANT_COLUMNS)
        out.samples = _concat_cols(smp_parts, _SAMPLE_COLUMNS)
        out.flows = _concat_cols(flow_parts, _FLOW_COLUMNS)
        return out

    def shifted(self, offset_ns: int) -> EventTable:
        """A copy with every timestamp moved by ``offset_ns`` (clock re-basing)."""
        t = EventTable(**{k: getattr(self, k) for k in self.__dataclass_fields__})
        t.spans = dict(self.spans, start_ns=self.spans["start_ns"] + offset_ns)
        t.counters = dict(self.counters, ts_ns=self.counters["ts_ns"] + offset_ns)
        t.instants = dict(self.instants, ts_ns=self.instants["ts_ns"] + offset_ns)
        t.samples = dict(self.samples, ts_ns=self.samples["ts_ns"] + offset_ns)
        t.flows = dict(
            self.flows,
            src_ts_ns=self.flows["src_ts_ns"] + offset_ns,
            dst_ts_ns=self.flows["dst_ts_ns"] + offset_ns,
        )
        return t

    # --------------------------------------------------------------- storage
    def save(self, path: str | Path, compress: bool = True, rank: int | None = None) -> None:
        """Write to ``path`` atomically. Data only: numbers and UTF-8 text.

        A ``….parquet`` path writes the event store (:mod:`profiler.core.parquet`, ``docs/store.md``:
        Arrow/Parquet tables, zstd; ``rank`` labels every event with one rank); any other path
        writes the ``.npz`` file earlier versions used as a run's event file.

        The file is what ``np.savez_compressed`` writes (one ``NAME.npy`` member per column), deflated
        at level 1 rather than 6: several times faster on a million events, about 10% larger.
        ``compress=False`` (stored members, as ``np.savez``) is for checkpoints taken between measured
        steps, where the worker's CPU time matters more than the file's size.
        """
        if str(path).endswith(".parquet"):
            from profiler.core import parquet

            parquet.write(self, path, SPAN_CATEGORIES, DEVICE_TID_BASE, compress=compress, rank=rank)
            return
        from profiler.core.files import atomic_write_bytes

        arrays: dict[str, np.ndarray] = {}
        for prefix, tbl in (
            ("span", self.spans),
            ("counter", self.counters),
            ("instant", self.instants),
            ("sample", self.samples),
            ("flow", self.flows),
        ):
            for k, v in tbl.items():
                arrays[f"{prefix}.{k}"] = v
        meta = {
            "format": "profiler-events",
            "version": EVENTS_FORMAT_VERSION,
            "strings": self.strings.strings,
            "stacks": [list(s) for s in self.stacks],
            "span_args": {str(k): v for k, v in self.span_args.items()},
            "instant_args": {str(k): v for k, v in self.instant_args.items()},
            "processes": {str(k): v for k, v in self.processes.items()},
            "threads": [[p, t, n] for (p, t), n in self.threads.items()],
        }
        arrays["meta.json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        with zipfile.ZipFile(buf, "w", method, allowZip64=True, compresslevel=1 if compress else None) as z:
            for name, arr in arrays.items():
                with z.open(f"{name}.npy", "w", force_zip64=True) as f:  # zip64 always, as numpy does
                    np.lib.format.write_array(f, np.asanyarray(arr))
        atomic_write_bytes(Path(path), buf.getvalue())

    @staticmethod
    def load(path: str | Path) -> EventTable:
        """Read a file written by :meth:`save` (an event store or an ``.npz``); :class:`InputError`
        on anything else."""
        path = Path(path)
        if path.name.endswith(".parquet"):
            from profiler.core import parquet

            parts = parquet.read(path, SPAN_CATEGORIES)
            t = EventTable(strings=StringTable(parts.pop("strings")), **parts)
            for tbl, spec in ((t.spans, _SPAN_COLUMNS), (t.counters, _COUNTER_COLUMNS), (t.instants, _INSTANT_COLUMNS),
                              (t.samples, _SAMPLE_COLUMNS), (t.flows, _FLOW_COLUMNS)):
                for k, dt in spec.items():
                    tbl[k] = tbl[k].astype(dt, copy=False)
            t.validate(str(path))
            return t
        try:
            with np.load(path, allow_pickle=False) as z:
                files = set(z.files)
                if "meta.json" not in files:
                    raise InputError(f"{path}: not a profiler events file")
                meta = json.loads(bytes(z["meta.json"]).decode())
                if meta.get("format") != "profiler-events":
                    raise InputError(f"{path}: not a profiler events file")
                if meta.get("version") != EVENTS_FORMAT_VERSION:
                    raise InputError(
                        f"{path}: events format version {meta.get('version')} is not supported "
                        f"(this profiler reads version {EVENTS_FORMAT_VERSION})"
                    )

                def cols(prefix: str, spec: dict[str, Any]) -> dict[str, np.ndarray]:
                    return {k: np.asarray(z[f"{prefix}.{k}"], dtype=dt) for k, dt in spec.items()}

                t = EventTable(
                    strings=StringTable(meta["strings"]),
                    spans=cols("span", _SPAN_COLUMNS),
                    counters=cols("counter", _COUNTER_COLUMNS),
                    instants=cols("instant", _INSTANT_COLUMNS),
                    samples=cols("sample", _SAMPLE_COLUMNS),
                    stacks=[tuple(s) for s in meta["stacks"]],
                    span_args={int(k): v for k, v in meta["span_args"].items()},
                    instant_args={int(k): v for k, v in meta.get("instant_args", {}).items()},
                    processes={int(k): v for k, v in meta["processes"].items()},
                    threads={(int(p), int(t)): n for p, t, n in meta["threads"]},
                )
                if "flow.id" in files:  # files written before flows were kept have none
                    t.flows = cols("flow", _FLOW_COLUMNS)
        except InputError:
            raise
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        # A foreign or damaged file can fail anywhere inside zipfile/zlib/numpy (BadZipFile,
        # zlib.error, NotImplementedError for exotic zip flags, RuntimeError for "encrypted" ...):
        # every such failure is a statement about the file, so it becomes one InputError line.
        except Exception as e:
            raise InputError(f"{path}: unreadable events file ({type(e).__name__}: {e})") from None
        t.validate(str(path))
        return t

    def validate(self, source: str = "events") -> None:
        """Check internal consistency; :class:`InputError` when broken."""
        n_str = len(self.strings)
        for tbl, cols in (
            (self.spans, _SPAN_COLUMNS),
            (self.counters, _COUNTER_COLUMNS),
            (self.instants, _INSTANT_COLUMNS),
            (self.samples, _SAMPLE_COLUMNS),
            (self.flows, _FLOW_COLUMNS),
        ):
            lens = {len(tbl[k]) for k in cols}
            if len(lens) > 1:
                raise InputError(f"{source}: columns of different lengths")
        if self.n_spans:
            if (self.spans["dur_ns"] < 0).any():
                raise InputError(f"{source}: negative span duration")
            if self.spans["name"].max() >= n_str or self.spans["name"].min() < 0:
                raise InputError(f"{source}: span name out of range")
            if self.spans["cat"].max() >= len(SPAN_CATEGORIES) or self.spans["cat"].min() < 0:
                raise InputError(f"{source}: unknown span category")
            if self.spans["shapes"].max() >= n_str:
                raise InputError(f"{source}: span shapes out of range")
        for tbl in (self.counters, self.instants, self.flows):
            if len(tbl["name"]) and (tbl["name"].max() >= n_str or tbl["name"].min() < 0):
                raise InputError(f"{source}: name out of range")
        if len(self.samples["stack"]) and (
            self.samples["stack"].max() >= len(self.stacks) or self.samples["stack"].min() < 0
        ):
            raise InputError(f"{source}: sample stack out of range")
        for st in self.stacks:
            if any(not (0 <= f < n_str) for f in st):
                raise InputError(f"{source}: stack frame out of range")


def _empty(spec: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.empty(0, dtype=dt) for k, dt in spec.items()}


def _concat_cols(parts: list[dict[str, np.ndarray]], spec: dict[str, Any]) -> dict[str, np.ndarray]:
    if not parts:
        return _empty(spec)
    return {k: np.concatenate([p[k] for p in parts]).astype(dt, copy=False) for k, dt in spec.items()}


class EventBuilder:
    """Append-only collector that probes write into; :meth:`build` freezes it into an EventTable.

    Appends go to Python lists (cheap per call); conversion to arrays happens once.
    """

    def __init__(self) -> None:
        self.strings = StringTable()
        self._spans: dict[str, list] = {k: [] for k in _SPAN_COLUMNS}
        self._counters: dict[str, list] = {k: [] for k in _COUNTER_COLUMNS}
        self._instants: dict[str, list] = {k: [] for k in _INSTANT_COLUMNS}
        self._samples: dict[str, list] = {k: [] for k in _SAMPLE_COLUMNS}
        self._stack_ids: dict[tuple[int, ...], int] = {}
        self.stacks: list[tuple[int, ...]] = []
        self.span_args: dict[int, dict[str, Any]] = {}
        self.instant_args: dict[int, dict[str, Any]] = {}
        self.processes: dict[int, str] = {}
        self.threads: dict[tuple[int, int], str] = {}

    def span(
        self,
        cat: str,
        name: str,
        start_ns: int,
        dur_ns: int,
        pid: int,
        tid: int,
        *,
        flops: float | None = None,
        nbytes: float | None = None,
        corr: int = -1,
        shapes: str | None = None,
        args: dict[str, Any] | None = None,
    ) -> int:
        """Add one span; returns its row index."""
        s = self._spans
        row = len(s["start_ns"])
        s["start_ns"].append(int(start_ns))
        s["dur_ns"].append(max(0, int(dur_ns)))
        s["cat"].append(_CAT_CODE[cat])
        s["name"].append(self.strings.intern(name))
        s["pid"].append(int(pid))
        s["tid"].append(int(tid))
        s["flops"].append(np.nan if flops is None else float(flops))
        s["bytes"].append(np.nan if nbytes is None else float(nbytes))
        s["corr"].append(int(corr))
        s["shapes"].append(-1 if not shapes else self.strings.intern(shapes))
        if args:
            self.span_args[row] = args
        return row

    def counter(self, name: str, ts_ns: int, value: float, pid: int = 0) -> None:
        c = self._counters
        c["ts_ns"].append(int(ts_ns))
        c["name"].append(self.strings.intern(name))
        c["value"].append(float(value))
        c["pid"].append(int(pid))

    def instant(
        self, name: str, ts_ns: int, pid: int, tid: int = 0, args: dict[str, Any] | None = None
    ) -> None:
        i = self._instants
        if args:
            self.instant_args[len(i["ts_ns"])] = args
        i["ts_ns"].append(int(ts_ns))
        i["name"].append(self.strings.intern(name))
        i["pid"].append(int(pid))
        i["tid"].append(int(tid))

    def sample(self, ts_ns: int, pid: int, tid: int, frames: Iterable[str]) -> None:
        """A stack sample; ``frames`` outermost first."""
        key = tuple(self.strings.intern(f) for f in frames)
        sid = self._stack_ids.get(key)
        if sid is None:
            sid = self._stack_ids[key] = len(self.stacks)
            self.stacks.append(key)
        s = self._samples
        s["ts_ns"].append(int(ts_ns))
        s["pid"].append(int(pid))
        s["tid"].append(int(tid))
        s["stack"].append(sid)

    def name_process(self, pid: int, name: str) -> None:
        self.processes[int(pid)] = name

    def name_thread(self, pid: int, tid: int, name: str) -> None:
        self.threads[(int(pid), int(tid))] = name

    def build(self) -> EventTable:
        def arr(lists: dict[str, list], spec: dict[str, Any]) -> dict[str, np.ndarray]:
            return {k: np.asarray(lists[k], dtype=dt) for k, dt in spec.items()}

        return EventTable(
            strings=self.strings,
            spans=arr(self._spans, _SPAN_COLUMNS),
            counters=arr(self._counters, _COUNTER_COLUMNS),
            instants=arr(self._instants, _INSTANT_COLUMNS),
            samples=arr(self._samples, _SAMPLE_COLUMNS),
            stacks=list(self.stacks),
            span_args=dict(self.span_args),
            instant_args=dict(self.instant_args),
            processes=dict(self.processes),
            threads=dict(self.threads),
        )
