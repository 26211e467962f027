"""Sources whose rows are read over a connection and held as Arrow batches in the engine.

A database table (PostgreSQL through ADBC, any other through SQLAlchemy) cannot be
scanned in place by DuckDB: its rows are read once, through the source's ``batches()``,
and the batches are kept as the driver handed them over (DuckDB scans Arrow in place),
each with the row key ``__rk`` added (the row's position in the transfer): no second
copy into a DuckDB table. The whole table is one part.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .._engine import Engine
from .base import ScanPart, Source

__all__ = ["HeldRowsSource"]


class HeldRowsSource(Source):
    """A :class:`Source` whose rows are read once and held as Arrow batches.

    A subclass sets ``table`` (what its rows are called in locations), ``_raw`` (a name
    unique to the instance, under which the rows are registered) and provides
    ``batches(desc=...)``: a context manager giving ``(schema, stream of batches)``.
    """

    table: object
    _raw: str

    def attach(self, engine: Engine) -> None:
        """Read every row as Arrow batches registered in the engine; create the view ``raw``."""
        kept: list[pa.RecordBatch] = []
        rows = 0
        with self.batches(desc="loading") as (schema, stream):
            for batch in stream:
                keys = np.arange(rows, rows + batch.num_rows, dtype=np.int64)
                key = pa.Array.from_buffers(pa.int64(), len(keys), [None, pa.py_buffer(keys)])
                kept.append(batch.append_column("__rk", key))
                rows += batch.num_rows
            table = pa.Table.from_batches(kept, schema=schema.append(pa.field("__rk", pa.int64())))
        engine.register(self._raw, table)
        engine.create_view("raw", f"SELECT * EXCLUDE (__rk) FROM {self._raw}")
        self.columns = engine.columns(f"SELECT * FROM {engine.qualified('raw')}")
        self.rows = rows

    def detach(self, engine: Engine) -> None:
        """Let go of the rows registered by :meth:`attach`."""
        engine.unregister(self._raw)

    def parts(self) -> list[ScanPart]:
        """One part: the rows read, keyed by their position in the transfer."""
        return [ScanPart(sql=f"SELECT * FROM {self._raw}", params=[], rows=self.rows,
                         where=str(self.table))]

    def locate(self, row_key: int) -> str:
        """``audit_logs row N`` (N: the row's position in the rows read)."""
        return f"{self.table} row {row_key}"
