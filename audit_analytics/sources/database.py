"""Audit tables in any database SQLAlchemy reaches: SQLite, MySQL, SQL Server, Oracle...

PostgreSQL keeps its own fast path (:mod:`.postgres`, ADBC's binary COPY); every other
SQLAlchemy URL (``sqlite:///audit.db``, ``mysql+pymysql://...``, ``mssql+pyodbc://...``)
is read here through SQLAlchemy Core:

- one ``SELECT`` of every column, run with ``stream_results`` (a server-side cursor where
  the driver has one) and fetched ``batch_rows`` rows at a time, each batch turned into an
  Arrow record batch with a fixed schema;
- values come as the driver gives them (no SQLAlchemy type processing): integers, floats,
  booleans, datetimes and bytes keep an Arrow type of their own, everything else (text,
  decimals, UUIDs, JSON) becomes text. SQLite stores dates as text, so they are read as
  the text stored, which is what a producer hashed;
- the session is read-only where the dialect allows it: a SQLite file is opened with
  ``mode=ro`` (and ``PRAGMA query_only``), so a missing file is an error, never a new empty
  database; MySQL and MariaDB get ``SET SESSION TRANSACTION READ ONLY``, Oracle
  ``SET TRANSACTION READ ONLY``; other dialects read in an ordinary transaction that is
  rolled back.

The URL's password is remembered for masking and never appears in a label or message.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa

from .._secrets import mask_secrets, remember
from ..errors import ConnectionFailed, SchemaError, SourceError, first_line
from ..progress import progress_bar
from .base import PROGRESS, TABLE
from .held import HeldRowsSource

__all__ = ["BATCH_ROWS", "DatabaseSource"]

log = logging.getLogger("audit_analytics")

#: Rows fetched from the cursor per Arrow batch.
BATCH_ROWS = 65_536
REQUIRED_COLUMNS = ("id", "timestamp", "prev_hash", "hash")
_READ_ONLY = {
    "mysql": ("SET SESSION TRANSACTION READ ONLY",),
    "mariadb": ("SET SESSION TRANSACTION READ ONLY",),
    "oracle": ("SET TRANSACTION READ ONLY",),
    "sqlite": ("PRAGMA query_only = ON",),
}
_KINDS = ((bool, pa.bool_()), (int, pa.int64()), (float, pa.float64()), (bytes, pa.binary()),
          (dt.datetime, None), (dt.date, pa.date32()))


def _arrow_type(column: dict, dialect: str) -> pa.DataType:
    """The Arrow type a reflected column's driver values are kept as."""
    try:
        python = column["type"].python_type
    except (NotImplementedError, AttributeError):  # a dialect type with no Python type
        return pa.string()
    if dialect == "sqlite" and python in (dt.datetime, dt.date, dt.time):
        return pa.string()  # SQLite has no date type: the text stored is what was hashed
    if python is dt.datetime:
        aware = bool(getattr(column["type"], "timezone", False))
        return pa.timestamp("us", tz="UTC") if aware else pa.timestamp("us")
    for kind, arrow in _KINDS:
        if python is kind and arrow is not None:
            return arrow
    return pa.string()


def _as_text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


class DatabaseSource(HeldRowsSource):
    """A table of audit events in a database reached through SQLAlchemy (not PostgreSQL).

    Parameters
    ----------
    url
        A SQLAlchemy URL: ``sqlite:///audit.db``, ``mysql+pymysql://user:pw@host/db``...
    table
        The table, optionally schema-qualified (``audit.audit_logs``).
    batch_rows
        Rows fetched per batch from the server-side cursor.
    progress
        Show a progress bar (``None``: only on a terminal).
    """

    capabilities = frozenset({PROGRESS, TABLE})

    def __init__(self, url: str, table: str = "audit_logs", *, batch_rows: int = BATCH_ROWS,
                 progress: bool | None = None) -> None:
        from sqlalchemy.engine import make_url

        masked = mask_secrets(url)
        try:
            self._url = make_url(url)
        except Exception:
            raise SourceError(f"not a database URL: {masked}", source=masked) from None
        remember(self._url.password if isinstance(self._url.password, str) else None)
        self.masked_url = mask_secrets(url)
        self.schema, _, name = (table or "audit_logs").rpartition(".")
        self.schema = self.schema or None
        self.table = table or "audit_logs"
        self._name = name
        self.batch_rows = max(int(batch_rows), 1)
        self.progress = progress
        self.dialect = self._url.get_backend_name()
        self._raw = f"db_raw_{uuid.uuid4().hex}"
        super().__init__(label=f"{self.masked_url} table {self.table}", kind="database")
        if self.dialect == "sqlite":
            self._sqlite_file()

    def local_files(self) -> list[str]:
        """The SQLite database file (none for a database server)."""
        return [str(self._sqlite_file())] if self.dialect == "sqlite" else []

    # --- connecting ---------------------------------------------------------------------
    def _sqlite_file(self) -> Path:
        database = self._url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            raise SourceError(f"{self.masked_url}: name a SQLite database file "
                              "(sqlite:///path/to/audit.db)", source=self.label)
        path = Path(database)
        if not path.is_file():
            what = "a folder" if path.is_dir() else "not found"
            raise SourceError(f"SQLite database {what}: {database}", source=self.label)
        return path

    def _engine(self):
        from sqlalchemy import create_engine
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            if self.dialect == "sqlite":
                uri = f"file:{quote(str(self._sqlite_file().resolve()))}?mode=ro"
                return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True),
                                     poolclass=_null_pool())
            return create_engine(self._url, poolclass=_null_pool())
        except NoSuchModuleError:
            raise SourceError(f"SQLAlchemy knows no database dialect "
                              f"{self._url.drivername!r} ({self.masked_url})",
                              source=self.label) from None
        except ModuleNotFoundError as exc:
            raise SourceError(f"{self._url.drivername} sources need the {exc.name} package; "
                              f"install it with: pip install {exc.name}",
                              source=self.label) from None
        except ArgumentError as exc:
            raise SourceError(f"not a usable database URL {self.masked_url}: "
                              f"{mask_secrets(first_line(exc))}", source=self.label) from None

    @contextmanager
    def session(self):
        """A connection in a read-only transaction where the dialect allows; rolled back."""
        engine = self._engine()
        try:
            try:
                con = engine.connect()
            except Exception as exc:
                raise ConnectionFailed(f"cannot connect to {self.masked_url}: "
                                       f"{mask_secrets(first_line(exc))}",
                                       source=self.label) from None
            try:
                for statement in _READ_ONLY.get(self.dialect, ()):
                    con.exec_driver_sql(statement)
                yield con
            finally:
                try:
                    con.rollback()
                    con.close()
                except Exception:
                    log.debug("closing the database connection failed", exc_info=True)
        finally:
            engine.dispose()

    def _columns(self, con) -> list[dict]:
        from sqlalchemy import inspect

        try:
            found = inspect(con).has_table(self._name, schema=self.schema)
            columns = inspect(con).get_columns(self._name, schema=self.schema) if found else []
        except Exception as exc:
            raise SourceError(f"cannot read the tables of {self.masked_url}: "
                              f"{mask_secrets(first_line(exc))}", source=self.label) from None
        if not found:
            raise SourceError(f"table {self.table} not found at {self.masked_url}",
                              source=self.label)
        names = [c["name"] for c in columns]
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            raise SchemaError(f"table {self.table} at {self.masked_url} lacks column(s) "
                              f"{', '.join(missing)} (has: {', '.join(names) or 'none'})",
                              source=self.label, column=missing[0])
        return columns

    def select_sql(self, con, columns: list[dict]) -> str:
        """The SELECT of every column, identifiers quoted by the dialect."""
        quote_name = con.dialect.identifier_preparer.quote
        table = quote_name(self._name)
        if self.schema:
            table = f"{quote_name(self.schema)}.{table}"
        return f"SELECT {', '.join(quote_name(c['name']) for c in columns)} FROM {table}"

    @contextmanager
    def batches(self, *, desc: str = "reading"
                ) -> Iterator[tuple[pa.Schema, Iterator[pa.RecordBatch]]]:
        """Stream the table's rows as Arrow batches: ``(schema, batches)``."""
        with self.session() as con:
            columns = self._columns(con)
            schema = pa.schema([(c["name"], _arrow_type(c, self.dialect)) for c in columns])
            try:
                result = con.execution_options(stream_results=True,
                                               max_row_buffer=self.batch_rows
                                               ).exec_driver_sql(self.select_sql(con, columns))
            except Exception as exc:
                raise SourceError(f"cannot read table {self.table} at {self.masked_url}: "
                                  f"{mask_secrets(first_line(exc))}", source=self.label) from None
            yield schema, self._stream(result, schema, desc)

    def _stream(self, result, schema: pa.Schema, desc: str) -> Iterator[pa.RecordBatch]:
        rows = 0
        with progress_bar(None, desc, self.progress) as bar:
            while True:
                try:
                    chunk = result.fetchmany(self.batch_rows)
                except Exception as exc:
                    raise SourceError(f"reading table {self.table} at {self.masked_url} "
                                      f"failed after {rows:,} rows: "
                                      f"{mask_secrets(first_line(exc))}",
                                      source=self.label) from None
                if not chunk:
                    return
                yield self._batch(chunk, schema, rows)
                rows += len(chunk)
                bar.update(len(chunk))

    def _batch(self, chunk, schema: pa.Schema, first: int) -> pa.RecordBatch:
        arrays = []
        for field, values in zip(schema, zip(*chunk)):
            values = list(values)
            if pa.types.is_string(field.type):
                arrays.append(pa.array([_as_text(v) for v in values], pa.string()))
                continue
            try:
                arrays.append(pa.array(values, field.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
                bad = next(i for i, v in enumerate(values)
                           if not _fits(v, field.type))
                raise SchemaError(f"table {self.table} at {self.masked_url}: column "
                                  f"{field.name} holds {type(values[bad]).__name__} "
                                  f"{_as_text(values[bad])!r} at row {first + bad}, not "
                                  f"{field.type}", source=self.label,
                                  column=field.name) from None
        return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _fits(value, arrow_type: pa.DataType) -> bool:
    try:
        pa.array([value], arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        return False
    return True


def _null_pool():
    from sqlalchemy.pool import NullPool

    return NullPool
