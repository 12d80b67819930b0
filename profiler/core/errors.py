"""The toolkit's own error types.

Everything a user can cause (bad arguments, unreadable files, a missing framework) is raised as an
:class:`InputError` or :class:`UnavailableError`; the CLI turns them into one line on stderr and exit
code 2. A run that started and could not finish (a full disk while saving) is a :class:`RunFailed`,
exit code 1; a program to profile that does not exist is :class:`CommandNotFound`, exit code 127
(``docs/cli.md``: exit codes). Anything else escaping is a bug.
"""

from __future__ import annotations

import difflib
import errno
import os
from collections.abc import Iterable


class ProfilerError(Exception):
    """Base class of errors the CLI reports as one line."""

    exit_code = 2


class InputError(ProfilerError):
    """Bad user input: an unknown name, an unreadable or foreign file, an unwritable directory."""


class UnavailableError(ProfilerError):
    """Something needed is not available here (a framework, a GPU, a permission)."""


class RunFailed(ProfilerError):
    """A run started and could not finish (a write failed: disk full, I/O error); it is saved as
    ``failed`` with the reason where the disk still allows."""

    exit_code = 1


class CommandNotFound(InputError):
    """``profiler trace -- PROGRAM``: the program (or the script given to python) does not exist
    (exit code 127, as a shell gives)."""

    exit_code = 127


#: errno values that mean "the path the user gave is wrong", not "the machine failed"
USAGE_ERRNOS = frozenset(
    {errno.ENAMETOOLONG, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ELOOP, errno.EACCES,
     errno.EPERM, errno.EROFS, errno.EEXIST, errno.EINVAL}
)


def os_error_line(e: OSError) -> str:
    """``PATH: No space left on device`` (the path first, and the second path of a rename)."""
    what = e.strerror or (os.strerror(e.errno) if e.errno else str(e))
    if e.errno == errno.ENAMETOOLONG:
        what += " (a path component is over 255 bytes)" if _long_component(e.filename) else ""
    if e.filename is None:
        return what
    where = os.fsdecode(e.filename) if isinstance(e.filename, (str, bytes)) else str(e.filename)
    if len(where) > 160:  # one line, still naming the file
        where = f"{where[:70]}…{where[-70:]}"
    if e.filename2 is not None:
        where += f" -> {os.fsdecode(e.filename2)}"
    return f"{where}: {what}"


def _long_component(name: object) -> bool:
    if not isinstance(name, (str, bytes)):
        return False
    return any(len(os.fsencode(c)) > 255 for c in os.fsdecode(name).split(os.sep))


def unknown_choice(kind: str, value: str, choices: Iterable[str]) -> InputError:
    """``unknown scenario 'x'; valid: closest, others...`` with the closest match first."""
    choices = sorted(set(choices))
    close = difflib.get_close_matches(value, choices, n=len(choices), cutoff=0.0)
    ordered = close + [c for c in choices if c not in close]
    return InputError(f"unknown {kind} {value!r}; valid: {', '.join(ordered)}")
