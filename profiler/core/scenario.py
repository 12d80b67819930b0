"""The scenario interface: what a workload declares, and what a worker hands it.

A :class:`Scenario` declaration (with its :class:`Implementation` and :class:`Variant` entries) is
plain data, importable without any framework. Each implementation names a module that the worker
imports and that defines ``build(ctx: WorkloadContext) -> Workload``; the :class:`Workload` has
``step()`` and optionally ``sync()``, ``info`` and ``close()``. A user's own scenario is a file
defining ``SCENARIO`` (``module=None``: this file) and ``build``, executed only inside workers.
See ``docs/scenarios.md`` ("Writing your own scenario").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

MODES = ("train", "infer")


@dataclass(frozen=True)
class Variant:
    name: str
    summary: str
    needs_gpu: bool = False


@dataclass(frozen=True)
class Implementation:
    framework: str
    variants: tuple[Variant, ...]
    module: str | None = None  # dotted module path; None: the scenario's own file

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)


VariantDecl = str | Variant  # a summary (a CPU variant of that name) or a full Variant


def implementations(package: str, variants: dict[str, dict[str, VariantDecl]]) -> tuple[Implementation, ...]:
    """A scenario's implementations from a short declaration: ``{framework: {variant: summary}}``.

    Each framework's module is ``<package>.<framework>_impl`` (the layout every built-in scenario
    follows); a value may be a :class:`Variant` for one that needs a GPU.
    """
    return tuple(
        Implementation(
            fw,
            tuple(v if isinstance(v, Variant) else Variant(name, v) for name, v in vs.items()),
            module=f"{package}.{fw}_impl",
        )
        for fw, vs in variants.items()
    )


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    implementations: tuple[Implementation, ...]
    #: preset name -> parameters handed to build() as ctx.params. "cpu" and "seed" are the standard ones.
    presets: dict[str, dict[str, Any]]
    modes: tuple[str, ...] = ("train",)
    default_mode: str = "train"
    origin: str = ""  # where the seed document uses this workload
    #: how the headline figure is expressed: "step" or e.g. "1000 images" (scaled by items_per_step)
    unit: str = "step"
    items_key: str = "batch"  # preset key giving items per step
    source: str | None = None  # file path for user scenarios (set by the registry)

    def implementation(self, framework: str) -> Implementation | None:
        return next((i for i in self.implementations if i.framework == framework), None)

    @property
    def frameworks(self) -> list[str]:
        return [i.framework for i in self.implementations]

    def iter_variants(self) -> Iterator[tuple[str, Variant]]:
        for impl in self.implementations:
            for v in impl.variants:
                yield impl.framework, v

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "summary": self.summary,
            "origin": self.origin,
            "modes": list(self.modes),
            "default_mode": self.default_mode,
            "unit": self.unit,
            "items_key": self.items_key,
            "presets": self.presets,
            "source": self.source,
            "implementations": [
                {
                    "framework": i.framework,
                    "module": i.module,
                    "variants": [
                        {"name": v.name, "summary": v.summary, "needs_gpu": v.needs_gpu} for v in i.variants
                    ],
                }
                for i in self.implementations
            ],
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Scenario:
        return Scenario(
            name=d["name"],
            summary=d.get("summary", ""),
            origin=d.get("origin", ""),
            modes=tuple(d.get("modes", ("train",))),
            default_mode=d.get("default_mode", "train"),
            unit=d.get("unit", "step"),
            items_key=d.get("items_key", "batch"),
            presets=d.get("presets", {}),
            source=d.get("source"),
            implementations=tuple(
                Implementation(
                    framework=i["framework"],
                    module=i.get("module"),
                    variants=tuple(
                        Variant(v["name"], v.get("summary", ""), bool(v.get("needs_gpu")))
                        for v in i["variants"]
                    ),
                )
                for i in d["implementations"]
            ),
        )


@dataclass
class WorkloadSpec:
    """What a worker hands ``build()`` (read-only for the workload)."""

    scenario: str
    framework: str
    variant: str
    mode: str
    preset: str
    device: str  # "cpu" or "cuda"
    params: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None
    data: str = "ram"  # "ram" or "disk"
    seed: int = 0
    work_dir: str = "."  # a directory the workload may use for its data files


class WorkloadContext(Protocol):
    """The worker side of the contract, as seen by ``build()`` and ``step()``."""

    spec: WorkloadSpec

    @property
    def params(self) -> dict[str, Any]: ...

    def region(self, category: str, name: str, **args: Any) -> AbstractContextManager[None]:
        """Record a span of ``category`` (e.g. ``data_loading``) around the enclosed code."""
        ...

    def record_span(
        self, category: str, name: str, start_ns: int, dur_ns: int, pid: int, tid: int = 0, **args: Any
    ) -> None:
        """Add a span timed elsewhere (a data-loader worker process), on the run clock."""
        ...

    def name_process(self, pid: int, name: str) -> None: ...

    def log(self, message: str) -> None: ...


class Workload(Protocol):
    def step(self) -> None: ...
