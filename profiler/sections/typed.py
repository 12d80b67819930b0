"""Loading a section's typed result from its JSON form, with the damaged field named.

Each section's result is a frozen dataclass whose annotations say what every field holds; :func:`load`
checks a ``run.json`` value against them and raises :class:`SectionError` naming the field path
(``variants[2].launches.launch_delay_us.median: expected a number, got 'abc'``). Keys a section does
not declare are kept in its ``extra`` field (when it has one), so nothing in ``run.json`` is lost on
the way to ``--json``.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from profiler.core.errors import InputError

T = TypeVar("T")


class SectionError(InputError):
    """A section of a run record is not the shape its type says (the field path is in the message)."""


def _kind(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def convert(tp: Any, v: Any, where: str) -> Any:
    """``v`` as the annotation ``tp`` says, or :class:`SectionError` naming ``where``."""
    if tp is Any:
        return v
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        if v is None and type(None) in args:
            return None
        last: SectionError | None = None
        for a in args:
            if a is type(None):
                continue
            try:
                return convert(a, v, where)
            except SectionError as e:
                last = e
        raise last or SectionError(f"{where}: unexpected {_kind(v)}")
    if tp is float:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        raise SectionError(f"{where}: expected a number, got {_kind(v)} {v!r:.40}")
    if tp is int:
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
        raise SectionError(f"{where}: expected an integer, got {_kind(v)} {v!r:.40}")
    if tp is str:
        if isinstance(v, str):
            return v
        raise SectionError(f"{where}: expected text, got {_kind(v)} {v!r:.40}")
    if tp is bool:
        if isinstance(v, bool):
            return v
        raise SectionError(f"{where}: expected true/false, got {_kind(v)}")
    if origin is tuple:
        if not isinstance(v, (list, tuple)):
            raise SectionError(f"{where}: expected a list, got {_kind(v)}")
        item = args[0] if args else Any
        return tuple(convert(item, x, f"{where}[{i}]") for i, x in enumerate(v))
    if origin is dict or tp is dict:
        if not isinstance(v, dict):
            raise SectionError(f"{where}: expected an object, got {_kind(v)}")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): convert(vt, x, f"{where}.{k}") for k, x in v.items()}
    if dataclasses.is_dataclass(tp):
        return load(tp, v, where)
    return v


def number(d: dict[str, Any] | None, key: str) -> float | None:
    """``d[key]`` as a float when it is a number (not a bool), else ``None``: a figure read from a
    section's free-form part (``extra``), where no annotation checked it."""
    v = (d or {}).get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def load(cls: type[T], d: Any, where: str) -> T:
    """An instance of the dataclass ``cls`` from the mapping ``d``."""
    if not isinstance(d, dict):
        raise SectionError(f"{where}: expected an object, got {_kind(d)}")
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name == "extra":
            continue
        if f.name not in d:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SectionError(f"{where}.{f.name}: missing")
            continue
        kw[f.name] = convert(hints[f.name], d[f.name], f"{where}.{f.name}")
    if "extra" in names:
        kw["extra"] = {k: v for k, v in d.items() if k not in names}
    obj = cls(**kw)
    # which optional fields the record left out: dump() leaves them out again (a lossless round trip)
    object.__setattr__(obj, "_absent", frozenset(f.name for f in dataclasses.fields(cls)  # type: ignore[arg-type]
                                                 if f.name not in d and f.name != "extra"))
    return obj


def dump(obj: Any) -> Any:
    """The JSON form of a typed result (``extra`` merged back in): ``load``'s inverse."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        absent = getattr(obj, "_absent", frozenset())
        for f in dataclasses.fields(obj):
            if f.name in absent:
                continue
            v = getattr(obj, f.name)
            if f.name == "extra":
                out.update(v or {})
            else:
                out[f.name] = dump(v)
        return out
    if isinstance(obj, tuple):
        return [dump(x) for x in obj]
    if isinstance(obj, dict):
        return {k: dump(v) for k, v in obj.items()}
    return obj


def schema_of(tp: Any) -> dict[str, Any]:
    """The JSON-schema fragment of an annotation (a section's part of ``schema.json``)."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return {}
    if origin in (Union, types.UnionType):
        parts = [schema_of(a) for a in args if a is not type(None)]
        nullable = type(None) in args
        if len(parts) == 1 and "type" in parts[0] and isinstance(parts[0]["type"], str):
            p = dict(parts[0])
            p["type"] = [p["type"], "null"] if nullable else p["type"]
            return p
        return {"anyOf": [*parts, *([{"type": "null"}] if nullable else [])]}
    if tp is float:
        return {"type": "number"}
    if tp is int:
        return {"type": "integer"}
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if origin is tuple:
        return {"type": "array", "items": schema_of(args[0]) if args else {}}
    if origin is dict or tp is dict:
        return {"type": "object", "additionalProperties": schema_of(args[1]) if len(args) == 2 else {}}
    if dataclasses.is_dataclass(tp):
        hints = get_type_hints(tp)
        props = {f.name: schema_of(hints[f.name]) for f in dataclasses.fields(tp) if f.name != "extra"}
        req = [f.name for f in dataclasses.fields(tp) if f.name != "extra"
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        return {"type": "object", "properties": props, "required": req}
    return {}


__all__ = ["SectionError", "convert", "dump", "load", "number", "schema_of"]
