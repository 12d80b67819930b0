"""The toolkit's own error types.

Everything a user can cause (bad arguments, unreadable files, a missing framework) is raised as an
:class:`InputError` or :class:`UnavailableError`; the CLI turns them into one line on stderr and exit
code 2. Anything else escaping is a bug.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ProfilerError(Exception):
    """Base class of errors the CLI reports as one line."""

    exit_code = 2


class InputError(ProfilerError):
    """Bad user input: an unknown name, an unreadable or foreign file, an unwritable directory."""


class UnavailableError(ProfilerError):
    """Something needed is not available here (a framework, a GPU, a permission)."""


def unknown_choice(kind: str, value: str, choices: Iterable[str]) -> InputError:
    """``unknown scenario 'x'; valid: closest, others...`` with the closest match first."""
    choices = sorted(set(choices))
    close = difflib.get_close_matches(value, choices, n=len(choices), cutoff=0.0)
    ordered = close + [c for c in choices if c not in close]
    return InputError(f"unknown {kind} {value!r}; valid: {', '.join(ordered)}")
