"""The start-up shim directory for ``profiler trace -- COMMAND`` (its ``sitecustomize.py``).

Not imported as a package: ``profiler/run/command.py`` puts this directory on the program's
``PYTHONPATH``. This file only makes packaging ship the directory with ``profiler``.
"""
