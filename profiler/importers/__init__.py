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


def _reader(module: str, func: str, what: str) -> Any:
    try:
        mod = importlib.import_module(f"profiler.importers.{module}")
    except ImportError as e:
        raise UnavailableError(f"{what} import is unavailable: {e}") from None
    fn = getattr(mod, func, None)
    if fn is None:
        raise UnavailableError(f"{what} import is unavailable: profiler.importers.{module} has no {func}()")
    return fn


def _find_xplane(path: Path) -> Path | None:
    if path.is_file() and path.name.endswith(".pb"):
        return path
    if path.is_dir():
        found = sorted(path.rglob("*.xplane.pb"), key=lambda p: p.stat().st_mtime)
        return found[-1] if found else None
    return None


def is_trace_path(path: str | Path) -> bool:
    """Whether ``profiler report PATH`` should import PATH: a file, or a directory without run.json
    that holds an ``*.xplane.pb`` (a TensorBoard log directory)."""
    p = Path(path)
    if p.is_file():
        return True
    return p.is_dir() and not (p / "run.json").exists() and _find_xplane(p) is not None


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
        raise InputError(f"{p}: a directory with neither run.json nor *.xplane.pb")
    from profiler.importers.chrome_json import read_chrome
    from profiler.importers.kineto_json import gc_paused, is_kineto, parse_kineto

    with gc_paused():
        doc = read_chrome(p)
        if is_kineto(doc):
            table, facts = parse_kineto(doc, str(p))
            return ImportedTrace(table, "kineto-json", "torch", p, facts)
    if doc.events is not None:
        del doc
        load_mxnet = _reader("mxnet_json", "load_mxnet_profile", "MXNet profile (Chrome JSON)")
        return ImportedTrace(load_mxnet(p), "mxnet-json", "mxnet", p)
    raise InputError(f"{p}: not a trace this profiler reads (torch.profiler JSON, TF .xplane.pb, MXNet JSON)")
