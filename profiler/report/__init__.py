"""Rich renderables of the run record: run, breakdown, compare, scale, ranks, progress.

May import ``core`` and ``analysis``; never ``run`` or ``cli``. Renders; never measures or writes.
"""
