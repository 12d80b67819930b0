"""Many ranks' traces as one Dask task graph: per rank, import → event store → a small summary.

Each rank is read on a Dask worker (:func:`ingest`: importer, then the event store under
``out/rank<N>/``) and summarised from its store (:func:`summarise`); the client reduces the small
summaries (:func:`reduce_ranks`). The same graph runs on a local cluster started for the call, on a
``tcp://`` scheduler (shared paths: ``docs/store.md``, Starting a cluster) or in-process. A rank
that does not parse is named in ``failed``; an unreachable scheduler is one line.
"""

from __future__ import annotations

import os
import re
import statistics
from pathlib import Path
from typing import Any

from profiler.core.errors import InputError, ProfilerError, UnavailableError
from profiler.core.protocol import EVENTS_FILE

SCHEDULER_ENV = "PROFILER_SCHEDULER"
IN_PROCESS = "in-process"
#: a rank number in a file name: ``rank-3``, ``rank_3``, ``rank3``
_RANK_IN_NAME = re.compile(r"(?:^|[^a-z])rank[-_]?(\d+)(?:\D|$)", re.IGNORECASE)


def rank_of(path: str | Path, position: int) -> int:
    """The rank a trace's file name gives (``rank3``, ``rank-3``), else its position in the list."""
    m = _RANK_IN_NAME.search(Path(path).name)
    return int(m.group(1)) if m else position


# ------------------------------------------------------------------------------------ the tasks


def ingest(trace: str, rank: int, out: str) -> dict[str, Any]:
    """Task: import one rank's trace and write its event store under ``out/rank<N>/``.

    Returns ``{"rank", "trace", "store", "facts", "range_ns", "anchors"}`` (``store`` relative to
    ``out``; ``facts``: what the importer says of the trace, JSON values; ``range_ns``: the events'
    time range; ``anchors``: ``[pid, step starts, collectives]`` for aligning the ranks' clocks,
    :func:`profiler.analysis.ranks.merge_rank_traces`), or with ``error`` instead of ``store`` when
    the trace cannot be read or the store cannot be written. The client reads no rank's table to
    check or align the ranks.
    """
    from profiler.analysis.ranks import _anchors
    from profiler.importers import load_trace

    rel = f"rank{rank}/{EVENTS_FILE}"
    try:
        imp = load_trace(trace)
        table = imp.table
        if imp.ranks and len(imp.ranks) > 1:
            raise InputError(f"{trace}: holds {len(imp.ranks)} ranks; give one trace file per rank")
        table.save(Path(out) / rel, rank=rank)
    except ProfilerError as e:
        return {"rank": rank, "trace": trace, "error": str(e)}
    except (OSError, ValueError, KeyError, TypeError) as e:  # a reader's failure on a damaged file
        return {"rank": rank, "trace": trace, "error": f"{trace}: {type(e).__name__}: {e}"}
    pid = imp.facts.get("host_pid") or next(iter(table.processes), None)
    anchors = None
    if pid is not None:
        steps_at, coll = _anchors(table, int(pid))
        anchors = [int(pid), sorted(steps_at.items()), [list(c) for c in coll]]
    tr = table.time_range()
    return {"rank": rank, "trace": trace, "store": rel, "facts": imp.facts,
            "range_ns": list(tr) if tr else None, "anchors": anchors}


def summarise(ingested: dict[str, Any], out: str) -> dict[str, Any]:
    """Task: the rank's summary, read from its store (the steps table and the manifest only).

    ``steps`` (count), ``mean_step_ms``/``median_step_ms`` (of the ``step`` spans; ``None`` without
    any), ``events`` (every record: spans, counters, instants, samples), ``spans``.
    """
    if "error" in ingested:
        return dict(ingested)
    import pyarrow.parquet as pq

    from profiler.core.parquet import read_manifest, table_path

    path = Path(out) / ingested["store"]
    rows = read_manifest(path)["rows"]
    dur = pq.read_table(table_path(path, "steps"), columns=["dur_ns"]).column("dur_ns").to_pylist()
    return {
        **ingested,
        "steps": len(dur),
        "mean_step_ms": statistics.fmean(dur) / 1e6 if dur else None,
        "median_step_ms": statistics.median(dur) / 1e6 if dur else None,
        "spans": rows["events"],
        "events": rows["events"] + rows["counters"] + rows["instants"] + rows["samples"],
    }


def reduce_ranks(summaries: list[dict[str, Any]], out: str) -> dict[str, Any]:
    """The client's reduction: ranks in order, the failed ones apart, totals and the slowest rank."""
    ok = sorted((s for s in summaries if "error" not in s), key=lambda s: s["rank"])
    failed = sorted((s for s in summaries if "error" in s), key=lambda s: s["rank"])
    means = {s["rank"]: s["mean_step_ms"] for s in ok if s.get("mean_step_ms") is not None}
    slow = max(means, key=lambda r: means[r]) if means else None
    return {
        "out": out,
        "ranks": ok,
        "failed": failed,
        "n_ranks": len(summaries),
        "events": sum(s["events"] for s in ok),
        "steps": sum(s["steps"] for s in ok),
        "mean_step_ms": statistics.fmean(means.values()) if means else None,
        "slowest_rank": slow,
        "slowest_mean_step_ms": means.get(slow) if slow is not None else None,
    }


# ------------------------------------------------------------------------------------ the graph


def run_fleet(
    traces: list[str | Path],
    out: str | Path,
    scheduler: str | None = None,
    workers: int | None = None,
    memory_limit: str | None = None,
    ranks: list[int] | None = None,
    connect_timeout_s: float = 5.0,
) -> dict[str, Any]:
    """Import, store and summarise one trace per rank as a Dask task graph (module docstring).

    ``traces``: one file per rank (rank from the file name, else the position; ``ranks`` overrides);
    ``out``: where the stores go, ``out/rank<N>/events.parquet`` (shared storage on a cluster);
    ``scheduler``: a Dask scheduler address, ``"in-process"``, or ``None`` (``PROFILER_SCHEDULER``,
    else a local cluster of at most ``workers`` processes, each with ``memory_limit``).
    """
    import dask
    from dask import delayed

    if not traces:
        raise InputError("no trace files given")
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [str(Path(t).resolve()) for t in traces]
    rank_ids = list(ranks) if ranks is not None else [rank_of(p, i) for i, p in enumerate(paths)]
    if len(set(rank_ids)) != len(rank_ids):
        raise InputError(f"rank given twice among {len(paths)} traces: {sorted(rank_ids)}")
    o = str(out_dir)
    graph = [
        delayed(summarise, pure=True)(delayed(ingest, pure=True)(p, r, o), o)
        for p, r in zip(paths, rank_ids, strict=True)
    ]
    scheduler = scheduler if scheduler is not None else (os.environ.get(SCHEDULER_ENV) or None)
    if scheduler == IN_PROCESS:
        summaries = list(dask.compute(*graph, scheduler="sync"))
        return reduce_ranks(summaries, o)
    with _client(scheduler, workers, memory_limit, len(paths), connect_timeout_s) as client:
        futures = client.compute(graph)
        summaries = []
        for fut, p, r in zip(futures, paths, rank_ids, strict=True):
            try:
                summaries.append(fut.result())
            except Exception as e:  # a worker that died with the task (after Dask's retries)
                summaries.append({"rank": r, "trace": p, "error": f"{p}: lost on the cluster ({type(e).__name__}: {e})"})
    return reduce_ranks(summaries, o)


class _client:
    """A ``distributed.Client`` on the given scheduler or on a LocalCluster started (and closed) here."""

    def __init__(self, scheduler: str | None, workers: int | None, memory_limit: str | None, n_tasks: int,
                 timeout_s: float) -> None:
        self.scheduler, self.workers, self.memory_limit = scheduler, workers, memory_limit
        self.n_tasks, self.timeout_s = n_tasks, timeout_s
        self.cluster: Any = None
        self.client: Any = None

    def __enter__(self) -> Any:
        import logging

        from distributed import Client, LocalCluster

        if self.scheduler:
            try:
                self.client = Client(self.scheduler, timeout=f"{self.timeout_s}s", set_as_default=False)
            except (OSError, TimeoutError, ValueError) as e:
                raise UnavailableError(
                    f"Dask scheduler {self.scheduler}: cannot connect within {self.timeout_s:g} s "
                    f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no answer'})"
                ) from None
            return self.client
        n = max(1, min(self.workers or (os.cpu_count() or 1), self.n_tasks))
        self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, scheduler_kwargs={"dashboard": False},
                                    memory_limit=self.memory_limit or "auto", silence_logs=logging.ERROR)
        self.client = Client(self.cluster, set_as_default=False)
        return self.client

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


# ------------------------------------------------------------------------ a trace folder, stored once


def stores_for_traces(path: str | Path, scheduler: str | None = None, workers: int | None = None,
                      out: str | Path | None = None) -> tuple[Path, dict[str, Any]]:
    """The event stores of a trace file or a folder of per-rank traces, importing them only the first
    time: under ``out`` (default: the cache, ``$PROFILER_CACHE_DIR/stores/…``), reused while the
    traces' names, sizes and modification times are unchanged. Returns the folder and the fleet
    result (``failed`` names the ranks that did not import)."""
    import json

    from profiler.core.files import atomic_write_json
    from profiler.importers import trace_folder_files

    p = Path(path).resolve()
    if not p.exists():
        raise InputError(f"{p}: no such file or directory")
    files = trace_folder_files(p) if p.is_dir() else [p]
    if not files:
        raise InputError(f"{p}: no event store, run or trace files here")
    stamp = _stamp(files)
    where = Path(out) if out else store_dir(p)
    manifest = where / "fleet.json"
    try:
        old = json.loads(manifest.read_text())
        if (old.get("version") == FLEET_MANIFEST_VERSION and old.get("traces") == stamp
                and all((where / r["store"]).is_file() for r in old["result"]["ranks"])):
            return where, old["result"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    result = run_fleet([str(f) for f in files], where, scheduler=scheduler, workers=workers)
    if result["ranks"]:
        atomic_write_json(manifest, {"version": FLEET_MANIFEST_VERSION, "traces": stamp, "result": result})
    return where, result


def store_dir(folder: Path) -> Path:
    """Where the stores (and the cached report) of a trace folder or file (resolved) are kept."""
    import hashlib

    from profiler.core.calibration import cache_dir

    return cache_dir() / "stores" / hashlib.sha1(str(folder).encode()).hexdigest()[:16]


def _stamp(files: list[Path]) -> list[list[Any]]:
    """What says a trace file is unchanged: its name, size and modification time."""
    out = []
    for f in files:
        st = f.stat()
        out.append([str(f), st.st_size, st.st_mtime_ns])
    return out


#: fleet.json's layout: 2 adds each rank's importer facts, 3 its time range and clock anchors (a
#: cache without them is imported again)
FLEET_MANIFEST_VERSION = 3
#: a folder of at most this many ranks, with no scheduler named, runs the graph in this process:
#: a local cluster's start outweighs its parallel import there. Measured (benchmarks/fleet_ranks.py,
#: 2 cores, 40k events per rank, median of 3): 8 ranks 3.3 s in-process vs 4.8 s on a local
#: cluster; 32 ranks 16.8 s vs 15.1 s (within the spread); 64 ranks 26.2 s vs 24.1 s (one run)
IN_PROCESS_MAX_RANKS = 8


def load_rank_folder(path: str | Path, force: bool = False, scheduler: str | None = None,
                     workers: int | None = None) -> Any:
    """A folder of per-rank traces read through the task graph (:func:`stores_for_traces`: each
    rank imported into its event store on a worker, once), then assembled in this process as
    :func:`profiler.importers.load_rank_traces` assembles the ranks it reads itself: the same
    ranks, checks (one job, ``force``), skipped files and facts, each rank's table read from its
    store. ``scheduler``: a Dask address, ``"in-process"``, or ``None``: ``PROFILER_SCHEDULER``,
    else in this process for at most :data:`IN_PROCESS_MAX_RANKS` ranks and a local cluster above.

    No rank's table is held here: the checks read each rank's time range from its summary, and
    ``ranks`` is a :class:`~profiler.analysis.ranks.StoredRanks` that reads a rank's store when the
    merge asks for it (one rank at a time); ``table`` is then no concatenation of the ranks (the
    merge replaces it). A folder with one readable rank gets that rank's table."""
    from profiler.analysis.ranks import StoredRanks
    from profiler.core.events import EventTable
    from profiler.importers import load_rank_traces, trace_folder_files

    p = Path(path)
    files = trace_folder_files(p)
    if not files:
        raise InputError(f"{p}: a directory with neither run.json, *.xplane.pb nor trace JSON files")
    if scheduler is None:
        scheduler = os.environ.get(SCHEDULER_ENV) or (IN_PROCESS if len(files) <= IN_PROCESS_MAX_RANKS else None)
    where, result = stores_for_traces(p, scheduler=scheduler, workers=workers)
    by_trace = {s["trace"]: s for s in [*result["ranks"], *result["failed"]]}

    def parse(f: Path) -> tuple[Any, dict[str, Any]]:
        s = by_trace.get(str(Path(f).resolve()))
        if s is None:
            raise InputError(f"{f}: not imported")
        if "error" in s:
            raise InputError(f"{f}: {s['error'].removeprefix(s['trace'] + ': ')}")
        return _time_range_only(s.get("range_ns")), dict(s["facts"])

    imp = load_rank_traces(files, force, where=p, parse=parse)

    def summary(facts: dict[str, Any]) -> dict[str, Any]:
        return by_trace[str(Path(facts["file"]).resolve())]

    if not imp.ranks:
        imp.table = EventTable.load(where / summary(imp.facts)["store"])
        return imp
    facts = {r: f for r, (_, f) in imp.ranks.items()}
    anchors = {}
    for r, f in facts.items():
        a = summary(f).get("anchors")
        if a is not None and f.get("host_pid") and int(f["host_pid"]) == a[0]:  # else read there
            anchors[r] = (int(a[0]), {int(k): int(v) for k, v in a[1]}, [(str(n), int(b), int(e)) for n, b, e in a[2]])
    ranges = {r: summary(f).get("range_ns") for r, f in facts.items()}
    imp.ranks = StoredRanks(facts, lambda r: EventTable.load(where / summary(facts[r])["store"]), anchors, ranges)
    return imp


def _time_range_only(range_ns: list[int] | None) -> Any:
    """An event table whose one use is its time range (:meth:`EventTable.time_range`): the rank's,
    from its summary; two counter samples at its ends. What :func:`load_rank_traces` checks of a
    rank's table, without reading it."""
    import numpy as np

    from profiler.core.events import EventTable

    t = EventTable()
    if range_ns:
        t.counters = {"ts_ns": np.asarray(range_ns, np.int64), "name": np.zeros(2, np.int32),
                      "value": np.zeros(2), "pid": np.zeros(2, np.int64)}
        t.strings.intern("time range")
    return t


# ------------------------------------------------------------------ a finished report, kept once

#: report.json's layout in a cached report (a cache of another layout is not read)
REPORT_CACHE_VERSION = 1
#: files of a run directory that name the run itself, written anew on every reuse
_OWN_FILES = ("run.json", "report.html")
#: environment variables that change where the work runs or the cache lives, never the figures
_ENV_NOT_IN_KEY = ("PROFILER_SCHEDULER", "PROFILER_CACHE_DIR")


class ReportCache:
    """The finished report of a folder of per-rank traces, kept beside its stores so that a second
    ``profiler report DIR`` of unchanged traces reduces nothing again: it gets a new run directory
    whose files are those of the first report (the large ones, the merged event store and the
    Chrome trace, hard-linked where the file system allows, else copied), its record the first one's
    with its own id, time and command, and ``report.html`` the first one's with its own time.

    The key (:meth:`key`) holds everything the figures depend on: the traces (names, sizes,
    modification times), the store and cache layouts, this package's code (its files' sizes and
    modification times) and version, the libraries that draw the outputs, the machine's calibration,
    the report's options and the ``PROFILER_*`` settings. Any change is a miss, and the report is
    made as the first time (and kept in place of the old one). One report is kept per folder.
    """

    def __init__(self, folder: Path, given: str, files: list[Path], budget_mb: float | None, force: bool) -> None:
        self.folder, self.given, self.files = folder, given, files
        self.budget_mb, self.force = budget_mb, force
        self._key: str | None = None

    @classmethod
    def for_folder(cls, path: str | Path, budget_mb: float | None, force: bool) -> ReportCache | None:
        """The cache of ``path`` when it is a folder of per-rank traces (the task graph's input),
        else ``None`` (a single trace, a TensorFlow log directory: nothing kept)."""
        from profiler.core import faults
        from profiler.importers import _find_xplane, trace_folder_files

        if os.environ.get(faults.FAULT_ENV) or getattr(faults, "_injected", None) is not None:
            return None  # writes are made to fail: the report is made, and not kept
        p = Path(path)
        try:
            if not p.is_dir() or _find_xplane(p) is not None:
                return None
            files = trace_folder_files(p)
        except (OSError, ProfilerError):
            return None
        if not files:
            return None
        return cls(p.resolve(), str(path), files, budget_mb, force)

    def key(self) -> str:
        if self._key is None:
            import hashlib
            import json
            import sys
            from importlib import metadata

            import profiler
            from profiler.core.calibration import load_cached
            from profiler.core.parquet import STORE_VERSION

            pkg = Path(profiler.__file__).parent
            code = sorted([str(f.relative_to(pkg)), f.stat().st_size, f.stat().st_mtime_ns]
                          for f in pkg.rglob("*") if f.suffix in (".py", ".json") and f.is_file())
            libs = {}
            for lib in ("numpy", "pyarrow", "matplotlib"):
                try:
                    libs[lib] = metadata.version(lib)
                except metadata.PackageNotFoundError:
                    libs[lib] = None
            env = sorted((k, v) for k, v in os.environ.items() if k.startswith("PROFILER_") and k not in _ENV_NOT_IN_KEY)
            doc = {"cache": REPORT_CACHE_VERSION, "store": STORE_VERSION, "fleet": FLEET_MANIFEST_VERSION,
                   "version": profiler.__version__, "python": sys.version, "code": code, "libs": libs,
                   "folder": str(self.folder), "given": self.given, "cwd": os.getcwd(), "traces": _stamp(self.files),
                   "calibration": load_cached(), "budget_mb": self.budget_mb, "force": self.force, "env": env}
            self._key = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
        return self._key

    @property
    def _dir(self) -> Path:
        return store_dir(self.folder) / f"report-{self.key()[:20]}"

    def load(self, out: Path) -> tuple[Any, Any] | None:
        """A new run directory under ``out`` made from the kept report, with its record; ``None``
        when none is kept for this key or a kept file is missing or changed (the caller then
        makes the report)."""
        import json
        import shutil
        import time

        from profiler.core.files import atomic_write_text, read_json
        from profiler.core.record import RunRecord
        from profiler.core.rundir import RunDir

        d = self._dir
        try:
            meta = json.loads((d / "report.json").read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("version") != REPORT_CACHE_VERSION or meta.get("key") != self.key():
            return None
        run = RunDir.create(out, meta["label"])
        try:
            for rel, size in meta["files"]:
                src, dst = d / rel, run.path / rel
                if src.stat().st_size != size:
                    raise OSError(f"{src}: changed since it was kept")
                dst.parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(src, dst)
            record = RunRecord.from_dict(read_json(d / "run.json", "run record"))
            old_created = record.created
            record.id = run.path.name
            record.created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            record.command = ["profiler", "report", self.given]
            page = d / "report.html"
            if meta.get("page") and page.is_file():
                atomic_write_text(run.path / "report.html", page.read_text().replace(old_created, record.created, 1))
            else:  # the page names the run in a way not replaced here: drawn again
                from profiler.run.execute import export_pages

                export_pages(record, run)
            run.write_record(record)
        except (OSError, ValueError, KeyError, TypeError, ProfilerError):
            shutil.rmtree(run.path, ignore_errors=True)
            return None
        return record, run

    def keep(self, record: Any, run: Any, label: str) -> None:
        """Keep the finished report ``run`` (its files and record) for the next report of these
        traces, in place of any kept before. Never fails the report: a file system that refuses is
        left without a kept report."""
        import shutil
        import tempfile

        from profiler.core.files import atomic_write_json

        final = self._dir
        tmp: Path | None = None
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".report-", dir=final.parent))
            files = []
            for f in sorted(run.path.rglob("*")):
                if not f.is_file():
                    continue
                rel = f.relative_to(run.path)
                dst = tmp / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                if str(rel) in _OWN_FILES:
                    shutil.copyfile(f, dst)
                else:
                    _link_or_copy(f, dst)
                    files.append([str(rel), dst.stat().st_size])
            page = tmp / "report.html"
            # the page is reused when the run's time is the one thing in it that names the run
            reuse_page = (page.is_file() and record.created
                          and page.read_text().count(record.created) == 1 and record.id not in page.read_text())
            atomic_write_json(tmp / "report.json", {"version": REPORT_CACHE_VERSION, "key": self.key(),
                                                    "label": label, "files": files, "page": bool(reuse_page)})
            for old in final.parent.glob("report-*"):
                shutil.rmtree(old, ignore_errors=True)
            os.rename(tmp, final)
            tmp = None
        except OSError:
            pass
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)


def _link_or_copy(src: Path, dst: Path) -> None:
    """``dst`` as a hard link of ``src`` (both are written once, atomically, never in place), or a
    copy where the file system has no links or ``src`` is on another one."""
    import shutil

    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


# ------------------------------------------------------------ the merged outputs, rank by rank


def time_origin(plan: Any, ranks: Any) -> int | None:
    """The merged table's earliest time (:meth:`EventTable.time_range`) on the reference clock: from
    each rank's time range in its summary (:class:`~profiler.analysis.ranks.StoredRanks` ``ranges``),
    else from each rank's table, read one at a time."""
    lows = []
    for r in plan.order:
        rng = getattr(ranks, "ranges", {}).get(r)
        if rng is None:
            tr = ranks[r][0].time_range()
            rng = list(tr) if tr else None
        if rng:
            lows.append(int(rng[0]) + plan.offsets[r])
    return min(lows) if lows else None


def write_trace_parts(plan: Any, ranks: Any, trace_path: Path, exporter: Any) -> dict | None:
    """The Chrome trace of every rank, written rank by rank from the ranks' stores (one rank's
    table in memory at a time, each under an equal share of the exporter's size budget); returns
    what the trace budget dropped (``None`` without one)."""
    from profiler.analysis.ranks import rank_parts

    exporter.write_parts((part for _, part, _ in rank_parts(plan, ranks)), trace_path, time_origin(plan, ranks),
                         n_parts=len(plan.order))
    return exporter.dropped or None


def merged_store(events_path: Path) -> Any:
    """The writer of a folder's merged event store: one row group per rank, appended in rank order
    (:class:`profiler.core.parquet.StoreWriter`)."""
    from profiler.core.events import DEVICE_TID_BASE, SPAN_CATEGORIES, EventTable
    from profiler.core.parquet import StoreWriter

    return StoreWriter(events_path, SPAN_CATEGORIES, DEVICE_TID_BASE, empty=EventTable())
