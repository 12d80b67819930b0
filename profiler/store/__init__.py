"""Queries over event stores: DuckDB views of one run, a folder of runs or a fleet of ranks.

The files themselves are written by :mod:`profiler.core.parquet` (``docs/store.md``); this layer
finds them (:func:`find_sources`) and opens them as one DuckDB database whose views (``events``,
``steps``, ``counters`` …) hold every store with a ``variant`` column saying whose rows they are
(:class:`Store`). ``profiler sql`` and :func:`profiler.open` are its front ends. It imports core only,
and DuckDB and pyarrow only when a store is opened.
"""

from profiler.store.query import Source, Store, find_sources, one_line

__all__ = ["Source", "Store", "find_sources", "one_line"]
