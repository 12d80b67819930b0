"""Fault injection at the toolkit's own I/O boundary: make the Nth file write fail on purpose.

Every atomic writer of :mod:`profiler.core.files` calls :func:`check` with the path first; with
``PROFILER_FAULT`` set (e.g. ``write:3:ENOSPC``, ``write:1:EIO:run.json``), the chosen call raises
the :class:`OSError` a full or failing disk would, or, with ``HANG``, stops there for a crash test.
:func:`parse` reads the rules, :func:`validate_env` checks the variable, tests use :func:`inject`.
The syntax and every fault tried: ``docs/reliability.md`` ("Fault injection").
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from profiler.core.errors import InputError

FAULT_ENV = "PROFILER_FAULT"
#: where a process stopped by a ``HANG`` rule announces itself (``PID PATH``)
MARK_ENV = "PROFILER_FAULT_MARK"
OPERATIONS = ("write",)
#: the code of a ``HANG`` rule (no errno is negative)
HANG = -1


@dataclass
class Rule:
    op: str
    nth: int
    code: int
    pattern: str | None = None
    onwards: bool = False
    seen: int = field(default=0, compare=False)

    def hit(self, op: str, path: Path) -> bool:
        if op != self.op or (self.pattern and not fnmatch.fnmatch(path.name, self.pattern)):
            return False
        self.seen += 1
        return self.seen == self.nth or (self.onwards and self.seen > self.nth)


def parse(spec: str) -> list[Rule]:
    """``write:3:ENOSPC[:PATTERN][;...]`` → rules; :class:`InputError` naming what is wrong."""
    rules = []
    for part in (p.strip() for p in spec.split(";")):
        if not part:
            continue
        fields = part.split(":", 3)
        if len(fields) < 3:
            raise InputError(f"{FAULT_ENV}={spec!r}: expected OP:N:ERRNO[:PATTERN], e.g. write:3:ENOSPC")
        op, n, name = fields[0], fields[1], fields[2]
        if op not in OPERATIONS:
            raise InputError(f"{FAULT_ENV}: unknown operation {op!r}; valid: {', '.join(OPERATIONS)}")
        onwards = n.endswith("+")
        try:
            nth = int(n.rstrip("+"))
        except ValueError:
            nth = 0
        if nth < 1:
            raise InputError(f"{FAULT_ENV}: the count must be a positive integer (N or N+), got {n!r}")
        code = HANG if name.upper() == "HANG" else getattr(errno, name.upper(), None)
        if not isinstance(code, int) or not (code == HANG or name.upper().startswith("E")):
            raise InputError(f"{FAULT_ENV}: unknown errno name {name!r} (e.g. ENOSPC, EIO, EACCES, ENAMETOOLONG, "
                             "or HANG)")
        rules.append(Rule(op, nth, code, fields[3] if len(fields) > 3 and fields[3] else None, onwards))
    return rules


_lock = threading.Lock()
_rules: list[Rule] | None = None  # None: not read from the environment yet
_env_seen: str | None = None
_injected: list[Rule] | None = None


def _active() -> list[Rule]:
    global _rules, _env_seen
    if _injected is not None:
        return _injected
    spec = os.environ.get(FAULT_ENV) or ""
    if _rules is None or spec != _env_seen:
        _env_seen = spec
        _rules = parse(spec) if spec else []
    return _rules


def validate_env() -> None:
    """A malformed ``PROFILER_FAULT`` is a one-line :class:`InputError` now, before any work."""
    spec = os.environ.get(FAULT_ENV)
    if spec:
        parse(spec)


def check(op: str, path: Path | str) -> None:
    """Raise the injected :class:`OSError` if a rule picks this call; otherwise nothing."""
    if _injected is None and not os.environ.get(FAULT_ENV):
        return
    with _lock:
        code = next((rule.code for rule in _active() if rule.hit(op, Path(path))), None)
    if code == HANG:
        hang(path)
    elif code is not None:
        raise OSError(code, os.strerror(code), str(path))


def hang(path: Path | str) -> None:
    """Stop here until a signal ends the process (a ``HANG`` rule): announce ``PID PATH`` in
    ``$PROFILER_FAULT_MARK`` first (written whole: a temporary name, then a rename)."""
    mark = os.environ.get(MARK_ENV)
    if mark:
        tmp = f"{mark}.{os.getpid()}.part"
        with open(tmp, "w") as f:
            f.write(f"{os.getpid()} {os.fspath(path)}\n")
        os.replace(tmp, mark)
    while True:
        time.sleep(3600)


@contextlib.contextmanager
def inject(spec: str) -> Iterator[list[Rule]]:
    """Within the block, this process's writes fail as ``spec`` says (the environment is ignored)."""
    global _injected
    rules = parse(spec)
    with _lock:
        before, _injected = _injected, rules
    try:
        yield rules
    finally:
        with _lock:
            _injected = before
