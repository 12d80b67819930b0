"""Forked work (profiler.core.forked): the child's result when it succeeds, the parent's own call when it cannot."""

from __future__ import annotations

import os

import pytest

from profiler.core import forked
from profiler.core.forked import Forked


def test_the_child_does_the_work_and_sends_its_result(tmp_path):
    marker = tmp_path / "written"

    def work():
        marker.write_text("x")
        return {"pid": os.getpid(), "n": [1, 2]}

    task = Forked(work)
    out = task.result()
    if not task.forked:
        pytest.skip("this machine has one core: the work runs in the parent")
    assert out["n"] == [1, 2] and out["pid"] != os.getpid()  # done in another process
    assert marker.read_text() == "x"  # and its file is there once result() returns


def test_a_failing_child_is_retried_here_so_its_error_is_the_usual_one():
    calls = []

    def work():
        calls.append(os.getpid())
        raise OSError("disk full")

    task = Forked(work)
    with pytest.raises(OSError, match="disk full"):
        task.result()
    assert calls == [os.getpid()]  # the parent's own try (the child's was in its own memory)


def test_a_child_that_dies_without_a_word_is_retried_here():
    def work():
        if os.getpid() != parent:
            os._exit(9)  # killed mid-work: no result sent
        return "parent did it"

    parent = os.getpid()
    assert Forked(work).result() == "parent did it"


def test_without_fork_the_parent_does_the_work(monkeypatch):
    monkeypatch.setattr(forked, "usable_cores", lambda: 1)
    task = Forked(lambda: os.getpid())
    assert not task.forked and task.result() == os.getpid()


def test_results_travel_as_data_only():
    import numpy as np

    value = {"a": np.arange(5, dtype=np.int32), (1, 2): "tuple key", 3: [(None, 4.5), {"__tuple__": 1}],
             "nested": {"x": np.zeros((2, 3)), "t": (1, "s")}, "f": np.float64(2.5)}
    back = forked.unpack(forked.pack(value))
    assert back[(1, 2)] == "tuple key" and back[3] == [(None, 4.5), {"__tuple__": 1}]
    assert back["a"].dtype == np.int32 and back["a"].tolist() == [0, 1, 2, 3, 4]
    assert back["nested"]["x"].shape == (2, 3) and back["nested"]["t"] == (1, "s") and back["f"] == 2.5
    task = Forked(lambda: {"cols": np.arange(3), "keys": {(5, 6): (None, 7)}})
    out = task.result()
    assert out["cols"].tolist() == [0, 1, 2] and out["keys"] == {(5, 6): (None, 7)}


def test_arrays_come_back_writable_and_objects_are_refused():
    import numpy as np

    back = forked.unpack(forked.pack({"a": np.arange(6, dtype=np.int16).reshape(2, 3), "e": np.empty(0)}))
    back["a"][0, 0] = 7  # a reader may change what it got, as it could an np.load's array
    assert back["a"].tolist() == [[7, 1, 2], [3, 4, 5]] and back["a"].dtype == np.int16
    assert back["e"].shape == (0,)
    with pytest.raises(TypeError, match="Python objects"):
        forked.pack({"o": np.array(["x", None], dtype=object)})
    with pytest.raises(ValueError, match="torn"):
        forked.unpack(forked.pack({"a": np.arange(100)})[:-8])
