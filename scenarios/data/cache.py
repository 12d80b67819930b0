"""Page-cache eviction, so that ``--data disk`` reads from the disk on every epoch.

:func:`evict` calls ``posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)`` on each file: the kernel drops
the file's clean cached pages (no root needed; the dataset writer fsyncs, so there are no dirty
ones). :func:`resident_fraction` asks the kernel how much of the files is still cached (``mincore``
over a read-only mapping), so a run can record — and a test can check — that eviction took effect.
Filesystems that ignore the advice (some network and overlay mounts) show up there as a fraction
near 1 after eviction.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Eviction:
    files: int
    bytes: int
    errors: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"files": self.files, "bytes": self.bytes, "errors": list(self.errors)}


def evict(paths: Iterable[str | Path]) -> Eviction:
    """Drop the files' pages from the page cache. Missing files are counted as errors, not raised."""
    n = nbytes = 0
    errors: list[str] = []
    advise = getattr(os, "posix_fadvise", None)
    for p in paths:
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError as e:
            errors.append(f"{p}: {e.strerror}")
            continue
        try:
            if advise is None:
                errors.append("posix_fadvise is not available on this platform")
                break
            advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            n += 1
            nbytes += os.fstat(fd).st_size
        except OSError as e:
            errors.append(f"{p}: {e.strerror}")
        finally:
            os.close(fd)
    return Eviction(n, nbytes, tuple(errors[:5]))


#: Filesystems whose pages *are* the storage: eviction cannot drop them, "disk" is memory there.
MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs", "devtmpfs"})


def filesystem_type(path: str | Path) -> str | None:
    """The type of the filesystem holding ``path`` (from /proc/self/mounts), or None if unknown."""
    try:
        target = os.path.realpath(path)
        with open("/proc/self/mounts") as f:
            mounts = [ln.split() for ln in f if ln.strip()]
    except OSError:
        return None
    best, fstype = "", None
    for parts in mounts:
        if len(parts) < 3:
            continue
        mnt = parts[1].replace("\\040", " ")
        inside = target == mnt or target.startswith(mnt.rstrip("/") + "/")
        if inside and len(mnt) >= len(best):
            best, fstype = mnt, parts[2]
    return fstype


_libc = None


def _mincore():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _libc.mmap.restype = ctypes.c_void_p
        _libc.mmap.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_long,
        ]
        _libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        _libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    return _libc


def resident_fraction(paths: Iterable[str | Path]) -> float | None:
    """Fraction of the files' pages in the page cache (0..1), or None where mincore is unavailable."""
    try:
        libc = _mincore()
    except (OSError, AttributeError):
        return None
    page = mmap.PAGESIZE
    total = resident = 0
    for p in paths:
        size = os.path.getsize(p)
        if size == 0:
            continue
        fd = os.open(p, os.O_RDONLY)
        try:
            addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
            if addr in (None, ctypes.c_void_p(-1).value):
                return None
            try:
                npages = (size + page - 1) // page
                vec = ctypes.create_string_buffer(npages)
                if libc.mincore(addr, size, vec) != 0:
                    return None
                resident += sum(b & 1 for b in vec.raw)
                total += npages
            finally:
                libc.munmap(addr, size)
        finally:
            os.close(fd)
    return resident / total if total else 0.0


def evict_for_epoch(ctx: Any, paths: list[str], info: dict[str, Any], epoch: int) -> None:
    """Evict a dataset before an epoch starts reading it, as a marked region, and record the result
    in the workload's ``info`` (bytes evicted, what stayed resident, errors)."""
    with ctx.region("region", "evict page cache", epoch=epoch):
        ev = evict(paths)
    info["resident_after_evict"] = resident_fraction(paths)
    info["evicted_bytes"] = ev.bytes
    if ev.errors:
        info["evict_errors"] = list(ev.errors)
