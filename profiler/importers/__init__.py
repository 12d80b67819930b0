"""Readers of framework profiler output (torch.profiler/Kineto JSON, TensorFlow XSpace, MXNet Chrome
JSON) into the event model, and ``profiler report TRACE``: a trace users already have, analysed and
saved like a run of ours.

:func:`load_trace` picks the reader from the file: ``*.xplane.pb`` (or a TensorBoard log directory
holding one) → :func:`profiler.importers.xspace.load_xspace`; Chrome JSON (``.json``/``.json.gz``)
→ the Kineto reader when the document is torch.profiler's (``schemaVersion``, ``deviceProperties``,
Kineto categories), else :func:`profiler.importers.mxnet_json.load_mxnet_profile`. Readers are
imported only when used. Importers never import a framework: recorded profiles are analysed anywhere.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler.core.errors import InputError, UnavailableError
from profiler.core.events import EventTable


@dataclass
class ImportedTrace:
    table: EventTable
    format: str  # "kineto-json" | "xspace" | "mxnet-json"
    framework: str  # "torch" | "tensorflow" | "mxnet"
    path: Path
    facts: dict[str, Any] = field(default_factory=dict)
    #: several traces, one per rank: rank -> (its table, its facts); ``table`` is then their plain
    #: concatenation, and :func:`profiler.analysis.ranks.merge_rank_traces` aligns and merges them
    ranks: dict[int, tuple[EventTable, dict[str, Any]]] | None = None


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


def torch_traces(path: Path) -> list[Path]:
    """The ``*.pt.trace.json[.gz]`` a ``torch.profiler.tensorboard_trace_handler`` folder holds (one
    per rank and step window), in the folder itself only."""
    return sorted(f for g in ("*.pt.trace.json", "*.pt.trace.json.gz") for f in path.glob(g) if f.is_file())


def load_rank_traces(paths: list[Path]) -> ImportedTrace:
    """One trace, or several (one per rank: ``distributedInfo.rank``, else the files' order) read
    each; the ranks are kept apart in ``ranks`` for the multi-rank merge (clock alignment)."""
    from profiler.importers.chrome_json import read_chrome
    from profiler.importers.kineto_json import gc_paused, is_kineto, parse_kineto

    ranks: dict[int, tuple[EventTable, dict[str, Any]]] = {}
    for i, f in enumerate(paths):
        with gc_paused():
            doc = read_chrome(f)
            if not is_kineto(doc):
                raise InputError(f"{f}: not a torch.profiler (Kineto) trace")
            table, fx = parse_kineto(doc, str(f))
        fx["file"] = str(f)
        r = (fx.get("distributed_info") or {}).get("rank")
        r = r if isinstance(r, int) and r >= 0 else i
        if r in ranks:
            raise InputError(f"{f}: rank {r} again (also in {ranks[r][1]['file']}): one trace per rank")
        ranks[r] = (table, fx)
    first = ranks[min(ranks)]
    if len(ranks) == 1:
        return ImportedTrace(first[0], "kineto-json", "torch", paths[0], first[1])
    facts = {**first[1], "files": [ranks[r][1]["file"] for r in sorted(ranks)]}
    table = EventTable.concat([ranks[r][0] for r in sorted(ranks)])
    return ImportedTrace(table, "kineto-json", "torch", paths[0], facts, ranks)


def is_trace_path(path: str | Path) -> bool:
    """Whether ``profiler report PATH`` should import PATH: a file, or a directory without run.json
    that holds an ``*.xplane.pb`` (a TensorBoard log directory)."""
    p = Path(path)
    if p.is_file():
        return True
    return p.is_dir() and not (p / "run.json").exists() and (bool(torch_traces(p)) or _find_xplane(p) is not None)


def load_trace(path: str | Path) -> ImportedTrace:
    """Read any supported trace file; :class:`InputError` (one line) for anything else."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or directory")
    xp = _find_xplane(p)
    if xp is not None:
        load_xspace = _reader("xspace", "load_xspace", "TensorFlow XSpace (.xplane.pb)")
        return ImportedTrace(load_xspace(xp), "xspace", "tensorflow", xp)
    if p.is_dir():
        pt = torch_traces(p)
        if not pt:
            raise InputError(f"{p}: a directory with neither run.json, *.xplane.pb nor *.pt.trace.json")
        return load_rank_traces(pt)
    from profiler.importers.chrome_json import read_chrome
    from profiler.importers.kineto_json import gc_paused, is_kineto, parse_kineto

    with gc_paused():
        doc = read_chrome(p)
        if is_kineto(doc):
            table, facts = parse_kineto(doc, str(p))
            return ImportedTrace(table, "kineto-json", "torch", p, facts)
    if doc.events is not None and not any(e.ph not in ("M", None) for e in doc.first_events()):
        raise InputError(f"{p}: a Chrome trace with no events")
    if doc.events is not None:  # MXNet's profile: the document already split, read once
        parse_mxnet = _reader("mxnet_json", "parse_mxnet_doc", "MXNet profile (Chrome JSON)")
        return ImportedTrace(parse_mxnet(doc, source=str(p)), "mxnet-json", "mxnet", p)
    raise InputError(f"{p}: not a trace this profiler reads (torch.profiler JSON, TF .xplane.pb, MXNet JSON)")
