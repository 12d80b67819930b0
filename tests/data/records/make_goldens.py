"""Writes the expected output of every renderer for every stored record in this folder (one per run
kind: trace, compare, scale, and the imported ranks of every_section.json). Rerun after a renderer
or a section changes what it shows, and read the diff:  .venv/bin/python tests/data/records/make_goldens.py
"""

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
#: the run directory every golden output names (the stored records are not in one)
RUN_DIR = "/runs/fixture"
WIDTH = 100
FORMATS = {"terminal": "txt", "markdown": "md", "csv": "csv", "json": "json"}


def records() -> dict[str, Path]:
    return {p.stem: p for p in sorted(HERE.glob("*.json"))}


def render(path: Path, fmt: str) -> str:
    from profiler.core.record import RunRecord
    from profiler.render.base import RenderOptions
    from profiler.render.registry import renderers
    from profiler.sections.document import build

    report = build(RunRecord.from_dict(json.loads(path.read_text())), RUN_DIR)
    return renderers()[fmt].render(report, RenderOptions(width=WIDTH))


def main() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for name, path in records().items():
        for fmt, ext in FORMATS.items():
            (GOLDEN / f"{name}.{ext}").write_text(render(path, fmt))


if __name__ == "__main__":
    main()
