"""Built-in scenarios: one package per workload, its ``__init__`` a framework-free declaration.

See :mod:`profiler.core.scenario` for the interface and :mod:`profiler.core.registry` for discovery.
"""
