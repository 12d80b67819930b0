"""Known answers for the compensated breakdown: a dispatch-heavy torch step whose parts are timed bare.

Each step waits ``WAIT_MS`` for input, runs one ``torch.mm`` (compute) and ``TINY`` one-element
``torch.add`` calls (pure dispatch: framework overhead). The ground truth is the same sequence timed
without any profiler in a separate interpreter, before and after the profiled run (the machine is
shared: the two are averaged). torch.profiler adds a per-record cost to each of the tiny ops, so the
raw traced framework overhead is far above the truth; the compensated one must come back to it.

Tolerances are wide enough to hold on a busy 2-core machine: a category within a factor of 2 of its
bare time (plus 1 ms), the input wait within 3 ms, the tiny adds never counted as memory I/O, and the
compensated overhead closer than the raw one to the adds' time in the profiled process's own clean
step (its clean median less the bare wait and GEMM).

A timing check can only hold where the machine lets it: when a check fails and the toolkit itself
said the machine disturbed that measurement (its warnings of steal time, other processes, two
speeds, a wide IQR: ``analysis/noise.py``), it is measured again, up to :data:`ATTEMPTS` times. A
failure without such a warning fails at once (the numbers were wrong and the tool claimed they could
be trusted); a machine that disturbed every attempt makes the check unavailable, with the warnings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")

from tests.conftest import ROOT, run_cli

WAIT_MS, N, TINY = 20.0, 384, 2000

BARE = r"""
import sys, time, statistics, json, torch
WAIT, N, TINY, THREADS = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(THREADS)
a, b, x = torch.randn(N, N), torch.randn(N, N), torch.ones(1)
wait, mm, tiny = [], [], []
for i in range(15):
    t0 = time.perf_counter_ns(); time.sleep(WAIT / 1e3)
    t1 = time.perf_counter_ns(); torch.mm(a, b)
    t2 = time.perf_counter_ns()
    for _ in range(TINY):
        torch.add(x, x)
    t3 = time.perf_counter_ns()
    if i >= 3:
        wait.append((t1 - t0) / 1e6); mm.append((t2 - t1) / 1e6); tiny.append((t3 - t2) / 1e6)
m = statistics.median
print(json.dumps({"wait_ms": m(wait), "mm_ms": m(mm), "tiny_ms": m(tiny)}))
"""

#: the program of known composition: an input wait, one GEMM and TINY one-element adds a step
_SETUP = r"""
torch.set_num_threads(1)

class SlowInput(Dataset):
    def __len__(self):
        return STEPS
    def __getitem__(self, i):
        time.sleep(WAIT / 1e3)
        return torch.zeros(1)

a, b, x = torch.randn(N, N), torch.randn(N, N), torch.ones(1)
"""

PROGRAM = r"""
import sys, time, torch
from torch.utils.data import DataLoader, Dataset
WAIT, N, TINY, STEPS = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
""" + _SETUP + r"""
for batch in DataLoader(SlowInput(), batch_size=1, num_workers=0):
    torch.mm(a, b)
    for _ in range(TINY):
        torch.add(x, x)
"""


API_PROGRAM = r"""
import json, sys, time, torch
from torch.utils.data import DataLoader, Dataset
import profiler
WAIT, N, TINY, STEPS, OUT = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
""" + _SETUP + r"""
with profiler.profile(out=OUT, probes=["torch"], warmup=1, steps=4, trace_steps=3) as prof:
    for batch in DataLoader(SlowInput(), batch_size=1, num_workers=0):
        torch.mm(a, b)
        for _ in range(TINY):
            torch.add(x, x)
        prof.step()
print(json.dumps({"run_dir": str(prof.run_dir)}))
"""


def _bare() -> dict[str, float]:
    r = subprocess.run([sys.executable, "-c", BARE, str(WAIT_MS), str(N), str(TINY), "1"],
                       capture_output=True, text=True, timeout=120, check=True)
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> dict[str, str]:
    """A calibration of this machine (ceilings and tracer costs) in a cache of the tests' own."""
    from tests.conftest import run_cli

    cache = tmp_path_factory.mktemp("cache")
    env = {"PROFILER_CACHE_DIR": str(cache)}
    r = run_cli("calibrate", "--quick", "--json", env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "configs" in json.loads(r.stdout)["tracer_costs"]["torch"], r.stdout
    return env


#: the toolkit's own words for a measurement the machine disturbed (analysis/noise.py)
MACHINE_NOISE = ("its times are unreliable", "the benchmark may be unstable", "ran at two speeds",
                 "drift by", "throttled", "the clean steps were disturbed", "ran at different speeds")
ATTEMPTS = 3
#: minor page faults per clean step from which the clean step's own fault time is a large share of it
HEAVY_CLEAN_FAULTS = 10_000
#: two processes of one workload whose clean steps differ by more than this ran on a changed machine
SAME_WORKLOAD_PCT = 15.0


def _noise(variants: list[dict]) -> list[str]:
    """What the toolkit (or, for a pair of runs of one workload, the pair itself) says disturbed them."""
    said = [w for v in variants for w in v.get("warnings") or [] if any(k in w for k in MACHINE_NOISE)]
    said += [w for v in variants if (v.get("breakdown") or {}).get("reliability", {}).get("reliable") is False
             for w in v["breakdown"]["reliability"].get("why") or ["breakdown marked unreliable"]]
    clean = [(v.get("step_ms") or {}).get("median") for v in variants if v.get("same_workload")]
    if len(clean) == 2 and all(clean) and max(clean) / min(clean) > 1 + SAME_WORKLOAD_PCT / 100:
        said.append(f"the same workload's clean step was {clean[0]:.2f} and {clean[1]:.2f} ms in two processes: "
                    "the machine ran at another speed between them")
    return said


def _known_answer(measure, check) -> None:
    """``check(*measure())``; measured again while a failed check's measurement was one the tool
    flagged as disturbed by the machine (``measure`` returns ``(variants, *rest)``)."""
    said: list[str] = []
    for _ in range(ATTEMPTS):
        got = measure()
        try:
            check(*got)
            return
        except AssertionError:
            said = _noise(got[0])
            if not said:
                raise
    pytest.skip(f"unavailable: the machine disturbed all {ATTEMPTS} measurements ({'; '.join(said[:3])})")


def _against_bare(run):
    """A ``measure`` for :func:`_known_answer`: the profiled run between two bare replays."""
    def measure():
        truth, r = _truth_around(run)
        assert r.returncode == 0, r.stderr
        return [json.loads(r.stdout)["variants"][0]], truth

    return measure


def _truth_around(run) -> tuple[dict[str, float], object]:
    before = _bare()
    out = run()
    after = _bare()
    return {k: (before[k] + after[k]) / 2 for k in before}, out


def _check(v: dict, truth: dict[str, float]) -> None:
    bd, raw = v["breakdown_ms"], v["traced_breakdown_ms"]
    note = f"compensated {bd}, raw {raw}, bare {truth}"
    assert bd["data_loading"] == pytest.approx(truth["wait_ms"], abs=3.0), note
    # the one GEMM is the compute
    assert truth["mm_ms"] / 2 - 1 <= bd["compute"] <= 2 * truth["mm_ms"] + 1, note
    # one-element adds are dispatch: framework overhead, not memory I/O
    assert (bd["memory_io"] or 0.0) < 0.5, note
    assert truth["tiny_ms"] / 2 - 1 <= bd["framework_overhead"] <= 2 * truth["tiny_ms"] + 1, note
    # The tiny adds timed without a tracer in the profiled process itself: its clean step less the
    # bare input wait and GEMM. (A bare replay in another interpreter has run the same 2,000 adds at
    # 1.3 and at 2.3 µs each on this VM within minutes: close enough for the band above, not for
    # the closer checks below.)
    tiny_here = v["step_ms"]["median"] - truth["wait_ms"] - truth["mm_ms"]
    note += f", tiny adds in the clean step {tiny_here:.2f} ms"
    # uncompensated, the tracer's cost per tiny op is all in framework overhead: visibly off
    assert abs(raw["framework_overhead"] - tiny_here) > abs(bd["framework_overhead"] - tiny_here), note
    # (by how much depends on the machine's load while it runs: raw / compensated was 1.22 in one
    # whole-suite run on this 2-core VM, the tracer's cost per op then above the calibrated one)
    assert raw["framework_overhead"] > 1.15 * bd["framework_overhead"], note


@pytest.mark.slow
def test_dispatch_heavy_scenario_matches_the_bare_replay(calibrated, tmp_path, cli) -> None:
    def run():
        return cli("trace", "-s", "synthetic", "-f", "torch", "-p", "cpu", "--repeat", "1",
                   "--probes", "torch", "--out", str(tmp_path), "--json", env=calibrated, timeout=600)

    def check(variants, truth):
        (v,) = variants
        assert (v["framework"], v["variant"]) == ("torch", "dispatch_heavy")
        assert "clean step" in v["breakdown_of"] and "data loading as measured on the clean steps" in v["breakdown_of"]
        total = sum(x for x in v["breakdown_ms"].values() if x is not None)
        assert total == pytest.approx(v["step_ms"]["median"], rel=0.01)
        _check(v, truth)

    _known_answer(_against_bare(run), check)


@pytest.mark.slow
def test_dispatch_heavy_user_program_matches_the_bare_replay(calibrated, tmp_path, cli) -> None:
    prog = tmp_path / "train.py"
    prog.write_text(PROGRAM)

    def run():
        return cli("trace", "--probes", "torch", "--warmup", "1", "--steps", "4", "--trace-steps", "3",
                   "--out", str(tmp_path), "--json", "--", sys.executable, str(prog),
                   str(WAIT_MS), str(N), str(TINY), "12", env=calibrated, timeout=600)

    def check(variants, truth):
        (v,) = variants
        assert v["traced_breakdown_ms"] is not None and v["step_ms"]["n_steps"] >= 4, v
        assert "clean step" in v["breakdown_of"], v["breakdown_of"]
        _check(v, truth)

    _known_answer(_against_bare(run), check)


@pytest.mark.slow
def test_unfused_lstm_shapes_on_and_off_give_the_same_compensated_breakdown(calibrated, tmp_path, cli) -> None:
    """record_shapes changes the tracer's cost per record (and so the traced step) a lot; with each
    configuration's own measured cost removed (per record, and the kernel time of the page faults the
    traced steps took beyond the clean step's: the two configurations make the allocator reuse memory
    differently), the two compensated breakdowns agree within 10 points of the clean step: compute,
    data loading, and memory I/O + framework overhead together. (How
    those two split needs the ops' bytes, which only recorded shapes give: without them no op can be
    found dispatch-bound, and the notes say so.)"""
    def run(*extra: str) -> dict:
        # six traced steps (not the preset's three): a mean of more steps, and enough of them that
        # one the machine stretched is found and left out
        r = cli("trace", "-s", "cudnn_lstm", "-f", "torch", "-v", "unfused", "-p", "cpu", "--repeat", "1",
                "--trace-steps", "6", "--probes", "torch", "--out", str(tmp_path), "--json", *extra,
                env=calibrated, timeout=600)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["variants"][0]

    def measure():
        on = run()
        off = run("--probe-option", "torch.record_shapes=false", "--probe-option", "torch.with_flops=false")
        for v in (on, off):  # only the tracer's configuration differs: their clean steps must agree
            v["same_workload"] = True
        return ([on, off],)

    def share(v: dict, *cats: str) -> float:
        return 100 * sum(v["breakdown_ms"][c] or 0.0 for c in cats) / v["step_ms"]["median"]

    def check(variants):
        on, off = variants
        assert "shapes_flops" in on["breakdown_of"] and "plain" in off["breakdown_of"], (on["breakdown_of"], off["breakdown_of"])
        groups = (("compute",), ("data_loading",), ("memory_io", "framework_overhead"))
        shares = {"+".join(g): (round(share(on, *g), 1), round(share(off, *g), 1)) for g in groups}
        note = (f"shares on/off {shares}; traced steps {on['traced_step_ms']} vs {off['traced_step_ms']}; clean "
                f"{on['step_ms']['median']:.2f} vs {off['step_ms']['median']:.2f} ms; {on['breakdown_of']} | "
                f"{off['breakdown_of']}; warnings {on['warnings']} | {off['warnings']}")
        if not all(abs(a - b) <= 10.0 for a, b in shares.values()):
            faults = [((v.get("step_usage") or {}).get("clean") or {}).get("minflt") or 0 for v in variants]
            if max(faults) >= HEAVY_CLEAN_FAULTS:
                # an open limitation (issue 25), said rather than hidden: when the clean step itself
                # faults in fresh memory every step, that fault time is spread by the rescale to the
                # clean step, and it lands in compute by op kind without recorded shapes but in memory
                # I/O by roofline with them
                pytest.xfail(f"clean steps fault {max(faults):,.0f} pages each (≥ {HEAVY_CLEAN_FAULTS:,}): the "
                             f"clean step's own fault time is not placed alike with and without shapes; {note[:300]}")
            raise AssertionError(note)

    _known_answer(measure, check)


def test_a_wrong_answer_without_a_noise_warning_fails_at_once() -> None:
    calls = []

    def measure():
        calls.append(1)
        return ([{"warnings": ["torch/x: tracer compensation left a residual of +40%"]}],)

    def check(variants):
        raise AssertionError("off")

    with pytest.raises(AssertionError, match="off"):
        _known_answer(measure, check)
    assert len(calls) == 1  # a residual warning is about the numbers, not the machine: no retry

    calls.clear()
    noisy = [{"warnings": ["the hypervisor stole 15% of the CPU time during torch/x: its times are unreliable"]}]
    outcomes = iter([AssertionError("off"), None])

    def check_then_pass(variants):
        calls.append(1)
        e = next(outcomes)
        if e:
            raise e

    _known_answer(lambda: (noisy,), check_then_pass)
    assert len(calls) == 2  # measured again after the machine was said to disturb it, then passed
    with pytest.raises(pytest.skip.Exception, match="unavailable: the machine disturbed all 3"):
        _known_answer(lambda: (noisy,), check)


def test_noise_is_what_the_toolkit_flags_or_a_pair_of_one_workload_shows() -> None:
    quiet = {"warnings": [], "breakdown": {"reliability": {"reliable": True, "why": []}}, "step_ms": {"median": 20.0}}
    assert _noise([quiet]) == []
    unreliable = dict(quiet, breakdown={"reliability": {"reliable": False, "why": ["other processes used 0.9 cores"]}})
    assert _noise([unreliable]) == ["other processes used 0.9 cores"]
    pair = [dict(quiet, same_workload=True), dict(quiet, same_workload=True, step_ms={"median": 25.0})]
    assert "another speed" in _noise(pair)[0]
    pair[1]["step_ms"] = {"median": 21.0}  # within 15%: the same machine
    assert _noise(pair) == []


@pytest.mark.slow
def test_dispatch_heavy_program_through_the_python_api_matches_the_bare_replay(calibrated, tmp_path) -> None:
    # the same program of known composition, profiled by profiler.profile() in its own process
    prog = tmp_path / "api_train.py"
    prog.write_text(API_PROGRAM)

    def run():
        env = {**os.environ, **calibrated, "PYTHONPATH": str(ROOT)}
        r = subprocess.run([sys.executable, str(prog), str(WAIT_MS), str(N), str(TINY), "12", str(tmp_path / "runs")],
                           capture_output=True, text=True, timeout=600, env=env, check=False)
        assert r.returncode == 0, r.stderr[-3000:]
        run_dir = json.loads(r.stdout.strip().splitlines()[-1])["run_dir"]
        doc = run_cli("report", run_dir, "--json", env=calibrated, timeout=300)  # the --json document of it
        assert doc.returncode == 0, doc.stderr[-2000:]
        return [json.loads(doc.stdout)["variants"][0]]

    def measure():
        truth, variants = _truth_around(run)
        return variants, truth

    def check(variants, truth):
        (v,) = variants
        assert v["traced_breakdown_ms"] is not None and v["step_ms"]["n_steps"] >= 4, v
        assert "clean step" in v["breakdown_of"], v["breakdown_of"]
        _check(v, truth)

    _known_answer(measure, check)


@pytest.mark.slow
def test_known_answer_beside_a_cpu_bound_process_is_within_tolerance_or_flagged(calibrated, tmp_path, cli) -> None:
    # a CPU-bound process of the test's own takes one of the two cores for the whole measurement
    # (the bare replays included: the truth is timed on the same machine): the toolkit must notice
    # it, and its breakdown is either still within the tolerances or marked unreliable, never neither
    prog = tmp_path / "train.py"
    prog.write_text(PROGRAM)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        truth, r = _truth_around(lambda: cli(
            "trace", "--probes", "torch", "--warmup", "1", "--steps", "4", "--trace-steps", "3",
            "--out", str(tmp_path), "--json", "--", sys.executable, str(prog),
            str(WAIT_MS), str(N), str(TINY), "12", env=calibrated, timeout=600))
    finally:
        hog.kill()
        hog.wait()
    assert r.returncode == 0, r.stderr
    (v,) = json.loads(r.stdout)["variants"]
    said = _noise([v])
    assert any("other processes used" in w for w in said), ("a whole core taken went unnoticed", v["warnings"])
    try:
        _check(v, truth)
    except AssertionError as e:
        rel = (v.get("breakdown") or {}).get("reliability") or {}
        assert rel.get("reliable") is False, f"outside the tolerances and not marked unreliable: {e}"
