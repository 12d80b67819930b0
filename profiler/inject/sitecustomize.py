"""Start-up shim for ``profiler trace -- COMMAND`` (see profiler/inject/recorder.py).

Python imports ``sitecustomize`` at start-up from the first directory on ``sys.path`` that has one;
``profiler trace`` puts this directory first on the program's ``PYTHONPATH``. When
``PROFILER_COMMAND_SPEC`` is set, the step/data-loading hooks and the traced window are installed;
otherwise nothing happens. A ``sitecustomize`` further down the path (a site's own) still runs.
"""

import os
import sys


def _chain() -> None:
    """Run the next ``sitecustomize`` on the path, which this one shadows."""
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    for d in sys.path:
        if not d or os.path.abspath(d) == here:
            continue
        f = os.path.join(d, "sitecustomize.py")
        if os.path.isfile(f):
            spec = importlib.util.spec_from_file_location("_site_sitecustomize", f)
            if spec and spec.loader:
                spec.loader.exec_module(importlib.util.module_from_spec(spec))
            return


if os.environ.get("PROFILER_COMMAND_SPEC"):
    try:
        from profiler.inject.recorder import activate

        activate()
    except Exception as e:  # the program must run even if profiling cannot
        print(f"profiler: in-process hooks not installed: {type(e).__name__}: {e}", file=sys.stderr)
try:
    _chain()
except Exception as e:
    print(f"profiler: the site's sitecustomize failed: {type(e).__name__}: {e}", file=sys.stderr)
