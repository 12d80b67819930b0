"""profiler.core.lifeline: children die with their parent (parent-death signal, and the guardian
for the rest of their group). Plain ``python -c`` processes, no framework."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from profiler.core import lifeline
from tests.conftest import ROOT

linux = pytest.mark.skipif(not lifeline.pdeathsig_supported(), reason="PR_SET_PDEATHSIG is Linux only")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def wait_dead(pids: list[int], within_s: float) -> list[int]:
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


# A parent that starts a child through lifeline.spawn (the child starts a grandchild in its group),
# prints the pids, then waits to be killed.
PARENT = textwrap.dedent("""
    import os, subprocess, sys, time
    from profiler.core import lifeline
    guardian = sys.argv[1] == "1"
    if not guardian:
        os.environ[lifeline.GUARDIAN_ENV] = "0"
    child_code = (
        "import subprocess, sys, time, signal\\n"
        "if sys.argv[1] == '1': signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\\n"
        "print(g.pid, flush=True)\\n"
        "time.sleep(600)\\n"
    )
    child = lifeline.spawn([sys.executable, "-c", child_code, sys.argv[2]], stdout=subprocess.PIPE, text=True)
    grandchild = int(child.stdout.readline())
    print(child.pid, grandchild, lifeline.Guardian.pid() or 0, flush=True)
    time.sleep(600)
""")


def start_parent(guardian: bool, stubborn: bool = False) -> tuple[subprocess.Popen, int, int, int]:
    p = subprocess.Popen([sys.executable, "-c", PARENT, "1" if guardian else "0", "1" if stubborn else "0"],
                         stdout=subprocess.PIPE, text=True, cwd=ROOT)
    child, grandchild, guard = map(int, p.stdout.readline().split())
    return p, child, grandchild, guard


def cleanup(*pids: int) -> None:
    for pid in pids:
        if pid and alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
@linux
def test_child_gets_the_parent_death_signal():
    p, child, grandchild, _ = start_parent(guardian=False)
    try:
        assert os.getpgid(child) == child  # its own group (a new session)
        assert os.getpgid(grandchild) == child
        p.kill()
        p.wait()
        assert wait_dead([child], 5) == []  # SIGTERM from the kernel when the parent died
    finally:
        cleanup(child, grandchild)
    # without the guardian, the grandchild outlives them both: the guardian exists for it
    assert alive(grandchild)
    cleanup(grandchild)


@pytest.mark.slow
@linux
@pytest.mark.parametrize("stubborn", [False, True], ids=["plain", "ignores-sigterm"])
def test_guardian_kills_the_whole_group_when_the_parent_is_killed(stubborn):
    p, child, grandchild, guard = start_parent(guardian=True, stubborn=stubborn)
    try:
        assert guard and alive(guard)
        assert os.getsid(guard) == guard  # its own session: a Ctrl-C in the terminal misses it
        p.kill()
        p.wait()
        # SIGTERM at once; SIGKILL after the grace for what ignores it
        assert wait_dead([child, grandchild], lifeline.GRACE_S + 5) == []
        assert wait_dead([guard], 5) == []  # and the guardian goes too
    finally:
        cleanup(child, grandchild, guard)


@pytest.mark.slow
def test_guardian_ignores_terminal_signals_and_released_groups_are_left_alone():
    """A group released (its leader reaped) is not killed by the guardian when the parent exits
    (the child is started without a parent-death signal here, to see the guardian alone)."""
    code = textwrap.dedent("""
        import subprocess, sys, time
        from profiler.core import lifeline
        c = lifeline.spawn([sys.executable, "-c", "import time; time.sleep(600)"], death_signal=0)
        lifeline.reaped(c)  # as if it had been waited for: the guardian forgets the group
        print(c.pid, lifeline.Guardian.pid(), flush=True)
        sys.stdin.readline()
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         cwd=ROOT)
    child, guard = map(int, p.stdout.readline().split())
    try:
        os.kill(guard, signal.SIGINT)
        os.kill(guard, signal.SIGTERM)
        time.sleep(0.3)
        assert alive(guard)
        p.stdin.close()
        p.wait(timeout=10)
        assert wait_dead([guard], 5) == []
        assert alive(child)  # released: not ours to kill any more
    finally:
        cleanup(child, guard)


def test_parent_death_signal_only_from_the_main_thread():
    got = []
    t = threading.Thread(target=lambda: got.append(lifeline.die_with_parent()))
    t.start()
    t.join()
    assert got == [None]
    if lifeline.pdeathsig_supported():
        assert callable(lifeline.die_with_parent())


# A helper that starts a grandchild in its group (as a scenario file's import might), writes both
# pids to argv[1], then exits with argv[2] (a number) or hangs ("hang").
HELPER = textwrap.dedent("""
    import os, subprocess, sys, time
    g = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(sys.argv[1] + ".part", "w") as f:
        f.write(f"{os.getpid()} {g.pid}")
    os.replace(sys.argv[1] + ".part", sys.argv[1])
    print("out", flush=True)
    print("err", file=sys.stderr, flush=True)
    if sys.argv[2] == "hang":
        time.sleep(600)
    sys.exit(int(sys.argv[2]))
""")


@pytest.mark.slow
@linux
def test_run_answers_like_subprocess_run_and_stops_what_the_helper_left(tmp_path):
    pids = tmp_path / "pids"
    r = lifeline.run([sys.executable, "-c", HELPER, str(pids), "3"], capture_output=True, text=True, timeout=120)
    helper, grandchild = map(int, pids.read_text().split())
    try:
        assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
        assert r.args[-1] == "3"
        assert not alive(helper)
        assert wait_dead([grandchild], 1) == []  # already stopped when run() returned
    finally:
        cleanup(grandchild)


@pytest.mark.slow
@linux
def test_run_on_timeout_stops_the_whole_group(tmp_path):
    pids = tmp_path / "pids"
    with pytest.raises(subprocess.TimeoutExpired):
        lifeline.run([sys.executable, "-c", HELPER, str(pids), "hang"], capture_output=True, timeout=5)
    helper, grandchild = map(int, pids.read_text().split())  # it got as far as its hang
    try:
        assert wait_dead([helper, grandchild], 1) == []
    finally:
        cleanup(helper, grandchild)


@pytest.mark.slow
@linux
def test_a_scenario_file_that_hangs_when_read_is_one_line_and_leaves_nothing(tmp_path):
    """The worker that reads a user's scenario declaration runs through lifeline.run: a file that
    never finishes importing is a one-line error after the timeout, and its process group is gone."""
    from profiler.core.errors import InputError
    from profiler.core.registry import describe_file

    pids = tmp_path / "pids"
    f = tmp_path / "slow_import.py"
    f.write_text(f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {HELPER!r}, {str(pids)!r}, 'hang'])\n")
    with pytest.raises(InputError, match=r"slow_import\.py: reading its declaration took more than 5 s"):
        describe_file(f, timeout=5)
    helper, grandchild = map(int, pids.read_text().split())
    try:
        assert wait_dead([helper, grandchild], 1) == []
    finally:
        cleanup(helper, grandchild)
