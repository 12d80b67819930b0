"""Analysis: pure functions from collected events (and run records) to tables and verdicts.

Nothing here imports a framework, reads a file or prints: callers load, analyse, then render.
"""
