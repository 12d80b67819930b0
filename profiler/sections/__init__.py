"""Typed report sections and their registry: every output (terminal, HTML, Markdown, JSON, CSV) is
drawn from :data:`profiler.sections.registry.SECTIONS` (docs/sections.md)."""
