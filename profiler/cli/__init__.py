"""The command line: one module per command, shared options in :mod:`profiler.cli.options`.

The front of the house: may import every layer.
"""
