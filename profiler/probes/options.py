"""``--probe-option NAME.KEY=VALUE``: per-probe settings from the command line.

Values are read as JSON when they parse (``50``, ``true``, ``0.25``), else kept as text. Each probe is
constructed once with its options so that a bad value (a negative rate) is a one-line error before
anything runs, not a probe failure inside a worker.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from profiler.core.errors import InputError


def parse_probe_options(items: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``["pyspy.rate_hz=100", "nvml.pcie_every=5"]`` → ``{"pyspy": {"rate_hz": 100}, ...}``."""
    from profiler.probes import probe_class

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name_key, sep, raw = item.partition("=")
        name, dot, key = name_key.partition(".")
        if not sep or not dot or not name or not key:
            raise InputError(f"--probe-option {item!r}: expected NAME.KEY=VALUE, e.g. pyspy.rate_hz=100")
        probe_class(name)  # unknown probe: one line with the valid names
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        out.setdefault(name, {})[key] = value
    for name, opts in out.items():
        try:
            probe_class(name)(opts)
        except (ValueError, TypeError) as e:
            raise InputError(f"--probe-option {name}: {e}") from None
    return out
