"""One DuckDB database over event stores: the views users query and the Python object behind
:func:`profiler.open`.

Every table of the store (:data:`profiler.core.parquet.TABLES`) becomes a view of the same name over
every store found, with a first column ``variant`` (the run's variant key, or the store's folder for
a folder of stores). Stores are read where they lie (``read_parquet``), so a query's memory is DuckDB's
and bounded by ``memory_limit``; runs saved before the store (``events.npz``) are converted in memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiler.core.errors import InputError
from profiler.core.parquet import TABLES, table_path

RUN_FILE = "run.json"
STORE_FILE = "events.parquet"
LEGACY_FILE = "events.npz"


@dataclass(frozen=True)
class Source:
    """One store: whose it is (``variant``) and its events file (``events.parquet`` or a legacy ``.npz``)."""

    variant: str
    path: Path


def find_sources(path: str | Path) -> list[Source]:
    """The stores of ``path``: a run directory (its variants' event files), a store's
    ``events.parquet`` or ``events.npz``, or a folder holding stores anywhere below it. An empty list
    when there are none (the caller may then treat the folder as traces to import)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such run, store or folder")
    if path.is_file():
        if path.name.endswith(".parquet") or path.suffix == ".npz":
            return [Source(path.parent.name or str(path.parent), path)]
        raise InputError(f"{path}: not an event store (expected a run directory, a folder or {STORE_FILE})")
    if (path / RUN_FILE).is_file():
        from profiler.core.rundir import RunDir

        record = RunDir.open(path).read_record()
        out = []
        for v in record.variants:
            if v.events and (path / v.events).is_file():
                out.append(Source(v.key, path / v.events))
        return out
    found = sorted(path.rglob(STORE_FILE))
    if not found:
        found = sorted(path.rglob(LEGACY_FILE))
    return [Source(str(p.parent.relative_to(path)) if p.parent != path else path.name, p) for p in found]


def one_line(e: BaseException) -> str:
    """DuckDB's message on one line: its text up to the ``LINE n:`` pointer, whitespace collapsed."""
    lines = []
    for ln in str(e).splitlines():
        if ln.startswith("LINE "):
            break
        if ln.strip():
            lines.append(ln.strip())
    return re.sub(r"\s+", " ", " ".join(lines)) or type(e).__name__


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


class Store:
    """Every store of a run or folder as one DuckDB database (``docs/store.md``: the views).

    ``store.sql("SELECT …")`` is a DuckDB relation (``.fetchall()``, ``.to_arrow_table()``, ``.df()``,
    ``.pl()``); ``store.table("events")`` an Arrow table; ``store.relation("steps")`` a relation;
    ``store.con`` the connection itself. ``memory_limit`` (e.g. ``"2GB"``) and ``threads`` bound
    DuckDB's own memory and threads.
    """

    def __init__(self, sources: list[Source], memory_limit: str | None = None, threads: int | None = None,
                 where: str = "") -> None:
        import duckdb

        if not sources:
            raise InputError(f"{where or 'profiler.open'}: no event store found")
        self.sources = list(sources)
        config: dict[str, Any] = {}
        if memory_limit:
            config["memory_limit"] = str(memory_limit)
        if threads:
            config["threads"] = int(threads)
        try:
            self.con = duckdb.connect(config=config)
        except duckdb.Error as e:
            raise InputError(f"DuckDB settings: {one_line(e)}") from None
        parts: dict[str, list[str]] = {t: [] for t in TABLES}
        for i, src in enumerate(self.sources):
            v = _quote(src.variant)
            if src.path.suffix == ".npz":
                for t, tbl in self._legacy(src.path).items():
                    name = f"_legacy{i}_{t}"
                    self.con.register(name, tbl)
                    parts[t].append(f"SELECT {v} AS variant, * FROM {name}")
            else:
                from profiler.core.parquet import read_manifest

                read_manifest(src.path)  # a foreign or newer store: one line, before any query
                for t in TABLES:
                    f = table_path(src.path, t)
                    if not f.is_file():
                        raise InputError(f"{src.path}: incomplete event store ({f.name} is missing)")
                    parts[t].append(f"SELECT {v} AS variant, * FROM read_parquet({_quote(str(f))})")
        for t, sel in parts.items():
            self.con.execute(f"CREATE VIEW {t} AS " + " UNION ALL BY NAME ".join(sel))

    @staticmethod
    def _legacy(path: Path) -> dict[str, Any]:
        import pyarrow as pa

        from profiler.core.events import DEVICE_TID_BASE, SPAN_CATEGORIES, EventTable
        from profiler.core.parquet import to_arrow

        out = {}
        for t, tbl in to_arrow(EventTable.load(path), SPAN_CATEGORIES, DEVICE_TID_BASE).items():
            cols = [c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c for c in tbl.columns]
            out[t] = pa.table(cols, names=tbl.column_names)
        return out

    # ------------------------------------------------------------------------------------ queries
    def sql(self, query: str) -> Any:
        """A DuckDB relation of ``query`` over the views; :class:`InputError` with DuckDB's message."""
        import duckdb

        try:
            return self.con.sql(query)
        except duckdb.Error as e:
            raise InputError(one_line(e)) from None

    def relation(self, table: str = "events") -> Any:
        """The view ``table`` as a DuckDB relation."""
        if table not in TABLES:
            raise InputError(f"unknown table {table!r}; the store has {', '.join(TABLES)}")
        return self.con.table(table)

    def table(self, table: str = "events") -> Any:
        """The view ``table`` as a ``pyarrow.Table`` (``.to_pandas()``, ``polars.from_arrow``)."""
        return self.relation(table).to_arrow_table()

    def execute(self, query: str) -> tuple[list[str], Any]:
        """Run ``query``: its column names and a cursor to fetch rows from (``fetchmany``)."""
        import duckdb

        try:
            cur = self.con.execute(query)
        except duckdb.Error as e:
            raise InputError(one_line(e)) from None
        return [d[0] for d in (cur.description or [])], cur

    @property
    def tables(self) -> tuple[str, ...]:
        return TABLES

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({len(self.sources)} store(s): {', '.join(s.variant for s in self.sources[:4])}" + (
            ", …)" if len(self.sources) > 4 else ")")
