"""The event store's files go through the same fault injection as every other file a run writes:
a failing write of any of its tables is one line naming the store, and no partial store is left."""

from __future__ import annotations

import pytest

from profiler.core import faults
from profiler.core.errors import InputError
from profiler.core.events import OP, EventBuilder, EventTable


def _table() -> EventTable:
    b = EventBuilder()
    for i in range(5):
        b.span(OP, f"aten::op{i}", 1_000 * i, 500, 7, 7)
    return b.build()


@pytest.mark.parametrize("which", ["events.steps.parquet", "events.parquet"])
def test_a_failing_store_write_is_one_line_and_leaves_nothing(tmp_path, which) -> None:
    path = tmp_path / "events.parquet"
    with faults.inject(f"write:1:ENOSPC:{which}"), pytest.raises(InputError) as e:
        _table().save(path)
    assert "cannot write the event store" in str(e.value) and "\n" not in str(e.value)
    assert list(tmp_path.iterdir()) == []  # no table of a partial store, no temporary file


def test_without_a_fault_the_store_is_written_whole(tmp_path) -> None:
    path = tmp_path / "events.parquet"
    _table().save(path)
    assert len(EventTable.load(path).spans["start_ns"]) == 5
