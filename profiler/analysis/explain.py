"""Why one run is faster than another: the gap split by category, ops and dispatch counts.

Works on variant records (the dicts stored in run.json), so it runs on saved runs without events
(and on traces other tools wrote, once imported as runs: ``profiler explain`` does that).
The headline gap is between the two headline step times, each the statistic its record names
(``step_ms.statistic``: the median of clean steps for our runs, the mean of the traced steps for an
imported trace). When both breakdowns are compensated (tracer cost removed, summing to the clean
medians) the split and its shares are of that clean gap; otherwise of the traced gap (the raw
traced breakdowns), and ``gap_basis`` says which; ``compares`` says it for each side. Every pair
(times, categories, op calls, dispatch counts) is given fast first, then slow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from profiler.analysis.stats import NOT_SIGNIFICANT, ratio_verdict, step_samples
from profiler.core.categories import CATEGORIES, LABELS
from profiler.core.errors import InputError


def label(v: dict[str, Any]) -> str:
    return f"{v.get('framework')}/{v.get('variant')}"


def headline(v: dict[str, Any]) -> tuple[float | None, str]:
    """A variant's headline step time and the statistic it is (``median`` unless the record names
    another one that it holds)."""
    st = v.get("step_ms") or {}
    stat = st.get("statistic") or "median"
    val = st.get(stat) if isinstance(st.get(stat), (int, float)) else None
    if val is None:
        stat, val = "median", st.get("median")
    return val, stat


def steps_kind(v: dict[str, Any]) -> str:
    """``clean`` (steps run without a tracer: our runs' headline) or ``traced`` (every step was
    traced: an imported trace, or a run whose clean steps are missing)."""
    if v.get("scenario") == "imported" or v.get("imported"):
        return "traced"
    return "clean" if v.get("traced_step_ms") or (v.get("breakdown") or {}).get("compensation") else "traced"


def describe(v: dict[str, Any]) -> str:
    """What one side's figures are, in words: its steps, the statistic, its breakdown's basis."""
    _, stat = headline(v)
    n = (v.get("step_ms") or {}).get("n_steps")
    bd = v.get("breakdown") or {}
    what = "compensated (tracer cost removed)" if bd.get("compensation") else "traced"
    return (f"{label(v)}: {stat} of {n or '?'} {steps_kind(v)} steps; breakdown {what}"
            + (f": {bd['describes']}" if bd.get("describes") else ""))


def _raw(bd: dict[str, Any]) -> dict[str, Any]:
    """The raw traced figures of a breakdown (``traced_ms``/``traced_step_ms`` where compensated)."""
    tm = bd.get("traced_ms")
    ms = {k: v or 0.0 for k, v in tm.items()} if tm else bd["ms"]
    return {**bd, "ms": ms, "step_ms": bd.get("traced_step_ms", bd["step_ms"])}


def explain(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any] | None:
    """Compare two variant records; ``None`` when either lacks step times or a breakdown."""
    if not headline(a)[0] or not headline(b)[0]:
        return None
    if not a.get("breakdown") or not b.get("breakdown"):
        return None
    fast, slow = sorted((a, b), key=lambda v: headline(v)[0])
    (f_ms, f_stat), (s_ms, s_stat) = headline(fast), headline(slow)
    fb, sb = fast["breakdown"], slow["breakdown"]
    # compensated breakdowns (analysis/compensation.py) sum to the clean medians: their deltas split
    # the clean gap printed in the sentence; raw traced ones split the traced gap
    clean = bool(fb.get("compensation") and sb.get("compensation"))
    if not clean:
        fb, sb = _raw(fb), _raw(sb)
    traced_gap = sb["step_ms"] - fb["step_ms"]
    deltas = {c: sb["ms"].get(c, 0.0) - fb["ms"].get(c, 0.0) for c in CATEGORIES}
    shares = {c: (100.0 * d / traced_gap if traced_gap else 0.0) for c, d in deltas.items()}
    main = max(deltas, key=lambda c: deltas[c])

    f_ops = {(o["name"], o["where"]): o for o in fast.get("top_ops", [])}
    s_ops = {(o["name"], o["where"]): o for o in slow.get("top_ops", [])}
    op_deltas = []
    for key in set(f_ops) | set(s_ops):
        d = (s_ops.get(key, {}).get("self_ms_per_step", 0.0)) - (
            f_ops.get(key, {}).get("self_ms_per_step", 0.0)
        )
        op_deltas.append(
            {
                "name": key[0],
                "where": key[1],
                "delta_ms": d,
                "calls_fast": f_ops.get(key, {}).get("calls_per_step", 0.0),
                "calls_slow": s_ops.get(key, {}).get("calls_per_step", 0.0),
            }
        )
    op_deltas.sort(key=lambda d: -d["delta_ms"])

    fd, sd = fast.get("dispatch") or {}, slow.get("dispatch") or {}
    ratio = s_ms / f_ms if f_ms else None
    stat = f_stat if f_stat == s_stat else f"{f_stat} vs {s_stat}"
    kinds = (steps_kind(fast), steps_kind(slow))
    steps_said = kinds[0] if kinds[0] == kinds[1] else f"{kinds[0]} vs {kinds[1]}"
    sentence = (
        f"{label(fast)} is {ratio:.2f}× faster than {label(slow)} ({f_ms:.2f} vs {s_ms:.2f} ms per step, "
        f"{stat} of {steps_said} steps)"
    )
    if traced_gap > 0:
        if shares[main] <= 100.0:
            sentence += f"; {shares[main]:.0f}% of the gap is {LABELS[main]} ({deltas[main]:+.2f} ms/step)"
        else:  # other categories went the other way: say so rather than print a share over 100 %
            offset = sorted((d, c) for c, d in deltas.items() if d < 0)
            sentence += (f"; {LABELS[main]} is {deltas[main]:+.2f} ms/step, more than the whole "
                         f"{traced_gap:.2f} ms {'clean' if clean else 'traced'} gap")
            if offset:
                sentence += f" ({LABELS[offset[0][1]]} {offset[0][0]:+.2f} ms/step the other way)"
    if fd.get("ops") and sd.get("ops"):
        sentence += f"; {fd['ops']:,.0f} vs {sd['ops']:,.0f} op dispatches per step"
    if sd.get("kernels") and fd.get("kernels"):
        sentence += f"; {fd['kernels']:,.0f} vs {sd['kernels']:,.0f} kernel launches per step"
    warnings = []
    if kinds[0] != kinds[1]:
        warnings.append(f"{label(fast)}'s steps are {kinds[0]}, {label(slow)}'s {kinds[1]}: the gap includes "
                        "what tracing cost the traced side")
    if f_stat != s_stat:
        warnings.append(f"the headlines are different statistics ({f_stat} vs {s_stat})")
    return {
        "fast": label(fast),
        "slow": label(slow),
        "fast_ms": f_ms,
        "slow_ms": s_ms,
        "statistic": stat,
        "compares": {"fast": describe(fast), "slow": describe(slow)},
        "speedup": ratio,
        "gap_ms": s_ms - f_ms,
        "traced_gap_ms": traced_gap,
        "gap_basis": "clean steps (tracer cost compensated)" if clean else "traced steps (uncompensated)",
        "category_ms": {"fast": {c: fb["ms"].get(c) for c in CATEGORIES},
                        "slow": {c: sb["ms"].get(c) for c in CATEGORIES}},
        "category_delta_ms": deltas,
        "category_share_pct": shares,
        "main_category": main,
        "top_op_deltas": op_deltas[:5],
        "dispatch": {"fast": fd, "slow": sd},
        "warnings": warnings,
        "sentence": sentence + ".",
    }


def _pick(record: dict[str, Any], spec: str | None, where: str) -> dict[str, Any]:
    ok = [
        v
        for v in record.get("variants", [])
        if v.get("status") == "ok" and headline(v)[0]
    ]
    if spec:
        m = [v for v in ok if label(v) == spec or v.get("variant") == spec]
        if not m:
            have = ", ".join(label(v) for v in ok) or "none"
            raise InputError(f"{where}: no ok variant {spec!r}; it has: {have}")
        return m[0]
    if not ok:
        raise InputError(f"{where}: no variant with step times and a breakdown")
    return min(ok, key=lambda v: headline(v)[0])


def explain_runs(
    record_a: dict[str, Any],
    record_b: dict[str, Any],
    variant_a: str | None = None,
    variant_b: str | None = None,
    names: tuple[str, str] = ("A", "B"),
) -> dict[str, Any]:
    """``profiler explain RUN_A RUN_B``: :func:`explain` on one variant of each saved run record."""
    a = dict(_pick(record_a, variant_a, names[0]))
    b = dict(_pick(record_b, variant_b, names[1]))
    if label(a) == label(b):  # the same variant in two runs: tell them apart by run
        a["variant"] = f"{a.get('variant')} ({Path(names[0]).name})"
        b["variant"] = f"{b.get('variant')} ({Path(names[1]).name})"
    e = explain(a, b)
    if e is None:
        raise InputError(f"{names[0]} vs {names[1]}: a variant lacks step times or a breakdown")
    sides = [(context(record_a, a), label(a)), (context(record_b, b), label(b))]
    if e["fast"] != label(a):  # fast first, like every other pair
        sides.reverse()
    e["warnings"] = e["warnings"] + context_warnings(sides[0][0], sides[1][0], (sides[0][1], sides[1][1]))
    return with_verdict(e, a, b)


def _gpu_names(record: dict[str, Any], v: dict[str, Any]) -> list[str]:
    imp = v.get("imported") or {}
    props = imp.get("device_properties") or []
    names = [str(p.get("name")) for p in props if isinstance(p, dict) and p.get("name")]
    if not names and v.get("device") == "cuda":
        gpus = (record.get("host") or {}).get("gpus") or []
        names = [str(g.get("name")) for g in gpus if isinstance(g, dict) and g.get("name")]
    return sorted(set(names))


def context(record: dict[str, Any], v: dict[str, Any]) -> dict[str, Any]:
    """What a variant ran on, where its record says so (``None`` where it does not): the device
    model, the world size and the framework's version."""
    dev = v.get("device")
    if dev == "cuda":
        names = _gpu_names(record, v)
        model = " + ".join(names) if names else None
    else:
        cpu = (record.get("host") or {}).get("cpu")
        model = f"CPU {cpu}" if cpu and cpu != "recorded elsewhere" else None
    dist = v.get("distributed") or {}
    di = (v.get("imported") or {}).get("distributed_info") or {}
    world = dist.get("world_size") or di.get("world_size")
    if world is None and record.get("kind") != "import":
        world = 1  # one of our runs without a distributed section: one process
    fw = v.get("framework")
    version = (record.get("versions") or {}).get(fw) or (v.get("imported") or {}).get("framework_version")
    return {"device": dev, "device_model": model, "world_size": world, "framework": fw,
            "framework_version": version}


def context_warnings(ca: dict[str, Any], cb: dict[str, Any], names: tuple[str, str]) -> list[str]:
    """One line per way the two sides ran on different things (where both records say)."""
    out = []
    skip = {"device_model"} if ca.get("device") != cb.get("device") else set()
    for key, what in (("device", "device"), ("device_model", "device model"), ("world_size", "world size"),
                      ("framework", "framework"), ("framework_version", "framework version")):
        x, y = ca.get(key), cb.get(key)
        if key not in skip and x is not None and y is not None and x != y:
            out.append(f"different {what}: {x} ({names[0]}) vs {y} ({names[1]}); the gap is not the code's alone")
    return out


def interval_name(processes: int | None) -> str:
    """What a ratio's interval is called: a CI over fresh processes (two or more a side, or not
    recorded), else the within-run interval of one process's steps, which says nothing of a rerun."""
    return "within-run 95% interval" if processes is not None and processes < 2 else "95% CI"


def with_verdict(e: dict[str, Any], a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Add the ratio's 95% CI and the verdict (``faster`` / ``no significant difference``) to an
    explanation of ``a`` vs ``b``, and say it in the sentence; a pair without step samples keeps
    ``null`` for both."""
    fast, slow = (a, b) if e["fast"] == f"{a.get('framework')}/{a.get('variant')}" else (b, a)
    sa, sb = step_samples(fast), step_samples(slow)
    _, ci, verdict = ratio_verdict(sa, sb)
    # processes on the side with fewer: under two, the interval is of one process's steps, not a rerun's
    e = dict(e, ratio_ci95=ci, verdict=verdict, ratio_ci_processes=min(len(sa), len(sb)))
    if ci is None or e.get("speedup") is None:
        return e
    what = interval_name(e["ratio_ci_processes"])
    head = f"{e['fast']} is {e['speedup']:.2f}× faster than {e['slow']}"
    if verdict == NOT_SIGNIFICANT:
        new = (f"{e['fast']} and {e['slow']} show no significant difference ({e['speedup']:.2f}×, "
               f"{what} {ci[0]:.2f}–{ci[1]:.2f}×)")
    else:
        new = f"{e['fast']} is {e['speedup']:.2f}× ({what} {ci[0]:.2f}–{ci[1]:.2f}×) faster than {e['slow']}"
    e["sentence"] = e["sentence"].replace(head, new, 1)
    return e


