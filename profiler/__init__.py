"""profiler: low-level profiling and kernel analysis for deep-learning frameworks.

Importing this package imports no framework. See docs/architecture.md for the data flow.
"""

__version__ = "0.1.0"
