"""Checks a Chrome trace against the Trace Event Format rules viewers rely on.

Used by the test suite and available to users (``check_chrome_trace(json.load(f))``): returns the
list of problems found, empty when the trace is well-formed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from profiler.core.files import gunzip

_KNOWN_PHASES = set("XBEiICMsftbenNODPRrc")
NEST_TOLERANCE_US = 0.002  # ts/dur are printed with ns precision; allow that rounding


def load_trace(path: str | Path) -> Any:
    p = Path(path)
    raw = p.read_bytes()
    if p.suffix == ".gz":
        raw = gunzip(raw)
    return json.loads(raw)


def check_chrome_trace(trace: Any, max_problems: int = 20) -> list[str]:
    problems: list[str] = []

    def bad(msg: str) -> None:
        if len(problems) < max_problems:
            problems.append(msg)

    if not isinstance(trace, dict) or not isinstance(trace.get("traceEvents"), list):
        return ["not a JSON object with a traceEvents list"]
    slices: dict[tuple[Any, Any], list[tuple[float, float, str]]] = defaultdict(list)
    named_pids, named_threads = set(), set()
    used_pids, used_threads = set(), set()
    for i, ev in enumerate(trace["traceEvents"]):
        if not isinstance(ev, dict):
            bad(f"event {i} is not an object")
            continue
        ph = ev.get("ph")
        if ph not in _KNOWN_PHASES:
            bad(f"event {i}: unknown phase {ph!r}")
            continue
        if ph == "M":
            if ev.get("name") == "process_name":
                named_pids.add(ev.get("pid"))
            elif ev.get("name") == "thread_name":
                named_threads.add((ev.get("pid"), ev.get("tid")))
            if not isinstance(ev.get("args", {}).get("name", ev.get("args", {}).get("sort_index")),
                              (str, int)):
                bad(f"event {i}: metadata without a name")
            continue
        ts = ev.get("ts")
        if not isinstance(ts, (int, float)):
            bad(f"event {i}: ts missing or not a number")
            continue
        if ph == "X":
            dur = ev.get("dur")
            if not isinstance(dur, (int, float)):
                bad(f"event {i}: complete event without dur")
                continue
            if dur < 0:
                bad(f"event {i}: negative dur {dur}")
            slices[(ev.get("pid"), ev.get("tid"))].append((float(ts), float(ts) + float(dur), str(ev.get("name"))))
            used_pids.add(ev.get("pid"))
            used_threads.add((ev.get("pid"), ev.get("tid")))
        elif ph == "C":
            if not isinstance(ev.get("args"), dict) or not all(
                isinstance(v, (int, float)) for v in ev["args"].values()
            ):
                bad(f"event {i}: counter args must be numbers")
            used_pids.add(ev.get("pid"))
    for key, evs in slices.items():
        evs.sort(key=lambda e: (e[0], -(e[1] - e[0])))
        stack: list[tuple[float, float, str]] = []
        for s, e, name in evs:
            while stack and stack[-1][1] <= s + NEST_TOLERANCE_US:
                stack.pop()
            if stack and e > stack[-1][1] + NEST_TOLERANCE_US:
                bad(f"thread {key}: '{name}' [{s}, {e}] overlaps '{stack[-1][2]}' "
                    f"[{stack[-1][0]}, {stack[-1][1]}] without nesting")
            stack.append((s, e, name))
    for pid in used_pids - named_pids:
        bad(f"process {pid} has events but no process_name metadata")
    for th in used_threads - named_threads:
        bad(f"thread {th} has slices but no thread_name metadata")
    return problems
