"""The run directory: everything one ``profiler`` invocation measured, loadable later.

Layout::

    RUN_DIR/
      run.json                    # versioned record: what ran, where, with what, and the results
      workers/<key>/spec.json     # what the worker was asked to do
      workers/<key>/events.npz    # what its probes collected (see profiler.core.events)
      workers/<key>/result.json   # what the worker reported (status, step times, phases, errors)
      workers/<key>/stderr.log    # the worker's stderr
      trace.json.gz               # Chrome trace of every worker, one process per worker
      ...                         # tables and plots written by later stages

Every file is written atomically (temporary file in the same directory, then rename), so a crash or a
second ``profiler`` process never leaves a half-written file behind. Run directories are created with
``mkdir`` (atomic, fails if present), so two invocations never share one.
"""

from __future__ import annotations

import datetime as _dt
import tempfile
from pathlib import Path
from typing import Any

from profiler.core.errors import InputError
from profiler.core.files import atomic_write_json, read_json

RUN_SCHEMA = "profiler-run"
RUN_SCHEMA_VERSION = 1
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

    def write_record(self, record: dict[str, Any]) -> None:
        record = {"schema": RUN_SCHEMA, "schema_version": RUN_SCHEMA_VERSION, **record}
        atomic_write_json(self.run_file, record)

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

    def read_record(self) -> dict[str, Any]:
        rec = read_json(self.run_file, "run record")
        if not isinstance(rec, dict) or rec.get("schema") != RUN_SCHEMA:
            raise InputError(f"{self.run_file}: not a profiler run record")
        v = rec.get("schema_version")
        if v != RUN_SCHEMA_VERSION:
            newer = isinstance(v, int) and v > RUN_SCHEMA_VERSION
            raise InputError(
                f"{self.run_file}: run schema version {v} is {'newer' if newer else 'older'} than this "
                f"profiler reads ({RUN_SCHEMA_VERSION}); "
                + ("upgrade profiler to read it" if newer else "re-run the scenario to refresh it")
            )
        if not isinstance(rec.get("variants"), list):
            raise InputError(f"{self.run_file}: run record has no variants list")
        return rec

    def load_events(self, variant: dict[str, Any]):
        """The EventTable of one variant entry of run.json."""
        from profiler.core.events import EventTable

        rel = variant.get("events")
        if not rel:
            return EventTable()
        p = self.path / rel
        if not p.exists():
            return EventTable()
        return EventTable.load(p)
