"""The core model every layer shares: events, clock, errors, atomic files, the typed run record and its
JSON schema, categories, scenarios and their registry, frameworks and hardware.

Imports nothing from the other layers of ``profiler`` and no framework.
"""
