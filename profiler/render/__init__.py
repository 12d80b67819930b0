"""Renderers as equals behind one interface: terminal, HTML, Markdown, JSON, CSV (docs/sections.md)."""
