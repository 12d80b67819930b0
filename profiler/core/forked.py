"""Work done by a forked child beside the parent's (the second half of a large Kineto trace, an
imported trace's files).

:class:`Forked` forks at once where it can; the child runs the function and sends its result back
as data only (:func:`pack`, :func:`unpack`), and :meth:`Forked.result` waits for it. If no child
could run or it failed, the function runs in the parent: forking only ever saves time. The child
must not touch the terminal or anything the parent still writes, and leaves with :func:`os._exit`.
Rules: ``docs/architecture.md`` ("Contracts worth knowing"); figures in ``docs/breakdown.md``.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from profiler.core.hardware import usable_cores  # the cores this process may run on (its affinity)

#: what a result may hold besides JSON's own values: tuples, dicts with keys that are not strings,
#: and numpy arrays; each travels as a one-key object naming it
_ARRAY, _TUPLE, _ITEMS = "__ndarray__", "__tuple__", "__items__"


def pack(value: Any) -> bytes:
    """``value`` as bytes: the length of a JSON text (the value, its arrays' types and shapes), the
    text, then the arrays' bytes one after another."""
    arrays: list[np.ndarray] = []

    def enc(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            arrays.append(v)
            return {_ARRAY: len(arrays) - 1}
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, tuple):
            return {_TUPLE: [enc(x) for x in v]}
        if isinstance(v, list):
            return [enc(x) for x in v]
        if isinstance(v, dict):
            if all(isinstance(k, str) for k in v) and not ({_ARRAY, _TUPLE, _ITEMS} & v.keys()):
                return {k: enc(x) for k, x in v.items()}
            return {_ITEMS: [[enc(k), enc(x)] for k, x in v.items()]}
        return v

    doc = enc(value)  # fills ``arrays``
    for a in arrays:
        if a.dtype.hasobject:
            raise TypeError("an array of Python objects does not travel as data")
    heads = [[a.dtype.str, list(a.shape)] for a in arrays]
    text = json.dumps([doc, heads]).encode()
    return b"".join([struct.pack("<Q", len(text)), text, *(np.ascontiguousarray(a).tobytes() for a in arrays)])


def unpack(data: bytes) -> Any:
    """What :func:`pack` packed (arrays read without pickles, writable)."""
    (n,) = struct.unpack("<Q", data[:8])
    doc, heads = json.loads(data[8:8 + n])
    buf = memoryview(bytearray(data[8 + n:]))  # one writable copy the arrays share
    arrays, at = [], 0
    for dtype, shape in heads:
        dt = np.dtype(dtype)
        size = dt.itemsize * int(np.prod(shape, dtype=np.int64))
        if at + size > len(buf):
            raise ValueError("torn: fewer bytes than the arrays need")
        arrays.append(np.frombuffer(buf[at:at + size], dt).reshape(shape))
        at += size

    def dec(v: Any) -> Any:
        if isinstance(v, list):
            return [dec(x) for x in v]
        if isinstance(v, dict):
            if len(v) == 1:
                (k, x), = v.items()
                if k == _ARRAY:
                    return arrays[x]
                if k == _TUPLE:
                    return tuple(dec(y) for y in x)
                if k == _ITEMS:
                    return {dec(a): dec(b) for a, b in x}  # a tuple key comes back a tuple
            return {k: dec(x) for k, x in v.items()}
        return v

    return dec(doc)


class Forked:
    """``fn()`` running in a forked child from construction until :meth:`result`."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._fn = fn
        self._pid: int | None = None
        self._fd = -1
        if hasattr(os, "fork") and usable_cores() > 1:
            self._start()

    @property
    def forked(self) -> bool:
        """Whether a child is (or was) running the function."""
        return self._pid is not None

    def _start(self) -> None:
        r, w = os.pipe()
        try:
            pid = os.fork()
        except OSError:  # no process to spare: the parent does the work in result()
            os.close(r)
            os.close(w)
            return
        if pid == 0:  # the child
            code = 1
            try:
                os.close(r)
                try:
                    payload = pack({"ok": self._fn()})
                    code = 0
                except BaseException as e:  # reported to the parent, which then runs fn itself
                    payload = pack({"error": f"{type(e).__name__}: {e}"})
                view = memoryview(payload)
                while view:
                    view = view[os.write(w, view):]
            finally:
                os._exit(code)
        os.close(w)
        self._pid, self._fd = pid, r

    def result(self) -> Any:
        """The function's result: the child's, or (no child, or it failed) the parent's own call."""
        if self._pid is None:
            return self._fn()
        chunks = []
        with os.fdopen(self._fd, "rb") as f:
            while chunk := f.read(1 << 16):
                chunks.append(chunk)
        os.waitpid(self._pid, 0)
        try:
            doc = unpack(b"".join(chunks)) if chunks else {}
        except (ValueError, OSError, KeyError, TypeError, struct.error):  # torn: the child died mid-write
            doc = {}
        if "ok" in doc:
            return doc["ok"]
        return self._fn()  # the child failed or died: here, its error (if any) is raised as usual
