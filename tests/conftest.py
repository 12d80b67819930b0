"""Shared fixtures. Tests are grouped by what they need: pure unit tests run anywhere; framework
tests skip with the reason when the framework is missing; GPU tests are marked ``gpu``."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


needs_torch = pytest.mark.skipif(not have("torch"), reason="torch is not installed")


def hta_python() -> str | None:
    """An interpreter with HolisticTraceAnalysis: ``PROFILER_HTA_PYTHON``, else ``.venv-hta`` (built by
    ``scripts/bootstrap.sh``: HTA needs numpy >= 2, which this environment cannot have beside MXNet)."""
    for cand in (os.environ.get("PROFILER_HTA_PYTHON"), str(ROOT / ".venv-hta" / "bin" / "python")):
        if cand and Path(cand).exists():
            return cand
    return None


@pytest.fixture
def data_dir() -> Path:
    return DATA


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None
            ) -> subprocess.CompletedProcess:
    """Run ``profiler ARGS`` in a fresh interpreter, as a user would."""
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run([sys.executable, "-m", "profiler", *args], capture_output=True, text=True,
                       cwd=cwd, timeout=timeout, env=e, check=False)
    if "--json" in args and r.returncode == 0 and r.stdout.strip():
        validate_document(json.loads(r.stdout))  # every command's --json, in every test, fits the one schema
    return r


def validate_document(doc: dict) -> None:
    """Check a --json document against profiler/core/schema.json (AssertionError with the path)."""
    import jsonschema

    from profiler.core.record import load_schema

    errors = sorted(jsonschema.Draft202012Validator(load_schema()).iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "; ".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5])


@pytest.fixture
def cli():
    return run_cli

# Tests are deterministic about the machine's ceilings: each test that needs a calibration makes its
# own (tests/test_calibrate.py covers the automatic one), so traces never calibrate on their own, and
# none reads the calibration this machine's user may have cached (an empty cache of the session's).
os.environ.setdefault("PROFILER_AUTO_CALIBRATE", "0")
# a disturbed variant is measured once as the test asked; tests/test_remeasure.py turns this back on
os.environ.setdefault("PROFILER_REMEASURE", "0")
os.environ.setdefault("PROFILER_CACHE_DIR", tempfile.mkdtemp(prefix="profiler-tests-cache-"))
