"""The frameworks the toolkit knows (one descriptor each) and whether each is installed, found
without importing them.

Everything the toolkit knows about a framework is its :class:`Framework` entry in :data:`FRAMEWORKS`
(its in-worker tracer a :class:`Tracer`); :func:`framework_availability` decides availability with
``importlib.util.find_spec`` and package metadata, never an import. Higher-layer things (probe
class, cost measurement) are ``"module:attribute"`` strings imported only where used. Adding a
framework, and every field: ``docs/architecture.md`` ("Add a framework";
``tests/test_framework_descriptor.py`` checks the entries and that list).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from typing import Any

from profiler.core.categories import FRAMEWORK_OVERHEAD, MEMORY_IO

#: In :attr:`Framework.thread_env`, the value that stands for the requested thread count.
THREADS = "{threads}"


@dataclass(frozen=True)
class Tracer:
    """A framework's own in-worker tracer; frameworks on one runtime share one (Keras runs TF's)."""

    probe: str  # its name among the probes (`--probes`), and its entry in the calibration's tracer_costs
    probe_class: str  # "module:Class" of its Probe (profiler/probes/), imported only when used
    label: str  # the tracer's name in reports ("torch.profiler")
    #: the format of the trace it writes, read back by ``profiler report TRACE`` (profiler/importers/);
    #: None: it records straight into the event model
    trace_format: str | None = None
    #: "module:function(n, reps) -> dict" that measures its per-record cost in a fresh worker
    #: (``profiler calibrate``); None: not measured, its runs are not compensated
    cost_measure: str | None = None
    #: the measured configuration its probe runs by default, the one that compensates its runs
    cost_config: str | None = None


@dataclass(frozen=True)
class Framework:
    name: str  # the name used on the command line and in run.json
    display: str  # the name in tables, as the seed writes it
    module: str  # top-level import name
    distribution: str  # the pip distribution whose version is recorded ("": the interpreter's own)
    install: str  # how to install it
    never_installable: str | None = None  # set for frameworks with no build for this Python
    requires: tuple[str, ...] = ()  # other frameworks it runs on, which must be installed too
    tracer: Tracer | None = None  # its in-worker tracer (None: the harness' own spans only)
    #: its op records are the toolkit's own spans, so the clean steps carry their cost too
    own_spans: bool = False
    #: ``(kind, category, regex)`` for op names only it writes that the generic rules of
    #: :mod:`profiler.core.opkinds` would misread; anchored, tried before the generic rules
    op_kind_rules: tuple[tuple[str, str, str], ...] = ()
    #: environment variables that set its thread pools, set before it loads (:data:`THREADS`: the
    #: requested count); every worker gets every framework's
    thread_env: tuple[tuple[str, str], ...] = ()
    #: the key of a workload's ``info`` under which it reports the threads its ops run on
    threads_info: str | None = None


TORCH_TRACER = Tracer(
    "torch", "profiler.probes.torch_tracer:TorchProbe", "torch.profiler", "kineto-json",
    "profiler.run.tracer_cost:torch_costs",
    # the torch probe records shapes and FLOPs by default; its info() says which configuration ran
    "shapes_flops",
)
TF_TRACER = Tracer(
    "tensorflow", "profiler.probes.tf_tracer:TensorFlowProbe", "tf.profiler", "xspace",
    "profiler.run.tracer_cost:tensorflow_costs",
    "function",  # the scenarios run in tf.function
)
MXNET_TRACER = Tracer(
    "mxnet", "profiler.probes.mxnet_tracer:MxnetProbe", "mx.profiler", "mxnet-json",
    "profiler.run.tracer_cost:mxnet_costs",
    "api_memory",  # the probe records API calls and memory
)
CHAINER_TRACER = Tracer("chainer", "profiler.probes.chainer_tracer:ChainerProbe", "chainer FunctionHook")

FRAMEWORKS: dict[str, Framework] = {
    f.name: f
    for f in (
        Framework(
            "torch", "PyTorch", "torch", "torch", "pip install 'dl-profiler[torch]'",
            tracer=TORCH_TRACER, threads_info="torch_threads",
        ),
        Framework(
            "tensorflow",
            "TensorFlow",
            "tensorflow",
            "tensorflow-cpu",
            "pip install 'dl-profiler[tensorflow]'",
            tracer=TF_TRACER,
            thread_env=(("TF_NUM_INTRAOP_THREADS", THREADS), ("TF_NUM_INTEROP_THREADS", "1")),
            threads_info="intra_op_threads",
        ),
        Framework(
            "keras", "Keras(TF)", "keras", "keras", "pip install 'dl-profiler[keras]'",
            requires=("tensorflow",), tracer=TF_TRACER,
        ),
        Framework(
            "mxnet", "MXNet(Gluon)", "mxnet", "mxnet", "pip install 'dl-profiler[mxnet]'",
            tracer=MXNET_TRACER,
            # broadcast_add/_mul ... are elementwise, not the broadcast collective; Activation,
            # SetValueOp (a fill) and pick (a gather) move data
            op_kind_rules=(
                (
                    "elementwise",
                    MEMORY_IO,
                    r"^(_backward_)?broadcast_(add|sub|mul|div|plus|minus|maximum|minimum|power|mod|hypot|equal|"
                    r"not_equal|greater|greater_equal|lesser|lesser_equal|logical_and|logical_or|logical_xor|to|"
                    r"like|axis|axes)$|^(_backward_)?activation$|^setvalueop$",
                ),
                ("embedding", MEMORY_IO, r"^(_backward_)?pick$"),
            ),
            thread_env=(("MXNET_CPU_WORKER_NTHREADS", THREADS),),
        ),
        Framework(
            "chainer",
            "Chainer",
            "chainer",
            "chainer",
            "pip install 'setuptools<70' && pip install --no-build-isolation chainer==7.8.1",
            tracer=CHAINER_TRACER,
            # Chainer labels its arithmetic "_ + _", "_ * _", "-_" ...; Reshape/GetItem/ExpandDims/
            # Squeeze are views
            op_kind_rules=(
                ("elementwise", MEMORY_IO, r"^_ [-+*/] |^-_$|^_ \*\* |^_ [-+*/] const$"),
                ("view", FRAMEWORK_OVERHEAD, r"^reshape$|^getitem$|^expanddims$|^squeeze$"),
            ),
        ),
        Framework(
            "numba", "numba (own kernels)", "numba", "numba", "pip install 'dl-profiler[kernels]'",
            own_spans=True, thread_env=(("NUMBA_NUM_THREADS", THREADS),), threads_info="numba_threads",
        ),
        # Workloads in plain Python/numpy (known-answer and fault-injection scenarios, users' files).
        Framework("python", "Python (no framework)", "json", "", "always installed", own_spans=True),
        Framework(
            "cntk",
            "CNTK",
            "cntk",
            "cntk",
            "no install possible",
            never_installable="CNTK has no build for Python 3.11 on PyPI (last release 2.7, Python ≤ 3.6)",
        ),
        Framework(
            "caffe",
            "Caffe",
            "caffe",
            "caffe",
            "no install possible",
            never_installable="Caffe has no pip-installable build for Python 3.11 on PyPI",
        ),
    )
}


def tracers() -> list[Tracer]:
    """Every framework's tracer once, in the order of :data:`FRAMEWORKS`."""
    out: list[Tracer] = []
    for fw in FRAMEWORKS.values():
        if fw.tracer is not None and fw.tracer not in out:
            out.append(fw.tracer)
    return out


def measured_tracers() -> list[Tracer]:
    """The tracers whose per-record cost ``profiler calibrate`` measures, in its order."""
    return [t for t in tracers() if t.cost_measure]


def traced_by(probe: str) -> tuple[str, ...]:
    """The frameworks whose tracer is the probe named ``probe``."""
    return tuple(n for n, fw in FRAMEWORKS.items() if fw.tracer is not None and fw.tracer.probe == probe)


def framework_of_format(trace_format: str) -> str:
    """The framework whose tracer writes ``trace_format`` (the first, where several share a tracer)."""
    for n, fw in FRAMEWORKS.items():
        if fw.tracer is not None and fw.tracer.trace_format == trace_format:
            return n
    raise KeyError(trace_format)


def resolve(path: str) -> Any:
    """What a descriptor's ``"module:attribute"`` names, imported now (only where it is used)."""
    mod, _, attr = path.partition(":")
    return getattr(importlib.import_module(mod), attr)


def thread_env_of(threads: int) -> dict[str, str]:
    """Every framework's thread variables for ``threads`` threads."""
    return {k: str(threads) if v == THREADS else v for fw in FRAMEWORKS.values() for k, v in fw.thread_env}


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str | None = None  # why not, when not
    version: str | None = None

    def as_dict(self) -> dict:
        return {"available": self.available, "reason": self.reason, "version": self.version}


def _dist_version(*names: str) -> str | None:
    for n in names:
        try:
            return importlib.metadata.version(n)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def framework_availability(name: str) -> Availability:
    fw = FRAMEWORKS[name]
    if fw.never_installable:
        return Availability(False, fw.never_installable)
    try:
        spec = importlib.util.find_spec(fw.module)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return Availability(False, f"{fw.display} is not installed; install with {fw.install}")
    for base in fw.requires:
        if importlib.util.find_spec(FRAMEWORKS[base].module) is None:
            b = FRAMEWORKS[base]
            return Availability(False, f"{fw.display} needs {b.display} as its backend; install with {b.install}")
    if not fw.distribution:  # plain Python: the interpreter's version
        import platform

        return Availability(True, None, platform.python_version())
    return Availability(True, None, _dist_version(fw.distribution, fw.module))
