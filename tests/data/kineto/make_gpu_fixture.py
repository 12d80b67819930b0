"""Writes ``gpu_handbuilt.json``: a torch.profiler (Kineto) GPU trace *built by hand* to Kineto's
documented Chrome-trace record layout (no GPU was available to record one), with known answers.

Per 1000 µs step (``ProfilerStep#N`` on the host thread), times in µs from the step's start:

* host: DataLoader ``__next__`` [0, 40); ``aten::mm`` [45, 100) with ``cudaLaunchKernel`` [50, 60)
  (correlation 1); launches [300, 310) (corr. 2) and [500, 510) (corr. 3);
  ``cudaDeviceSynchronize`` [660, 990);
* GPU 0 stream 7: sgemm kernel [70, 370) (corr. 1, grid 128, block 256, 64 registers), elementwise
  kernel [400, 450) (corr. 2, grid 1024, block 128, 32 registers), reduce kernel [520, 560) (corr. 3,
  no launch configuration), ``Memcpy HtoD`` [600, 650) (no correlation).

Known answers per step: GPU busy (kernels) 390 µs = 39 %; idle gaps: host-launch-bound 70 + 70 =
140 µs (launch after the device went idle), kernel wait 30 µs (B launched at 300 while A ran to 370,
started at 400), other 40 + 350 = 390 µs (memcpy without a launch; the tail); launch delays 20, 100,
20 µs; breakdown (the device rule, docs/breakdown.md): data loading 40, memory I/O 140, compute 300,
framework overhead 35 (the host busy while the device idles: [45, 70) and the launch [500, 510)),
idle 485 (the sync [660, 990), the gap [370, 400) whose kernel was queued, and 125 µs where nothing
runs on either side);
input share (40 + 50) / 1000 = 9 % → moderately input-bound.
"""

from __future__ import annotations

import json
from pathlib import Path

BASE = 5_000_000.0  # µs
PID, TID = 4321, 4321


def step_events(i: int) -> list[dict]:
    t = BASE + 1000.0 * i
    x = lambda cat, name, s, d, **a: {  # noqa: E731
        "ph": "X",
        "cat": cat,
        "name": name,
        "pid": PID,
        "tid": TID,
        "ts": t + s,
        "dur": d,
        "args": a,
    }
    k = lambda name, s, d, corr, **a: {  # noqa: E731
        "ph": "X",
        "cat": "kernel",
        "name": name,
        "pid": 0,
        "tid": 7,
        "ts": t + s,
        "dur": d,
        "args": {"device": 0, "stream": 7, "correlation": corr, **a},
    }
    c0 = 10 * i
    return [
        x("user_annotation", f"ProfilerStep#{i + 1}", 0, 1000),
        x("user_annotation", "enumerate(DataLoader)#_MultiProcessingDataLoaderIter.__next__", 0, 40),
        x(
            "cpu_op",
            "aten::mm",
            45,
            55,
            **{"Input Dims": [[256, 512], [512, 1024]], "Input type": ["float", "float"]},
        ),
        x("cuda_runtime", "cudaLaunchKernel", 50, 10, correlation=c0 + 1),
        x("cuda_runtime", "cudaLaunchKernel", 300, 10, correlation=c0 + 2),
        x("cuda_runtime", "cudaLaunchKernel", 500, 10, correlation=c0 + 3),
        x("cuda_runtime", "cudaDeviceSynchronize", 660, 330, correlation=c0 + 4),
        k(
            "ampere_sgemm_128x64_nn",
            70,
            300,
            c0 + 1,
            grid=[128, 1, 1],
            block=[256, 1, 1],
            **{"registers per thread": 64, "shared memory": 0, "est. achieved occupancy %": 14},
        ),
        k(
            "void at::native::vectorized_elementwise_kernel<4, at::native::AddFunctor<float>>",
            400,
            50,
            c0 + 2,
            grid=[1024, 1, 1],
            block=[128, 1, 1],
            **{"registers per thread": 32, "shared memory": 0},
        ),
        k("void at::native::reduce_kernel<512, 1>", 520, 40, c0 + 3),
        {
            "ph": "X",
            "cat": "gpu_memcpy",
            "name": "Memcpy HtoD (Pageable -> Device)",
            "pid": 0,
            "tid": 7,
            "ts": t + 600,
            "dur": 50,
            "args": {"device": 0, "stream": 7, "bytes": 1 << 20},
        },
    ]


def main() -> None:
    events = [
        {"ph": "M", "name": "process_name", "pid": PID, "tid": 0, "args": {"name": "python"}},
        {"ph": "M", "name": "process_name", "pid": 0, "tid": 0, "args": {"name": "python"}},
        {"ph": "M", "name": "thread_name", "pid": 0, "tid": 7, "args": {"name": "stream 7"}},
    ]
    for i in range(2):
        events += step_events(i)
    doc = {
        "schemaVersion": 1,
        "deviceProperties": [
            {
                "id": 0,
                "name": "hand-built (A100 limits)",
                "numSms": 108,
                "maxThreadsPerMultiprocessor": 2048,
                "regsPerMultiprocessor": 65536,
            }
        ],
        "traceEvents": events,
    }
    out = Path(__file__).with_name("gpu_handbuilt.json")
    out.write_text(json.dumps(doc, indent=1))
    print(out)


if __name__ == "__main__":
    main()
