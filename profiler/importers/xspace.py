"""TensorFlow profiler output (XSpace, ``*.xplane.pb``) read into the shared event model.

:func:`load_xspace` reads one ``*.xplane.pb`` (or the newest under a TF log directory) with
TensorFlow's own generated message classes, loaded by file path (:func:`xplane_pb2`): reading a
profile needs ``protobuf`` only, never a TensorFlow import. Host TraceMe events, CUPTI calls and
device streams become ops, runtime, regions, steps and kernels on the Unix clock, re-based onto the
run clock with ``epoch_offset_ns``. Mapping, clock and stats kept: ``docs/frameworks-tensorflow.md``
("The tensorflow probe and the XSpace importer").
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from profiler.core.errors import InputError, UnavailableError
from profiler.core.events import (
    DEVICE_TID_BASE,
    KERNEL,
    MEMCPY,
    MEMSET,
    OP,
    PYTHON,
    REGION,
    RUNTIME,
    STEP,
    SYNC,
    EventBuilder,
    EventTable,
    device_tid,
)

#: Host tids given to TF threads start here (torch's Kineto threads use ``1 << 32``, MXNet ``2 << 32``).
TF_TID_BASE = 3 << 32

#: A line timestamp at or above this is already Unix-epoch ns (2001-09-09); below: relative to start.
_EPOCH_FLOOR_NS = 10**18

#: Where the ``XSpace`` classes live: TensorFlow's copy first, then the standalone TSL / XProf ones.
_PB2_MODULES = (
    "tensorflow.tsl.profiler.protobuf.xplane_pb2",
    "tsl.profiler.protobuf.xplane_pb2",
    "xprof.protobuf.xplane_pb2",
)

#: TF's op-event naming: "<node name>:<op type>" where the op type is an identifier.
_TF_OP_RE = re.compile(r"^(?P<node>[^\s:]+):(?P<type>[A-Za-z_][A-Za-z0-9_]*)$")

#: Derived lines on device planes that repeat the per-stream events.
_DERIVED_LINES = (
    "XLA Modules",
    "XLA Ops",
    "XLA TraceMe",
    "TensorFlow Ops",
    "TensorFlow Name Scope",
    "Steps",
    "Launch Stats",
    "Source",
    "Framework Ops",
    "SparseCore",
)

_SYNC_NAMES = ("Synchronize", "cuEventSynchronize", "cuStreamWaitEvent")

_pb2: ModuleType | None = None


def xplane_pb2() -> ModuleType:
    """TensorFlow's ``xplane_pb2`` module, loaded without importing TensorFlow when possible."""
    global _pb2
    if _pb2 is not None:
        return _pb2
    # Inside a TF worker TensorFlow is already imported: use its module (one descriptor pool entry).
    if "tensorflow" in sys.modules:
        try:
            _pb2 = importlib.import_module(_PB2_MODULES[0])
            return _pb2
        except ImportError:
            pass
    for name in _PB2_MODULES:
        top, _, rest = name.partition(".")
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            continue
        for base in spec.submodule_search_locations:
            path = Path(base, *rest.split(".")[:-1], "xplane_pb2.py")
            if path.is_file():
                # Executing the generated file alone registers the message types; the package's
                # __init__ (all of TensorFlow, ~5 s) never runs.
                mod_spec = importlib.util.spec_from_file_location(
                    "tsl.profiler.protobuf.xplane_pb2" if top == "tensorflow" else name, path
                )
                if mod_spec is None or mod_spec.loader is None:
                    continue
                mod = importlib.util.module_from_spec(mod_spec)
                try:
                    mod_spec.loader.exec_module(mod)
                except Exception as e:  # a protobuf runtime too old for the generated code
                    raise UnavailableError(f"cannot load XSpace classes from {path}: {e}") from None
                _pb2 = mod
                return mod
    raise UnavailableError(
        "reading *.xplane.pb needs TensorFlow's XSpace classes; install with "
        "pip install 'dl-profiler[tensorflow]'"
    )


def find_xspace(path: str | Path) -> Path:
    """``path`` itself, or for a TF log directory the newest ``*.xplane.pb`` below it."""
    p = Path(path)
    if p.is_dir():
        found = sorted(p.rglob("*.xplane.pb"), key=lambda f: f.stat().st_mtime)
        if not found:
            raise InputError(f"{p}: no *.xplane.pb under this directory")
        return found[-1]
    if not p.exists():
        raise InputError(f"{p}: no such file")
    return p


def parse_xspace(data: bytes, source: str = "xspace") -> Any:
    """Deserialize and sanity-check an XSpace; :class:`InputError` on a foreign or broken file."""
    pb = xplane_pb2()
    space = pb.XSpace()
    if not data:
        raise InputError(f"{source}: empty file, not a TensorFlow profile (XSpace)")
    try:
        space.ParseFromString(data)
    except Exception as e:  # google.protobuf.message.DecodeError and friends
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"{source}: not a TensorFlow profile (XSpace): {reason}") from None
    # Protobuf accepts many byte strings (unknown fields are skipped): insist on TF's plane names.
    names = [pl.name for pl in space.planes]
    if not names or not any(n.startswith(("/host:", "/device:")) or n == "Task Environment" for n in names):
        raise InputError(f"{source}: not a TensorFlow profile (XSpace): no /host: or /device: planes")
    return space


def load_xspace(
    path: str | Path,
    *,
    pid: int = 0,
    epoch_offset_ns: int | None = None,
    steps: bool = True,
) -> EventTable:
    """Read a TF profiler ``*.xplane.pb`` (or the newest one under a log directory) as events.

    ``pid`` is the process the events are filed under; ``epoch_offset_ns`` (Unix ns minus run-clock
    ns) re-bases them onto the run clock (``None``: keep Unix ns); ``steps`` turns TF step markers
    (``Trace(..., step_num=i, _r=1)``) into ``step`` spans. Bad input raises :class:`InputError`.
    """
    p = find_xspace(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"{p}: cannot read ({e.strerror or e})") from None
    space = parse_xspace(data, str(p))
    try:
        table = xspace_to_events(space, pid=pid, epoch_offset_ns=epoch_offset_ns, steps=steps, source=str(p))
    except (ValueError, TypeError, OverflowError, KeyError) as e:  # well-formed protobuf, nonsense values
        raise InputError(f"{p}: malformed TensorFlow profile (XSpace): {type(e).__name__}: {e}") from None
    table.validate(str(p))
    return table


def _stat_value(stat: Any, stat_names: dict[int, str]) -> Any:
    kind = stat.WhichOneof("value")
    if kind is None:
        return None
    if kind == "ref_value":  # a string interned as stat metadata
        return stat_names.get(int(stat.ref_value), "")
    if kind == "bytes_value":
        return None  # serialized sub-protos (profile options, kernel details): not kept
    return getattr(stat, kind)


def _stats(stats: Any, stat_names: dict[int, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in stats:
        name = stat_names.get(int(s.metadata_id))
        if name is None:
            continue
        v = _stat_value(s, stat_names)
        if v is not None:
            out[name] = v
    return out


def classify_host_event(name: str, display_name: str, stats: dict[str, Any]) -> tuple[str, str]:
    """``(category, span name)`` of one ``/host:CPU`` event."""
    if "step_num" in stats and stats.get("_r") == 1:
        return STEP, name
    if name.startswith("Iterator::") or name.startswith("IteratorGetNext"):
        return REGION, name
    m = _TF_OP_RE.match(name)
    if m and not name.startswith(("EagerLocalExecute", "ThreadpoolListener")) and "::" not in name:
        return OP, display_name or m.group("type")
    return RUNTIME, name


def classify_device_event(name: str, stats: dict[str, Any]) -> str:
    """Span category of one event on a GPU stream line."""
    low = name.lower()
    if "memcpy_details" in stats or low.startswith("memcpy") or "memcpy" in low[:16]:
        return MEMCPY
    if low.startswith("memset") or "memset" in low[:16]:
        return MEMSET
    return KERNEL


def _stream_id(line: Any) -> int:
    m = re.match(r"Stream #(\d+)", line.name or line.display_name or "")
    return int(m.group(1)) if m else int(line.id) % 1000


def _profile_start_ns(space: Any) -> int | None:
    for plane in space.planes:
        if plane.name != "Task Environment":
            continue
        names = {int(k): v.name for k, v in plane.stat_metadata.items()}
        vals = _stats(plane.stats, names)
        start = vals.get("profile_start_time")
        if isinstance(start, int) and start > 0:
            return start
    return None


def xspace_to_events(
    space: Any,
    *,
    pid: int = 0,
    epoch_offset_ns: int | None = None,
    steps: bool = True,
    source: str = "xspace",
) -> EventTable:
    """Convert a parsed XSpace into an :class:`EventTable` (see the module docstring for the mapping)."""
    b = EventBuilder()
    host = (space.hostnames[0] if len(space.hostnames) else "") or "host"
    b.name_process(pid, f"TensorFlow · {host}")
    start = _profile_start_ns(space)
    rebase = int(epoch_offset_ns) if epoch_offset_ns is not None else 0
    host_line_index = 0
    skipped_planes: list[str] = []
    for plane in space.planes:
        pname = plane.name
        dev = re.match(r"/device:GPU:(\d+)$", pname)
        is_host_cpu = pname == "/host:CPU"
        is_cupti = pname == "/host:CUPTI"
        is_python = pname.startswith("/host:python")
        if not (dev or is_host_cpu or is_cupti or is_python):
            if pname != "Task Environment" and plane.lines:
                skipped_planes.append(pname)
            continue
        stat_names = {int(k): v.name for k, v in plane.stat_metadata.items()}
        ev_meta = plane.event_metadata
        for line in plane.lines:
            lname = line.display_name or line.name
            if dev and (lname in _DERIVED_LINES or not lname.startswith("Stream")):
                continue
            line_ts = int(line.timestamp_ns)
            in_pipeline = lname.startswith("tf_data")
            if line_ts >= _EPOCH_FLOOR_NS or start is None:
                base = line_ts  # already Unix ns (or no start known: stays relative to the profile)
            else:
                base = start + line_ts
            base -= rebase
            if dev:
                tid = device_tid(int(dev.group(1)), _stream_id(line))
                b.name_thread(pid, tid, f"GPU {dev.group(1)} {lname}")
            else:
                tid = TF_TID_BASE + host_line_index
                host_line_index += 1
                if tid >= DEVICE_TID_BASE:  # cannot happen with sane inputs; keep host tids host-side
                    raise InputError(f"{source}: too many host lines")
                b.name_thread(pid, tid, f"tf {lname}" if not is_cupti else f"CUPTI {lname}")
            for ev in line.events:
                dur_ps = int(ev.duration_ps)
                if dur_ps <= 0:
                    continue  # flow markers and instants
                md = ev_meta[ev.metadata_id] if ev.metadata_id in ev_meta else None
                name = (md.name if md is not None else "") or f"event {ev.metadata_id}"
                display = md.display_name if md is not None else ""
                stats = _stats(ev.stats, stat_names)
                if md is not None and len(md.stats):
                    stats = {**_stats(md.stats, stat_names), **stats}
                start_ns = base + int(ev.offset_ps) // 1000
                dur_ns = dur_ps // 1000
                args: dict[str, Any] = {}
                corr = -1
                if dev:
                    cat = classify_device_event(name, stats)
                    if "correlation_id" in stats:
                        corr = int(stats["correlation_id"])
                    span_name = display or name
                elif is_cupti:
                    cat = SYNC if any(s in name for s in _SYNC_NAMES) else RUNTIME
                    if "correlation_id" in stats:
                        corr = int(stats["correlation_id"])
                    span_name = name
                elif is_python:
                    cat, span_name = PYTHON, name
                else:
                    cat, span_name = classify_host_event(name, display, stats)
                    if cat == OP:
                        args["tf_op"] = name.rsplit(":", 1)[0]
                        if in_pipeline:
                            # tf.data's map functions (ReadFile, DecodeJpeg ...) on its own threads
                            # prepare later batches while the step computes: shown, not counted.
                            cat = REGION
                            args["input_pipeline"] = True
                    elif cat == STEP:
                        if steps:
                            args.update(index=int(stats["step_num"]), traced=True)
                        else:
                            cat = REGION
                for k in ("tf_op", "long_name", "shape", "group_id", "step_num"):
                    if k in stats and k not in args:
                        args[k] = stats[k]
                flops = stats.get("flops")
                nbytes = stats.get("bytes_accessed")
                b.span(
                    cat,
                    span_name,
                    start_ns,
                    dur_ns,
                    pid,
                    tid,
                    flops=float(flops) if isinstance(flops, int | float) and flops > 0 else None,
                    nbytes=float(nbytes) if isinstance(nbytes, int | float) and nbytes > 0 else None,
                    corr=corr,
                    shapes=str(stats["shape"]) if "shape" in stats else None,
                    args=args or None,
                )
    table = b.build()
    if skipped_planes:
        # Say what was not read instead of dropping it silently (TPU planes, custom tracers ...).
        table.processes[pid] += f" (planes not read: {', '.join(sorted(set(skipped_planes)))})"
    return table
