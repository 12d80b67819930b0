"""profiler: low-level profiling and kernel analysis for deep-learning frameworks.

Importing this package imports no framework. See docs/architecture.md for the data flow.

The Python API (``profiler.profile``, ``profiler.mark``, ``profiler.step``; docs/api.md) and
``profiler.open`` (a run's event store for queries; docs/store.md) are loaded on first use, so
``import profiler`` stays cheap.
"""

from typing import Any

__version__ = "0.1.0"

#: Names served by profiler/api.py, imported when first used.
_API = ("profile", "mark", "step", "Profile", "open")
#: names whose function in profiler/api.py is called otherwise (``open`` would shadow the builtin there)
_RENAMED = {"open": "open_run"}
__all__ = ["__version__", *(n for n in _API if n != "open")]  # a star import keeps the builtin open


def __getattr__(name: str) -> Any:
    if name in _API:
        from profiler import api

        return getattr(api, _RENAMED.get(name, name))
    raise AttributeError(f"module 'profiler' has no attribute {name!r}")
