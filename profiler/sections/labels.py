"""Names of variant entries that tell them apart: ``framework/variant``, and where two entries share
that, the setting that differs (world size, threads, mode, device, preset, repeat) — in every output
and file name, so a ``--nproc 1,2`` run never shows two "torch/default" and a ``scale`` run's repeats
never write one ``roofline-*.png`` over another."""

from __future__ import annotations

import re
from typing import Any

#: settings that may tell two entries of one framework/variant apart, in the order they are named
DIMENSIONS = (
    ("world_size", lambda v: ((v.get("distributed") or {}).get("world_size") or 1), "{} rank{}"),
    ("threads", lambda v: v.get("threads"), "{} thread{}"),
    ("mode", lambda v: v.get("mode"), "{}"),
    ("device", lambda v: v.get("device"), "{}"),
    ("preset", lambda v: v.get("preset"), "preset {}"),
    # the fresh worker of a scale point (0-based in the record and its worker directory ``…-rN``)
    ("repeat", lambda v: None if v.get("repeat") is None else int(v["repeat"]) + 1, "repeat {}"),
)


def _word(fmt: str, x: Any) -> str:
    if fmt.count("{}") == 2:
        return fmt.format(x, "" if x == 1 else "s")
    return fmt.format(x)


def distinct_labels(variants: list[dict[str, Any]]) -> list[str]:
    """One label per entry dictionary, unique where the entries differ in any named setting."""
    base = [f"{v.get('framework')}/{v.get('variant')}" for v in variants]
    out = list(base)
    for label in set(base):
        group = [i for i, b in enumerate(base) if b == label]
        if len(group) < 2:
            continue
        for _, get, fmt in DIMENSIONS:
            values = [get(variants[i]) for i in group]
            if len(set(map(str, values))) > 1:
                for i, x in zip(group, values, strict=True):
                    out[i] += f" · {_word(fmt, x)}" if x is not None else ""
    # entries alike in every named setting: numbered in their order
    for label in {x for x in out if out.count(x) > 1}:
        for n, i in enumerate((i for i, x in enumerate(out) if x == label), 1):
            out[i] += f" · #{n}"
    return out


def file_stem(label: str) -> str:
    """A file-name-safe form of a label (``torch/default · 2 ranks`` → ``torch-default_2_ranks``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label.replace("/", "-")).strip("_") or "variant"


def distinct_file_stems(labels: list[str]) -> list[str]:
    """:func:`file_stem` of each label, unique: where two labels make one stem (they differ only in
    characters a file name cannot hold), the later ones get ``-2``, ``-3``…"""
    out: list[str] = []
    used: set[str] = set()
    for label in labels:
        stem = base = file_stem(label)
        n = 1
        while stem.lower() in used:  # one file on a case-insensitive file system too
            n += 1
            stem = f"{base}-{n}"
        used.add(stem.lower())
        out.append(stem)
    return out


def steps_phrase(settings: dict[str, Any], kind: str | None = None) -> str:
    """The steps a run measured, as it chose them: a trace's steps as recorded; clean steps calibrated
    to ``min_time_s`` (the count differs per variant: each panel has it) or a fixed ``steps``; then
    the traced steps."""
    traced = settings.get("trace_steps")
    if kind == "import":
        return f"{traced} traced steps as recorded"
    if settings.get("min_time_s"):
        rep = int(settings.get("repeat") or 1)
        per = f" × {rep} processes" if rep > 1 else ""
        clean = f"≥ {settings['min_time_s']:g} s of clean steps{per}"
    else:
        clean = f"{settings.get('steps')} clean"
    return f"{clean} + {traced} traced steps"


def modes_phrase(modes: list[dict[str, Any]] | None) -> str:
    """A multi-modal step distribution in words: why the headline is the mean, and its modes."""
    if not modes:
        return ""
    parts = [f"{m.get('center_ms', 0):,.3g} ms ({100 * (m.get('share') or 0):.0f}% of steps)" for m in modes]
    return ("the steps follow a pattern of " + str(len(modes)) + " modes: " + ", ".join(parts)
            + " — the headline is their mean (the program's throughput), not the median")
