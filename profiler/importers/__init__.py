"""Readers of other tools' profiles (torch.profiler/Kineto JSON, TensorFlow XSpace, MXNet Chrome JSON)
into the event model, for ``profiler report TRACE``.

:func:`load_trace` picks the reader from the file; :func:`trace_folder_files` and
:func:`load_rank_traces` read a folder of traces as the ranks of one job (:func:`job_mismatches`
refuses those that are not). Readers are imported only when used, and no importer imports a
framework: recorded profiles are analysed anywhere. Formats and rules: ``docs/traces.md``
("Readers").
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler.core.errors import InputError, UnavailableError
from profiler.core.events import EventTable
from profiler.core.frameworks import framework_of_format


@dataclass
class ImportedTrace:
    table: EventTable
    format: str  # one of FORMATS
    framework: str  # the framework whose tracer writes the format (core/frameworks.py)
    path: Path
    facts: dict[str, Any] = field(default_factory=dict)
    #: several traces, one per rank: rank -> (its table, its facts); ``table`` is then their plain
    #: concatenation, and :func:`profiler.analysis.ranks.merge_rank_traces` aligns and merges them
    ranks: dict[int, tuple[EventTable, dict[str, Any]]] | None = None


#: The formats :func:`load_trace` reads; each is the ``trace_format`` of a framework's tracer.
FORMATS = ("kineto-json", "xspace", "mxnet-json")


def _trace(table: EventTable, fmt: str, path: Path, facts: dict[str, Any] | None = None,
           ranks: dict[int, tuple[EventTable, dict[str, Any]]] | None = None) -> ImportedTrace:
    """A trace read in format ``fmt``, of the framework whose tracer writes that format."""
    return ImportedTrace(table, fmt, framework_of_format(fmt), path, facts or {}, ranks)

def _reader(module: str, func: str, what: str) -> Any:
    try:
        mod = importlib.import_module(f"profiler.importers.{module}")
    except ImportError as e:
        raise UnavailableError(f"{what} import is unavailable: {e}") from None
    fn = getattr(mod, func, None)
    if fn is None:
        raise UnavailableError(f"{what} import is unavailable: profiler.importers.{module} has no {func}()")
    return fn


#: Where a TensorBoard log directory keeps its ``*.xplane.pb``, relative to the directory given
#: (the log dir, its ``plugins/profile``, or one run folder): searched there only, never deeper.
XPLANE_GLOBS = ("*.xplane.pb", "*/*.xplane.pb", "plugins/profile/*/*.xplane.pb")


def _find_xplane(path: Path) -> Path | None:
    if path.is_file() and path.name.endswith(".pb"):
        return path
    if path.is_dir():
        found = sorted({f for g in XPLANE_GLOBS for f in path.glob(g)})
        folders = sorted({f.parent for f in found})
        if len(folders) > 1:  # several profiling sessions: which one is meant?
            listed = ", ".join(str(f) for f in folders[:5]) + (" …" if len(folders) > 5 else "")
            raise InputError(f"{path}: {len(folders)} TensorFlow profiles found ({listed}); give one of them")
        found.sort(key=lambda p: p.stat().st_mtime)
        return found[-1] if found else None
    return None


def own_run_dir(path: str | Path) -> Path | None:
    """The run directory of a Chrome trace this profiler wrote (``trace.json.gz`` or unzipped),
    recognised by its content (``otherData.run``); ``None`` for anything else. A copy of our trace
    away from its run directory is a one-line error: its run.json holds the analysis."""
    p = Path(path)
    if not p.is_file() or not p.name.endswith((".json", ".json.gz")):
        return None
    from profiler.importers.chrome_json import forget_kept, read_chrome

    try:
        # kept: a trace that is not ours is imported next, from the same parse
        other = read_chrome(p, keep=True).facts.get("otherData")
    except InputError:
        return None
    if not (isinstance(other, dict) and "run" in other and ("scenario" in other or "imported" in other)):
        return None
    forget_kept()
    if (p.parent / "run.json").is_file():
        return p.parent
    raise InputError(
        f"{p}: a trace written by this profiler (run {other['run']}); report its run directory, "
        "which holds run.json, instead"
    )


#: a rank number in a file or folder name: ``rank-3``, ``rank_3``, ``rank3``, ``sampled_rank-3``
_RANK_IN_NAME = re.compile(r"(?:^|[^a-z])rank[-_]?(\d+)(?:\D|$)", re.IGNORECASE)

#: Traces of one job whose recording times are further apart than this (seconds, between the end of
#: one and the start of another) are not ranks of one job. Ranks record the same steps, so their
#: windows overlap; the allowance covers host clocks that disagree (NTP keeps them far closer).
JOB_TIME_TOLERANCE_S = 60.0
#: Timestamps below this (ns) are not wall-clock times (before 2001: time since boot, or a trace's
#: own zero): such traces' times are compared only when they name the same host.
_EPOCH_NS = 10**18


def trace_folder_files(path: Path) -> list[Path]:
    """The Chrome JSON traces (``*.json``, ``*.json.gz``) of a folder that is not a run directory: in
    the folder itself and one level below (one folder per host), skipping sub-folders that are run
    directories of ours (they hold ``run.json``)."""
    out: list[Path] = []
    try:
        for d in [path, *sorted(q for q in path.iterdir() if q.is_dir())]:
            if d is not path and (d / "run.json").exists():
                continue
            out += sorted(f for g in ("*.json", "*.json.gz") for f in d.glob(g) if f.is_file())
    except OSError as e:  # a folder we may not list: a one-line error, not a traceback
        raise InputError(f"{path}: cannot list the folder ({e.strerror or e})") from None
    return out


def _rank_of_name(f: Path) -> int | None:
    """The rank a file's name (or its folder's) gives, if any."""
    for n in (f.name, f.parent.name):
        m = _RANK_IN_NAME.search(n)
        if m:
            return int(m.group(1))
    return None


def _gpu_models(fx: dict[str, Any]) -> tuple[str, ...]:
    names = {str(p.get("name")) for p in fx.get("device_properties") or [] if isinstance(p, dict) and p.get("name")}
    return tuple(sorted(names))


def _fmt_gap(s: float) -> str:
    if s >= 86400:
        return f"{s / 86400:.1f} days"
    if s >= 3600:
        return f"{s / 3600:.1f} hours"
    return f"{s:.0f} s"


def job_mismatches(files: list[dict[str, Any]]) -> list[str]:
    """Why traces are not the ranks of one job, one phrase per reason naming the files (empty when
    they may be). Each item: ``name`` (for messages), ``rank``, ``rank_from`` ("distributedInfo",
    "file name" or "order"), ``facts`` (the importer's), ``range_ns`` (first, last event) or None.

    Ranks of one job share the world size and backend of ``distributedInfo`` (or all lack it), hold
    distinct ranks below the world size, run on one GPU model, and were recorded at the same time
    (their time ranges overlap within :data:`JOB_TIME_TOLERANCE_S`, on wall-clock timestamps or on
    one host's clock)."""
    out: list[str] = []

    def groups(key: Any) -> dict[Any, list[str]]:
        g: dict[Any, list[str]] = {}
        for f in files:
            g.setdefault(key(f), []).append(f["name"])
        return g

    def said(g: dict[Any, list[str]], what: Any) -> str:
        return " vs ".join(f"{what(k)} ({', '.join(v)})" for k, v in g.items())

    di = groups(lambda f: "distributedInfo" if isinstance(f["facts"].get("distributed_info"), dict) else None)
    if len(di) > 1:
        out.append("distributedInfo in " + ", ".join(di["distributedInfo"]) + " but not in " + ", ".join(di[None]))
    ws = groups(lambda f: (f["facts"].get("distributed_info") or {}).get("world_size"))
    ws.pop(None, None)
    if len(ws) > 1:
        out.append("world size " + said(ws, str))
    be = groups(lambda f: (f["facts"].get("distributed_info") or {}).get("backend"))
    be.pop(None, None)
    if len(be) > 1:
        out.append("backend " + said(be, str))
    for f in files:
        w = (f["facts"].get("distributed_info") or {}).get("world_size")
        if isinstance(w, int) and f["rank_from"] == "distributedInfo" and not 0 <= f["rank"] < w:
            out.append(f"{f['name']} is rank {f['rank']} of a world of {w}")
    ranks = groups(lambda f: f["rank"])
    dup = {k: v for k, v in ranks.items() if len(v) > 1}
    for k, v in sorted(dup.items()):
        out.append(f"rank {k} again: {' and '.join(v)}")
    gpu = groups(lambda f: _gpu_models(f["facts"]))
    gpu.pop((), None)
    if len(gpu) > 1:
        out.append("GPU " + said(gpu, lambda k: " + ".join(k)))
    timed = [f for f in files if f.get("range_ns")]
    hosts = {f["facts"].get("host_name") for f in timed}
    comparable = all(f["range_ns"][0] >= _EPOCH_NS for f in timed) or (len(hosts) == 1 and None not in hosts)
    if len(timed) > 1 and comparable:
        late = max(timed, key=lambda f: f["range_ns"][0])
        early = min(timed, key=lambda f: f["range_ns"][1])
        gap_s = (late["range_ns"][0] - early["range_ns"][1]) / 1e9
        if gap_s > JOB_TIME_TOLERANCE_S:
            out.append(f"recorded {_fmt_gap(gap_s)} apart ({early['name']} ends before {late['name']} starts)")
    return out


def load_rank_traces(paths: list[Path], force: bool = False, where: Path | None = None,
                     parse: Any = None) -> ImportedTrace:
    """One trace, or several (one per rank: ``distributedInfo.rank``, else a rank in the file's name,
    else the files' order) read each; the ranks are kept apart in ``ranks`` for the multi-rank merge
    (clock alignment).

    Files that are not readable Kineto traces are skipped and named (``facts["skipped_files"]``), as
    long as one is left. Traces that are not the ranks of one job (:func:`job_mismatches`) are
    refused with one line naming the files, or with ``force`` merged anyway with a warning
    (``facts["warnings"]``; a rank given twice is then renumbered above the others).

    ``parse``: ``f -> (table, facts)`` in place of reading each file here (the many-rank task graph
    of :mod:`profiler.run.fleet` passes each rank's event store); :class:`InputError` skips the file.
    """
    from profiler.importers.chrome_json import read_chrome
    from profiler.importers.kineto_json import gc_paused, is_kineto, parse_kineto

    base = where if where is not None else (paths[0].parent if paths else Path("."))

    def name(f: Path) -> str:
        try:
            return str(f.relative_to(base))
        except ValueError:
            return str(f)

    read: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for f in paths:
        try:
            if parse is not None:
                table, fx = parse(f)
            else:
                with gc_paused():
                    doc = read_chrome(f)
                    if not is_kineto(doc):
                        raise InputError(f"{f}: not a torch.profiler (Kineto) trace")
                    table, fx = parse_kineto(doc, str(f))
        except InputError as e:
            if len(paths) == 1:
                raise
            skipped[name(f)] = str(e).removeprefix(f"{f}: ").removeprefix(f"{f} ")
            continue
        fx["file"] = str(f)
        r = (fx.get("distributed_info") or {}).get("rank")
        src = "distributedInfo"
        if not (isinstance(r, int) and r >= 0):
            r, src = _rank_of_name(f), "file name"
        read.append({"name": name(f), "path": f, "table": table, "facts": fx, "rank": r, "rank_from": src,
                     "range_ns": table.time_range()})
    if not read:
        why = "; ".join(f"{k}: {v}" for k, v in skipped.items())
        raise InputError(f"{base}: no readable torch.profiler trace among {len(paths)} files ({why})")
    used = {f["rank"] for f in read if f["rank"] is not None}
    for f in read:  # no rank in the trace or its name: the files' order, past the ranks named
        if f["rank"] is None:
            f["rank"] = next(i for i in range(len(read) + len(used) + 1) if i not in used)
            f["rank_from"] = "order"
            used.add(f["rank"])
    warnings: list[str] = []
    if len(read) > 1:
        why = job_mismatches(read)
        if why and not force:
            raise InputError(
                f"{base}: {', '.join(f['name'] for f in read)} are not the ranks of one job: {'; '.join(why)} "
                "(--force merges them anyway)"
            )
        if why:
            warnings.append(f"merged as ranks of one job only because of --force: {'; '.join(why)}")
    ranks: dict[int, tuple[EventTable, dict[str, Any]]] = {}
    top = max(f["rank"] for f in read)
    for f in read:
        r = f["rank"]
        if r in ranks:  # only with --force: the second file of a rank gets a number of its own
            top += 1
            warnings.append(f"{f['name']} is rank {r} again: merged as rank {top}")
            r = top
        f["facts"]["rank_from"] = f["rank_from"]
        ranks[r] = (f["table"], f["facts"])
    first = ranks[min(ranks)]
    extra: dict[str, Any] = {}
    if skipped:
        extra["skipped_files"] = skipped
        warnings.append("skipped " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    if warnings:
        extra["warnings"] = warnings
    if len(ranks) == 1:
        return _trace(first[0], "kineto-json", Path(first[1]["file"]), {**first[1], **extra})
    facts = {**first[1], "files": [ranks[r][1]["file"] for r in sorted(ranks)], **extra}
    table = EventTable.concat([ranks[r][0] for r in sorted(ranks)])
    return _trace(table, "kineto-json", where or paths[0], facts, ranks)


def is_trace_path(path: str | Path) -> bool:
    """Whether ``profiler report PATH`` should import PATH: a file, or a directory without run.json
    that holds traces: an ``*.xplane.pb`` (a TensorBoard log directory) or Chrome JSON traces (one per
    rank, in the folder or one folder per host: :func:`trace_folder_files`)."""
    p = Path(path)
    if p.is_file():
        return True
    return p.is_dir() and not (p / "run.json").exists() and (
        bool(trace_folder_files(p)) or _find_xplane(p) is not None)


def load_trace(path: str | Path, force: bool = False) -> ImportedTrace:
    """Read any supported trace file, or a folder of traces (one per rank: :func:`load_rank_traces`,
    ``force`` merges traces that are not the ranks of one job); :class:`InputError` (one line) for
    anything else."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or directory")
    xp = _find_xplane(p)
    if xp is not None:
        load_xspace = _reader("xspace", "load_xspace", "TensorFlow XSpace (.xplane.pb)")
        return _trace(load_xspace(xp), "xspace", xp)
    if p.is_dir():
        pt = trace_folder_files(p)
        if not pt:
            raise InputError(f"{p}: a directory with neither run.json, *.xplane.pb nor trace JSON files")
        return load_rank_traces(pt, force, where=p)
    from profiler.importers.chrome_json import read_chrome
    from profiler.importers.kineto_json import gc_paused, is_kineto, parse_kineto

    with gc_paused():
        doc = read_chrome(p)
        if is_kineto(doc):
            table, facts = parse_kineto(doc, str(p))
            return _trace(table, "kineto-json", p, facts)
    if doc.events is not None and not any(e.ph not in ("M", None) for e in doc.first_events()):
        raise InputError(f"{p}: a Chrome trace with no events")
    if doc.events is not None:  # MXNet's profile: the document already split, read once
        parse_mxnet = _reader("mxnet_json", "parse_mxnet_doc", "MXNet profile (Chrome JSON)")
        return _trace(parse_mxnet(doc, source=str(p)), "mxnet-json", p)
    raise InputError(f"{p}: not a trace this profiler reads (torch.profiler JSON, TF .xplane.pb, MXNet JSON)")
