"""The typed report of a run record: every section's result loaded and checked once, before any
renderer runs; a damaged record fails here with the field named (``variants[1].launches…``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.core.record import RunRecord, VariantEntry
from profiler.sections.blocks import Block
from profiler.sections.labels import distinct_labels
from profiler.sections.registry import Section, View, run_sections, variant_sections


@dataclass(frozen=True)
class VariantPart:
    entry: VariantEntry
    results: dict[str, Any] = field(default_factory=dict)  # section key → typed result
    label: str = ""  # framework/variant, and the setting that tells it from a namesake


@dataclass(frozen=True)
class Report:
    record: RunRecord
    run_dir: str | None
    variants: tuple[VariantPart, ...]
    results: dict[str, Any]  # run-scope section key → typed result
    top: int = 10

    def view(self, entry: VariantEntry | None = None) -> View:
        return View(self.record, entry, self.top, self.run_dir)

    def run_blocks(self) -> list[tuple[Section, tuple[Block, ...]]]:
        """Each run-scope section that has something to show, with its blocks."""
        out = []
        for s in run_sections():
            r = self.results.get(s.key)
            if r is not None:
                b = s.show(r, self.view())
                if b:
                    out.append((s, b))
        return out

    def variant_blocks(self, part: VariantPart, detail: bool = True) -> list[tuple[Section, tuple[Block, ...]]]:
        out = []
        for s in variant_sections():
            if s.detail and not detail:
                continue
            r = part.results.get(s.key)
            if r is not None:
                b = s.show(r, self.view(part.entry))
                if b:
                    out.append((s, b))
        return out


def build(record: RunRecord, run_dir: str | None = None, top: int = 10) -> Report:
    """Every section of ``record`` loaded as its type (:class:`~profiler.sections.typed.SectionError`
    naming the field when one is damaged)."""
    rd = record.to_dict()
    parts = []
    labels = distinct_labels(rd.get("variants") or [])
    for i, e in enumerate(record.variants):
        d = e.to_dict()
        res: dict[str, Any] = {}
        for s in variant_sections():
            raw = s.raw_value(d)
            if raw is not None:
                res[s.key] = s.load(raw, f"variants[{i}]")
        parts.append(VariantPart(e, res, labels[i]))
    results: dict[str, Any] = {}
    for s in run_sections():
        raw = s.raw_value(rd)
        if raw is not None:
            results[s.key] = s.load(raw, "run")
    return Report(record, run_dir, tuple(parts), results, top)
