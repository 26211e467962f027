"""What several parts share, found without holding every part's keys in memory.

Each part's result carries, per row, the distinct 64-bit keys of its stored digests and
hashes of its ids (:class:`~audit_analytics.chain.scan.PartResult` ``key_set`` and
``id_set``): the only state of the reduce that grows with the whole source. As each
result arrives, :meth:`PartSets.take` moves them into two tables of a scratch DuckDB
database in a private temporary folder, with a memory limit: DuckDB keeps them
compressed and spills to disk beyond the limit, so the reduce holds none of them itself.
Queries then name the few keys that more than one part holds (copies across parts,
duplicate ids across parts, forks from a row in the middle of another part's run).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

from .._engine import Engine

__all__ = ["SPILL_MEMORY", "PartSets"]

#: DuckDB's memory limit for the keys of every part; beyond it, they spill to disk.
SPILL_MEMORY = "256MB"

_SHARED = """
SELECT part, k FROM {t} WHERE k IN (SELECT k FROM {t} GROUP BY k HAVING count(*) > 1)
"""
_HELD = """
SELECT DISTINCT t.part, t.k FROM {t} t JOIN __asked a ON t.k = a.k AND t.part <> a.part
"""


class PartSets:
    """The digest keys (``keys``) and id hashes (``ids``) of every part, spilled to disk.

    Use as a context manager: the scratch database and its folder go at the end.
    """

    _TYPES = {"keys": ("BIGINT", np.int64), "ids": ("UBIGINT", np.uint64)}

    def __init__(self, memory: str = SPILL_MEMORY) -> None:
        self.folder = tempfile.mkdtemp(prefix="audit_analytics-sets-")
        self.engine = Engine(Path(self.folder) / "sets.duckdb")
        self.engine.execute(f"SET memory_limit = '{memory}'")
        self.engine.execute(f"SET temp_directory = '{Path(self.folder) / 'spill'}'")
        self.engine.execute("SET preserve_insertion_order = false")
        for name, (sql_type, _) in self._TYPES.items():
            self.engine.execute(f"CREATE TABLE {name} (part INTEGER, k {sql_type})")
        self.parts = 0

    def take(self, result) -> None:
        """Move ``result``'s ``key_set`` and ``id_set`` here (they become ``None``)."""
        for name, values in (("keys", result.key_set), ("ids", result.id_set)):
            if values is not None and len(values):
                self._insert(name, np.full(len(values), result.index, np.int32), values)
        result.key_set = result.id_set = None
        self.parts += 1

    def _insert(self, name: str, parts: np.ndarray, values: np.ndarray) -> None:
        dtype = self._TYPES[name][1]
        self.engine.register("__rows", pa.table({"part": parts,
                                                 "k": np.asarray(values, dtype)}))
        try:
            self.engine.execute(f"INSERT INTO {name} SELECT part, k FROM __rows")
        finally:
            self.engine.unregister("__rows")

    def shared(self, name: str) -> dict[int, np.ndarray]:
        """Per part, the values of ``name`` (``keys`` or ``ids``) that other parts hold too."""
        if self.parts < 2:
            return {}
        return self._by_part(name, self.engine.arrow(_SHARED.format(t=name)))

    def held_elsewhere(self, name: str, asked: list[tuple[int, int]]) -> dict[int, np.ndarray]:
        """Per part other than the asking one, the values of ``asked`` it holds.

        ``asked`` lists ``(value, asking part)`` pairs.
        """
        if not asked or self.parts < 2:
            return {}
        dtype = self._TYPES[name][1]
        values = np.array([v for v, _ in asked], dtype)
        self.engine.register("__asked", pa.table({
            "k": values, "part": np.array([p for _, p in asked], np.int32)}))
        try:
            found = self.engine.arrow(_HELD.format(t=name))
        finally:
            self.engine.unregister("__asked")
        return self._by_part(name, found)

    def _by_part(self, name: str, table: pa.Table) -> dict[int, np.ndarray]:
        dtype = self._TYPES[name][1]
        parts = table.column("part").to_numpy()
        values = np.asarray(table.column("k").to_numpy(), dtype)
        out: dict[int, np.ndarray] = {}
        for p in np.unique(parts).tolist():
            out[int(p)] = np.unique(values[parts == p])
        return out

    def close(self) -> None:
        """Drop the scratch database and its folder."""
        self.engine.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PartSets:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
