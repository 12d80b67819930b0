"""Writes the Kineto dialect fixtures of ``tests/test_kineto_dialects.py`` (run it to rebuild them).

Hand-built, not recorded: no GPU and no torch 1.8-1.10 are available here. Each follows the layout
the Kineto writer of its version prints (``ChromeTraceLogger``, libkineto ``output_json.cpp``):

* ``torch110_gpu_steps.json.gz`` — torch 1.9/1.10: ``cat`` ``Operator`` (``ProfilerStep#N`` and the
  DataLoader's ``enumerate(DataLoader)#...__next__`` are Operators too), ``Runtime``, ``Kernel``,
  ``Memcpy``, ``Memset``; integer microseconds; host tids quoted (``"tid": "24572"``), device tracks
  ``"pid": <device>, "tid": "stream 7"``; launch arrows ``cat: "async"``, ``name: "launch"``; the
  profiler's own span ``cat: "Trace"`` under ``pid: "Traces"``. Three steps of a small MLP: a
  DataLoader taking about a third of each step while the GPU is idle, an input copy, forward and
  backward GEMMs (backward on the autograd thread), a memset, and a ``cudaStreamSynchronize``
  waiting for the device at the end of the step.
* ``torch18_no_steps.json`` — torch 1.8: the bare-array form (the file starts with ``[``), ``Input
  dims`` spelled so, no ``ProfilerStep`` (the whole trace is one window).
* ``mixed_dialect.json`` — ``Operator`` beside ``cpu_op``, ``Kernel`` beside ``kernel``.
* ``unknown_category.json`` — today's dialect plus a category no Kineto version writes.
* ``kernels_without_runtime.json`` — kernels whose launches were not recorded.
* ``base_time_ns.json`` — ``baseTimeNanoseconds`` with ``ts`` relative to it, three decimals of
  microseconds (nanoseconds), ``displayTimeUnit: "ns"``.
* ``rocm_hip.json`` — an AMD GPU: ``cuda_runtime`` events named ``hipLaunchKernel``,
  ``hipExtModuleLaunchKernel``, ``hipMemcpyWithStream``, ``hipDeviceSynchronize``.
* ``cuda_graph.json`` — one ``cudaGraphLaunch`` whose correlation id four kernels carry.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

HERE = Path(__file__).parent
PID, MAIN, BWD = 24572, 24572, 24610
V100 = {
    "id": 0, "name": "Tesla V100-SXM2-16GB", "totalGlobalMem": 16945512448, "computeMajor": 7, "computeMinor": 0,
    "maxThreadsPerBlock": 1024, "maxThreadsPerMultiprocessor": 2048, "regsPerBlock": 65536,
    "regsPerMultiprocessor": 65536, "warpSize": 32, "sharedMemPerBlock": 49152,
    "sharedMemPerMultiprocessor": 98304, "numSms": 80, "sharedMemPerBlockOptin": 98304,
}


class OldTrace:
    """Events as torch 1.9/1.10's Kineto wrote them (integer µs; string tids)."""

    def __init__(self, dims_key: str = "Input Dims") -> None:
        self.ev: list[dict] = []
        self.ext = 0
        self.corr = 100
        self.stream_free = 0  # when stream 7 is next idle
        self.dims_key = dims_key

    def op(self, name: str, ts: int, dur: int, tid: int = MAIN, dims: list | None = None) -> None:
        self.ext += 1
        args = {"Device": PID, "External id": self.ext}
        if dims is not None:
            args[self.dims_key] = dims
        self.ev.append({"ph": "X", "cat": "Operator", "name": name, "pid": PID, "tid": str(tid),
                        "ts": ts, "dur": dur, "args": args})

    def launch(self, call: str, ts: int, dur: int, cat: str, name: str, gpu_dur: int, tid: int = MAIN,
               extra: dict | None = None) -> int:
        """A runtime call and the device activity it queues (after the stream's previous one)."""
        self.corr += 1
        c = self.corr
        self.ev.append({"ph": "X", "cat": "Runtime", "name": call, "pid": PID, "tid": str(tid), "ts": ts,
                        "dur": dur, "args": {"cbid": 211, "correlation": c, "external id": self.ext,
                                             "external ts": ts - 5}})
        start = max(ts + dur + 4, self.stream_free)
        args = {"queued": 0, "device": 0, "context": 1, "stream": 7, "correlation": c, "external id": self.ext}
        args.update(extra or {})
        self.ev.append({"ph": "X", "cat": cat, "name": name, "pid": 0, "tid": "stream 7", "ts": start,
                        "dur": gpu_dur, "args": args})
        self.ev.append({"ph": "s", "id": c, "pid": PID, "tid": tid, "ts": ts, "cat": "async", "name": "launch"})
        self.ev.append({"ph": "f", "id": c, "pid": 0, "tid": "stream 7", "ts": start, "cat": "async",
                        "name": "launch", "bp": "e"})
        self.stream_free = start + gpu_dur
        return start + gpu_dur

    def sync(self, ts: int) -> int:
        """``cudaStreamSynchronize`` until the stream is idle; returns its end."""
        self.corr += 1
        end = max(ts + 8, self.stream_free + 3)
        self.ev.append({"ph": "X", "cat": "Runtime", "name": "cudaStreamSynchronize", "pid": PID,
                        "tid": str(MAIN), "ts": ts, "dur": end - ts,
                        "args": {"cbid": 131, "correlation": self.corr, "external id": self.ext, "external ts": ts}})
        return end

    def step(self, t0: int, with_marker: bool, index: int) -> int:
        """One training step from ``t0``; returns its end."""
        body: list[tuple] = []
        t = t0 + 10
        # data loading: a third of the step, on the host, the GPU idle
        self.op("enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", t, 2100)
        for k in range(3):
            self.op("aten::stack", t + 50 + k * 650, 600, dims=[[64, 784]])
        t += 2120
        # input to the GPU
        self.op("aten::to", t, 90, dims=[[64, 784], [], [], [], []])
        self.op("aten::copy_", t + 10, 70, dims=[[64, 784], [64, 784], []])
        self.launch("cudaMemcpyAsync", t + 20, 40, "Memcpy", "Memcpy HtoD (Pageable -> Device)", 120,
                    extra={"bytes": 200704, "memory bandwidth (GB/s)": 1.67})
        t += 100
        # forward
        self.op("aten::linear", t, 180, dims=[[64, 784], [512, 784], [512]])
        self.op("aten::addmm", t + 60, 110, dims=[[512], [64, 784], [784, 512], [], []])
        self.launch("cudaLaunchKernel", t + 100, 30, "Kernel", "volta_sgemm_128x64_nn", 900,
                    extra={"registers per thread": 126, "shared memory": 12288, "warps per SM": 4.0,
                           "grid": [4, 1, 1], "block": [256, 1, 1]})
        t += 190
        self.op("aten::relu", t, 60, dims=[[64, 512]])
        self.launch("cudaLaunchKernel", t + 20, 25, "Kernel",
                    "void at::native::vectorized_elementwise_kernel<4, at::native::(anonymous namespace)::"
                    "clamp_min_scalar_kernel_impl>(int, float, at::detail::Array<char*, 2>)", 150,
                    extra={"registers per thread": 20, "shared memory": 0, "warps per SM": 1.6,
                           "grid": [64, 1, 1], "block": [128, 1, 1]})
        t += 70
        # backward, on the autograd thread
        self.op("autograd::engine::evaluate_function: AddmmBackward", t, 400, tid=BWD)
        self.op("aten::mm", t + 40, 300, tid=BWD, dims=[[64, 512], [512, 784]])
        self.launch("cudaLaunchKernel", t + 80, 30, "Kernel", "volta_sgemm_64x64_nt", 1100, tid=BWD,
                    extra={"registers per thread": 90, "shared memory": 8192, "warps per SM": 2.0,
                           "grid": [8, 1, 1], "block": [128, 1, 1]})
        self.op("aten::zero_", t + 200, 80, tid=BWD, dims=[[512, 784]])
        self.launch("cudaMemsetAsync", t + 220, 20, "Memset", "Memset (Device)", 40, tid=BWD,
                    extra={"bytes": 1605632, "memory bandwidth (GB/s)": 40.1})
        t += 420
        # optimizer, then wait for the device
        self.op("Optimizer.step#SGD.step", t, 200)
        self.op("aten::add_", t + 30, 120, dims=[[512, 784], [512, 784], []])
        self.launch("cudaLaunchKernel", t + 60, 25, "Kernel",
                    "void at::native::vectorized_elementwise_kernel<4, at::native::AddFunctor<float>, "
                    "at::detail::Array<char*, 3> >(int, at::native::AddFunctor<float>, at::detail::Array<char*, 3>)",
                    200, extra={"registers per thread": 20, "shared memory": 0, "warps per SM": 8.0,
                                "grid": [392, 1, 1], "block": [512, 1, 1]})
        t += 210
        self.op("aten::item", t, 30)
        end = self.sync(t + 40) + 20
        del body
        if with_marker:
            self.op(f"ProfilerStep#{index}", t0, end - t0)
        return end

    def document(self, t0: int, t1: int, props: bool) -> list[dict] | dict:
        meta = [
            {"name": "process_name", "ph": "M", "ts": t0, "pid": PID, "tid": 0, "args": {"name": "python"}},
            {"name": "process_labels", "ph": "M", "ts": t0, "pid": PID, "tid": 0, "args": {"labels": "CPU"}},
            {"name": "process_name", "ph": "M", "ts": t0, "pid": 0, "tid": 0, "args": {"name": "python"}},
            {"name": "process_labels", "ph": "M", "ts": t0, "pid": 0, "tid": 0, "args": {"labels": "GPU 0"}},
            {"name": "thread_name", "ph": "M", "ts": t0, "pid": PID, "tid": str(MAIN),
             "args": {"name": f"thread {MAIN} (python)"}},
            {"name": "thread_name", "ph": "M", "ts": t0, "pid": PID, "tid": str(BWD),
             "args": {"name": f"thread {BWD} (python)"}},
            {"ph": "X", "cat": "Trace", "ts": t0, "dur": t1 - t0, "pid": "Traces", "tid": "PyTorch Profiler",
             "name": "PyTorch Profiler (0)", "args": {"Op count": 0}},
            {"name": "Iteration Start: PyTorch Profiler", "ph": "i", "s": "g", "pid": "Traces",
             "tid": "Trace PyTorch Profiler", "ts": t0},
            {"name": "Record Window End", "ph": "i", "s": "g", "pid": "", "tid": "", "ts": t1 + 1},
        ]
        events = self.ev + meta
        if not props:
            return events
        return {"schemaVersion": 1, "deviceProperties": [V100], "traceEvents": events}


def new_event(cat: str, name: str, ts: float, dur: float, pid: int = 7000, tid: int = 7000, **args) -> dict:
    return {"ph": "X", "cat": cat, "name": name, "pid": pid, "tid": tid, "ts": ts, "dur": dur, "args": args}


def kernel(name: str, ts: float, dur: float, corr: int, stream: int = 7) -> dict:
    return new_event("kernel", name, ts, dur, pid=0, tid=stream, device=0, stream=stream, correlation=corr)


def main() -> None:
    # torch 1.9/1.10, three steps
    tr = OldTrace()
    t0 = 1621401187223005
    t = t0 + 100
    for i in (3, 4, 5):
        t = tr.step(t, True, i) + 15
    doc = tr.document(t0, t + 50, props=True)
    with open(HERE / "torch110_gpu_steps.json.gz", "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(json.dumps(doc, indent=1).encode())  # mtime 0: the same bytes on every rebuild

    # torch 1.8: array form, "Input dims", no ProfilerStep
    tr = OldTrace(dims_key="Input dims")
    t0 = 1616449876036000
    t = tr.step(t0 + 100, False, 0)
    (HERE / "torch18_no_steps.json").write_text(json.dumps(tr.document(t0, t + 30, props=False)))

    # the same step written half in each dialect
    tr = OldTrace()
    t = tr.step(1621401187223105, True, 1)
    for e in tr.ev[len(tr.ev) // 2:]:
        if e.get("cat") == "Operator":
            e["cat"] = "cpu_op"
        elif e.get("cat") == "Kernel":
            e["cat"] = "kernel"
    (HERE / "mixed_dialect.json").write_text(json.dumps(tr.document(1621401187223005, t + 30, props=True)))

    # today's dialect plus a category nobody writes
    ev = [
        new_event("user_annotation", "ProfilerStep#7", 1000.0, 500.0),
        new_event("cpu_op", "aten::mm", 1010.0, 100.0),
        new_event("cuda_runtime", "cudaLaunchKernel", 1020.0, 10.0, correlation=1),
        kernel("ampere_sgemm_64x64_nn", 1040.0, 80.0, 1),
        new_event("my_markers", "checkpoint", 1100.0, 300.0),
        new_event("my_markers", "checkpoint", 1300.0, 100.0),
        new_event("cpu_op", "aten::relu", 1200.0, 50.0),
    ]
    (HERE / "unknown_category.json").write_text(json.dumps({"schemaVersion": 1, "traceEvents": ev}))

    # kernels whose launch calls were not recorded
    ev = [
        new_event("user_annotation", "ProfilerStep#1", 1000.0, 500.0),
        new_event("cpu_op", "aten::mm", 1010.0, 100.0),
        kernel("ampere_sgemm_64x64_nn", 1040.0, 80.0, 11),
        kernel("ampere_sgemm_64x64_nn", 1200.0, 80.0, 12),
        new_event("cpu_op", "aten::relu", 1200.0, 50.0),
    ]
    (HERE / "kernels_without_runtime.json").write_text(json.dumps({"schemaVersion": 1, "traceEvents": ev}))

    # ts relative to baseTimeNanoseconds, with nanoseconds
    base = 1735632360000000000
    ev = [
        new_event("user_annotation", "ProfilerStep#1", 4203669604595.407, 1031.368),
        new_event("cpu_op", "aten::mm", 4203669604600.001, 100.999),
        new_event("cuda_runtime", "cudaLaunchKernel", 4203669604620.123, 9.877, correlation=5),
        kernel("ampere_sgemm_64x64_nn", 4203669604640.993, 4.928, 5),
        new_event("user_annotation", "ProfilerStep#2", 4203669605626.775, 49.073),
    ]
    (HERE / "base_time_ns.json").write_text(json.dumps(
        {"schemaVersion": 1, "displayTimeUnit": "ns", "baseTimeNanoseconds": base, "traceEvents": ev}))

    # ROCm: HIP names under cuda_runtime
    ev = [new_event("user_annotation", "ProfilerStep#1", 1000.0, 900.0)]
    ts = 1010.0
    for i, call in enumerate(("hipLaunchKernel", "hipExtModuleLaunchKernel", "hipMemcpyWithStream")):
        ev.append(new_event("cuda_runtime", call, ts, 20.0, correlation=40 + i))
        if call == "hipMemcpyWithStream":
            ev.append(new_event("gpu_memcpy", "CopyHostToDevice", ts + 30, 40.0, pid=0, tid=0, device=0, stream=0,
                                correlation=40 + i))
        else:
            ev.append(kernel("Cijk_Ailk_Bljk_SB_MT64x64x16" if i else "void at::native::elementwise_kernel",
                             ts + 30, 60.0, 40 + i, stream=0))
        ts += 100
    ev.append(new_event("cuda_runtime", "hipDeviceSynchronize", ts, 300.0, correlation=50))
    (HERE / "rocm_hip.json").write_text(json.dumps({"schemaVersion": 1, "traceEvents": ev}))

    # a CUDA graph: one launch call, four kernels with its correlation id
    ev = [
        new_event("user_annotation", "ProfilerStep#1", 1000.0, 600.0),
        new_event("cuda_runtime", "cudaGraphLaunch", 1010.0, 30.0, correlation=77),
    ]
    ev += [kernel(f"graph_kernel_{k}", 1050.0 + 60 * k, 50.0, 77) for k in range(4)]
    ev.append(new_event("cuda_runtime", "cudaStreamSynchronize", 1045.0, 300.0, correlation=78))
    (HERE / "cuda_graph.json").write_text(json.dumps({"schemaVersion": 1, "traceEvents": ev}))


if __name__ == "__main__":
    main()
