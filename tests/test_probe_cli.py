"""The low-level probes through the CLI: doctor lists them with reasons, --require of an unavailable
probe is one line and exit code 2, and a real (tiny) trace runs with the process and py-spy probes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import needs_torch

from profiler.probes import availability_of


@pytest.mark.slow
def test_doctor_lists_every_low_level_probe(cli):
    r = cli("doctor", "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    probes = json.loads(r.stdout)["probes"]
    for n in ("nvml", "cupti", "process", "pyspy"):
        assert n in probes
        assert probes[n]["available"] or probes[n]["reason"]


@pytest.mark.slow
@pytest.mark.parametrize("probe", ["nvml", "cupti"])
def test_require_unavailable_probe_is_one_line_exit_2(cli, tmp_path, probe):
    av = availability_of(probe)
    if av.available:
        pytest.skip(f"{probe} is available here")
    r = cli(
        "trace", "-s", "cudnn_lstm", "-f", "torch", "--require", probe, "--out", str(tmp_path), timeout=120
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--require {probe}: unavailable" in lines[0]


@pytest.mark.slow
@needs_torch
@pytest.mark.skipif(not availability_of("pyspy").available, reason="py-spy cannot attach here")
def test_trace_with_process_and_pyspy_probes(cli, tmp_path):
    r = cli(
        "trace",
        "-s",
        "cudnn_lstm",
        "-f",
        "torch",
        "-v",
        "unfused",
        "--probes",
        "process,pyspy",
        "--steps",
        "3",
        "--warmup",
        "1",
        "--trace-steps",
        "1",  # the least there is (0 is refused: no step to break down)
        "--out",
        str(tmp_path),
        "--json",
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    run_dir = Path(json.loads(r.stdout)["run_dir"])
    rec = json.loads((run_dir / "run.json").read_text())
    (v,) = rec["variants"]
    assert v["probes"]["process"]["ran"] and v["probes"]["pyspy"]["ran"], v["probes"]
    assert not v["probes"]["pyspy"].get("errors"), v["probes"]["pyspy"]
    ps = v["probe_summary"]
    assert ps["process"]["peak_rss_mib"] > 10
    assert 0.0 <= ps["pyspy"]["workload_python_share"] <= 1.0
    assert (run_dir / v["worker_dir"] / "pyspy.speedscope.json").exists()
    sel = rec["probe_selection"]["torch"]
    assert sel["nvml"]["selected"] is False and sel["pyspy"]["overhead"]


def test_probe_options_parse_and_validate():
    from profiler.core.errors import InputError
    from profiler.probes.options import parse_probe_options

    assert parse_probe_options(
        ["pyspy.rate_hz=100", "pyspy.nonblocking=false", "process.busy_threshold=0.3"]
    ) == {
        "pyspy": {"rate_hz": 100, "nonblocking": False},
        "process": {"busy_threshold": 0.3},
    }
    with pytest.raises(InputError, match=r"NAME\.KEY=VALUE"):
        parse_probe_options(["pyspy"])
    with pytest.raises(InputError, match="unknown probe 'nope'"):
        parse_probe_options(["nope.x=1"])
    with pytest.raises(InputError, match="rate_hz must be positive"):
        parse_probe_options(["nvml.rate_hz=0"])


@pytest.mark.slow
def test_bad_probe_option_is_one_line_exit_2(cli, tmp_path):
    r = cli(
        "trace", "-s", "cudnn_lstm", "--probe-option", "pyspy.rate_hz=-5", "--out", str(tmp_path), timeout=120
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "rate_hz" in r.stderr
