"""The progress display's estimate of the time left, on a fake clock (no sleeping)."""

from __future__ import annotations

from types import SimpleNamespace

from profiler.report.progress import ProgressView


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_the_estimate_is_the_mean_worker_time_times_the_workers_left() -> None:
    clock = FakeClock()
    jobs = [SimpleNamespace(key=f"w{i}") for i in range(4)]
    view = ProgressView(jobs, enabled=False, clock=clock)
    assert view.remaining() == "0 of 4 done"
    for i, took in enumerate((10.0, 30.0)):
        view.update(jobs[i], {"phase": "import"})
        clock.t += took
        view.finish(SimpleNamespace(key=f"w{i}", status="ok"))
    assert view.remaining() == "2 of 4 done · about 40 s left (mean 20 s a worker)"
    view.update(jobs[2], {"phase": "import"})
    clock.t += 200
    view.finish(SimpleNamespace(key="w2", status="ok"))
    assert view.remaining() == "3 of 4 done · about 80 s left (mean 80 s a worker)"
    view.finish(SimpleNamespace(key="w3", status="unavailable"))  # never started: no time
    assert view.remaining() == "4 of 4 done"


def test_one_worker_has_no_overall_line() -> None:
    assert ProgressView([SimpleNamespace(key="w")], enabled=False).overall is None


def test_a_worker_added_on_the_way_gets_its_own_line() -> None:
    jobs = [SimpleNamespace(key="w0"), SimpleNamespace(key="w1")]
    view = ProgressView(jobs, enabled=False, clock=FakeClock())
    again = SimpleNamespace(key="w0-again")  # a disturbed variant measured again
    view.update(again, {"step": 1, "total": 3})  # nothing to show before it announced a phase
    assert "w0-again" not in view.tasks
    view.update(again, {"phase": "measure"})
    task = view.progress.tasks[view.tasks["w0-again"]]
    assert task.description == "w0-again" and task.fields["phase"] == "measure"
    assert view.remaining() == "0 of 2 done"  # the estimate counts the planned workers
