"""Every framework's descriptor (profiler/core/frameworks.py) is complete and consistent with the code
that reads it, and docs/architecture.md's "Add a framework" checklist names exactly its fields."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from profiler.core import opkinds
from profiler.core.categories import CATEGORIES
from profiler.core.frameworks import (
    FRAMEWORKS,
    THREADS,
    Framework,
    Tracer,
    framework_availability,
    framework_of_format,
    measured_tracers,
    resolve,
    traced_by,
    tracers,
)

ROOT = Path(__file__).resolve().parent.parent
TRACED = [n for n, fw in FRAMEWORKS.items() if fw.tracer is not None]


def _checklist() -> str:
    text = (ROOT / "docs" / "architecture.md").read_text()
    start = text.index("**Add a framework**")
    end = text.index("\n**", start + 1)
    return text[start:end]


def test_the_checklist_names_every_descriptor_field_and_no_other():
    named = re.findall(r"`(Framework|Tracer)\.(\w+)`", _checklist())
    want = {(cls.__name__, f.name) for cls in (Framework, Tracer) for f in dataclasses.fields(cls)}
    assert set(named) == want, (sorted(want - set(named)), sorted(set(named) - want))


def test_the_files_the_checklist_names_exist():
    paths = {p for p in re.findall(r"`([\w./<>-]+)`", _checklist()) if "/" in p or p.endswith((".py", ".toml"))}
    fixed = {p for p in paths if "<" not in p}
    assert "profiler/core/frameworks.py" in fixed and "tests/test_framework_descriptor.py" in fixed
    assert [p for p in sorted(fixed) if not (ROOT / p).exists()] == []
    # the placeholder path matches real implementation files
    assert list(ROOT.glob("scenarios/*/torch_impl.py"))


@pytest.mark.parametrize("name", list(FRAMEWORKS))
def test_descriptor_is_consistent(name: str):
    fw = FRAMEWORKS[name]
    assert fw.name == name and fw.display and fw.module and fw.install
    assert all(b in FRAMEWORKS and b != name for b in fw.requires)
    if fw.own_spans:  # its records are ours: no framework tracer whose cost calibrate would remove
        assert fw.tracer is None
    for var, value in fw.thread_env:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", var) and (value == THREADS or value.isdigit()), (var, value)
    if fw.threads_info is not None:
        assert re.fullmatch(r"[a-z_]+", fw.threads_info)
    av = framework_availability(name)
    if fw.never_installable:
        assert not av.available and av.reason == fw.never_installable
    elif not av.available:
        assert fw.install in av.reason or any(FRAMEWORKS[b].install in av.reason for b in fw.requires)


@pytest.mark.parametrize("name", TRACED)
def test_tracer_probe_resolves_and_applies(name: str):
    from profiler.probes import PROBES, Probe, probe_class

    t = FRAMEWORKS[name].tracer
    assert t is not None and t.label
    cls = resolve(t.probe_class)
    assert inspect.isclass(cls) and issubclass(cls, Probe)
    assert cls.name == t.probe and cls.where == "worker"
    assert PROBES[t.probe] == t.probe_class and probe_class(t.probe) is cls
    assert name in cls.frameworks and tuple(cls.frameworks) == traced_by(t.probe)


def test_each_probe_that_applies_to_frameworks_is_a_descriptors_tracer():
    from profiler.probes import PROBES, probe_class

    for n in PROBES:
        fws = probe_class(n).frameworks
        assert not fws or all(FRAMEWORKS[f].tracer is not None and FRAMEWORKS[f].tracer.probe == n for f in fws), n


@pytest.mark.parametrize("tracer", tracers(), ids=lambda t: t.probe)
def test_tracer_cost_measurement_writes_the_configuration_that_compensates(tracer: Tracer):
    from profiler.analysis.compensation import TRACER_ENTRIES
    from profiler.core.calibration import tracer_cost_line
    from profiler.run import tracer_cost

    assert (tracer.cost_measure is None) == (tracer.cost_config is None)
    if tracer.cost_measure is None:
        assert tracer.probe not in tracer_cost.FRAMEWORKS
        assert all(entry[0] != tracer.probe for entry in TRACER_ENTRIES.values())
        return
    fn = resolve(tracer.cost_measure)
    assert callable(fn) and list(inspect.signature(fn).parameters) == ["n", "reps"]
    assert f'"{tracer.cost_config}"' in inspect.getsource(fn)
    assert tracer.probe in tracer_cost.FRAMEWORKS
    for fw in traced_by(tracer.probe):
        assert TRACER_ENTRIES[fw] == (tracer.probe, tracer.cost_config, tracer.label)
    # the calibration summary names it by its label, from a record under its probe's name
    u = {"median": 1.5, "min": 1.0, "max": 2.0}
    line = tracer_cost_line({"tracer_costs": {tracer.probe: {"configs": {tracer.cost_config: {"total_us": u}}}}})
    assert f"{tracer.label} {tracer.cost_config} 1.50 µs/op (1.00–2.00)" in line


def test_calibrate_measures_every_measured_tracer_in_order(monkeypatch):
    from profiler.run import calibrate

    seen: list[str] = []

    def fake_worker(framework: str, quick: bool, timeout_s: float) -> dict:
        seen.append(framework)
        return {framework: {"configs": {}}, "seconds": 1.0}

    monkeypatch.setattr(calibrate, "_tracer_cost_worker", fake_worker)
    rec = calibrate.tracer_costs(quick=True)
    assert seen == [t.probe for t in measured_tracers()] == ["torch", "tensorflow", "mxnet"]
    assert all(rec[n] == {"configs": {}} for n in seen) and rec["seconds"] == len(seen)


def test_trace_formats_have_readers_and_frameworks():
    from profiler.importers import FORMATS

    formats = {t.trace_format for t in tracers() if t.trace_format is not None}
    assert formats == set(FORMATS)
    for f in FORMATS:
        fw = FRAMEWORKS[framework_of_format(f)]
        assert fw.tracer is not None and fw.tracer.trace_format == f
    with pytest.raises(KeyError):
        framework_of_format("no-such-format")


def _alternatives(regex: str) -> list[str]:
    """The top-level alternatives of a regular expression (``|`` outside groups and classes)."""
    out, depth, cls, cur, i = [], 0, False, "", 0
    while i < len(regex):
        c = regex[i]
        if c == "\\":
            cur += regex[i:i + 2]
            i += 2
            continue
        if cls:
            cls = c != "]"
        elif c == "[":
            cls = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            out.append(cur)
            cur = ""
            i += 1
            continue
        cur += c
        i += 1
    return [*out, cur]


def test_op_kind_rules_compile_are_anchored_and_come_first():
    own = [rule for fw in FRAMEWORKS.values() for rule in fw.op_kind_rules]
    assert own, "MXNet and Chainer name ops the generic rules misread"
    categories = set(CATEGORIES) | {"communication"}
    for kind, category, regex in own:
        re.compile(regex)
        assert category in categories and kind in {k for k, _, _ in opkinds._RULES[len(own):]}
        assert all(a.startswith("^") for a in _alternatives(regex)), regex
    assert list(opkinds._RULES[:len(own)]) == own
    assert _alternatives(r"^a(b|c)$|^[|x]d") == [r"^a(b|c)$", r"^[|x]d"]


@pytest.mark.parametrize(("name", "kind"), [
    ("broadcast_add", "elementwise"), ("_backward_pick", "embedding"),  # MXNet's
    ("_ + _", "elementwise"), ("GetItem", "view"),  # Chainer's
])
def test_framework_op_names_are_classified_by_their_rules(name: str, kind: str):
    assert opkinds.op_kind(name)[0] == kind


def test_every_framework_thread_variable_reaches_a_worker():
    from profiler.run.process import THREAD_ENV_VARS, thread_env

    env = thread_env(3)
    for fw in FRAMEWORKS.values():
        for var, value in fw.thread_env:
            assert env[var] == ("3" if value == THREADS else value)
    assert set(env) == set(THREAD_ENV_VARS) | {v for fw in FRAMEWORKS.values() for v, _ in fw.thread_env}
    assert thread_env(None) == {} and thread_env(0) == {}


def test_op_threads_read_every_framework_threads_key():
    from profiler.analysis.variant import _op_threads

    keys = [fw.threads_info for fw in FRAMEWORKS.values() if fw.threads_info]
    assert keys
    for k in keys:
        assert _op_threads({"info": {k: 5}, "threads": 2}, None) == 5
    assert _op_threads({"info": {}, "threads": 2}, None) == 2


def test_a_framework_that_runs_on_another_is_unavailable_without_it(monkeypatch):
    import importlib.util

    keras = FRAMEWORKS["keras"]
    assert keras.requires == ("tensorflow",)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda n, *a: object() if n == "keras" else None if n == "tensorflow" else real(n, *a))
    av = framework_availability("keras")
    assert not av.available
    assert av.reason == "Keras(TF) needs TensorFlow as its backend; install with " + FRAMEWORKS["tensorflow"].install
