"""Chrome trace JSON (Kineto's, MXNet's, ours), plain or gzipped, read fast and lean.

:func:`read_chrome` / :func:`parse_chrome` split the document with msgspec into its top-level facts
and one raw byte slice per event; readers decode each slice into :class:`Event` (only the fields
they use, no per-event dict). :func:`check_fits` refuses, before reading, a trace the machine cannot
hold. Why msgspec, and the memory rule: ``docs/traces.md`` ("One fast path"); figures in
``docs/breakdown.md`` ("Traces you already have").
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import msgspec
import psutil

from profiler.core.errors import InputError
from profiler.core.files import gunzip

#: peak memory of ``report TRACE`` per byte of uncompressed JSON, all its processes together (the
#: bytes themselves, one raw slice per event, the typed columns; the forked half's columns; the
#: analysis beside the forked writer's export): measured 3.1-3.2 (summed PSS 1,047-1,081 MiB for a
#: 340 MiB trace of 1M events), rounded up
BYTES_NEEDED_PER_BYTE = 3.5


NO_RAW = msgspec.Raw(b"")  # an absent raw field (a present one is never empty)


class Args(msgspec.Struct, gc=False):
    """The ``args`` keys the readers use; raw slices are decoded only when needed."""

    name: Any = None  # metadata events: process/thread names
    dims: msgspec.Raw = msgspec.field(default=NO_RAW, name="Input Dims")
    dims_v1: msgspec.Raw = msgspec.field(default=NO_RAW, name="Input dims")  # torch 1.8's spelling
    concrete: msgspec.Raw = msgspec.field(default=NO_RAW, name="Concrete Inputs")
    types: msgspec.Raw = msgspec.field(default=NO_RAW, name="Input type")
    flops: Any = None
    device: Any = None
    stream: Any = None
    correlation: Any = None
    external_id: Any = msgspec.field(default=None, name="External id")
    grid: Any = None
    block: Any = None
    registers: Any = msgspec.field(default=None, name="registers per thread")
    shared_memory: Any = msgspec.field(default=None, name="shared memory")
    occupancy: Any = msgspec.field(default=None, name="est. achieved occupancy %")
    rank: Any = None
    #: our own export: a category Kineto's ``cat`` does not carry, and shapes that are not a JSON list
    category: Any = None
    shapes: Any = None


class Event(msgspec.Struct, gc=False):
    ph: Any = None
    name: Any = None
    cat: Any = None
    ts: Any = None
    dur: Any = None
    pid: Any = 0
    tid: Any = 0
    id: Any = None
    bp: Any = None
    args: Args | None = None


class _Doc(msgspec.Struct, gc=False):
    traceEvents: list[msgspec.Raw] | None = None
    schemaVersion: Any = None
    deviceProperties: Any = None
    baseTimeNanoseconds: Any = None
    displayTimeUnit: Any = None
    distributedInfo: Any = None
    otherData: Any = None
    metadata: Any = None
    host_name: Any = None


_DOC = msgspec.json.Decoder(_Doc)
_LIST = msgspec.json.Decoder(list[msgspec.Raw])
EVENT = msgspec.json.Decoder(Event)


class ChromeDoc:
    """A Chrome trace: its raw events and the top-level facts (``None`` when absent)."""

    def __init__(self, events: list[msgspec.Raw], facts: dict[str, Any], array_form: bool) -> None:
        self.events = events
        self.facts = facts
        self.array_form = array_form  # the JSON Array Format: a bare list of events

    def first_events(self, n: int = 2000) -> list[Event]:
        out = []
        for raw in self.events[:n]:
            try:
                out.append(EVENT.decode(raw))
            except msgspec.DecodeError:
                continue
        return out


def uncompressed_size(path: Path, head: bytes) -> int:
    """The file's size once gunzipped (gzip's ISIZE footer, modulo 4 GiB; at least the ratio 1)."""
    size = path.stat().st_size
    if head[:2] != b"\x1f\x8b":
        return size
    with path.open("rb") as f:
        f.seek(max(0, size - 4))
        isize = struct.unpack("<I", f.read(4).rjust(4, b"\0"))[0]
    while isize < size:  # ISIZE wraps at 4 GiB; a JSON trace compresses at least ~4x
        isize += 1 << 32
    return isize


def check_fits(path: Path, head: bytes, available: int | None = None) -> None:
    """Refuse, with the size it would need, a trace this machine cannot import in memory."""
    need = int(uncompressed_size(path, head) * BYTES_NEEDED_PER_BYTE)
    free = psutil.virtual_memory().available if available is None else available
    if need > free:
        raise InputError(
            f"{path}: too large to import here: needs about {need / 2**30:.1f} GiB of memory, "
            f"{free / 2**30:.1f} GiB available (split the trace or import it on a larger machine)"
        )


def read_bytes(path: str | Path) -> bytes:
    """The file's JSON bytes (gunzipped); one-line :class:`InputError` when unreadable."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            head = f.read(2)
        check_fits(p, head)
        raw = p.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            try:
                raw = gunzip(raw)
            except (EOFError, OSError, zlib.error, ValueError) as e:
                raise InputError(f"{p}: damaged or truncated gzip file ({type(e).__name__}: {e})") from None
        return raw
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{p}: a directory, not a trace file") from None
    except OSError as e:
        raise InputError(f"{p}: unreadable ({type(e).__name__}: {e})") from None


#: one document read ahead (``keep=True``: ``report`` looks at a file's facts, then imports it),
#: handed to the next read of the same unchanged file and dropped then: never held longer
_KEPT: dict[tuple[str, int, int], ChromeDoc] = {}


def read_chrome(path: str | Path, keep: bool = False) -> ChromeDoc:
    """Split a Chrome trace file into raw events and top-level facts. With ``keep``, the document
    is also kept for the next read of the same file (the file is then read and parsed once)."""
    p = Path(path)
    try:
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    except OSError:
        key = None
    if key is not None and key in _KEPT:
        doc = _KEPT.pop(key)
        if keep:
            _KEPT[key] = doc
        return doc
    doc = parse_chrome(read_bytes(p), str(path))
    _KEPT.clear()
    if keep and key is not None:
        _KEPT[key] = doc
    return doc


def forget_kept() -> None:
    """Drop a document kept by ``read_chrome(keep=True)`` that will not be read again."""
    _KEPT.clear()


_FIRST_CHAR = re.compile(rb"\S")
_TRAILING = re.compile(r"trailing characters \(byte (\d+)\)")


def parse_chrome(raw: bytes, source: str = "trace") -> ChromeDoc:
    # no stripped copy: the decoders skip leading whitespace themselves (a copy costs 0.5 s at 350 MB)
    tail: list[msgspec.Raw] = []
    try:
        first = _FIRST_CHAR.search(raw)
        if first is not None and first.group() == b"[":
            return ChromeDoc(_LIST.decode(raw), {}, True)
        try:
            doc = _DOC.decode(raw)
        except msgspec.DecodeError as e:
            m = _TRAILING.search(str(e))
            if not m or isinstance(e, msgspec.ValidationError):
                raise
            # events appended after the closed document (MXNet appends later windows so)
            end = raw.rfind(b"}", 0, int(m.group(1))) + 1  # the document's own closing brace
            doc = _DOC.decode(raw[:end])
            tail = appended_events(raw[end:])
    except msgspec.ValidationError as e:
        raise InputError(f"{source}: not a trace this profiler reads ({e})") from None
    except msgspec.DecodeError as e:
        raise InputError(f"{source}: not valid JSON ({e})") from None
    if doc.traceEvents is None:
        raise InputError(f"{source}: not a trace this profiler reads (no traceEvents list)")
    if tail:
        doc.traceEvents.extend(tail)
    facts = {
        k: getattr(doc, k)
        for k in ("schemaVersion", "deviceProperties", "baseTimeNanoseconds", "displayTimeUnit", "distributedInfo",
                  "otherData", "metadata", "host_name")
        if getattr(doc, k) is not None
    }
    return ChromeDoc(doc.traceEvents, facts, False)


def appended_events(rest: bytes) -> list[msgspec.Raw]:
    """Event objects written after a closed document (``,{event}`` fragments, each run of them
    closed by another ``]}``), as raw slices; a torn last one is dropped. Rare and small: parsed with
    the standard library's ``raw_decode``."""
    return [msgspec.Raw(msgspec.json.encode(o)) for o in appended_objects(rest.decode("utf-8", errors="replace"))]


def appended_objects(text: str) -> list[dict[str, Any]]:
    """The event objects (dicts with a ``ph``) in ``text``, the part of a file after its document;
    a torn last one is dropped."""
    dec = json.JSONDecoder()
    out: list[dict[str, Any]] = []
    pos = text.find("{")
    while pos >= 0:
        try:
            obj, stop = dec.raw_decode(text, pos)
        except json.JSONDecodeError:
            break  # a torn tail (the process died mid-write): keep what parsed
        if isinstance(obj, dict) and "ph" in obj:
            out.append(obj)
        pos = text.find("{", stop)
    return out
