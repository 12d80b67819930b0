"""Data-loading spans recorded inside loader worker processes, merged into the run afterwards.

Input pipelines decode in processes of their own (torch ``DataLoader(num_workers>0)``, Gluon
``DataLoader``, Chainer's ``MultiprocessIterator``); a tracer in the measured process never sees that
work. Each loader process appends one JSON line per item to ``<dir>/loader-<pid>.jsonl`` — times on
CLOCK_MONOTONIC, the run clock every process shares — and the workload, when it closes, reads them
all back (:func:`collect`) and hands them to ``ctx.record_span`` under the loader's own pid, so they
appear in the Chrome trace as their own processes. The measured process's *wait* for a batch is a
separate ``data_loading`` span made with ``ctx.region``: that is what the step breakdown counts.

Writes are line-buffered appends (one small write per item, microseconds against the milliseconds a
decode takes) so that a loader killed at the end of an epoch loses at most the item in flight.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO


@dataclass(frozen=True)
class LoaderSpan:
    pid: int
    tid: int
    name: str
    start_ns: int
    dur_ns: int
    args: dict[str, Any]


class SpanLog:
    """Picklable handle a dataset carries into its loader processes; opens its file lazily per pid."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = str(directory)
        self._pid: int | None = None
        self._fh: TextIO | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"directory": self.directory}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["directory"])

    def _file(self) -> TextIO:
        pid = os.getpid()
        if self._fh is None or self._pid != pid:  # a forked child must not share the parent's file
            os.makedirs(self.directory, exist_ok=True)
            self._fh = open(os.path.join(self.directory, f"loader-{pid}.jsonl"), "a", buffering=1)
            self._pid = pid
        return self._fh

    def add(self, name: str, start_ns: int, dur_ns: int, **args: Any) -> None:
        rec = {"name": name, "t": start_ns, "d": dur_ns, "tid": threading.get_native_id()}
        if args:
            rec["args"] = args
        self._file().write(json.dumps(rec) + "\n")

    @contextmanager
    def span(self, name: str, **args: Any) -> Iterator[None]:
        t0 = time.monotonic_ns()
        try:
            yield
        finally:
            self.add(name, t0, time.monotonic_ns() - t0, **args)


def collect(directory: str | Path, remove: bool = True) -> list[LoaderSpan]:
    """Every span the loader processes wrote under ``directory`` (torn last lines are skipped)."""
    out: list[LoaderSpan] = []
    d = Path(directory)
    if not d.is_dir():
        return out
    for f in sorted(d.glob("loader-*.jsonl")):
        pid = int(f.stem.split("-", 1)[1])
        for line in f.read_text().splitlines():
            try:
                r = json.loads(line)
                out.append(
                    LoaderSpan(
                        pid, int(r["tid"]), str(r["name"]), int(r["t"]), int(r["d"]), r.get("args", {})
                    )
                )
            except (ValueError, KeyError, TypeError):
                continue
        if remove:
            f.unlink(missing_ok=True)
    return out
