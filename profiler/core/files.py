"""Files written so that no reader ever sees half of one, and JSON read with one-line errors.

Every file the toolkit writes goes through :func:`atomic_write_bytes` (or :func:`atomic_temp` for a
writer that streams): a temporary file in the same directory, fsync, then ``os.replace``, so a crash
or a second ``profiler`` process never leaves a half-written file behind. A failed write removes its
temporary file and leaves the previous version of the file in place.

Files get the mode any program's new files get (``0666`` less the user's umask, so ``0644`` under
umask 022), not the ``0600`` of a bare temporary file: a teammate can open a run on a shared machine.
Each write first asks :func:`profiler.core.faults.check`, so tests can make any of them fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from profiler.core import faults
from profiler.core.errors import InputError

_umask_lock = threading.Lock()


def current_umask() -> int:
    """This process's umask (read from ``/proc`` where it can be, without changing it)."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:  # elsewhere: set and restore (the only portable way to read it)
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def output_mode() -> int:
    """The mode of a new output file: ``0666`` less the umask, as ``open()`` would create it."""
    return 0o666 & ~current_umask()


def temp_for(path: Path) -> tuple[int, str]:
    """A temporary file beside ``path`` (fd, name) with the mode of a new file, the injected fault
    (:mod:`profiler.core.faults`) raised first. The caller writes it and renames it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        faults.check("write", path)  # after the temporary file exists, as a real full disk would
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # a file system without modes (some mounts): keep its own
        os.fchmod(fd, output_mode())
    return fd, tmp


@contextlib.contextmanager
def atomic_temp(path: Path) -> Iterator[IO[bytes]]:
    """``with atomic_temp(path) as f: f.write(...)``: ``path`` appears whole when the block ends,
    or not at all (the temporary file is removed and the exception goes on)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_for(path)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename is None:  # write/fsync say nothing of the file
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``."""
    with atomic_temp(path) as f:
        f.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=json_default) + "\n")


def json_default(o: Any) -> Any:
    # numpy scalars and paths appear in results; anything else is a bug worth seeing.
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path: Path, what: str = "file") -> Any:
    """Parse a JSON file; :class:`InputError` with one line when missing or broken."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a {what}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read {what} ({e})") from None
    if not text.strip():
        raise InputError(f"{path}: empty {what}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: corrupted {what} (invalid JSON at line {e.lineno})") from None


def gunzip(data: bytes) -> bytes:
    """Gzip's bytes decompressed, by ISA-L (``isal``: about 1.5x zlib's speed) where installed; a
    damaged stream raises as :func:`gzip.decompress` does (``EOFError``, ``OSError``, ``zlib.error``)."""
    import zlib

    try:
        from isal import igzip, isal_zlib
    except ImportError:
        import gzip

        return gzip.decompress(data)
    try:
        return igzip.decompress(data)
    except isal_zlib.error as e:  # said as zlib says it
        raise zlib.error(str(e)) from None


def gzip_compressor() -> Any:
    """A gzip stream compressor at level 1 (several times faster than the default on 100+ MB
    traces, ~10% larger): ISA-L's (``isal``, about 8x zlib's speed at level 1 here: 57 MB of trace
    JSON in 0.04 s against 0.31 s) where it is installed, else zlib's. Either writes plain gzip."""
    try:
        from isal import isal_zlib

        return isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31)
    except ImportError:
        import zlib

        return zlib.compressobj(1, zlib.DEFLATED, 31)
