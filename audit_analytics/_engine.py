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

import contextlib
import functools
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from .errors import QueryError, first_line

__all__ = ["SCOPES", "Engine", "EngineError", "ScanCount", "arrow_into", "quote_ident"]

log = logging.getLogger("audit_analytics")

#: What the engine raises for a statement that fails (DuckDB's own errors never escape).
EngineError = QueryError
SCOPES = "aa_logs"  # the in-memory catalog holding each scope's schema


@dataclass
class ScanCount:
    """The scans of stored data made by the statements an engine ran while counting.

    One entry per scan operator in the plans DuckDB executed (read from its profiler, so a
    statement that reads a file twice counts twice, and one that answers from a
    materialised table counts that table, not the file): ``(operator, what)``, where
    ``operator`` is ``READ_PARQUET``, ``SEQ_SCAN``, ``PYTHON_ARROW_SCAN``... and ``what``
    the files or the table read.
    """

    scans: list[tuple[str, str]] = field(default_factory=list)

    def add(self, profile: str) -> None:
        """Record the scans in one statement's profile (DuckDB's JSON profiling output)."""
        try:
            tree = json.loads(profile)
        except (TypeError, ValueError):
            return
        stack = list(tree.get("operator") or []) if isinstance(tree, dict) else []
        while stack:
            node = stack.pop()
            stack.extend(node.get("children") or [])
            info = node.get("extra_info") or {}
            if node.get("type") == "TABLE_SCAN" or "Table" in info:
                what = info.get("Filename(s)") or info.get("Table") or info.get("Function", "")
                self.scans.append((str(node.get("name", "")), str(what)))

    def parquet(self, path: str | Path | None = None) -> int:
        """Scans of Parquet files (of those naming ``path``, when given)."""
        return sum(1 for op, what in self.scans
                   if op == "READ_PARQUET" and (path is None or str(path) in what))

    def table(self, name: str) -> int:
        """Scans of tables whose qualified name ends with ``name``."""
        return sum(1 for op, what in self.scans if op != "READ_PARQUET"
                   and (what == name or what.endswith("." + name)))

    def __len__(self) -> int:
        return len(self.scans)


class _Connection:
    """One DuckDB connection and what its engines share: the catalog, the scopes made."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.catalog = con.sql("SELECT current_database()").fetchall()[0][0]
        self.scopes = 0
        self.scoped = False  # whether a scope set the search path last
        self.counter: ScanCount | None = None  # set while scans are counted
        self.layers = 0
        self.scratch: dict[str, str] = {}  # a layer's database alias -> its scratch folder

    def drop_layer(self, alias: str) -> None:
        """Detach a layer's scratch database and delete its folder.

        Its tables are dropped first: DuckDB checkpoints a database when it is detached,
        and would write every table to a file about to be deleted (10M cached events:
        seconds of compressing and writing).
        """
        folder = self.scratch.pop(alias)
        try:
            tables = self.con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ?",
                [alias]).fetchall()
            for schema, table in tables:
                self.con.execute(f"DROP TABLE IF EXISTS {alias}.{quote_ident(schema)}."
                                 f"{quote_ident(table)}")
            self.con.execute(f"DETACH {alias}")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def note(self) -> None:
        """Add the last statement's scans to the counter (while counting)."""
        if self.counter is not None:
            with contextlib.suppress(duckdb.Error):  # a statement without a plan (SET)
                self.counter.add(self.con.get_profiling_information(format="json"))

    def path_literal(self, namespaces: tuple[str, ...]) -> str:
        """The search path of a scope, as an SQL string literal: its schemas, then ``main``."""
        path = ",".join([*namespaces, f"{quote_ident(self.catalog)}.main"])
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
        # Never download an extension on demand: a name in a profile's expression or a
        # query (sql_auto_complete, st_point...) would otherwise fetch code from the network.
        config: dict = {"autoinstall_known_extensions": False}
        if threads:
            config["threads"] = threads
        self.path = str(path) if path else ":memory:"
        con = duckdb.connect(self.path, read_only=read_only, config=config)
        con.execute("SET TimeZone = 'UTC'")
        with contextlib.suppress(duckdb.Error):  # Jupyter without ipywidgets refuses the setting
            con.execute("SET enable_progress_bar = false")  # DuckDB's own bar prints to stdout
        self._shared = _Connection(con)
        self.namespace: str | None = None  # the scope's schema; None for the engine itself
        self._search: tuple[str, ...] = ()  # the schemas its unqualified names resolve in

    # --- scopes ------------------------------------------------------------------------
    def scope(self) -> Engine:
        """A new engine on this connection whose unqualified names resolve in its own schema.

        Views made with :meth:`create_view` through the scope are created in that schema
        (``aa_logs.log_N``), and every statement it runs sees them first, ahead of the
        database's own tables; the engine itself and other scopes do not.
        """
        return self._new_scope(())

    def layer(self) -> Engine:
        """A scope over this one: its own tables first, then this engine's names.

        A table the layer creates under a name this scope already has (``events``) shadows
        it for the statements run through the layer, and for them alone; everything else
        (``raw``, the database's tables) resolves as it does here.

        The layer's tables live in a scratch database file of its own, in a private
        temporary folder: DuckDB writes a large table to a file compressed as it goes (a
        copy of ten million events: about 300 MB, cached in memory as far as memory
        allows), where an in-memory table is held uncompressed until a checkpoint, several
        times larger. :meth:`drop_scope` (or closing the engine) detaches the file and
        deletes the folder.
        """
        shared = self._shared
        shared.layers += 1
        folder = tempfile.mkdtemp(prefix="audit_analytics-")
        alias = f"aa_layer_{shared.layers}"
        path = str(Path(folder) / "layer.duckdb")
        try:
            shared.con.execute(f"ATTACH '{path.replace(chr(39), chr(39) * 2)}' AS {alias}")
        except duckdb.Error:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        shared.scratch[alias] = folder
        layer = object.__new__(Engine)
        layer.path, layer._shared = self.path, shared
        layer.namespace = f"{alias}.main"
        layer._search = (layer.namespace, *self._search)
        return layer

    def _new_scope(self, below: tuple[str, ...]) -> Engine:
        shared = self._shared
        if not shared.scopes:
            shared.con.execute(f"ATTACH ':memory:' AS {SCOPES} (READ_WRITE)")
        shared.scopes += 1
        scoped = object.__new__(Engine)
        scoped.path, scoped._shared = self.path, shared
        scoped.namespace = f"{SCOPES}.log_{shared.scopes}"
        scoped._search = (scoped.namespace, *below)
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
        """Drop the scope's schema and its views (the connection stays open).

        A :meth:`layer` detaches its scratch database and deletes its folder.
        """
        if self.namespace:
            alias = self.namespace.split(".")[0]
            if alias in self._shared.scratch:
                self._shared.con.execute("RESET search_path")
                self._shared.drop_layer(alias)
            else:
                self._con.execute(f"DROP SCHEMA IF EXISTS {self.namespace} CASCADE")
                self._shared.con.execute("RESET search_path")
            self._shared.scoped = False
            self.namespace = None
            self._search = ()

    @property
    def _con(self) -> duckdb.DuckDBPyConnection:
        """The connection, with this engine's names first on its search path.

        A scope sets the path before each statement (about 0.1 ms; a user's own
        ``SET search_path`` cannot leave it pointing elsewhere); the engine itself puts
        DuckDB's default back after a scope changed it.
        """
        shared = self._shared
        if self.namespace:
            shared.con.execute(f"SET search_path = {shared.path_literal(self._search)}")
            shared.scoped = True
        elif shared.scoped:
            shared.con.execute("RESET search_path")
            shared.scoped = False
        return shared.con

    # --- counting scans ---------------------------------------------------------------
    @contextlib.contextmanager
    def count_scans(self) -> Iterator[ScanCount]:
        """Count the scans of stored data made through this connection inside the block.

        DuckDB's profiler is on while counting (a little slower); every statement run
        through any engine on the connection adds its plan's scan operators.
        """
        shared = self._shared
        if shared.counter is not None:  # nested: the outer count goes on
            yield shared.counter
            return
        shared.counter = ScanCount()
        shared.con.execute("SET enable_profiling = 'no_output'")
        try:
            yield shared.counter
        finally:
            shared.counter = None
            with contextlib.suppress(duckdb.Error):
                shared.con.execute("RESET enable_profiling")

    # --- running SQL -----------------------------------------------------------------
    def execute(self, sql: str, params: Sequence | dict | None = None) -> None:
        """Run a statement for its effect."""
        self._con.execute(sql, params if params is not None else [])
        self._shared.note()

    def _relation(self, sql: str, params: Sequence | dict | None):
        """The relation of a query; :class:`QueryError` when the text holds no statement.

        DuckDB answers text that is empty, blank or only comments with no relation at all.
        """
        rel = self._con.sql(sql, params=params)
        if rel is None:
            raise QueryError("no SQL statement to run: the query is empty, blank or only "
                             "comments", kind="NoStatement")
        return rel

    def arrow(self, sql: str, params: Sequence | dict | None = None) -> pa.Table:
        """Run a query and return its result as an Arrow table."""
        out = self._relation(sql, params).to_arrow_table()
        self._shared.note()
        return out

    def reader(
        self, sql: str, params: Sequence | dict | None = None, batch_size: int = 131_072
    ) -> pa.RecordBatchReader:
        """Run a query and stream its result as Arrow record batches."""
        reader = self._relation(sql, params).to_arrow_reader(batch_size)
        source = _translated_batches(reader)
        if self._shared.counter is None:
            return pa.RecordBatchReader.from_batches(reader.schema, source)
        shared = self._shared

        def batches():  # the plan's scans are known once the stream is drained
            yield from source
            shared.note()

        return pa.RecordBatchReader.from_batches(reader.schema, batches())

    def df(self, sql: str, params: Sequence | dict | None = None):
        """Run a query and return a pandas DataFrame."""
        out = self._relation(sql, params).df()
        self._shared.note()
        return out

    def rows(self, sql: str, params: Sequence | dict | None = None) -> list[tuple]:
        """Run a query and return its rows as tuples."""
        out = self._relation(sql, params).fetchall()
        self._shared.note()
        return out

    def scalar(self, sql: str, params: Sequence | dict | None = None):
        """Run a query and return the first column of its first row (or None)."""
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def columns(self, relation_sql: str, params: Sequence | dict | None = None) -> dict[str, str]:
        """Column names and DuckDB type names of a query, without running it."""
        rel = self._relation(relation_sql, params)
        return {name: str(dtype) for name, dtype in zip(rel.columns, rel.types)}

    # --- Arrow in ----------------------------------------------------------------------
    def register(self, name: str, data) -> None:
        """Expose an Arrow table, reader or pandas DataFrame as a view named ``name``."""
        self._con.register(name, data)

    def unregister(self, name: str) -> None:
        """Drop a view made by :meth:`register`."""
        self._con.unregister(name)

    def register_filesystem(self, filesystem) -> None:
        """Let DuckDB read paths under an fsspec filesystem's protocol through it.

        The connection keeps one filesystem per protocol: a new one replaces the old.
        """
        con = self._shared.con
        if filesystem.protocol in con.list_filesystems():
            con.unregister_filesystem(filesystem.protocol)
        con.register_filesystem(filesystem)

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
        """Close the connection (every scope on it with it, every layer's scratch file)."""
        self._shared.con.close()
        for folder in self._shared.scratch.values():
            shutil.rmtree(folder, ignore_errors=True)
        self._shared.scratch.clear()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: DuckDB settings while a stream of batches is written (see :func:`arrow_into`).
_STREAMED = {"threads": 1, "write_buffer_row_group_count": 1}


def arrow_into(engine: Engine, table: str, schema: pa.Schema, batches, *,
               statement: str | None = None, params: list | None = None, check=None) -> None:
    """Stream Arrow batches into DuckDB in one statement over a batch reader.

    One statement over a reader lets DuckDB write while batches arrive (measured: 2.4x
    faster than one INSERT per batch for 1M rows). By default the statement is ``CREATE
    OR REPLACE TEMP TABLE table AS SELECT * FROM __arrow_in``; ``check(columns)`` sees
    the DuckDB column types before a batch is read. An error raised while reading the
    batches (a dropped connection) is re-raised as itself.

    The statement runs on one DuckDB thread, and a table in a file writes each row group
    (compressed) as soon as it is full. DuckDB reads a stream of batches on one thread
    whatever its setting; a second thread only adds CPU, which the threads producing the
    batches (decoding a database's rows) need; and by default a file's table keeps five
    row groups before writing them, which leaves the last ones to compress after the
    stream has ended, when nothing else runs (measured, 1M seed rows into a file: 1.9-2.0
    s of CPU on two threads, 1.4 s on one, 0.4 s of it after the last batch with five row
    groups kept, none with one).
    """
    failure: list[BaseException] = []

    def guarded():
        try:
            yield from batches
        except BaseException as exc:
            failure.append(exc)
            raise

    engine.register("__arrow_in", pa.RecordBatchReader.from_batches(schema, guarded()))
    settings = {name: engine.scalar(f"SELECT current_setting('{name}')") for name in _STREAMED}
    try:
        if check is not None:
            check(engine.columns("SELECT * FROM __arrow_in"))
        for name, value in _STREAMED.items():
            engine.execute(f"SET {name} = {value}")
        engine.execute(statement or f"CREATE OR REPLACE TEMP TABLE {table} AS "
                       "SELECT * FROM __arrow_in", params)
    except Exception:
        if failure:
            raise failure[0] from None
        raise
    finally:
        try:
            for name, value in settings.items():
                engine.execute(f"SET {name} = {int(value)}")
        except QueryError:  # never in place of the statement's own error
            log.debug("could not restore the engine's settings", exc_info=True)
        engine.unregister("__arrow_in")


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
