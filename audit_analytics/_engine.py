"""The one adapter around DuckDB's Python API.

DuckDB 2.0 changed how results are fetched (relations re-run on each read, Arrow fetch
methods renamed); everything else in the package speaks SQL and Arrow through this
class, so a change in DuckDB's API is mended here alone.

One connection can serve several audit logs at once: each gets a *scope*
(:meth:`Engine.scope`), an engine on the same connection with a schema of its own in the
in-memory catalog ``aa_logs``. The views a log creates (``raw``, ``events``) live there,
and every statement run through the scope puts that schema first on DuckDB's
``search_path``: SQL that says ``FROM events`` reads that log's events, whichever other
logs share the connection. Every log's views stay reachable by their qualified names
(``aa_logs.log_1.events``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from .errors import QueryError, first_line

__all__ = ["SCOPES", "Engine", "EngineError", "quote_ident"]

log = logging.getLogger("audit_analytics")

#: What the engine raises for a statement that fails (DuckDB's own errors never escape).
EngineError = QueryError
SCOPES = "aa_logs"  # the in-memory catalog holding each scope's schema


class _Connection:
    """One DuckDB connection and what its engines share: the catalog, the scopes made."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.catalog = con.sql("SELECT current_database()").fetchall()[0][0]
        self.scopes = 0
        self.scoped = False  # whether a scope set the search path last

    def path_literal(self, namespace: str) -> str:
        """The search path of a scope, as an SQL string literal: its schema, then ``main``."""
        path = f"{namespace},{quote_ident(self.catalog)}.main"
        return "'" + path.replace("'", "''") + "'"


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
        con = duckdb.connect(self.path, read_only=read_only, config=config)
        con.execute("SET TimeZone = 'UTC'")
        self._shared = _Connection(con)
        self.namespace: str | None = None  # the scope's schema; None for the engine itself

    # --- scopes ------------------------------------------------------------------------
    def scope(self) -> Engine:
        """A new engine on this connection whose unqualified names resolve in its own schema.

        Views made with :meth:`create_view` through the scope are created in that schema
        (``aa_logs.log_N``), and every statement it runs sees them first, ahead of the
        database's own tables; the engine itself and other scopes do not.
        """
        shared = self._shared
        if not shared.scopes:
            shared.con.execute(f"ATTACH ':memory:' AS {SCOPES} (READ_WRITE)")
        shared.scopes += 1
        scoped = object.__new__(Engine)
        scoped.path, scoped._shared = self.path, shared
        scoped.namespace = f"{SCOPES}.log_{shared.scopes}"
        shared.con.execute(f"CREATE SCHEMA {scoped.namespace}")
        return scoped

    def qualified(self, name: str) -> str:
        """``name`` as SQL naming this engine's view of that name (schema-qualified in a scope)."""
        return f"{self.namespace}.{quote_ident(name)}" if self.namespace else quote_ident(name)

    def create_view(self, name: str, select_sql: str) -> None:
        """Create (or replace) the view ``name``: in the scope's schema, else a temp view."""
        if self.namespace:
            self.execute(f"CREATE OR REPLACE VIEW {self.qualified(name)} AS {select_sql}")
        else:
            self.execute(f"CREATE OR REPLACE TEMP VIEW {quote_ident(name)} AS {select_sql}")

    def drop_scope(self) -> None:
        """Drop the scope's schema and its views (the connection stays open)."""
        if self.namespace:
            self._con.execute(f"DROP SCHEMA IF EXISTS {self.namespace} CASCADE")
            self._shared.con.execute("RESET search_path")
            self._shared.scoped = False
            self.namespace = None

    @property
    def _con(self) -> duckdb.DuckDBPyConnection:
        """The connection, with this engine's names first on its search path.

        A scope sets the path before each statement (about 0.1 ms; a user's own
        ``SET search_path`` cannot leave it pointing elsewhere); the engine itself puts
        DuckDB's default back after a scope changed it.
        """
        shared = self._shared
        if self.namespace:
            shared.con.execute(f"SET search_path = {shared.path_literal(self.namespace)}")
            shared.scoped = True
        elif shared.scoped:
            shared.con.execute("RESET search_path")
            shared.scoped = False
        return shared.con

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
        reader = self._con.sql(sql, params=params).to_arrow_reader(batch_size)
        return pa.RecordBatchReader.from_batches(reader.schema, _translated_batches(reader))

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
        """Close the connection (every scope on it with it)."""
        self._shared.con.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _query_error(exc: Exception) -> QueryError:
    return QueryError(first_line(exc), kind=type(exc).__name__)


def _translated(method):
    """``method`` raising :class:`QueryError` where DuckDB raises (interrupts stay as they are)."""
    @functools.wraps(method)
    def call(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except duckdb.InterruptException:
            raise
        except duckdb.Error as exc:
            raise _query_error(exc) from exc
    return call


def _translated_batches(reader: pa.RecordBatchReader):
    """The reader's batches; a statement failing mid-stream raises :class:`QueryError`.

    DuckDB's error then crosses the Arrow C stream interface, which hands it over as a
    plain ``OSError`` carrying DuckDB's message.
    """
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except duckdb.InterruptException:
            raise
        except (duckdb.Error, OSError) as exc:
            raise _query_error(exc) from exc
        yield batch


# The adapter boundary: every public method of Engine translates DuckDB's errors.
for _name, _member in list(vars(Engine).items()):
    if callable(_member) and (not _name.startswith("_") or _name == "__init__"):
        setattr(Engine, _name, _translated(_member))
del _name, _member
