"""The one adapter around DuckDB's Python API.

DuckDB 2.0 changed how results are fetched (relations re-run on each read, Arrow fetch
methods renamed); everything else in the package speaks SQL and Arrow through this
class, so a change in DuckDB's API is mended here alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

__all__ = ["Engine", "EngineError", "quote_ident"]

log = logging.getLogger("audit_analytics")

EngineError = duckdb.Error


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (column or table name) for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


class Engine:
    """An embedded DuckDB connection with the few operations the toolkit needs.

    Parameters
    ----------
    path
        A DuckDB database file, or ``None`` for an in-memory database.
    read_only
        Open an existing file read-only.
    threads
        Worker threads for DuckDB (default: DuckDB's own choice, every core).
    """

    def __init__(
        self, path: str | Path | None = None, *, read_only: bool = False, threads: int | None = None
    ) -> None:
        config = {"threads": threads} if threads else {}
        self.path = str(path) if path else ":memory:"
        self._con = duckdb.connect(self.path, read_only=read_only, config=config)
        self._con.execute("SET TimeZone = 'UTC'")

    # --- running SQL -----------------------------------------------------------------
    def execute(self, sql: str, params: Sequence | dict | None = None) -> None:
        """Run a statement for its effect."""
        self._con.execute(sql, params if params is not None else [])

    def arrow(self, sql: str, params: Sequence | dict | None = None) -> pa.Table:
        """Run a query and return its result as an Arrow table."""
        return self._con.sql(sql, params=params).to_arrow_table()

    def reader(
        self, sql: str, params: Sequence | dict | None = None, batch_size: int = 131_072
    ) -> pa.RecordBatchReader:
        """Run a query and stream its result as Arrow record batches."""
        return self._con.sql(sql, params=params).to_arrow_reader(batch_size)

    def df(self, sql: str, params: Sequence | dict | None = None):
        """Run a query and return a pandas DataFrame."""
        return self._con.sql(sql, params=params).df()

    def rows(self, sql: str, params: Sequence | dict | None = None) -> list[tuple]:
        """Run a query and return its rows as tuples."""
        return self._con.sql(sql, params=params).fetchall()

    def scalar(self, sql: str, params: Sequence | dict | None = None):
        """Run a query and return the first column of its first row (or None)."""
        rows = self._con.sql(sql, params=params).fetchall()
        return rows[0][0] if rows else None

    def columns(self, relation_sql: str, params: Sequence | dict | None = None) -> dict[str, str]:
        """Column names and DuckDB type names of a query, without running it."""
        rel = self._con.sql(relation_sql, params=params)
        return {name: str(dtype) for name, dtype in zip(rel.columns, rel.types)}

    # --- Arrow in ----------------------------------------------------------------------
    def register(self, name: str, data) -> None:
        """Expose an Arrow table, reader or pandas DataFrame as a view named ``name``."""
        self._con.register(name, data)

    def unregister(self, name: str) -> None:
        """Drop a view made by :meth:`register`."""
        self._con.unregister(name)

    # --- transactions ------------------------------------------------------------------
    def begin(self) -> None:
        """Start a transaction."""
        self._con.begin()

    def commit(self) -> None:
        """Commit the open transaction."""
        self._con.commit()

    def rollback(self) -> None:
        """Roll the open transaction back."""
        self._con.rollback()

    def interrupt(self) -> None:
        """Ask a running query to stop."""
        self._con.interrupt()

    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
