"""The ``numba`` implementation of cudnn_lstm/cudnn_gru (scenarios/rnn/kernels_rnn.py): the workload
computes the reference model, marks its phases, says that train mode is forward only, and runs through
``profiler trace`` next to the frameworks, with the GPU variant unavailable with its reason."""

from __future__ import annotations

import json

import numpy as np
import pytest

from profiler.core.events import EventBuilder
from profiler.core.registry import builtin_scenarios
from profiler.core.scenario import WorkloadSpec
from profiler.run.worker import Context
from tests.conftest import run_cli

pytest.importorskip("numba", reason="numba is not installed (pip install 'dl-profiler[kernels]')")

TINY = {"batch": 3, "seq_len": 4, "embed": 6, "hidden": 8, "vocab": 50, "classes": 2}


def _ctx(cell: str, variant: str, mode: str = "infer") -> Context:
    spec = WorkloadSpec("cudnn_" + cell, "numba", variant, mode, "cpu", "cpu",
                        params={**TINY, "cell": cell}, threads=1, seed=4)
    return Context(spec, EventBuilder(), pid=1)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("variant", ["kernels_fused", "kernels_unfused"])
def test_workload_computes_the_reference_model(cell: str, variant: str) -> None:
    from kernels import reference as ref
    from scenarios.rnn.kernels_rnn import build

    ctx = _ctx(cell, variant)
    wl = build(ctx)
    wl.step()
    tokens = wl.batches[0]
    hs = ref.sequence(wl.weights, wl.embedding[tokens])
    want = hs[-1] @ wl.head_w.T.astype(np.float64) + wl.head_b
    assert ref.rel_error(wl.logits, want) < 1e-5
    table = ctx._b.build()
    names = {table.strings.strings[i] for i in table.spans["name"].tolist()}
    cell_op = ("fused" if variant == "kernels_fused" else "unfused") + "_cell_elementwise"
    assert {"gemm h·W_hhᵀ", cell_op, "embedding gather", "next_batch (ram)"} <= names
    info = wl.info
    assert info["elementwise_passes_per_step"] == TINY["seq_len"] * (1 if variant == "kernels_fused" else
                                                                      (12 if cell == "lstm" else 13))
    assert info["bytes_per_step"]["cell"] > 0 and "train" not in info


def test_train_mode_says_it_is_forward_only() -> None:
    from scenarios.rnn.kernels_rnn import build

    ctx = _ctx("gru", "kernels_fused", mode="train")
    wl = build(ctx)
    assert "forward only" in wl.info["train"]
    assert any("forward only" in m for m in ctx.messages)


def test_scenarios_declare_the_kernel_variants() -> None:
    for name in ("cudnn_lstm", "cudnn_gru"):
        impl = builtin_scenarios()[name].implementation("numba")
        assert impl is not None and impl.module == "scenarios.rnn.kernels_rnn"
        assert [v.name for v in impl.variants] == ["kernels_fused", "kernels_unfused", "kernels_fused_gpu",
                                                    "kernels_seq_gpu"]
        assert [v.needs_gpu for v in impl.variants] == [False, False, True, True]


@pytest.mark.slow
def test_trace_runs_our_kernels_beside_the_frameworks(tmp_path) -> None:
    p = run_cli("trace", "-s", "cudnn_gru", "-f", "numba", "--mode", "infer", "--steps", "1", "--warmup", "1",
                "--trace-steps", "1", "--threads", "1", "--out", str(tmp_path), "--json", timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    doc = json.loads(p.stdout)
    by = {v["variant"]: v for v in doc["variants"]}
    for v in ("kernels_fused", "kernels_unfused"):
        assert by[v]["status"] == "ok", by[v]
        assert by[v]["breakdown_ms"]["memory_io"] > 0 and by[v]["breakdown_ms"]["compute"] > 0
    from profiler.core.hardware import gpu_present

    for v in ("kernels_fused_gpu", "kernels_seq_gpu"):
        gpu = by[v]
        if gpu_present():
            assert gpu["status"] == "ok", gpu
        else:
            assert gpu["status"] == "unavailable" and gpu["error"].startswith("unavailable: ")
