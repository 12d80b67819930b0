"""Exact-text outputs of every renderer on stored records, one per run kind (trace, compare, scale,
and imported ranks): any change to what a report shows shows up here as a diff to read and accept
(rerun tests/data/records/make_goldens.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

RECORDS = Path(__file__).resolve().parent / "data" / "records"
_spec = importlib.util.spec_from_file_location("make_goldens", RECORDS / "make_goldens.py")
goldens = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(goldens)

CASES = [(name, fmt, ext) for name in goldens.records() for fmt, ext in goldens.FORMATS.items()]


def test_one_record_per_run_kind() -> None:
    import json

    kinds = {json.loads(p.read_text())["kind"] for p in goldens.records().values()}
    assert {"trace", "compare", "scale", "import"} <= kinds


@pytest.mark.parametrize(("name", "fmt", "ext"), CASES, ids=[f"{n}.{e}" for n, _, e in CASES])
def test_renderer_output_is_the_stored_one(name, fmt, ext) -> None:
    expected = (goldens.GOLDEN / f"{name}.{ext}").read_text()
    got = goldens.render(goldens.records()[name], fmt)
    assert got == expected, f"{name}.{ext} changed: rerun tests/data/records/make_goldens.py and read the diff"
