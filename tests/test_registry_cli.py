"""Scenario discovery without frameworks, user scenario files, and the CLI's handling of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from profiler.core.errors import InputError
from profiler.core.registry import builtin_scenarios, resolve

FRAMEWORK_MODULES = ("torch", "tensorflow", "mxnet", "chainer", "keras", "jax")


@pytest.mark.slow
def test_listing_and_reporting_import_no_framework():
    code = textwrap.dedent(f"""
        import sys
        from profiler.core.registry import builtin_scenarios
        import profiler.cli.main, profiler.run.execute, profiler.report.run  # noqa: F401
        from profiler.analysis import breakdown  # noqa: F401
        from profiler.export import chrome  # noqa: F401
        assert builtin_scenarios()
        loaded = [m for m in {FRAMEWORK_MODULES!r} if m in sys.modules]
        print(",".join(loaded))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_builtin_rnn_scenarios_declared():
    sc = builtin_scenarios()
    assert {"cudnn_lstm", "cudnn_gru"} <= set(sc)
    lstm = sc["cudnn_lstm"]
    torch_impl = lstm.implementation("torch")
    assert {"fused", "unfused", "unfused_layernorm"} <= {v.name for v in torch_impl.variants}
    seed = lstm.presets["seed"]
    assert (seed["embed"], seed["hidden"], seed["seq_len"], seed["batch"], seed["vocab"]) == (125, 100, 150, 64, 30000)
    assert lstm.modes == ("train", "infer")


def test_unknown_scenario_names_closest_first():
    with pytest.raises(InputError) as e:
        resolve("cudnn_lstn")
    assert str(e.value).startswith("unknown scenario 'cudnn_lstn'; valid: cudnn_lstm")


def test_user_scenario_file_is_described_in_a_worker(tmp_path):
    f = tmp_path / "mine.py"
    f.write_text(textwrap.dedent("""
        import os
        from profiler.core.scenario import Implementation, Scenario, Variant
        # would be visible if the parent executed this file
        open(os.path.join(os.path.dirname(__file__), "executed-by-" + str(os.getpid())), "w").close()
        SCENARIO = Scenario(name="mine", summary="sleep", presets={"cpu": {"batch": 1}},
                            implementations=(Implementation("torch", (Variant("a", "A"),)),))
        def build(ctx):
            class W:
                def step(self):
                    pass
            return W()
    """))
    import os

    sc = resolve(str(f))
    assert sc.name == "mine" and sc.source == str(f.resolve())
    assert not (tmp_path / f"executed-by-{os.getpid()}").exists()


@pytest.mark.slow
def test_cli_bad_inputs_one_line_exit_2(cli, tmp_path):
    cases = [
        (["trace", "--scenario", "nope"], "unknown scenario 'nope'"),
        (["trace", "-s", "cudnn_lstm", "-f", "pytorch"], "unknown framework 'pytorch'; valid: torch"),
        (["trace", "-s", "cudnn_lstm", "-v", "fusd"], "unknown variant 'fusd'; valid: fused"),
        (["trace", "-s", "cudnn_lstm", "--preset", "big"], "unknown preset 'big'"),
        (["trace", "-s", "cudnn_lstm", "--mode", "eval"], "unknown mode 'eval'"),
        (["trace", "-s", "cudnn_lstm", "--steps", "0"], "--steps must be a positive integer"),
        (["trace", "-s", "cudnn_lstm", "--out", "/proc/forbidden"], "--out /proc/forbidden: cannot write"),
        (["trace", "-s", str(tmp_path / "missing.py")], "no such file"),
        (["report", str(tmp_path)], "not a run directory"),
        (["report", str(tmp_path / "nothing")], "no such run directory"),
        (["trace", "--bogus"], "No such option"),
    ]
    for args, expected in cases:
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, (args, r.stderr)
        assert expected in lines[0], (args, lines[0])
        assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_report_rejects_other_schema_versions(cli, tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    (d / "run.json").write_text(json.dumps({"schema": "profiler/99", "variants": []}))
    r = cli("report", str(d))
    assert r.returncode == 2 and "newer than this profiler reads" in r.stderr
    (d / "run.json").write_text("{ truncated")
    r = cli("report", str(d))
    assert r.returncode == 2 and "corrupted run record" in r.stderr


@pytest.mark.slow
def test_list_json_shows_availability_and_seed_rows(cli):
    r = cli("list", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    rows = {(x["scenario"], x["framework"], x["variant"]) for x in doc["scenarios"]}
    assert ("cudnn_lstm", "torch", "fused") in rows
    assert {o["framework"] for o in doc["frameworks_without_builds"]} == {"cntk", "caffe"}
    assert all(o["reason"] for o in doc["frameworks_without_builds"])


@pytest.mark.slow
def test_probe_availability_and_doctor_import_no_framework():
    code = (
        "import sys\n"
        "from profiler.probes import PROBES, availability_of\n"
        "[availability_of(n) for n in PROBES]\n"
        f"print(','.join(m for m in {FRAMEWORK_MODULES!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
