"""Compatibility shims that let older frameworks load on the numpy this toolkit pins.

MXNet 1.9.1 (the last release) still reads ``numpy.bool``, ``numpy.int``, ``numpy.float``,
``numpy.complex``, ``numpy.object`` and ``numpy.str``: deprecated aliases of the Python builtins that
numpy 1.24 removed. :func:`restore_numpy_aliases` puts them back, pointing at the builtins exactly as
numpy < 1.24 did, and must run before ``import mxnet``. Every MXNet module of the toolkit imports MXNet
through :func:`import_mxnet`, which does both.

This module imports numpy only (never a framework), so it is safe anywhere.
"""

from __future__ import annotations

import builtins
import warnings
from types import ModuleType

#: The aliases numpy 1.24 removed, each the Python builtin it used to name.
NUMPY_REMOVED_ALIASES: dict[str, type] = {
    "bool": builtins.bool,
    "int": builtins.int,
    "float": builtins.float,
    "complex": builtins.complex,
    "object": builtins.object,
    "str": builtins.str,
}


def restore_numpy_aliases() -> list[str]:
    """Re-create the removed numpy aliases that are missing; returns the names it added.

    Idempotent, and it never overrides an attribute numpy still has (on numpy < 1.24 the aliases
    exist and nothing is touched).
    """
    import numpy as np

    added = []
    for name, value in NUMPY_REMOVED_ALIASES.items():
        # hasattr() on numpy 1.2x may emit a FutureWarning for names that are deprecated, not gone.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            present = name in np.__dict__
        if not present:
            setattr(np, name, value)
            added.append(name)
    return added


def import_mxnet() -> ModuleType:
    """``import mxnet`` after restoring the numpy aliases it needs."""
    restore_numpy_aliases()
    import mxnet

    return mxnet
