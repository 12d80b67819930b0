"""The run directory: everything one ``profiler`` invocation measured, loadable later.

:class:`RunDir` creates a run directory (``mkdir``: two invocations never share one), writes its
files atomically and loads them back (``run.json``, each worker's ``spec.json``, event store,
``result.json`` and ``stderr.log``, ``trace.json.gz``). The layout: ``docs/architecture.md``
("The run directory"); the event store: ``docs/store.md``.
"""

from __future__ import annotations

import datetime as _dt
import tempfile
from pathlib import Path
from typing import Any

from profiler.core.errors import InputError
from profiler.core.events import EventTable
from profiler.core.files import atomic_write_json, read_json
from profiler.core.record import RunRecord, VariantEntry

RUN_FILE = "run.json"
TRACE_FILE = "trace.json.gz"
WORKERS_DIR = "workers"


def ensure_writable_root(root: Path) -> Path:
    """Create ``root`` if needed and prove it writable, before any work starts."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=root, prefix=".write-test-", delete=True)
        probe.close()
    except OSError as e:
        raise InputError(f"--out {root}: cannot write there ({e.strerror or e})") from None
    return root


class RunDir:
    """A run directory on disk."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    # ----------------------------------------------------------------- create
    @classmethod
    def create(cls, root: Path, label: str) -> RunDir:
        """A fresh, uniquely named directory under ``root`` (``<UTC time>-<label>[-N]``)."""
        root = ensure_writable_root(root)
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
        base = f"{stamp}-{label}"
        for n in range(1000):
            p = root / (base if n == 0 else f"{base}-{n}")
            try:
                p.mkdir()
            except FileExistsError:
                continue
            except OSError as e:
                raise InputError(f"--out {root}: cannot create a run directory ({e.strerror or e})") from None
            (p / WORKERS_DIR).mkdir()
            return cls(p)
        raise InputError(f"--out {root}: too many runs named {base}")

    def worker_dir(self, key: str) -> Path:
        d = self.path / WORKERS_DIR / key
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def run_file(self) -> Path:
        return self.path / RUN_FILE

    @property
    def trace_file(self) -> Path:
        return self.path / TRACE_FILE

    def write_record(self, record: RunRecord) -> None:
        atomic_write_json(self.run_file, record.to_dict())

    # ------------------------------------------------------------------- load
    @classmethod
    def open(cls, path: Path) -> RunDir:
        path = Path(path)
        if not path.exists():
            raise InputError(f"{path}: no such run directory")
        if path.is_file():
            raise InputError(f"{path}: is a file, expected a run directory (containing {RUN_FILE})")
        if not (path / RUN_FILE).exists():
            raise InputError(f"{path}: not a run directory (no {RUN_FILE})")
        return cls(path)

    def read_record(self) -> RunRecord:
        """The run record, its schema checked; one-line :class:`InputError` when it is not one."""
        raw = read_json(self.run_file, "run record")
        if isinstance(raw, dict) and raw.get("schema") == "profiler-run":  # version 1 wrote these two
            raw = {**raw, "schema": f"profiler-run/{raw.get('schema_version')}"}
        if not isinstance(raw, dict) or not str(raw.get("schema", "")).startswith("profiler"):
            raise InputError(f"{self.run_file}: not a profiler run record")
        if not isinstance(raw.get("variants"), list):
            raise InputError(f"{self.run_file}: run record has no variants list")
        return RunRecord.from_dict(raw, str(self.run_file))

    def load_events(self, variant: VariantEntry | dict[str, Any]) -> EventTable:
        """The EventTable of one variant entry of run.json: its event store (``events.parquet``), or
        the ``events.npz`` a run saved before the store existed."""
        rel = variant.events if isinstance(variant, VariantEntry) else variant.get("events")
        if not rel:
            return EventTable()
        p = self.path / rel
        if not p.exists():
            return EventTable()
        return EventTable.load(p)
