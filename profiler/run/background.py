"""Work done by a forked child beside the parent's: the files of an imported trace are written while
the parent analyses it.

:class:`Forked` forks at once (where the platform can and the machine has a second core); the child
runs the function and sends back its result, pickled, through a pipe (the child is this process's
own copy: what it sends is trusted as the parent's own objects would be). :meth:`Forked.result` waits for
it. If no child could run, or the child failed, the function runs in the parent instead, so its
result, or its error, is exactly what a plain call would give: forking only ever saves time.

The child starts from a copy of the parent's memory (pages shared until written), so it needs no
data sent to it; it must not touch the terminal or anything the parent still writes: it only writes
files and leaves with :func:`os._exit` (no atexit handlers, no flushing the parent's buffers).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from typing import Any


class Forked:
    """``fn()`` running in a forked child from construction until :meth:`result`."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._fn = fn
        self._pid: int | None = None
        self._fd = -1
        if hasattr(os, "fork") and (os.cpu_count() or 1) > 1:
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
                    payload = pickle.dumps({"ok": self._fn()}, protocol=pickle.HIGHEST_PROTOCOL)
                    code = 0
                except BaseException as e:  # reported to the parent, which then runs fn itself
                    payload = pickle.dumps({"error": f"{type(e).__name__}: {e}"})
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
            doc = pickle.loads(b"".join(chunks)) if chunks else {}
        except (pickle.UnpicklingError, EOFError, ValueError):  # torn: the child died mid-write
            doc = {}
        if "ok" in doc:
            return doc["ok"]
        return self._fn()  # the child failed or died: here, its error (if any) is raised as usual
