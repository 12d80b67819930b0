"""Finding scenarios: the built-in ones under ``scenarios/`` and a user's own file.

:func:`builtin_scenarios` finds the packages ``scenarios/<name>/`` whose ``__init__.py`` defines
``SCENARIO`` (they import nothing but :mod:`profiler.core.scenario`, so no framework loads).
:func:`describe_file` never executes a user's file here: a short-lived worker started through
:func:`profiler.core.lifeline.run` prints its declaration as JSON. :func:`resolve` picks either.
See ``docs/scenarios.md``.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from profiler.core import lifeline
from profiler.core.errors import InputError, unknown_choice
from profiler.core.frameworks import FRAMEWORKS
from profiler.core.scenario import Scenario


@lru_cache(maxsize=1)
def builtin_scenarios() -> dict[str, Scenario]:
    import scenarios as pkg

    found: dict[str, Scenario] = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.ispkg or info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"scenarios.{info.name}")
        sc = getattr(mod, "SCENARIO", None)
        if isinstance(sc, Scenario):
            found[sc.name] = sc
    return dict(sorted(found.items()))


def describe_file(path: Path, timeout: float = 120.0) -> Scenario:
    """The declaration of a user's scenario file, read by a worker process."""
    path = Path(path).resolve()
    if not path.is_file():
        raise InputError(f"--scenario {path}: no such file")
    try:  # its own group, dies with us (core/lifeline.py), stopped with what it started on a timeout
        proc = lifeline.run(
            [sys.executable, "-m", "profiler.run.worker", "--describe", str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise InputError(f"--scenario {path}: reading its declaration took more than {timeout:g} s "
                         "(does the file do work when it is imported?)") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise InputError(f"--scenario {path}: {lines[-1] if lines else 'could not be loaded'}")
    try:
        sc = Scenario.from_dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise InputError(f"--scenario {path}: malformed SCENARIO declaration ({e})") from None
    for impl in sc.implementations:
        if impl.framework not in FRAMEWORKS:
            raise unknown_choice("framework", impl.framework, FRAMEWORKS)
    return sc


def resolve(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a user's scenario by file path."""
    if name_or_path.endswith(".py") or "/" in name_or_path:
        return describe_file(Path(name_or_path))
    builtin = builtin_scenarios()
    if name_or_path not in builtin:
        raise unknown_choice("scenario", name_or_path, builtin)
    return builtin[name_or_path]
