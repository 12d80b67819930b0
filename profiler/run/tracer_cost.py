"""The tracers' own cost per recorded event on this machine, measured in a fresh worker process.

``python -m profiler.run.tracer_cost [--framework torch|tensorflow|mxnet] [--quick]`` prints one JSON
object; ``profiler calibrate`` runs it once per framework and merges them. N events with and without
the tracer, differenced: torch.profiler per configuration (with ``inside_us``/``outside_us``), the
toolkit's own spans, tf.profiler (:func:`tensorflow_costs`), mx.profiler; a framework that does not
import is ``unavailable: <reason>``. :func:`paired_reps` applies the zero-median rule
(:data:`MAX_REPEAT_FACTOR`). Method, rule and figures: ``docs/breakdown.md`` ("Which step the
breakdown describes", "TensorFlow and MXNet tracer cost").
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from profiler.core.frameworks import measured_tracers, resolve


def _stats(vals: list[float]) -> dict[str, Any]:
    return {
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "n": len(vals),
    }


def _nothing(a: Any, b: Any) -> None:
    return None


def _empty_calls(x: Any, n: int, after: Any = None) -> Any:
    """``n`` calls of an empty two-argument Python function on ``x`` (then ``after()``, e.g. the
    engine drain the timed ops end with): what a loop of ``n`` framework calls costs without them."""

    def empty() -> None:
        for _ in range(n):
            _nothing(x, x)
        if after is not None:
            after()

    return empty


#: A measurement whose median cost is zero runs again, up to this many times its repetitions.
MAX_REPEAT_FACTOR = 3


def paired_reps(one: Callable[[], dict[str, Any]], reps: int, key: str = "cost") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``reps`` paired repetitions (``one()`` times bare and traced runs and returns a dict with the
    differenced ``key``), more while the median of ``key`` is zero or less, up to
    :data:`MAX_REPEAT_FACTOR` × ``reps``. Returns the repetitions and ``{"repetitions", "remeasured",
    "unresolved"}`` (``unresolved`` is a reason when the median stayed at zero, else ``None``)."""
    if reps < 1:
        raise ValueError("reps must be at least 1")
    out: list[dict[str, Any]] = []
    while len(out) < reps or (
        statistics.median(float(r[key]) for r in out) <= 0 and len(out) < MAX_REPEAT_FACTOR * reps
    ):
        out.append(one())
    med = statistics.median(float(r[key]) for r in out)
    info: dict[str, Any] = {"repetitions": len(out), "remeasured": len(out) - reps, "unresolved": None}
    if med <= 0:
        info["unresolved"] = (
            f"the median cost stayed at zero over {len(out)} paired repetitions: the bare runs were the "
            "slower ones (the machine disturbed them), so this is not a measurement of the tracer"
        )
    return out, info


def _timed(fn: Any, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        fn()
        out.append(float(time.perf_counter_ns() - t0))
    return out


def torch_costs(n: int, reps: int) -> dict[str, Any]:
    """Per-op cost of torch.profiler in each configuration (µs), or ``{"unavailable": reason}``."""
    try:
        import torch
        from torch.profiler import ProfilerActivity, profile
    except Exception as e:  # a broken install is a reason, not a crash
        return {"unavailable": f"unavailable: torch does not import ({type(e).__name__}: {e})"}
    torch.set_num_threads(1)
    x = torch.ones(1)
    xg = torch.ones(1, requires_grad=True)

    def ops() -> None:
        for _ in range(n):
            torch.add(x, x)

    def grad_ops() -> None:
        # the same op on inputs that require grad: its record also covers autograd's graph recording
        for _ in range(n):
            torch.add(xg, xg)

    empty = _empty_calls(x, n)

    ops()  # warm the dispatcher and allocator
    configs = {
        "plain": {},
        "shapes_flops": {"record_shapes": True, "with_flops": True},
        "shapes_flops_stack": {"record_shapes": True, "with_flops": True, "with_stack": True},
    }
    out: dict[str, Any] = {"framework": "torch", "version": torch.__version__, "ops_per_rep": n, "configs": {}}
    bare_runs: list[float] = []
    empty_runs: list[float] = []
    for name, kw in configs.items():

        def one(kw: dict[str, Any] = kw) -> dict[str, Any]:
            # bare and traced alternate so that load drift hits both alike
            b = _timed(ops, 1)[0]
            e = _timed(empty, 1)[0]
            with profile(activities=[ProfilerActivity.CPU], **kw) as prof:
                t = _timed(ops, 1)[0]
            recorded = [ev.cpu_time_total for ev in prof.key_averages() if ev.key == "aten::add"]
            counts = [ev.count for ev in prof.key_averages() if ev.key == "aten::add"]
            per_bare = b / n / 1e3
            cost = max(0.0, (t - b) / n / 1e3)
            dispatch = max(0.0, per_bare - e / n / 1e3)
            rec_mean = recorded[0] / counts[0] if recorded and counts and counts[0] else None
            inside = min(cost, max(0.0, rec_mean - dispatch)) if rec_mean is not None else cost
            return {"bare": b, "empty": e, "cost": cost, "inside": inside, "rec": rec_mean}

        runs, info = paired_reps(one, reps)
        bare_runs += [r["bare"] for r in runs]
        empty_runs += [r["empty"] for r in runs]
        recs = [r["rec"] for r in runs if r["rec"] is not None]
        tot = _stats([r["cost"] for r in runs])
        ins = _stats([r["inside"] for r in runs])
        out["configs"][name] = {
            "options": kw,
            "total_us": tot,
            "inside_us": ins,
            "outside_us": max(0.0, tot["median"] - ins["median"]),
            **info,
        }
        if recs:
            # a one-element op's recorded duration under the tracer: the dispatch floor of a record
            out["configs"][name]["recorded_op_us"] = _stats(recs)
        grad_recs = []
        for _ in range(max(1, reps // 2)):
            with profile(activities=[ProfilerActivity.CPU], **kw) as prof:
                grad_ops()
            ev = [e for e in prof.key_averages() if e.key == "aten::add"]
            if ev and ev[0].count:
                grad_recs.append(ev[0].cpu_time_total / ev[0].count)
        if grad_recs:
            # the floor of a forward op in training: dispatch plus autograd's graph recording
            out["configs"][name]["recorded_grad_op_us"] = _stats(grad_recs)
    out["bare_op_us"] = _stats([b / n / 1e3 for b in bare_runs])
    out["empty_call_us"] = _stats([e / n / 1e3 for e in empty_runs])
    return out


def own_span_cost(n: int, reps: int) -> dict[str, Any]:
    """Per-span cost (µs) of the toolkit's own region/step spans (time stamps + one builder append)."""
    from profiler.core.clock import now_ns
    from profiler.core.events import REGION, EventBuilder

    def spans() -> None:
        b = EventBuilder()
        for _ in range(n):
            t0 = now_ns()
            b.span(REGION, "r", t0, now_ns() - t0, 1, 0, args=None)

    def empty() -> None:
        for _ in range(n):
            pass

    def one() -> dict[str, Any]:
        s = _timed(spans, 1)[0]
        e = _timed(empty, 1)[0]
        return {"cost": max(0.0, (s - e) / n / 1e3)}

    runs, info = paired_reps(one, reps)
    st = _stats([r["cost"] for r in runs])
    # the stamps bracket the region, so about half the cost (the second stamp and the append)
    # lands after it; the first stamp's read lands inside
    return {"spans_per_rep": n, "total_us": st, "inside_us": st["median"] / 2, "outside_us": st["median"] / 2,
            **info}


def _clamped_inside(cost: float, rec_mean: float | None, dispatch: float) -> float | None:
    """The part of ``cost`` (µs) inside the recorded op span: its mean recorded duration less the op's
    bare dispatch estimate, clamped to ``[0, cost]``; ``None`` when the tracer recorded no op span."""
    if rec_mean is None:
        return None
    return min(cost, max(0.0, rec_mean - dispatch))


def _config_entry(options: dict[str, Any], total: list[float], inside: list[float | None],
                  records: list[float] | None = None, recorded: list[float] | None = None) -> dict[str, Any]:
    tot = _stats(total)
    out: dict[str, Any] = {"options": options, "total_us": tot}
    if recorded:
        # a one-element op's recorded duration under the tracer: the dispatch floor of a record
        out["recorded_op_us"] = _stats(recorded)
    ins = [v for v in inside if v is not None]
    if len(ins) == len(inside) and ins:
        out["inside_us"] = _stats(ins)
        out["outside_us"] = max(0.0, tot["median"] - out["inside_us"]["median"])
    else:
        out["inside_us"] = None
        out["outside_us"] = None
        out["inside_note"] = "the tracer recorded no op span for these calls: where the cost lands is not measured"
    if records is not None:
        out["records_per_op"] = _stats(records)
    return out


def _quiet_tensorflow_logs() -> None:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


#: The tf.function of ``n`` chained adds is called this many times per timed run (a run of a few ms
#: would drown in timer and scheduler noise).
GRAPH_CALLS = 10


def tensorflow_costs(n: int, reps: int) -> dict[str, Any]:
    """Per-op cost of tf.profiler (µs) as the TF probe runs it (``profiler/probes/tf_tracer.py``:
    host tracer level 2, Python tracer off, device tracer level 1), or ``{"unavailable": reason}``.

    Two configurations: ``function`` — ``n`` chained one-element ``AddV2`` in one ``tf.function``
    called :data:`GRAPH_CALLS` times (what the TF and Keras scenarios run; each op is one recorded op
    span), per op, ``empty_call_us`` being an empty ``tf.function``'s call per op; ``eager`` — ``n``
    eager ``tf.add`` calls, per call (TF records only runtime spans for them, no op span).
    """
    import importlib.util
    import tempfile

    if importlib.util.find_spec("tensorflow") is None:
        return {"unavailable": "unavailable: tensorflow is not installed"}
    _quiet_tensorflow_logs()
    try:
        import tensorflow as tf

        from profiler.core.events import OP
        from profiler.importers.xspace import find_xspace, load_xspace
    except Exception as e:  # a broken install is a reason, not a crash
        return {"unavailable": f"unavailable: tensorflow does not import ({type(e).__name__}: {e})"}
    # one thread each, as torch's measurement; grappler off so that the chain of adds stays n ops
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    x = tf.ones([1])

    def chain(y: Any) -> Any:
        z = y
        for _ in range(n):
            z = tf.add(z, y)
        return z

    graph = tf.function(chain, autograph=False)
    empty_graph = tf.function(lambda y: tf.identity(y), autograph=False)

    def eager() -> None:
        for _ in range(n):
            tf.add(x, x)

    empty = _empty_calls(x, n)

    def calls(fn: Any) -> Any:
        def run() -> None:
            for _ in range(GRAPH_CALLS):
                fn(x).numpy()

        return run

    # name → (timed, its empty counterpart, ops per timed run)
    configs: dict[str, tuple[Any, Any, int]] = {
        "function": (calls(graph), calls(empty_graph), n * GRAPH_CALLS),
        "eager": (eager, empty, n),
    }
    for run, run_empty, _ in configs.values():  # trace the functions, warm the runtime
        run()
        run_empty()
    opts = tf.profiler.experimental.ProfilerOptions(host_tracer_level=2, python_tracer_level=0, device_tracer_level=1)
    out: dict[str, Any] = {"framework": "tensorflow", "version": tf.__version__, "ops_per_rep": n, "configs": {}}
    with tempfile.TemporaryDirectory(prefix="profiler-tf-cost-") as tmp:
        for name, (run, run_empty, k) in configs.items():
            done = [0]

            def one(name: str = name, run: Any = run, run_empty: Any = run_empty, k: int = k,
                    done: list[int] = done) -> dict[str, Any]:
                b = _timed(run, 1)[0]
                e = _timed(run_empty, 1)[0]
                logdir = f"{tmp}/{name}-{done[0]}"
                done[0] += 1
                tf.profiler.experimental.start(logdir, options=opts)
                try:
                    t = _timed(run, 1)[0]
                finally:
                    tf.profiler.experimental.stop()
                table = load_xspace(find_xspace(logdir), pid=0, steps=False)
                rows = table.cat_mask(OP)
                n_rec = int(rows.sum())
                per_bare, per_empty = b / k / 1e3, e / k / 1e3
                cost = max(0.0, (t - b) / k / 1e3)
                rec_mean = float(table.spans["dur_ns"][rows].mean()) / 1e3 if n_rec else None
                return {"bare": per_bare, "empty": per_empty, "cost": cost, "rec": rec_mean,
                        "inside": _clamped_inside(cost, rec_mean, max(0.0, per_bare - per_empty)),
                        "records": (n_rec if n_rec else table.n_spans) / k}

            runs, info = paired_reps(one, reps)
            bares = [r["bare"] for r in runs]
            empties = [r["empty"] for r in runs]
            entry = _config_entry({"mode": name, "host_tracer_level": 2, "python_tracer_level": 0,
                                   "device_tracer_level": 1}, [r["cost"] for r in runs], [r["inside"] for r in runs],
                                  [r["records"] for r in runs], [r["rec"] for r in runs if r["rec"] is not None])
            entry.update(info)
            entry["ops_per_rep"] = k
            entry["records_counted"] = "op spans" if entry["inside_us"] is not None else "all spans (no op span)"
            entry["bare_op_us"] = _stats(bares)
            entry["empty_call_us"] = _stats(empties)
            out["configs"][name] = entry
    # the dispatch floor of the ops the scenarios run (attribution.dispatch_rule): graph-mode ops
    out["bare_op_us"] = out["configs"]["function"]["bare_op_us"]
    out["empty_call_us"] = out["configs"]["function"]["empty_call_us"]
    return out


#: How the MXNet probe configures mx.profiler (profiler/probes/mxnet_tracer.py, its default options).
MXNET_PROBE_OPTIONS = {
    "profile_symbolic": True,
    "profile_imperative": True,
    "profile_memory": True,
    "profile_api": True,
    "aggregate_stats": False,
}


def mxnet_costs(n: int, reps: int) -> dict[str, Any]:
    """Per-op cost of mx.profiler (µs) configured as the MXNet probe does, or ``{"unavailable": reason}``:
    ``n`` one-element ``mx.nd.add`` calls (imperative, drained with ``waitall``) bare vs traced; the
    op spans are read from the dumped Chrome JSON with :mod:`profiler.importers.mxnet_json`."""
    import importlib.util
    import tempfile

    if importlib.util.find_spec("mxnet") is None:
        return {"unavailable": "unavailable: mxnet is not installed"}
    try:
        from profiler.core.compat import import_mxnet

        mx = import_mxnet()
        from profiler.core.clock import epoch_offset_ns, now_ns
        from profiler.core.events import OP
        from profiler.importers.mxnet_json import parse_mxnet_trace, read_mxnet_json
    except Exception as e:  # a broken install is a reason, not a crash
        return {"unavailable": f"unavailable: mxnet does not import ({type(e).__name__}: {e})"}
    x = mx.nd.ones((1,))

    def ops() -> None:
        for _ in range(n):
            mx.nd.add(x, x)
        mx.nd.waitall()

    empty = _empty_calls(x, n, after=mx.nd.waitall)

    ops()  # warm the engine and the storage pool
    out: dict[str, Any] = {"framework": "mxnet", "version": mx.__version__, "ops_per_rep": n, "configs": {}}
    with tempfile.TemporaryDirectory(prefix="profiler-mxnet-cost-") as tmp:
        path = f"{tmp}/mxnet_profile.json"
        # accepted once per process: every repetition dumps into the same file and only the records
        # of its own window are read (as the probe does)
        mx.profiler.set_config(filename=path, **MXNET_PROBE_OPTIONS)

        def one() -> dict[str, Any]:
            b = _timed(ops, 1)[0]
            e = _timed(empty, 1)[0]
            mx.nd.waitall()
            t0 = now_ns()
            mx.profiler.set_state("run")
            try:
                t = _timed(ops, 1)[0]
            finally:
                mx.profiler.set_state("stop")
            t1 = now_ns()
            mx.profiler.dump()
            with open(path, encoding="utf-8") as f:
                doc = read_mxnet_json(f.read(), path)
            table, _ = parse_mxnet_trace(doc, pid=0, epoch_offset_ns=epoch_offset_ns(), source=path,
                                         window_ns=(t0, t1))
            rows = table.cat_mask(OP)
            n_rec = int(rows.sum())
            per_bare, per_empty = b / n / 1e3, e / n / 1e3
            cost = max(0.0, (t - b) / n / 1e3)
            rec_mean = float(table.spans["dur_ns"][rows].mean()) / 1e3 if n_rec else None
            return {"bare": per_bare, "empty": per_empty, "cost": cost, "rec": rec_mean, "records": n_rec / n,
                    "inside": _clamped_inside(cost, rec_mean, max(0.0, per_bare - per_empty))}

        runs, info = paired_reps(one, reps)
    entry = _config_entry(dict(MXNET_PROBE_OPTIONS), [r["cost"] for r in runs], [r["inside"] for r in runs],
                          [r["records"] for r in runs], [r["rec"] for r in runs if r["rec"] is not None])
    entry.update(info)
    out["configs"]["api_memory"] = entry
    out["bare_op_us"] = _stats([r["bare"] for r in runs])
    out["empty_call_us"] = _stats([r["empty"] for r in runs])
    return out


#: The frameworks measured here, each in its own fresh interpreter (``--framework NAME``): the tracers
#: whose descriptor (core/frameworks.py) names a cost measurement, in order; the first one's worker
#: also measures the toolkit's own spans.
FRAMEWORKS = tuple(t.probe for t in measured_tracers())

def load_now() -> dict[str, Any]:
    import os

    load = os.getloadavg()[0]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return {"loadavg_1min": load, "cores": cores, "busy": load > cores}


def measure(quick: bool = False, framework: str = FRAMEWORKS[0]) -> dict[str, Any]:
    """The record of one worker: one framework's tracer cost under its name, with the toolkit's own
    spans in the first framework's (torch's) worker (``calibrate`` merges them; they never share a
    process)."""
    # each repetition starts and stops a profiler session (the slow part on a busy machine)
    n = 1000 if quick else 5000
    reps = 3 if quick else 5
    t0 = time.perf_counter()
    rec: dict[str, Any] = {
        "method": "N events with and without the tracer in a fresh worker, differenced; median of reps",
    }
    tracer = next((t for t in measured_tracers() if t.probe == framework), None)
    if tracer is None or tracer.cost_measure is None:
        raise SystemExit(f"--framework must be one of {', '.join(FRAMEWORKS)}, not {framework!r}")
    rec[framework] = resolve(tracer.cost_measure)(n, reps)
    if framework == FRAMEWORKS[0]:
        rec["own_spans"] = own_span_cost(n, reps)
    rec["seconds"] = round(time.perf_counter() - t0, 2)
    rec["load"] = load_now()
    return rec


def _framework_arg(argv: list[str]) -> str:
    if "--framework" in argv:
        i = argv.index("--framework")
        return argv[i + 1] if i + 1 < len(argv) else ""
    return FRAMEWORKS[0]


if __name__ == "__main__":
    json.dump(measure("--quick" in sys.argv, _framework_arg(sys.argv)), sys.stdout)
    sys.stdout.write("\n")
