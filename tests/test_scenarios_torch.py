"""The seed's workloads (declarations, torch implementations) and the ram/disk data helpers."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from profiler.core.scenario import WorkloadSpec
from tests.conftest import ROOT, have, needs_torch

pytestmark = pytest.mark.slow  # the framework runs in this process or in workers

SEED_SCENARIOS = ("densenet121_train", "resnet50_infer", "fcn5_infer")
FRAMEWORKS = ("torch", "tensorflow", "keras", "mxnet", "chainer")


# ------------------------------------------------------------------------------------ declarations
@pytest.mark.slow
def test_declarations_import_no_framework_and_name_agreed_modules() -> None:
    code = (
        "import sys, json\n"
        "from profiler.core.registry import builtin_scenarios\n"
        "s = builtin_scenarios()\n"
        "import scenarios.data, scenarios.data.dataset, scenarios.data.cache, scenarios.data.spans\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'keras', 'mxnet', 'chainer', 'PIL') if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'sc': {n: s[n].to_dict() for n in s}}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True, timeout=120
    )
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["heavy"] == []
    for name in SEED_SCENARIOS:
        sc = doc["sc"][name]
        impls = {i["framework"]: i for i in sc["implementations"]}
        assert tuple(impls) == FRAMEWORKS
        for fw, impl in impls.items():
            assert impl["module"] == f"scenarios.{name}.{fw}_impl"
        assert [v["name"] for v in impls["mxnet"]["variants"]] == ["hybridized", "imperative"]
        assert {"cpu", "seed"} <= set(sc["presets"])
        for p in sc["presets"].values():
            assert p["expected_params"] > 0 and p["steps"] >= 1
    rn = doc["sc"]["resnet50_infer"]
    assert rn["unit"] == "1000 images" and rn["modes"] == ["infer"]
    assert rn["presets"]["seed"]["batch"] == 32 and rn["presets"]["seed"]["image_size"] == 224
    assert doc["sc"]["densenet121_train"]["presets"]["seed"]["batch"] == 64
    fc = doc["sc"]["fcn5_infer"]["presets"]
    assert fc["seed"]["layers"] == [26752, 2048, 2048, 2048, 26752]
    assert fc["mnist"]["layers"] == [784, 2048, 4096, 1024, 10]
    assert fc["seed"]["expected_params"] == 117_997_696
    assert fc["mnist"]["expected_params"] == 14_205_962


# -------------------------------------------------------------------------------------- data helpers
needs_pil = pytest.mark.skipif(not have("PIL"), reason="Pillow is not installed")


@needs_pil
def test_image_dataset_is_real_jpeg_written_once(tmp_path: Path) -> None:
    from PIL import Image

    from scenarios.data.dataset import decode_image, image_dataset

    ds = image_dataset(6, 24, classes=3, seed=1, root=tmp_path / "imgs")
    assert len(ds) == 6 and ds.shape == (24, 24, 3)
    assert all(0 <= y < 3 for y in ds.labels)
    with Image.open(ds.path(0)) as im:
        assert im.format == "JPEG" and im.size == (24, 24)
    assert decode_image(ds.path(0)).shape == (24, 24, 3)
    mtimes = [p.stat().st_mtime_ns for p in ds.paths()]
    again = image_dataset(6, 24, classes=3, seed=1, root=tmp_path / "imgs")
    assert again.files == ds.files and [p.stat().st_mtime_ns for p in again.paths()] == mtimes
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dir left behind


def test_array_dataset_and_cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from scenarios.data.dataset import array_dataset, dataset_for, load_array

    monkeypatch.setenv("PROFILER_DATA_DIR", str(tmp_path))
    ds = dataset_for({"layers": [7, 5, 3], "dataset_items": 4, "batch": 2})
    assert ds.root.parent == tmp_path and ds.kind == "array"
    x = load_array(ds.path(3))
    assert x.dtype == np.float32 and x.shape == (7,)
    assert all(0 <= y < 3 for y in ds.labels)
    with pytest.raises(ValueError):
        array_dataset(0, 7, root=tmp_path / "bad")


def test_evict_drops_files_from_page_cache(tmp_path: Path) -> None:
    from scenarios.data.cache import MEMORY_FILESYSTEMS, evict, filesystem_type, resident_fraction
    from scenarios.data.dataset import array_dataset

    fs = filesystem_type(tmp_path)
    if fs in MEMORY_FILESYSTEMS:
        pytest.skip(f"{tmp_path} is on {fs}: its pages are the storage and cannot be evicted")

    ds = array_dataset(8, 4096, classes=2, root=tmp_path / "arr")
    for p in ds.paths():
        p.read_bytes()
    before = resident_fraction(ds.paths())
    if before is None:
        pytest.skip("mincore is unavailable here, residency cannot be measured")
    if before < 0.5:
        pytest.skip(f"reading the files did not cache them (resident {before:.2f}); nothing to evict")
    ev = evict(ds.paths())
    assert ev.files == 8 and ev.bytes == ds.nbytes() and not ev.errors
    assert resident_fraction(ds.paths()) < 0.5
    missing = evict([tmp_path / "nope"])
    assert filesystem_type("/proc") == "proc"
    assert missing.files == 0 and missing.errors


def _child_spans(directory: str) -> None:
    from scenarios.data.spans import SpanLog

    log = SpanLog(directory)
    with log.span("decode", file="a.jpg"):
        pass
    log.add("read", 100, 5)


def test_loader_spans_from_other_processes_are_collected(tmp_path: Path) -> None:
    from scenarios.data.spans import SpanLog, collect

    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_child_spans, args=(str(tmp_path),)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    SpanLog(tmp_path).add("read", 1, 2)  # this process too
    (tmp_path / "loader-123.jsonl").write_text('{"name": "read", "t": 1, "d": 2, "tid": 5}\n{"name": "tor')
    spans = collect(tmp_path)
    pids = {s.pid for s in spans}
    assert {p.pid for p in procs} | {os.getpid(), 123} == pids
    assert sum(s.name == "decode" for s in spans) == 2
    assert next(s for s in spans if s.name == "decode").args == {"file": "a.jpg"}
    assert not list(tmp_path.glob("loader-*.jsonl"))  # consumed


# ------------------------------------------------------------------------------- torch workloads
class FakeContext:
    """The worker's Context, recording what the workload reports."""

    def __init__(self, spec: WorkloadSpec) -> None:
        self.spec = spec
        self.regions: list[tuple[str, str]] = []
        self.spans: list[tuple[str, str, int]] = []
        self.processes: dict[int, str] = {}

    @property
    def params(self) -> dict[str, Any]:
        return self.spec.params

    @contextlib.contextmanager
    def region(self, category: str, name: str, **args: Any):
        yield
        self.regions.append((category, name))

    def record_span(self, category, name, start_ns, dur_ns, pid, tid=0, **args) -> None:
        self.spans.append((category, name, pid))

    def name_process(self, pid: int, name: str) -> None:
        self.processes[pid] = name

    def log(self, message: str) -> None:
        pass


def _ctx(scenario: str, mode: str, data: str, **params: Any) -> FakeContext:
    spec = WorkloadSpec(
        scenario=scenario, framework="torch", variant="default", mode=mode, preset="test",
        device="cpu", params=params, threads=1, data=data,
    )  # fmt: skip
    return FakeContext(spec)


@pytest.mark.slow
@needs_torch
def test_resnet50_torch_ram_is_cut_after_avgpool() -> None:
    import torch

    from scenarios.resnet50_infer.torch_impl import build

    ctx = _ctx("resnet50_infer", "infer", "ram", batch=2, image_size=32)
    wl = build(ctx)
    assert wl.info["parameters"] == 23_508_032
    assert wl.info["data"] == "ram"
    wl.step()
    wl.step()
    assert ctx.regions == [("data_loading", "next_batch (ram)")] * 2
    x, _ = wl.batches.next()
    with torch.inference_mode():
        assert wl.model(x).shape == (2, 2048)  # features after the global average pool
    assert not wl.model.training
    wl.close()


@needs_torch
@needs_pil
def test_resnet50_torch_disk_decodes_in_loader_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROFILER_DATA_DIR", str(tmp_path))
    from scenarios.resnet50_infer.torch_impl import build

    ctx = _ctx("resnet50_infer", "infer", "disk", batch=2, image_size=32, dataset_images=4, loader_workers=2)
    wl = build(ctx)
    for _ in range(3):  # two epochs of two batches: evicted twice
        wl.step()
    wl.close()
    assert ctx.regions.count(("data_loading", "next_batch (disk)")) == 3
    assert ctx.regions.count(("region", "evict page cache")) == 2
    assert wl.info["epochs"] == 2 and wl.info["evicted_bytes"] > 0
    loader_pids = {pid for cat, _, pid in ctx.spans}
    assert loader_pids and os.getpid() not in loader_pids
    assert {n for _, n, _ in ctx.spans} == {"read", "decode"}
    assert all(c == "data_loading" for c, _, _ in ctx.spans)
    assert sum(n == "decode" for _, n, _ in ctx.spans) >= 6  # every item fetched was decoded
    assert set(ctx.processes) == loader_pids
    assert wl.info["loader_spans"] == len(ctx.spans)


@needs_torch
def test_densenet121_torch_trains() -> None:
    from scenarios.densenet121_train.torch_impl import build

    ctx = _ctx("densenet121_train", "train", "ram", batch=2, image_size=32, classes=1000)
    wl = build(ctx)
    assert wl.info["parameters"] == 7_978_856
    w0 = wl.model.classifier.weight.detach().clone()
    wl.step()
    assert wl.model.training
    assert not wl.model.classifier.weight.detach().equal(w0)  # the optimizer stepped


@pytest.mark.slow
@needs_torch
def test_fcn5_torch_sizes_and_softmax(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from scenarios.fcn5_infer.torch_impl import build, make_fcn

    ctx = _ctx("fcn5_infer", "infer", "ram", batch=3, layers=[784, 2048, 4096, 1024, 10])
    wl = build(ctx)
    assert wl.info["parameters"] == 14_205_962
    wl.step()
    net = make_fcn([6, 4, 3])
    assert [type(m).__name__ for m in net] == ["Linear", "Sigmoid", "Linear", "Softmax"]
    out = net(torch.randn(5, 6))
    assert torch.allclose(out.sum(dim=1), torch.ones(5))

    monkeypatch.setenv("PROFILER_DATA_DIR", str(tmp_path))
    ctx = _ctx("fcn5_infer", "infer", "disk", batch=2, layers=[6, 4, 3], dataset_items=4, loader_workers=1)
    wl = build(ctx)
    wl.step()
    wl.close()
    assert wl.info["dataset_items"] == 4 and wl.info["loader_spans"] >= 4


@needs_torch
def test_unknown_data_mode_fails_in_build() -> None:
    from scenarios.fcn5_infer.torch_impl import build

    with pytest.raises(ValueError, match="data mode"):
        build(_ctx("fcn5_infer", "infer", "tape", batch=2, layers=[4, 3, 2]))
