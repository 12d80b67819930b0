"""profiler: low-level profiling and kernel analysis for deep-learning frameworks.

Importing this package imports no framework. See docs/architecture.md for the data flow.

The Python API (``profiler.profile``, ``profiler.mark``, ``profiler.step``; docs/api.md) is loaded
on first use, so ``import profiler`` stays cheap.
"""

from typing import Any

__version__ = "0.1.0"

#: Names served by profiler/api.py, imported when first used.
_API = ("profile", "mark", "step", "Profile")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from profiler import api

        return getattr(api, name)
    raise AttributeError(f"module 'profiler' has no attribute {name!r}")
