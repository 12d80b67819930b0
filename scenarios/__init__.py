"""Built-in scenarios: one package per workload, its ``__init__`` a framework-free declaration.

See :mod:`profiler.scenario` for the interface and :mod:`profiler.registry` for discovery.
"""
