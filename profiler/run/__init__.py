"""Running things: plan → execute, the worker and its parent side, profiling any command, torchrun
ranks, the sweeps (compare, scale) and calibration.

May import every layer below it (core, probes, analysis, importers, export); never ``cli`` or
``report``. Frameworks are imported only inside worker processes.
"""
