"""``profiler calibrate``: this machine's ceilings for the roofline, measured and cached.

:func:`measure_and_cache` measures CPU bandwidth (the four STREAM kernels) and peak FLOP/s (a large
GEMM and an FMA kernel; the toolkit's ``kernels.stream`` where it imports, numpy otherwise), the GPU
through CuPy or numba.cuda, and the tracers' cost (:mod:`profiler.run.tracer_cost`, in fresh
workers); each figure is the best of several repetitions, cached per machine. Its own noise
(:func:`corroborated`, :func:`noise_report`; :data:`NOISE_PCT`, :data:`MAX_ROUNDS`,
:data:`DRIFT_PCT`) marks a measurement disturbed, never cached over a good one. Methods:
``docs/breakdown.md`` ("Roofline attribution"); noise rules and the cache: ``docs/cli.md``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from profiler.core.calibration import CALIBRATION_VERSION, machine_key
from profiler.core.frameworks import measured_tracers


def _best(fn: Any, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def stream_cpu_best(n: int, reps: int) -> tuple[dict[str, float], str]:
    """STREAM GB/s and how they were measured: the toolkit's numba kernels (one fused pass per
    kernel, all cores) when ``kernels.stream`` imports, else numpy (:func:`stream_cpu`)."""
    try:
        from kernels.stream import run_stream

        return run_stream(8 * n, reps), "kernels.stream (numba, all cores)"
    except ImportError:
        return stream_cpu(n, reps), "numpy (triad in two passes: understated)"


#: elements per array of the cache-resident STREAM (float64: 512 KiB each, 1.5 MiB in all)
CACHE_STREAM_ELEMENTS = 1 << 16


def stream_cpu(n: int, reps: int) -> dict[str, float]:
    """GB/s of STREAM copy/scale/add/triad over float64 arrays of ``n`` elements, through numpy."""
    a = np.full(n, 1.0)
    b = np.full(n, 2.0)
    c = np.zeros(n)
    q = 3.0
    e = 8 * n

    def triad() -> None:
        np.multiply(c, q, out=a)
        np.add(a, b, out=a)

    times = {
        "copy": (_best(lambda: np.copyto(c, a), reps), 2 * e),
        "scale": (_best(lambda: np.multiply(c, q, out=b), reps), 2 * e),
        "add": (_best(lambda: np.add(a, b, out=c), reps), 3 * e),
        "triad": (_best(triad, reps), 3 * e),
    }
    return {k: nbytes / t / 1e9 for k, (t, nbytes) in times.items()}


def sgemm_cpu(n: int, reps: int) -> float:
    """GFLOP/s of an ``n``×``n`` float32 matrix product through numpy's BLAS."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    np.matmul(a, b, out=c)  # first call: BLAS thread pool start-up
    return 2.0 * n**3 / _best(lambda: np.matmul(a, b, out=c), reps) / 1e9


def fma_cpu(reps: int) -> tuple[float | None, str]:
    """GFLOP/s of a register-resident float32 FMA kernel; ``(None, reason)`` when none can run."""
    try:
        # the toolkit's own kernel (numba, independent accumulators per thread); kernels/ ships with
        # the toolkit, so an ImportError here means numba itself is missing
        from kernels.stream import run_fma
    except ImportError:
        return None, "unavailable: numba is not installed (pip install 'dl-profiler[kernels]')"
    r = run_fma(n_iter=2_000_000 if reps > 2 else 200_000, repeats=max(2, reps))
    return float(r["gflops"]), f"kernels.stream.run_fma ({r['threads']} threads, {r['dtype']})"


def gpu_ceilings(quick: bool) -> dict[str, Any]:
    """STREAM copy/triad and SGEMM through CuPy on GPU 0; ``{"unavailable": reason}`` otherwise."""
    from profiler.core.hardware import gpus

    g, reason = gpus()
    if not g:
        return {"unavailable": f"unavailable: no NVIDIA GPU ({reason})"}
    try:
        import cupy as cp
    except ImportError:
        return _gpu_numba(quick)
    try:
        n = (1 << 26) if not quick else (1 << 24)
        a = cp.full(n, 1.0, dtype=cp.float32)
        b = cp.full(n, 2.0, dtype=cp.float32)
        c = cp.zeros(n, dtype=cp.float32)
        triad = cp.ElementwiseKernel("float32 b, float32 c, float32 q", "float32 a", "a = b + q * c", "triad")

        def timed(fn: Any, reps: int = 5) -> float:
            start, stop = cp.cuda.Event(), cp.cuda.Event()
            fn()
            best = float("inf")
            for _ in range(reps):
                start.record()
                fn()
                stop.record()
                stop.synchronize()
                best = min(best, cp.cuda.get_elapsed_time(start, stop) / 1e3)
            return best

        e = 4 * n
        copy_gbs = 2 * e / timed(lambda: cp.copyto(c, a)) / 1e9
        triad_gbs = 3 * e / timed(lambda: triad(b, c, cp.float32(3.0), a)) / 1e9
        m = 4096 if not quick else 2048
        x = cp.random.standard_normal((m, m), dtype=cp.float32)
        y = cp.random.standard_normal((m, m), dtype=cp.float32)
        sgemm = 2.0 * m**3 / timed(lambda: cp.matmul(x, y)) / 1e9
        return {
            "device": g[0]["name"],
            "stream_gbs": {"copy": copy_gbs, "triad": triad_gbs},
            "sgemm_gflops": sgemm,
            "peak_gflops": sgemm,
            "peak_gbs": max(copy_gbs, triad_gbs),
            "flops_from": "cupy sgemm",
            "bw_from": "cupy stream " + ("copy" if copy_gbs >= triad_gbs else "triad"),
        }
    except Exception as ex:  # a broken CUDA install is a reason, not a crash
        return {"unavailable": f"unavailable: CuPy failed ({type(ex).__name__}: {ex})"}


def _gpu_numba(quick: bool) -> dict[str, Any]:
    """The GPU ceilings through the toolkit's numba.cuda kernels when CuPy is missing."""
    try:
        from kernels.stream import run_fma_gpu, run_stream_gpu
    except ImportError:
        return {
            "unavailable": "unavailable: CuPy is not installed (pip install cupy-cuda12x) and the "
            "toolkit's numba.cuda kernels (kernels.stream) are not importable"
        }
    try:
        stream = run_stream_gpu(n_bytes=(256 << 20) if quick else (1 << 30))
        fma = run_fma_gpu()
    except Exception as ex:  # no driver, no device: a reason, not a crash
        return {"unavailable": f"unavailable: numba.cuda failed ({type(ex).__name__}: {ex})"}
    best = max(stream, key=lambda k: stream[k])
    return {
        "stream_gbs": stream,
        "fma_gflops": fma["gflops"],
        "peak_gflops": fma["gflops"],
        "peak_gbs": stream[best],
        "flops_from": "kernels.stream.run_fma_gpu (numba.cuda)",
        "bw_from": f"kernels.stream.run_stream_gpu {best}",
    }


def page_fault_cpu(n_bytes: int, reps: int, threads: int = 1) -> dict[str, Any]:
    """Wall microseconds per minor page fault: writing every byte of a fresh anonymous mapping (each
    page's first write faults it in: the kernel zeroes and maps it) minus writing it again once
    resident, over the faults the kernel counted. ``threads`` threads write disjoint parts at once
    (numpy's fill releases the GIL), as a framework's large ops touch a fresh buffer from their
    intra-op threads. Small pages (``MADV_NOHUGEPAGE``), as allocations get by default. Median and
    spread of ``reps`` mappings."""
    import mmap
    import statistics
    import threading

    from profiler.core.usage import usage_now

    def write(parts: list[np.ndarray], value: int) -> None:
        if len(parts) == 1:
            parts[0].fill(value)
            return
        ts = [threading.Thread(target=p.fill, args=(value,)) for p in parts]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    per: list[float] = []
    for _ in range(reps):
        m = mmap.mmap(-1, n_bytes)
        try:
            if hasattr(m, "madvise") and hasattr(mmap, "MADV_NOHUGEPAGE"):
                m.madvise(mmap.MADV_NOHUGEPAGE)
            parts = np.array_split(np.frombuffer(m, dtype=np.uint8), max(1, threads))
            u0 = usage_now()
            t0 = time.perf_counter()
            write(parts, 1)
            t1 = time.perf_counter()
            u1 = usage_now()
            write(parts, 2)
            t2 = time.perf_counter()
            del parts
        finally:
            m.close()
        faults = (u1[0] - u0[0]) if u0 and u1 else 0
        if faults > 0:
            per.append(max(0.0, (t1 - t0) - (t2 - t1)) / faults * 1e6)
    if not per:
        return {"unavailable": "no page faults counted (getrusage unavailable)"}
    return {
        "median": statistics.median(per),
        "min": min(per),
        "max": max(per),
        "n": len(per),
        "bytes": n_bytes,
        "threads": max(1, threads),
        "how": f"first write to a fresh anonymous mapping minus a second write, per counted fault, "
        f"{max(1, threads)} thread(s)",
    }


def page_faults(quick: bool) -> dict[str, Any]:
    """The cost of a minor page fault on all usable cores (what the compensation uses: the buffers
    that fault are large, and a framework's large ops run on its intra-op threads) and on one."""
    from profiler.core.hardware import usable_cores

    n, reps = ((32 << 20), 3) if quick else ((128 << 20), 7)
    rec = page_fault_cpu(n, reps, threads=usable_cores())
    rec["one_thread"] = page_fault_cpu(n, reps, threads=1)
    return rec


def _tracer_cost_worker(framework: str, quick: bool, timeout_s: float) -> dict[str, Any]:
    """One fresh ``python -m profiler.run.tracer_cost --framework NAME`` and its JSON record; a worker
    that fails or times out gives ``{"unavailable": reason}``."""
    import json
    import subprocess
    import sys

    from profiler.core import lifeline

    cmd = [sys.executable, "-m", "profiler.run.tracer_cost", "--framework", framework] + (["--quick"] if quick else [])
    try:  # its own group, dies with us whatever kills us, stopped with its group on a timeout
        p = lifeline.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"unavailable": f"unavailable: the {framework} tracer-cost worker timed out after {timeout_s:g} s"}
    except OSError as e:
        return {"unavailable": f"unavailable: the {framework} tracer-cost worker did not start ({e})"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        err = (p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1]
        return {"unavailable": f"unavailable: the {framework} tracer-cost worker failed ({err})"}
    try:
        rec = json.loads(lines[-1])
    except ValueError as e:
        return {"unavailable": f"unavailable: the {framework} tracer-cost worker wrote no record ({e})"}
    return rec if isinstance(rec, dict) else {"unavailable": f"unavailable: the {framework} worker wrote {rec!r}"}


def tracer_costs(quick: bool, timeout_s: float = 180.0) -> dict[str, Any]:
    """The tracers' per-record cost (:mod:`profiler.run.tracer_cost`), one fresh worker per framework
    whose descriptor names a cost measurement (torch with the toolkit's own spans, then TensorFlow,
    then MXNet: they never share a process and never run at the same time), merged into one record."""
    first, *others = (t.probe for t in measured_tracers())
    rec = _tracer_cost_worker(first, quick, timeout_s)
    if "unavailable" in rec:  # the first worker also measures the own spans: both say why not
        why = rec["unavailable"]
        rec = {first: {"unavailable": why}, "own_spans": {"unavailable": why}}
    loads = [rec.get("load") or {}]
    seconds = float(rec.get("seconds") or 0.0)
    for fw in others:
        sub = _tracer_cost_worker(fw, quick, timeout_s)
        rec[fw] = sub.get(fw) if isinstance(sub.get(fw), dict) else {"unavailable": sub.get("unavailable")
                                                                     or f"unavailable: no {fw} record"}
        if sub.get("load"):
            rec[fw]["load"] = sub["load"]
            loads.append(sub["load"])
        seconds += float(sub.get("seconds") or 0.0)
    rec["seconds"] = round(seconds, 2)
    busiest = max((ld for ld in loads if ld), key=lambda ld: ld.get("loadavg_1min", 0.0), default={})
    if busiest:
        rec["load"] = {**busiest, "busy": any(ld.get("busy") for ld in loads)}
    return rec


#: Two rounds within this many percent of each other corroborate a ceiling.
NOISE_PCT = 10.0
#: At most this many rounds of the CPU ceilings (two, and a third when they disagree).
MAX_ROUNDS = 3
#: A figure that moved by more than this against the cached calibration is reported.
DRIFT_PCT = 20.0
#: The figures a round returns that are checked against each other (higher is better).
CHECKED = ("sgemm_gflops", "peak_gbs", "cache_gbs", "fma_gflops")
LABELS = {
    "sgemm_gflops": ("SGEMM", "GFLOP/s"),
    "peak_gbs": ("STREAM", "GB/s"),
    "cache_gbs": ("in-cache STREAM", "GB/s"),
    "fma_gflops": ("FMA", "GFLOP/s"),
    "peak_gflops": ("peak", "GFLOP/s"),
}


def _gap_pct(values: list[float]) -> float:
    """How far the second-best value is below the best, in percent of the best (0 for one value)."""
    v = sorted(values, reverse=True)
    if len(v) < 2 or v[0] <= 0:
        return 0.0
    return 100.0 * (v[0] - v[1]) / v[0]


def corroborated(measure: Any, tol_pct: float = NOISE_PCT, max_rounds: int = MAX_ROUNDS,
                 keys: tuple[str, ...] = CHECKED) -> dict[str, Any]:
    """Rounds of ``measure()`` (a dict of figures, higher is better) until every figure in ``keys``
    is corroborated — its second-best round within ``tol_pct`` of its best — or ``max_rounds`` ran.

    Returns ``{"rounds": [...], "gap_pct": {figure: %}, "uncorroborated": [figure, ...]}``; a figure
    that is ``None`` in a round (not measurable here) is not checked.
    """
    rounds: list[dict[str, Any]] = []
    gaps: dict[str, float] = {}
    while True:
        rounds.append(measure())
        if len(rounds) < 2:
            continue
        gaps = {}
        for k in keys:
            vals = [float(r[k]) for r in rounds if r.get(k) is not None]
            if len(vals) >= 2:
                gaps[k] = _gap_pct(vals)
        if all(g <= tol_pct for g in gaps.values()) or len(rounds) >= max_rounds:
            break
    return {"rounds": rounds, "gap_pct": gaps, "uncorroborated": [k for k, g in gaps.items() if g > tol_pct]}


def _cpu_round(quick: bool) -> dict[str, Any]:
    """One round of the CPU ceilings, each the best of its repetitions."""
    n = (1 << 22) if quick else (1 << 24)  # 32 MiB / 128 MiB per array: beyond any L3 here
    reps = 3 if quick else 7
    stream, stream_how = stream_cpu_best(n, reps)
    # the bandwidth of a working set that stays in the per-core cache (three 512 KiB arrays: the
    # small ops of an RNN step): the roofline time of ops that small (analysis.roofline.roof_time_ns)
    cache = stream_cpu(CACHE_STREAM_ELEMENTS, 20 if quick else 50)
    gemm_n = 512 if quick else 2048
    sgemm = sgemm_cpu(gemm_n, 3 if quick else 5)
    fma, fma_how = fma_cpu(2 if quick else 5)
    return {
        "stream_gbs": stream, "stream_kernel": stream_how, "stream_elements": n,
        "peak_gbs": max(stream.values()), "cache_gbs": max(cache.values()),
        "sgemm_gflops": sgemm, "sgemm_n": gemm_n, "fma_gflops": fma, "fma_kernel": fma_how,
    }


def _tracer_unresolved(tc: dict[str, Any]) -> list[str]:
    """The tracer-cost entries whose median stayed at zero (the zero-median rule), as phrases."""
    out = []
    for fw in (t.probe for t in measured_tracers()):
        for name, cfg in ((tc.get(fw) or {}).get("configs") or {}).items():
            if isinstance(cfg, dict) and cfg.get("unresolved"):
                out.append(f"{fw} tracer cost ({name}): {cfg['unresolved']}")
    own = tc.get("own_spans") or {}
    if own.get("unresolved"):
        out.append(f"own span cost: {own['unresolved']}")
    return out


def _tracer_medians(tc: dict[str, Any]) -> dict[str, float]:
    out = {}
    for fw in (t.probe for t in measured_tracers()):
        for name, cfg in ((tc.get(fw) or {}).get("configs") or {}).items():
            if isinstance(cfg, dict) and isinstance(cfg.get("total_us"), dict):
                out[f"{fw} tracer ({name})"] = float(cfg["total_us"]["median"])
    own = (tc.get("own_spans") or {}).get("total_us")
    if isinstance(own, dict):
        out["own spans"] = float(own["median"])
    return out


def noise_report(rec: dict[str, Any], previous: dict[str, Any] | None = None,
                 drift_pct: float = DRIFT_PCT, tol_pct: float = NOISE_PCT) -> dict[str, Any]:
    """Whether a calibration record was disturbed, and what moved against ``previous`` (the cached one).

    ``{"disturbed": bool, "reasons": [...], "warnings": [...], "drift": {figure: [old, new, %]}}``:
    disturbed when a CPU ceiling was not corroborated by a second round (``rec["cpu"]["rounds"]``),
    when a tracer cost's median stayed at zero, or when a ceiling fell by more than ``drift_pct``
    against ``previous`` while the machine was loaded (more runnable processes than cores). Every
    move beyond ``drift_pct`` is a warning, with both figures; a tracer cost that doubled or halved too.
    """
    cpu = rec.get("cpu") or {}
    rounds = cpu.get("rounds") or {}
    reasons: list[str] = []
    warnings: list[str] = []
    for k in rounds.get("uncorroborated") or []:
        name, unit = LABELS.get(k, (k, ""))
        vals = ", ".join(f"{float(r[k]):.1f}" for r in rounds.get("values", []) if r.get(k) is not None)
        reasons.append(f"{name} did not repeat: rounds gave {vals} {unit} (the best two more than "
                       f"{tol_pct:g}% apart)")
    reasons += _tracer_unresolved(rec.get("tracer_costs") or {})
    loaded = bool((cpu.get("load") or {}).get("busy"))
    drift: dict[str, list[float]] = {}
    # a quick calibration (small arrays) is not compared with a full one, nor the other way round
    same_kind = previous is not None and bool(previous.get("quick")) == bool(rec.get("quick"))
    pc = ((previous or {}).get("cpu") or {}) if same_kind else {}
    for k in ("sgemm_gflops", "peak_gbs", "cache_gbs", "fma_gflops"):
        old, new = pc.get(k), cpu.get(k)
        if not old or new is None:
            continue
        d = 100.0 * (float(new) - float(old)) / float(old)
        if abs(d) > drift_pct:
            name, unit = LABELS[k]
            drift[k] = [float(old), float(new), d]
            warnings.append(f"{name} {float(old):.1f} → {float(new):.1f} {unit} ({d:+.0f}%) against the cached "
                            f"calibration of {previous.get('created')}")
            if d < 0 and loaded:
                reasons.append(f"{name} fell {-d:.0f}% against the cached calibration while the machine was loaded "
                               f"(1-min load {cpu['load'].get('loadavg_1min', 0):.1f} on {cpu['load'].get('cores')} cores)")
    po = _tracer_medians((previous or {}).get("tracer_costs") or {}) if same_kind else {}
    for k, new in _tracer_medians(rec.get("tracer_costs") or {}).items():
        old = po.get(k)
        if old and new > 0 and (new / old >= 2.0 or new / old <= 0.5):
            warnings.append(f"{k} {old:.2f} → {new:.2f} µs per record against the cached calibration")
    if loaded and not reasons:
        warnings.append("the machine was loaded while the CPU ceilings were measured (more runnable processes "
                        "than cores); the rounds agreed, so they are kept")
    return {"disturbed": bool(reasons), "reasons": reasons, "warnings": warnings, "drift": drift}


def measure_and_cache(quick: bool, previous: dict[str, Any] | None, measure: Any = None,
                      save: Any = None) -> dict[str, Any]:
    """Measure (``measure(quick)``, :func:`calibrate` by default), check the noise against
    ``previous`` (the cached record, or ``None``) and cache unless disturbed.

    Returns the record with ``noise`` (:func:`noise_report`) and ``cache``: ``{"saved": bool,
    "note": str}``. A disturbed measurement never replaces a cached one that was not itself
    disturbed; with nothing (or only a provisional one) cached it is saved as provisional.
    """
    if save is None:
        from profiler.core.calibration import save
    rec = (measure or calibrate)(quick)
    noise = noise_report(rec, previous)
    rec["noise"] = noise
    prev_ok = previous is not None and not (previous.get("noise") or {}).get("disturbed")
    if not noise["disturbed"]:
        save(rec)
        rec["cache"] = {"saved": True, "note": "cached"}
    elif prev_ok:
        rec["cache"] = {"saved": False, "note": "not cached: the measurement was disturbed ("
                        + "; ".join(noise["reasons"]) + f"); the cached calibration of {previous.get('created')} "
                        "stays in use — run `profiler calibrate --force` again on a quieter machine"}
    else:
        save(rec)
        rec["cache"] = {"saved": True, "note": "cached as provisional: the measurement was disturbed ("
                        + "; ".join(noise["reasons"]) + "); `profiler calibrate --force` measures again"}
    return rec


def calibrate(quick: bool = False, cpu_round: Any = None) -> dict[str, Any]:
    """Measure the ceilings now (seconds; ``quick`` for tests) and return the record (not cached).

    The CPU ceilings are :func:`corroborated` rounds of ``cpu_round(quick)`` (:func:`_cpu_round`);
    each figure is its best over the rounds, and ``cpu.rounds`` keeps every round's figures and how
    far apart the best two were.
    """
    from profiler.core.hardware import host_info
    from profiler.run.tracer_cost import load_now

    t0 = time.perf_counter()
    load0 = load_now()  # before the rounds: they load every core themselves
    checked = corroborated(lambda: (cpu_round or _cpu_round)(quick))
    rs = checked["rounds"]
    stream = {k: max(float(r["stream_gbs"][k]) for r in rs) for k in rs[0]["stream_gbs"]}
    stream_how = rs[0]["stream_kernel"]
    n = rs[0]["stream_elements"]
    cache_gbs = max(float(r["cache_gbs"]) for r in rs)
    gemm_n = rs[0]["sgemm_n"]
    sgemm = max(float(r["sgemm_gflops"]) for r in rs)
    fmas = [float(r["fma_gflops"]) for r in rs if r.get("fma_gflops") is not None]
    fma = max(fmas) if fmas else None
    fma_how = rs[0]["fma_kernel"]
    faults = page_faults(quick)
    best_bw = max(stream, key=lambda k: stream[k])
    flops_from = "fma kernel" if (fma or 0) > sgemm else f"numpy sgemm n={gemm_n}"
    host = host_info()
    rec = {
        "version": CALIBRATION_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_key(),
        "host": {k: host[k] for k in ("hostname", "cpu", "cores")},
        "quick": quick,
        "cpu": {
            "stream_gbs": stream,
            "stream_elements": n,
            "stream_kernel": stream_how,
            "sgemm_gflops": sgemm,
            "sgemm_n": gemm_n,
            "fma_gflops": fma,
            "fma_kernel": fma_how,
            "peak_gflops": max(sgemm, fma or 0.0),
            "peak_gbs": stream[best_bw],
            "cache_gbs": cache_gbs,
            "cache_bytes": 3 * 8 * CACHE_STREAM_ELEMENTS,
            "cache_from": "numpy stream on three 512 KiB float64 arrays, one thread (best kernel)",
            "flops_from": flops_from,
            "bw_from": f"stream {best_bw}",
            "threads": "BLAS/numba default (all usable cores)",
            "page_fault_us": faults,
            "rounds": {
                "values": [{k: r.get(k) for k in CHECKED} for r in rs],
                "gap_pct": checked["gap_pct"],
                "uncorroborated": checked["uncorroborated"],
                "rule": f"best of {len(rs)} round(s); a ceiling is corroborated when a second round comes "
                        f"within {NOISE_PCT:g}% of the best (at most {MAX_ROUNDS} rounds)",
            },
            "load": load0,
        },
        "gpu": gpu_ceilings(quick),
        "tracer_costs": tracer_costs(quick),
    }
    rec["seconds"] = round(time.perf_counter() - t0, 2)
    return rec
