"""MXNet (Gluon) scenarios, the in-worker ``mxnet`` probe and the numpy-alias shim.

MXNet is imported only in a child process (one for the whole module): importing it restores numpy's
removed aliases (``np.bool`` ...), which must not leak into the rest of the test session. The child
runs :func:`_checks` at tiny sizes and prints one JSON document the tests read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, have, run_cli

pytestmark = [pytest.mark.skipif(not have("mxnet"), reason="mxnet is not installed"), pytest.mark.slow]  # the framework runs in this process


# ---------------------------------------------------------------------------------------- child side
def _ctx(scenario: str, variant: str, params: dict[str, Any], mode: str, data: str = "ram") -> Any:
    from profiler.core.events import EventBuilder
    from profiler.core.scenario import WorkloadSpec
    from profiler.run.worker import Context

    spec = WorkloadSpec(scenario, "mxnet", variant, mode, "test", "cpu", params, data=data)
    return Context(spec, EventBuilder(), os.getpid())


def _checks() -> None:  # runs in the child process
    import numpy as np

    from profiler.core.compat import NUMPY_REMOVED_ALIASES, restore_numpy_aliases

    out: dict[str, Any] = {"aliases_added": restore_numpy_aliases(), "aliases_again": restore_numpy_aliases()}
    out["aliases_ok"] = all(getattr(np, k) is v for k, v in NUMPY_REMOVED_ALIASES.items())

    from profiler.core.clock import now_ns
    from profiler.probes.base import ProbeTarget
    from profiler.probes.mxnet_tracer import MxnetProbe
    from scenarios.densenet121_train import mxnet_impl as dn
    from scenarios.fcn5_infer import mxnet_impl as fcn
    from scenarios.gluon_workload import mx
    from scenarios.resnet50_infer import mxnet_impl as rn
    from scenarios.rnn import mxnet_rnn

    # FCN-5 at tiny widths: both variants compute the same function from the same seed
    fp = {"batch": 4, "layers": [32, 16, 16, 16, 8]}
    outs = {}
    for variant in ("hybridized", "imperative"):
        w = fcn.build(_ctx("fcn5_infer", variant, fp, "infer"))
        x = w.pool[0][0]
        outs[variant] = mx.nd.softmax(w.net(x)).asnumpy()
        w.step()
        w.sync()
        out[f"fcn5_{variant}_params"] = w.info["parameters"]
    out["fcn5_max_diff"] = float(np.abs(outs["hybridized"] - outs["imperative"]).max())
    out["fcn5_row_sums"] = outs["hybridized"].sum(axis=1).tolist()
    out["mxnet_info"] = w.info

    # The zoo models at 32 px, batch 1: parameter counts as built, one step each
    # batch 2: batch norm over a single 1×1 value per channel has no gradient
    w = dn.build(_ctx("densenet121_train", "hybridized", {"batch": 2, "image_size": 32}, "train"))
    before = w.net.collect_params()[next(iter(w.net.collect_params()))].data().asnumpy().copy()
    w.step()
    w.sync()
    after = w.net.collect_params()[next(iter(w.net.collect_params()))].data().asnumpy()
    out["densenet_params"] = w.info["parameters"]
    out["densenet_weights_changed"] = bool(np.abs(after - before).max() > 0)
    w = rn.build(_ctx("resnet50_infer", "imperative", {"batch": 1, "image_size": 32}, "infer"))
    w.step()
    w.sync()
    out["resnet_params"] = w.info["parameters"]
    out["resnet_out_shape"] = list(w.net(w.pool[0][0]).shape)

    # fused vs unfused RNN: same parameters, both train; the probe sees the fused RNN operator
    rp = {"batch": 4, "seq_len": 5, "embed": 8, "hidden": 6, "vocab": 50, "classes": 2, "cell": "lstm"}
    for cell in ("lstm", "gru"):
        for variant in ("fused", "unfused"):
            ctx = _ctx(f"cudnn_{cell}", variant, {**rp, "cell": cell}, "train")
            w = mxnet_rnn.build(ctx)
            w.step()
            w.sync()
            probe = MxnetProbe()
            t0 = now_ns()
            probe.start(ProbeTarget(pid=os.getpid(), run_dir=os.environ["CHECK_DIR"]))
            w.step()
            probe.stop()
            t1 = now_ns()
            table = probe.events()
            rows = list(table.iter_spans())
            out[f"rnn_{cell}_{variant}"] = {
                "params": w.info["parameters"],
                "ops": sorted({r["name"] for r in rows if r["cat"] == "op"}),
                "n_ops": sum(1 for r in rows if r["cat"] == "op"),
                "in_window": all(t0 <= r["start_ns"] and r["start_ns"] + r["dur_ns"] <= t1 for r in rows),
                "errors": probe.errors,
                "info": probe.info(),
            }

    # --data disk: a Gluon DataLoader with worker processes over 8 tiny JPEGs, batch 4 (2 per epoch)
    ctx = _ctx(
        "resnet50_infer",
        "imperative",
        {"batch": 4, "image_size": 16, "dataset_images": 8, "classes": 10, "loader_workers": 2},
        "infer",
        data="disk",
    )
    w = rn.build(ctx)
    for _ in range(5):
        w.step()
        w.sync()
    w.close()
    spans = list(ctx._b.build().iter_spans())
    out["disk"] = {
        "waits": sum(1 for s in spans if s["name"].startswith("next_batch (disk")),
        "evictions": sum(1 for s in spans if s["name"] == "evict page cache"),
        "decodes": sum(1 for s in spans if s["name"] == "decode"),
        "decode_pids": sorted({s["pid"] for s in spans if s["name"] == "decode"}),
        "own_pid": os.getpid(),
    }
    print("CHECKS " + json.dumps(out))


# --------------------------------------------------------------------------------------- test side
@pytest.fixture(scope="module")
def checks(tmp_path_factory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("mxnet")
    from profiler.probes.mxnet_tracer import UNBULK_ENV

    # engine bulking off, so the probe sees each operator of the hybridized graphs
    env = dict(
        os.environ,
        PROFILER_DATA_DIR=str(d / "datasets"),
        CHECK_DIR=str(d),
        MXNET_CPU_WORKER_NTHREADS="1",
        OMP_NUM_THREADS="1",
        **UNBULK_ENV,
    )
    r = subprocess.run(
        [sys.executable, "-c", "from tests.test_mxnet import _checks; _checks()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("CHECKS "))
    return json.loads(line[len("CHECKS ") :])


def test_numpy_aliases_restored_once(checks):
    assert checks["aliases_ok"]
    assert checks["aliases_again"] == []  # idempotent


def test_hybridized_and_imperative_compute_the_same_fcn5(checks):
    assert (
        checks["fcn5_hybridized_params"]
        == checks["fcn5_imperative_params"]
        == 32 * 16 + 16 + 2 * (16 * 16 + 16) + 16 * 8 + 8
    )
    assert checks["fcn5_max_diff"] < 1e-5
    assert checks["fcn5_row_sums"] == pytest.approx([1.0] * 4, abs=1e-5)


def test_mxnet_reports_its_thread_settings(checks):
    info = checks["mxnet_info"]
    assert info["mxnet_threads"]["MXNET_CPU_WORKER_NTHREADS"] == "1"
    assert info["mxnet_threads"]["OMP_NUM_THREADS"] == "1"
    assert info["mxnet_version"].startswith("1.")


def test_zoo_models_parameter_counts(checks):
    assert checks["densenet_params"] == 7_978_856  # DenseNet-121, 1000 classes
    assert checks["densenet_weights_changed"]
    # Gluon's resnet50_v1 bottlenecks give their 1×1 convolutions biases: +18,880 over the
    # scenario's 23,508,032 (0.08 %), recorded as built
    assert checks["resnet_params"] == 23_526_912
    assert checks["resnet_out_shape"] == [1, 2048, 1, 1]


def test_fused_and_unfused_rnn(checks):
    for cell in ("lstm", "gru"):
        fused, unfused = checks[f"rnn_{cell}_fused"], checks[f"rnn_{cell}_unfused"]
        assert fused["params"] == unfused["params"]
        for r in (fused, unfused):
            assert r["errors"] == [] and r["in_window"] and r["n_ops"] > 0
            assert r["info"]["profile_file"] == "mxnet_profile.json"
            assert r["info"]["engine_bulking"] == "off"
        assert "RNN" in fused["ops"] or "_backward_RNN" in fused["ops"]
        assert "RNN" not in unfused["ops"] and "_backward_RNN" not in unfused["ops"]
        assert unfused["n_ops"] > fused["n_ops"]


def test_disk_mode_loads_through_gluon_dataloader_workers(checks):
    d = checks["disk"]
    assert d["waits"] == 5
    assert d["evictions"] == 3  # 5 batches of 2 per epoch: epochs 1, 2, 3
    assert d["decodes"] >= 5 * 4
    assert d["decode_pids"] and d["own_pid"] not in d["decode_pids"]  # decoded in worker processes


@pytest.mark.slow
def test_trace_cudnn_lstm_in_mxnet_end_to_end(tmp_path):
    r = run_cli(
        "trace",
        "-s",
        "cudnn_gru",
        "-f",
        "mxnet",
        "--preset",
        "cpu",
        "--mode",
        "infer",
        "--warmup",
        "1",
        "--steps",
        "2",
        "--trace-steps",
        "1",
        "--out",
        str(tmp_path),
        "--json",
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    by = {v["variant"]: v for v in doc["variants"]}
    assert set(by) == {"fused", "unfused"}
    for v in by.values():
        assert v["status"] == "ok" and v["framework"] == "mxnet"
        assert abs(v["residual_pct"]) < 1.0
        assert v["breakdown_ms"]["compute"] > 0  # operators came from the mxnet probe
    rec = json.loads((Path(doc["run_dir"]) / "run.json").read_text())
    probes = [v.get("probes", {}).get("mxnet") for v in rec["variants"]]
    assert all(p and p.get("engine_bulking", "").startswith("on") for p in probes), probes
