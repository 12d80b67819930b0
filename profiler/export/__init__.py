"""Exporters: the event model and the run record written as files other tools (and people) read.

Writers of a finished run record are chosen from :data:`RECORD_EXPORTERS`, in order (the page
comes last, after the plots); each takes the record's dictionary form and the run directory
and returns what it wrote. Every trace and imported run writes them; ``compare`` and ``scale`` write
the page again once their own sections (the comparison, the sweep) are in the record. Adding an
output format is one writer module and one line here. The Chrome trace (:mod:`profiler.export.chrome`) works on the events rather than the record, and the
sweeps' own tables (:mod:`profiler.export.compare`, :mod:`profiler.export.thread_sweep`) on their
results; the run layer calls those where the data is.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: name → "module:function" of a writer ``(record_dict, run_dir) -> what it wrote``.
RECORD_EXPORTERS: dict[str, str] = {
    "plots": "profiler.export.plots:write_run_plots",  # breakdown.png, roofline-*.png
    "html": "profiler.export.html:write_html",  # report.html
}


def record_exporter(name: str) -> Any:
    mod, func = RECORD_EXPORTERS[name].split(":")
    return getattr(importlib.import_module(mod), func)


def export_record(
    record: dict[str, Any], run_dir: Path, names: Iterable[str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Run the record's exporters; ``({name: what it wrote}, [one line per exporter that failed])``.

    A failing exporter never fails the run: its reason is returned for the record's warnings.
    """
    written: dict[str, Any] = {}
    failed: list[str] = []
    for name in names if names is not None else RECORD_EXPORTERS:
        try:
            written[name] = record_exporter(name)(record, run_dir)
        except (OSError, ImportError, ValueError) as e:
            failed.append(f"{name} not written: {type(e).__name__}: {e}")
    return written, failed
