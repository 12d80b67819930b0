"""Every reader of saved or foreign files, fuzzed: nothing escapes but the toolkit's own error type.

Each reader gets arbitrary bytes, truncations and byte flips of a real sample, and (for JSON formats)
the real sample with random subtrees replaced by random JSON. A reader must either return its result
or raise :class:`profiler.core.errors.ProfilerError` (one line, no traceback at the CLI). Over all readers
this generates well over 1,000 malformed inputs per run.
"""

from __future__ import annotations

import importlib
import io
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiler.core.errors import ProfilerError
from profiler.core.events import OP, STEP, EventBuilder
from tests.conftest import DATA

EXAMPLES = 150  # per reader and strategy


def _events_sample() -> bytes:
    b = EventBuilder()
    b.span(STEP, "step 0", 0, 100, 1, 0, args={"index": 0, "traced": True})
    b.span(OP, "aten::mm", 10, 50, 1, 2, flops=1e3, shapes="[[2, 2]]")
    b.counter("rss", 5, 1.0, 1)
    b.sample(7, 1, 2, ["a", "b"])
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "e.npz"
        b.build().save(p)
        return p.read_bytes()


def _run_record_sample() -> bytes:
    return json.dumps({
        "schema": "profiler-run", "schema_version": 1, "status": "ok",
        "scenario": {"name": "x", "unit": "step"}, "settings": {"steps": 1},
        "variants": [{"framework": "torch", "variant": "fused", "status": "ok",
                      "step_ms": {"median": 1.0, "min": 1.0, "max": 1.0, "n": 1},
                      "breakdown": {"ms": {"compute": 1.0}, "pct": {"compute": 100.0}, "step_ms": 1.0,
                                    "residual_ms": 0.0, "residual_pct": 0.0, "basis": "host ops"},
                      "top_ops": [{"name": "aten::mm", "where": "host", "category": "compute",
                                   "calls_per_step": 1, "self_ms_per_step": 1.0}]}],
    }).encode()


def _read_run_record(path: Path) -> Any:
    from rich.console import Console

    from profiler.core.rundir import RunDir
    from profiler.report.run import render_record

    d = path.parent / "run"
    d.mkdir(exist_ok=True)
    (d / "run.json").write_bytes(path.read_bytes())
    rec = RunDir.open(d).read_record()
    # a record that loads must also render (what `profiler report` does next)
    render_record(rec, str(d), Console(file=io.StringIO(), width=100))
    return rec


def _load_events(path: Path) -> Any:
    from profiler.core.events import EventTable

    return EventTable.load(path)


def _first_sample(pattern: str) -> bytes | None:
    files = sorted(DATA.glob(pattern))
    return files[0].read_bytes() if files else None


def _importer(module: str, *names: str) -> Callable[[Path], Any] | None:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    for n in names:
        f = getattr(mod, n, None)
        if callable(f):
            return f
    return None


READERS: list[tuple[str, Callable[[Path], Any] | None, bytes | None, bool]] = [
    # (name, reader, real sample, sample is JSON)
    ("run.json", _read_run_record, _run_record_sample(), True),
    ("events.npz", _load_events, _events_sample(), False),
    ("kineto json", _importer("profiler.importers.kineto_json", "load_kineto_json", "load_kineto_trace"),
     _first_sample("kineto/*.json"), True),
    ("mxnet json", _importer("profiler.importers.mxnet_json", "load_mxnet_profile"),
     _first_sample("mxnet/*.json"), True),
    ("tf xspace", _importer("profiler.importers.xspace", "load_xspace"), _first_sample("xspace/*.pb"), False),
    ("py-spy chrometrace", _importer("profiler.probes.pyspy", "load_pyspy_chrometrace"),
     _first_sample("probes/pyspy_chrometrace.json"), True),
]
AVAILABLE = [r for r in READERS if r[1] is not None]
IDS = [r[0] for r in AVAILABLE]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _call(reader: Callable[[Path], Any], data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"input{suffix}"
        p.write_bytes(data)
        try:
            reader(p)
        except ProfilerError as e:
            assert "\n" not in str(e).strip(), f"multi-line error: {e!r}"


def _suffix(name: str) -> str:
    return {"events.npz": ".npz", "tf xspace": ".xplane.pb"}.get(name, ".json")


FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("name,reader,sample,is_json", AVAILABLE, ids=IDS)
def test_arbitrary_bytes(name, reader, sample, is_json):
    @FUZZ
    @given(st.binary(max_size=512))
    def run(data: bytes) -> None:
        _call(reader, data, _suffix(name))

    run()


@pytest.mark.parametrize("name,reader,sample,is_json", AVAILABLE, ids=IDS)
def test_truncated_and_flipped_samples(name, reader, sample, is_json):
    if sample is None:
        pytest.skip(f"no recorded {name} sample under tests/data")

    @FUZZ
    @given(st.integers(0, len(sample)), st.lists(st.tuples(st.integers(0, len(sample) - 1), st.integers(0, 255)),
                                                 max_size=6))
    def run(cut: int, flips: list[tuple[int, int]]) -> None:
        data = bytearray(sample)
        for pos, val in flips:
            data[pos] = val
        _call(reader, bytes(data[:cut] if not flips else data), _suffix(name))

    run()


def _replace_subtree(doc: Any, path: list[int], value: Any) -> Any:
    if not path or not isinstance(doc, dict | list) or not doc:
        return value
    keys = list(doc.keys()) if isinstance(doc, dict) else list(range(len(doc)))
    k = keys[path[0] % len(keys)]
    doc[k] = _replace_subtree(doc[k], path[1:], value)
    return doc


@pytest.mark.parametrize("name,reader,sample,is_json", [r for r in AVAILABLE if r[3]],
                         ids=[r[0] for r in AVAILABLE if r[3]])
def test_structurally_mutated_json(name, reader, sample, is_json):
    if sample is None:
        pytest.skip(f"no recorded {name} sample under tests/data")
    base = json.loads(sample)

    @FUZZ
    @given(st.lists(st.integers(0, 50), min_size=0, max_size=5), json_values)
    def run(path: list[int], value: Any) -> None:
        doc = _replace_subtree(json.loads(json.dumps(base)), path, value)
        _call(reader, json.dumps(doc).encode(), _suffix(name))

    run()


def test_npz_with_wrong_columns_is_rejected(tmp_path):
    from profiler.core.events import EventTable

    good = tmp_path / "good.npz"
    good.write_bytes(_events_sample())
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files}
    for key in [k for k in arrays if k != "meta.json"]:
        broken = dict(arrays)
        broken[key] = np.arange(5) + 10**6  # wrong length and out-of-range ids
        p = tmp_path / f"bad-{key}.npz"
        np.savez(p, **broken)
        with pytest.raises(ProfilerError):
            EventTable.load(p)


def test_every_reader_is_fuzzed():
    # run.json, events, Kineto JSON, MXNet JSON, TF XSpace and py-spy output: 6 readers x 2-3
    # strategies x 150 examples = well over 1,000 malformed inputs
    assert IDS == [r[0] for r in READERS], f"a reader is missing: {IDS}"
