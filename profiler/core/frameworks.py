"""The frameworks the toolkit knows, and whether each is installed — found without importing them.

Availability is decided with ``importlib.util.find_spec`` and package metadata, never by importing a
framework: listing, reporting and analysing must stay fast and must not load torch or TensorFlow.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class Framework:
    name: str  # the name used on the command line and in run.json
    display: str  # the name in tables, as the seed writes it
    module: str  # top-level import name
    distribution: str  # the pip distribution whose version is recorded
    install: str  # how to install it
    never_installable: str | None = None  # set for frameworks with no build for this Python


FRAMEWORKS: dict[str, Framework] = {
    f.name: f
    for f in (
        Framework("torch", "PyTorch", "torch", "torch", "pip install 'dl-profiler[torch]'"),
        Framework(
            "tensorflow",
            "TensorFlow",
            "tensorflow",
            "tensorflow-cpu",
            "pip install 'dl-profiler[tensorflow]'",
        ),
        Framework("keras", "Keras(TF)", "keras", "keras", "pip install 'dl-profiler[keras]'"),
        Framework("mxnet", "MXNet(Gluon)", "mxnet", "mxnet", "pip install 'dl-profiler[mxnet]'"),
        Framework(
            "chainer",
            "Chainer",
            "chainer",
            "chainer",
            "pip install 'setuptools<70' && pip install --no-build-isolation chainer==7.8.1",
        ),
        Framework("numba", "numba (own kernels)", "numba", "numba", "pip install 'dl-profiler[kernels]'"),
        # Workloads in plain Python/numpy (known-answer and fault-injection scenarios, users' files).
        Framework("python", "Python (no framework)", "json", "", "always installed"),
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
    if name == "keras" and importlib.util.find_spec("tensorflow") is None:
        return Availability(
            False,
            "Keras(TF) needs TensorFlow as its backend; install with " + FRAMEWORKS["tensorflow"].install,
        )
    if name == "python":
        import platform

        return Availability(True, None, platform.python_version())
    return Availability(True, None, _dist_version(fw.distribution, fw.module))
