"""Synthetic datasets written once as real files, and the one decode every framework uses.

A dataset is a directory of files plus ``manifest.json`` (file names, labels, shape). It is written
into a temporary sibling directory and renamed into place, so a half-written dataset is never used
and concurrent workers writing the same one do not collide. Files are fsync'ed once after writing:
``posix_fadvise(DONTNEED)`` cannot drop dirty pages, and eviction must work from the first epoch.

Images are smooth random colour fields plus noise, saved as JPEG (quality 90) by Pillow, so decoding
costs what decoding a photograph of that size costs. Feature vectors (for the MLP scenarios) are
``.npy`` files of float32.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST = "manifest.json"
#: Overrides the dataset cache directory (default ``~/.cache/profiler/datasets``).
DATA_DIR_ENV = "PROFILER_DATA_DIR"


@dataclass(frozen=True)
class Dataset:
    root: Path
    kind: str  # "image" or "array"
    files: tuple[str, ...]  # relative to root
    labels: tuple[int, ...]
    shape: tuple[int, ...]  # HWC for images, (features,) for arrays
    classes: int

    def __len__(self) -> int:
        return len(self.files)

    def path(self, i: int) -> Path:
        return self.root / self.files[i]

    def paths(self) -> list[Path]:
        return [self.root / f for f in self.files]

    def nbytes(self) -> int:
        return sum(p.stat().st_size for p in self.paths())


def cache_root() -> Path:
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else Path.home() / ".cache" / "profiler" / "datasets"


def _load(root: Path) -> Dataset | None:
    try:
        m = json.loads((root / MANIFEST).read_text())
        ds = Dataset(
            root=root,
            kind=m["kind"],
            files=tuple(m["files"]),
            labels=tuple(int(x) for x in m["labels"]),
            shape=tuple(int(x) for x in m["shape"]),
            classes=int(m["classes"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return ds if all(p.is_file() for p in ds.paths()) else None


def _write(root: Path, kind: str, n: int, shape: tuple[int, ...], classes: int, seed: int, save) -> Dataset:
    existing = _load(root)
    if existing is not None:
        return existing
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        rng = np.random.default_rng(seed)
        files, labels = [], []
        for i in range(n):
            label = int(rng.integers(0, classes))
            name = save(tmp, i, rng)
            files.append(name)
            labels.append(label)
        for name in files:  # dirty pages cannot be evicted: flush them once, now
            fd = os.open(tmp / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        manifest: dict[str, Any] = {
            "kind": kind,
            "files": files,
            "labels": labels,
            "shape": list(shape),
            "classes": classes,
            "seed": seed,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest))
        try:
            tmp.rename(root)
        except OSError:  # another process finished the same dataset first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    ds = _load(root)
    if ds is None:
        raise OSError(f"dataset at {root} is incomplete after writing")
    return ds


def image_dataset(n: int, size: int, classes: int = 1000, seed: int = 0, root: Path | None = None) -> Dataset:
    """``n`` JPEG images of ``size``×``size`` RGB under the cache (written on first use)."""
    from PIL import Image

    if n < 1 or size < 1:
        raise ValueError(f"image_dataset needs n ≥ 1 and size ≥ 1, got n={n}, size={size}")
    root = root or cache_root() / f"images-{size}px-{n}-c{classes}-s{seed}"

    def save(d: Path, i: int, rng: np.random.Generator) -> str:
        # A coarse colour field upsampled (so JPEG has structure to code) plus pixel noise.
        coarse = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
        img = Image.fromarray(coarse).resize((size, size), Image.BILINEAR)
        arr = np.asarray(img, dtype=np.int16) + rng.integers(-20, 21, size=(size, size, 3))
        name = f"{i:06d}.jpg"
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(d / name, quality=90)
        return name

    return _write(root, "image", n, (size, size, 3), classes, seed, save)


def array_dataset(
    n: int, features: int, classes: int = 10, seed: int = 0, root: Path | None = None
) -> Dataset:
    """``n`` float32 feature vectors as ``.npy`` files (written on first use)."""
    if n < 1 or features < 1:
        raise ValueError(f"array_dataset needs n ≥ 1 and features ≥ 1, got n={n}, features={features}")
    root = root or cache_root() / f"arrays-{features}f-{n}-c{classes}-s{seed}"

    def save(d: Path, i: int, rng: np.random.Generator) -> str:
        name = f"{i:06d}.npy"
        np.save(d / name, rng.random(features, dtype=np.float32))
        return name

    return _write(root, "array", n, (features,), classes, seed, save)


def decode_image(path: str | Path) -> np.ndarray:
    """One image file to an HWC ``uint8`` RGB array (Pillow's decoder, for every framework)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def decode_image_bytes(data: bytes) -> np.ndarray:
    """Encoded image bytes (already read from disk) to an HWC ``uint8`` RGB array."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def load_array(path: str | Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def load_array_bytes(data: bytes) -> np.ndarray:
    import io

    return np.load(io.BytesIO(data), allow_pickle=False)


def dataset_for(params: dict[str, Any], seed: int = 0) -> Dataset:
    """The disk dataset a scenario preset asks for: images when it has ``image_size``, else arrays.

    Image presets give ``image_size``, ``dataset_images`` and optionally ``classes``; MLP presets give
    ``layers`` (input width first, classes last) and ``dataset_items``.
    """
    if "image_size" in params:
        return image_dataset(
            int(params.get("dataset_images", 8 * params.get("batch", 1))),
            int(params["image_size"]),
            int(params.get("classes", 1000)),
            seed,
        )
    layers = params["layers"]
    return array_dataset(
        int(params.get("dataset_items", 8 * params.get("batch", 1))), int(layers[0]), int(layers[-1]), seed
    )


class DecodedFiles:
    """A dataset's files decoded one item at a time, for loaders that run in worker processes.

    Framework-free: Gluon's ``Dataset`` and Chainer's ``DatasetMixin`` wrap :meth:`item`. Each decode
    is a ``decode`` span in a :class:`scenarios.data.spans.SpanLog` under ``span_dir``, so the time
    spent inside loader processes reaches the trace. Images come out CHW float32 in [0, 1].
    """

    def __init__(self, ds: Dataset, span_dir: str, image: bool, label_dtype: Any) -> None:
        from scenarios.data.spans import SpanLog

        self.paths = [str(p) for p in ds.paths()]
        self.labels = np.asarray(ds.labels, dtype=label_dtype)
        self.image = image
        self.log = SpanLog(span_dir)

    def __len__(self) -> int:
        return len(self.paths)

    def item(self, i: int) -> tuple[np.ndarray, Any]:
        with self.log.span("decode", index=int(i)):
            if self.image:
                x = decode_image(self.paths[i]).transpose(2, 0, 1).astype(np.float32) / np.float32(255.0)
            else:
                x = load_array(self.paths[i]).astype(np.float32, copy=False)
        return x, self.labels[i]
