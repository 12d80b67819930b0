"""Shared fixtures. Tests are grouped by what they need: pure unit tests run anywhere; framework
tests skip with the reason when the framework is missing; GPU tests are marked ``gpu``."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


needs_torch = pytest.mark.skipif(not have("torch"), reason="torch is not installed")


@pytest.fixture
def data_dir() -> Path:
    return DATA


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None
            ) -> subprocess.CompletedProcess:
    """Run ``profiler ARGS`` in a fresh interpreter, as a user would."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "profiler.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=e, check=False)


@pytest.fixture
def cli():
    return run_cli

# Tests are deterministic about the machine's ceilings: each test that needs a calibration makes its
# own (tests/test_calibrate.py covers the automatic one), so traces never calibrate on their own.
os.environ.setdefault("PROFILER_AUTO_CALIBRATE", "0")
