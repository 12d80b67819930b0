"""``python -m profiler``: the command line."""

from profiler.cli.main import main

raise SystemExit(main())
