"""Cost model (FLOPs and bytes from shapes), roofline classification and the per-op roofline table."""

from __future__ import annotations

import numpy as np
import pytest

from profiler.analysis.breakdown import breakdown, step_windows
from profiler.analysis.costmodel import annotate, op_cost
from profiler.analysis.roofline import (
    Ceilings,
    bound_of,
    ceilings_from_calibration,
    leaf_costed,
    make_classifier,
    roof_time_ns,
    roofline_table,
)
from profiler.core.events import OP, STEP, EventBuilder

CEIL = Ceilings(100e9, 25e9, "cpu", "test")  # balance 4 FLOP/byte


@pytest.mark.parametrize(
    ("name", "dims", "concrete", "flops", "nbytes", "family"),
    [
        (
            "aten::mm",
            [[64, 128], [128, 32]],
            None,
            2 * 64 * 128 * 32,
            4 * (64 * 128 + 128 * 32 + 64 * 32),
            "gemm",
        ),
        (
            "aten::addmm",
            [[32], [64, 128], [128, 32]],
            None,
            2 * 64 * 128 * 32 + 64 * 32,
            4 * (64 * 128 + 128 * 32 + 64 * 32 + 32),
            "gemm",
        ),
        (
            "aten::bmm",
            [[8, 16, 32], [8, 32, 4]],
            None,
            2 * 8 * 16 * 32 * 4,
            4 * (8 * 16 * 32 + 8 * 32 * 4 + 8 * 16 * 4),
            "gemm",
        ),
        (
            "aten::linear",
            [[4, 10, 32], [64, 32], [64]],
            None,
            2 * 40 * 32 * 64 + 40 * 64,
            4 * (40 * 32 + 64 * 32 + 40 * 64 + 64),
            "gemm",
        ),
        # conv 3x3, stride 1, pad 1: output 4x8x16x16
        (
            "aten::mkldnn_convolution",
            [[4, 3, 16, 16], [8, 3, 3, 3], [8], [], [], [], []],
            ["", "", "", "[1, 1]", "[1, 1]", "[1, 1]", "1"],
            2 * 4 * 8 * 256 * 3 * 9,
            4 * (4 * 3 * 256 + 8 * 27 + 4 * 8 * 256),
            "conv",
        ),
        # stride 2, no padding: 7x7 → 3x3
        (
            "aten::conv2d",
            [[1, 2, 7, 7], [4, 2, 3, 3]],
            ["", "", "", "[2, 2]", "[0, 0]", "[1, 1]", "1"],
            2 * 1 * 4 * 9 * 2 * 9,
            4 * (98 + 72 + 36),
            "conv",
        ),
        # LSTM layer: T·B = 32, weights [128,64] and [128,32], hidden 32
        (
            "aten::mkldnn_rnn_layer",
            [[8, 4, 64], [128, 64], [128, 32], [128], [128], [4, 32], [4, 32]],
            None,
            2 * 32 * 128 * 64 + 2 * 32 * 128 * 32 + 10 * 32 * 32,
            4 * (8 * 4 * 64 + 128 * 64 + 128 * 32 + 32 * 32) + 4 * 2 * (4 * 32 + 4 * 32),
            "rnn",
        ),
        ("aten::add", [[64, 512], [64, 512], []], None, 64 * 512, 4 * 3 * 64 * 512, "elementwise"),
        (
            "aten::native_batch_norm",
            [[4, 8, 16, 16], [8], [8], [8], [8]],
            None,
            5 * 8192,
            4 * (2 * 8192 + 32),
            "normalization",
        ),
        (
            "aten::max_pool2d_with_indices",
            [[4, 8, 16, 16], [], [], [], [], []],
            ["", "[2, 2]", "[2, 2]", "[0, 0]", "[1, 1]", "False"],
            2048 * 4,  # 2048 outputs of a 2x2 window each
            4 * (8192 + 2048),
            "pool",
        ),
        ("aten::_softmax", [[4, 10], [], []], None, 5 * 40, 4 * 80, "softmax"),
        ("aten::copy_", [[64, 512], [64, 512], []], None, 0, 4 * 2 * 64 * 512, "copy"),
        ("aten::embedding", [[30000, 125], [32, 50]], None, 0, 8 * 1600 + 4 * 2 * 1600 * 125, "embedding"),
    ],
)
def test_cost_model_families(name, dims, concrete, flops, nbytes, family):
    c = op_cost(name, dims, concrete)
    assert c is not None and c.family == family
    assert c.flops == pytest.approx(flops)
    assert c.bytes == pytest.approx(nbytes)


def test_cost_model_element_size_and_unknown_ops():
    assert op_cost("aten::mm", [[2, 2], [2, 2]], elem_bytes=2).bytes == 2 * 12
    assert op_cost("aten::view", [[2, 2], []]) is None
    assert op_cost("aten::empty", [[]]) is None
    assert op_cost("aten::mm", []) is None


def test_bound_and_classifier_against_balance():
    assert CEIL.balance == pytest.approx(4.0)
    assert bound_of(8e6, 1e6, CEIL) == "compute"
    assert bound_of(1e6, 1e6, CEIL) == "memory"
    assert bound_of(0, 1e6, CEIL) == "memory"
    assert bound_of(float("nan"), 1e6, CEIL) is None
    cl = make_classifier(CEIL)
    assert cl("aten::add", 4e6, 1e6) == "compute"  # intensity decides, not the name
    assert cl("aten::mm", 1e6, 1e6) == "memory_io"
    assert cl("aten::mm", float("nan"), float("nan")) is None  # falls back to the kind


def test_ceilings_from_calibration_record():
    cal = {
        "created": "x",
        "cpu": {"peak_gflops": 50.0, "peak_gbs": 10.0, "flops_from": "a", "bw_from": "b"},
        "gpu": {"unavailable": "unavailable: no GPU"},
    }
    c = ceilings_from_calibration(cal, "cpu")
    assert c.peak_flops == 50e9 and c.peak_bw == 10e9 and c.balance == 5.0
    assert ceilings_from_calibration(cal, "cuda") is None
    assert ceilings_from_calibration(None) is None


def test_roof_time_on_arrays_by_hand():
    # 100 GFLOP/s, 25 GB/s memory, 200 GB/s for working sets up to 1 MB
    roof = roof_time_ns(Ceilings(100e9, 25e9, "cpu", "test", cache_bw=200e9, cache_bytes=1e6))
    flops = np.array([1e6, 0.0, np.nan, 1e6, 0.0, 4e6, -1.0])
    nbytes = np.array([np.nan, 2e6, 5e5, 5e5, 0.0, 1e6, np.nan])
    got = roof(flops, nbytes)
    # FLOPs only: 1e6 / 100e9 s = 10 µs; 2 MB from memory: 80 µs; 0.5 MB in cache: 2.5 µs;
    # both: the larger (10 µs of FLOPs over 2.5 µs of cached bytes); nothing known: NaN;
    # 4e6 FLOPs (40 µs) over 1 MB (in cache, 5 µs); a negative cost counts as unknown
    want = [10e3, 80e3, 2.5e3, 10e3, np.nan, 40e3, np.nan]
    assert np.allclose(got, want, equal_nan=True)
    # without a cache figure every byte comes from memory
    assert np.allclose(roof_time_ns(CEIL)(np.array([0.0]), np.array([5e5])), [20e3])


def _nested_run():
    """aten::linear (wrapper) around aten::addmm (the work), then a memory-bound add; 2 steps."""
    b = EventBuilder()
    for i in range(2):
        t = i * 10_000
        b.span(STEP, f"step {i}", t, 10_000, 1, 0, args={"index": i, "traced": True})
        b.span(OP, "aten::linear", t + 100, 4000, 1, 7, shapes="[[64, 256], [512, 256], [512]]")
        b.span(OP, "aten::addmm", t + 200, 3800, 1, 7, shapes="[[512], [64, 256], [256, 512]]")
        b.span(OP, "aten::add", t + 5000, 1000, 1, 7, shapes="[[64, 512], [64, 512], []]")
    return b.build()


def test_wrappers_are_left_out_and_the_table_is_per_step():
    t, info = annotate(_nested_run())
    assert info["spans_costed"] == 6
    rows = np.flatnonzero(t.cat_mask(OP))
    leaves = {t.strings[int(t.spans["name"][r])] for r in leaf_costed(t, rows).tolist()}
    assert leaves == {"aten::addmm", "aten::add"}
    rl = roofline_table(t, 1, step_windows(t), CEIL)
    ops = {o["name"]: o for o in rl["ops"]}
    assert set(ops) == {"aten::addmm", "aten::add"}
    mm = ops["aten::addmm"]
    fl = 2 * 64 * 256 * 512 + 64 * 512
    assert mm["calls_per_step"] == 1
    assert mm["gflop_per_step"] == pytest.approx(fl / 1e9)
    assert mm["achieved_gflops"] == pytest.approx(fl / 3800e-9 / 1e9)
    assert mm["bound"] == "compute" and ops["aten::add"]["bound"] == "memory"
    assert mm["frac_peak_flops"] == pytest.approx(fl / 3800e-9 / 100e9)
    assert ops["aten::add"]["frac_attainable"] == pytest.approx(
        ops["aten::add"]["achieved_gflops"] * 1e9 / (ops["aten::add"]["intensity"] * 25e9)
    )


def test_breakdown_uses_the_roofline_classifier():
    t, _ = annotate(_nested_run())
    # an absurdly low balance makes even the add compute-bound
    low = Ceilings(1e9, 1e12, "cpu", "t")
    by_kind = breakdown(t, 1)
    by_roof = breakdown(t, 1, classifier=make_classifier(low))
    assert by_kind.ms["memory_io"] > 0
    assert by_roof.ms["memory_io"] == 0
    assert by_roof.ms["compute"] == pytest.approx(by_kind.ms["compute"] + by_kind.ms["memory_io"])
    assert abs(by_roof.residual_ms) < 1e-12


def test_no_shapes_is_not_measured():
    b = EventBuilder()
    b.span(STEP, "step 0", 0, 1000, 1, 0, args={"index": 0, "traced": True})
    b.span(OP, "aten::mm", 0, 500, 1, 7)
    t, _ = annotate(b.build())
    rl = roofline_table(t, 1, step_windows(t), CEIL)
    assert rl["ops"] == [] and "without shapes" in rl["not_measured"]


def test_kernels_get_the_costs_of_the_op_that_launched_them():
    from profiler.analysis.breakdown import step_windows as windows
    from profiler.core.events import KERNEL, RUNTIME, device_tid

    b = EventBuilder()
    b.span(STEP, "step 0", 0, 10_000, 1, 0, args={"index": 0, "traced": True})
    b.span(OP, "aten::mm", 100, 1000, 1, 7, shapes="[[256, 512], [512, 1024]]")
    b.span(RUNTIME, "cudaLaunchKernel", 200, 50, 1, 7, corr=5)
    b.span(RUNTIME, "cudaLaunchKernel", 600, 50, 1, 7, corr=6)
    b.span(KERNEL, "sgemm_part1", 1200, 2999, 1, device_tid(0, 7), corr=5)
    b.span(KERNEL, "sgemm_part2", 4200, 999, 1, device_tid(0, 7), corr=6)
    b.span(KERNEL, "orphan", 6000, 100, 1, device_tid(0, 7), corr=99)  # no launch recorded
    t, info = annotate(b.build())
    assert info["kernels_costed_from_ops"] == 2
    fl = 2 * 256 * 512 * 1024
    k = {r["name"]: r for r in t.iter_spans(t.cat_mask(KERNEL))}
    assert k["sgemm_part1"]["flops"] == pytest.approx(fl * 3000 / 4000)
    assert k["sgemm_part2"]["flops"] == pytest.approx(fl * 1000 / 4000)
    assert np.isnan(k["orphan"]["flops"])
    rl = roofline_table(t, 1, windows(t), CEIL)
    assert {o["name"] for o in rl["ops"]} == {"sgemm_part1", "sgemm_part2"}  # device rows only
    assert all(o["where"] == "device" for o in rl["ops"])
