"""PostgreSQL sources: the seed's ``audit_logs`` table read as Arrow batches into DuckDB.

Rows travel through the Apache Arrow project's ADBC PostgreSQL driver, which reads a
query with binary ``COPY`` and hands over Arrow record batches as they arrive (see
``benchmarks/bench_pg.py``: as fast as draining raw binary COPY, far faster than
``pandas.read_sql``). Two details of the driver shape the SQL:

- it streams only parameterless queries (a query with bound parameters is run as a
  prepared statement and arrives as one batch, twice as slow), so ``since``/``until``
  are bound into session settings with ``set_config($1)`` and the query reads them
  back with ``current_setting()``: the values are bound, never pasted into SQL;
- it hands UUID over as an Arrow extension type and INET, JSON and other PostgreSQL
  types as opaque binary, so such columns are cast to text in the SELECT (INET through
  ``abbrev()``: ``10.0.0.1``, not ``10.0.0.1/32``, as the seed's producer stored it).

The session is read-only (``SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY``, one
``REPEATABLE READ READ ONLY`` transaction, so the row count and the rows agree) and
bounded by a ``statement_timeout``. Credentials never appear in labels or messages:
every URL shown is passed through :func:`mask_url`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pyarrow as pa

from .._engine import quote_ident
from .._secrets import mask_secrets, remember
from ..errors import ConnectionFailed, SchemaError, SourceError
from ..periods import parse_when, parse_window
from ..progress import progress_bar
from .base import PROGRESS, PROTECTIONS, STREAM, TABLE, WINDOW
from .held import HeldRowsSource
from .snapshot import merged_batches, plan_ranges, range_condition, snapshot_id
from .tables import TableName, parse_table

__all__ = ["PostgresSource", "TableName", "connect", "mask_url", "parse_table"]

log = logging.getLogger("audit_analytics")

#: Columns a table needs before it can be read as a hash chain.
REQUIRED_COLUMNS = ("id", "timestamp", "prev_hash", "hash")
#: PostgreSQL types the driver hands over as plain Arrow types; all others become text.
_NATIVE_TYPES = {
    "text", "varchar", "bpchar", "name", "int2", "int4", "int8", "float4", "float8", "bool",
    "timestamptz", "timestamp", "date", "bytea", "_text", "_varchar",
}
_INET_TYPES = {"inet", "cidr"}
#: The prefix of the name under which the rows read from PostgreSQL are registered in the
#: DuckDB engine (one name per source: several sources can share an engine).
RAW_TABLE = "pg_raw"


def mask_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***`` (safe to print or store).

    Parameters
    ----------
    url
        A connection URL such as ``postgresql://user:secret@host:5432/db``.

    Returns
    -------
    str
        The same URL with any password masked; other text is returned unchanged.
    """
    return mask_secrets(url)


def _scrub(text: str) -> str:
    """First line of a driver message, masked by the one rule of :mod:`.._secrets`.

    The connection's passwords were remembered when its URL was read
    (:func:`_libpq_uri`), so an echoed one is masked wherever it appears when it is at
    least ``MIN_ECHOED`` characters long, and where it stands as a password otherwise.
    """
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    line = lines[0] if lines else "unknown error"
    line = re.sub(r"^(IO|INTERNAL|UNKNOWN|NOT_FOUND|INVALID_ARGUMENT|UNAUTHENTICATED): ", "", line)
    line = re.sub(r"^\[libpq\] ", "", line)
    return mask_secrets(line)


def _libpq_uri(url: str):
    """The libpq URI for a SQLAlchemy-style URL, the masked URL and the password."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        raise SourceError(f"not a database URL: {mask_url(url)}", source=mask_url(url)) from None
    if not parsed.drivername.startswith(("postgresql", "postgres")):
        raise SourceError(f"not a PostgreSQL URL: {mask_url(url)}", source=mask_url(url))
    for secret in (parsed.password, parsed.query.get("password")):
        remember(secret if isinstance(secret, str) else None)
    query = dict(parsed.query)
    query.setdefault("connect_timeout", "10")
    query.setdefault("application_name", "audit_analytics")
    return _render_libpq(parsed, query), mask_url(url), parsed


def _render_libpq(parsed, query: dict) -> str:
    """A libpq URI with every part percent-encoded (libpq refuses raw spaces, reads no ``+``).

    SQLAlchemy's own rendering leaves spaces raw and writes query spaces as ``+``: a
    password holding a space could not log in.
    """
    from urllib.parse import quote

    def enc(text) -> str:
        return quote(str(text), safe="")

    auth = ""
    if parsed.username is not None:
        secret = f":{enc(parsed.password)}" if parsed.password is not None else ""
        auth = f"{enc(parsed.username)}{secret}@"
    host = parsed.host or ""
    host = f"[{host}]" if ":" in host else host
    port = f":{parsed.port}" if parsed.port else ""
    database = f"/{enc(parsed.database)}" if parsed.database else ""
    pairs = [(key, value) for key, values in query.items()
             for value in (values if isinstance(values, list | tuple) else [values])]
    tail = "&".join(f"{enc(key)}={enc(value)}" for key, value in pairs)
    return f"postgresql://{auth}{host}{port}{database}" + (f"?{tail}" if tail else "")


def connect(url: str):
    """Open an ADBC connection (autocommit) and map failures to one-line errors.

    Parameters
    ----------
    url
        ``postgresql://user:pass@host:port/db`` (``postgresql+psycopg://`` accepted).

    Raises
    ------
    ConnectionFailed
        The server refused the connection, rejected the login or the database is unknown.
    """
    import adbc_driver_postgresql.dbapi as adbc

    uri, masked, parsed = _libpq_uri(url)
    try:
        return adbc.connect(uri, autocommit=True)
    except Exception as exc:
        raise ConnectionFailed(_connect_message(str(exc), masked, parsed),
                               source=masked) from None


def _connect_message(text: str, masked: str, parsed) -> str:
    low = text.lower()
    if "password authentication failed" in low or "no password supplied" in low:
        return f"login rejected by {masked}: wrong password or unknown user {parsed.username!r}"
    if "does not exist" in low and "database" in low:
        return f"cannot connect to {masked}: database {parsed.database!r} does not exist"
    if "connection refused" in low:
        return f"cannot connect to {masked}: connection refused (is the server running?)"
    if "timeout" in low:
        return f"cannot connect to {masked}: timed out"
    return f"cannot connect to {masked}: {_scrub(text)}"


def _as_utc_text(value) -> str | None:
    """ISO text with an explicit offset (naive datetimes and dates are taken as UTC)."""
    moment = parse_when(value, what="time window bound")
    return moment.isoformat() if moment else None


class PostgresSource(HeldRowsSource):
    """A PostgreSQL table of audit events, copied into the engine when attached.

    Parameters
    ----------
    url
        ``postgresql://user:pass@host:port/db``; the password never appears in labels.
    table
        The table, optionally schema-qualified (``audit.audit_logs``).
    since, until
        Keep rows with ``since <= timestamp < until`` (ISO text or datetimes; naive
        values are UTC). The filter runs in PostgreSQL.
    keep_untimed
        Keep the rows whose timestamp is NULL too, whatever the window (what ``archive``
        reads: such a row belongs to no window and is archived once).
    statement_timeout
        PostgreSQL ``statement_timeout`` for every statement of the session.
    progress
        Show a progress bar (``None``: only on a terminal).
    streams
        Connections that read the table at once, each a range of its heap blocks, all in
        one exported snapshot (see :mod:`.snapshot`); ``None``: one per core, at most 4
        (a small table, a view or a server before PostgreSQL 14 is read on one).
    """

    capabilities = frozenset({WINDOW, STREAM, PROGRESS, TABLE, PROTECTIONS})
    #: Test seam: called as ``on_batch(rows_so_far)`` after each batch arrives.
    on_batch: Callable[[int], None] | None = None
    #: Test seam: called as ``on_snapshot(id)`` once the snapshot is exported, before the
    #: other connections adopt it.
    on_snapshot: Callable[[str], None] | None = None
    #: ADBC batch size hint (bytes of Arrow data per batch).
    batch_size_hint_bytes: int = 16 << 20

    def __init__(self, url: str, table: str = "audit_logs", since=None, until=None, *,
                 statement_timeout: str = "30min", progress: bool | None = None,
                 streams: int | None = None, keep_untimed: bool = False) -> None:
        self.url = url
        self.keep_untimed = keep_untimed
        self.streams = max(1, int(streams)) if streams else min(4, os.cpu_count() or 1)
        _, masked, parsed = _libpq_uri(url)
        self.table = parse_table(table or "audit_logs")
        self.masked_url = masked
        self.database = parsed.database
        parse_window(since, until)  # an empty window is bad input, never an empty read
        self.since = _as_utc_text(since)
        self.until = _as_utc_text(until)
        self.statement_timeout = statement_timeout
        self.progress = progress
        self.pg_types: dict[str, str] = {}
        self._raw = f"{RAW_TABLE}_{uuid.uuid4().hex}"
        super().__init__(label=f"{masked} table {self.table}", kind="postgresql")

    # --- reading ----------------------------------------------------------------------
    @contextmanager
    def session(self, snapshot: str | None = None):
        """A read-only ADBC cursor inside one ``REPEATABLE READ READ ONLY`` transaction.

        ``snapshot``: the id of a snapshot another session exported, which this one's
        transaction adopts before reading anything.
        """
        con = connect(self.url)
        try:
            cur = con.cursor()
            try:
                cur.execute("SELECT set_config('statement_timeout', $1, false)",
                            [self.statement_timeout])
                cur.fetchall()
                cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                if snapshot is not None:
                    cur.execute(f"SET TRANSACTION SNAPSHOT '{snapshot_id(snapshot)}'")
            except Exception as exc:
                raise self._lost(exc, "opening the session") from None
            yield cur
            try:
                cur.execute("COMMIT")
            except Exception:  # the data is read; a failed COMMIT of a read changes nothing
                log.debug("COMMIT after read failed", exc_info=True)
        finally:
            try:
                con.close()
            except Exception:
                log.debug("closing the PostgreSQL connection failed", exc_info=True)

    def describe_table(self, cur) -> dict[str, str]:
        """Read the table's columns and PostgreSQL types; check the required ones."""
        regclass = self.table.sql
        cur.execute("SELECT to_regclass($1) IS NOT NULL", [regclass])
        if not cur.fetchone()[0]:
            raise SourceError(
                f"table {self.table} not found in database {self.database!r} at "
                f"{self.masked_url}", source=self.label)
        cur.execute(
            "SELECT a.attname::text, t.typname::text FROM pg_attribute a "
            "JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum", [regclass])
        self.pg_types = dict(cur.fetchall())
        required = ([self.stored(c) for c in REQUIRED_COLUMNS if c != "prev_hash"]
                    if self.column_map else REQUIRED_COLUMNS)  # a mapped chain may be link-less
        missing = [c for c in required if c not in self.pg_types]
        if missing:
            raise SchemaError(
                f"table {self.table} at {self.masked_url} lacks column(s) {', '.join(missing)} "
                f"(has: {', '.join(self.pg_types) or 'none'})", source=self.label,
                column=missing[0])
        return self.pg_types

    def select_sql(self, since: str | None = None, until: str | None = None,
                   blocks: tuple[int, int | None] | None = None) -> str:
        """The SELECT that reads every column, with driver-unfriendly types as text.

        ``blocks``: read only the heap blocks ``[start, end)`` (``end`` ``None``: to the
        end of the table).
        """
        items = []
        for name, typname in self.pg_types.items():
            col = quote_ident(name)
            if typname in _NATIVE_TYPES:
                items.append(col)
            elif typname in _INET_TYPES:
                items.append(f"abbrev({col}) AS {col}")
            else:
                items.append(f"{col}::text AS {col}")
        where = []
        if since:
            where.append(f"{quote_ident(self.stored('timestamp'))} >= "
                         "current_setting('audit_analytics.since')::timestamptz")
        if until:
            where.append(f"{quote_ident(self.stored('timestamp'))} < "
                         "current_setting('audit_analytics.until')::timestamptz")
        if where and self.keep_untimed:
            where = [f"({' AND '.join(where)} OR "
                     f"{quote_ident(self.stored('timestamp'))} IS NULL)"]
        if blocks is not None:
            where.append(range_condition(*blocks))
        sql = f"SELECT {', '.join(items)} FROM {self.table.sql}"
        return sql + (" WHERE " + " AND ".join(where) if where else "")

    def _bind_window(self, cur, since: str | None, until: str | None) -> None:
        for key, value in (("since", since), ("until", until)):
            if value:
                cur.execute("SELECT set_config($1, $2, true)", [f"audit_analytics.{key}", value])
                cur.fetchall()

    def _estimate(self, cur, since: str | None, until: str | None) -> int | None:
        """Rows to expect, for progress: counted when filtered, else pg_class's estimate."""
        if since or until:
            cur.execute(f"SELECT count(*) FROM ({self.select_sql(since, until)}) q")
            return int(cur.fetchone()[0])
        cur.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)",
                    [self.table.sql])
        row = cur.fetchone()
        return int(row[0]) if row and row[0] and row[0] > 0 else None

    def _start(self, cur, sql: str):
        """Run the SELECT on ``cur`` and return its Arrow batch reader."""
        cur.adbc_statement.set_options(
            **{"adbc.postgresql.batch_size_hint_bytes": str(self.batch_size_hint_bytes)})
        cur.execute(sql)
        return cur.fetch_record_batch()

    @contextmanager
    def batches(self, since: str | None = None, until: str | None = None, *,
                desc: str = "reading") -> Iterator[tuple[pa.Schema, Iterator[pa.RecordBatch]]]:
        """Stream the table's rows as Arrow batches: ``(schema, batches)``.

        ``since``/``until`` default to the source's own window. A large table is read on
        :attr:`streams` connections sharing one snapshot, one block range each; the
        batches come in block order either way. A connection lost while the rows arrive
        raises :class:`ConnectionFailed`.
        """
        since = self.since if since is None else _as_utc_text(since)
        until = self.until if until is None else _as_utc_text(until)
        with self.session() as cur, contextlib.ExitStack() as others:
            try:
                self.describe_table(cur)
                self._bind_window(cur, since, until)
                total = self._estimate(cur, since, until)
                ranges = plan_ranges(cur, self.table.sql, self.streams)
                cursors = [cur]
                if ranges:
                    cur.execute("SELECT pg_export_snapshot()")
                    exported = cur.fetchone()[0]
                    if self.on_snapshot is not None:
                        self.on_snapshot(exported)
                    for _ in ranges[1:]:
                        other = others.enter_context(self.session(exported))
                        self._bind_window(other, since, until)
                        cursors.append(other)
                readers = [self._start(c, self.select_sql(since, until, blocks))
                           for c, blocks in zip(cursors, ranges or [None])]
            except (SourceError, SchemaError):
                raise
            except Exception as exc:
                raise self._lost(exc, "starting the read") from None
            yield readers[0].schema, self._stream(readers, cursors, total, desc)

    def _stream(self, readers: list, cursors: list, total: int | None,
                desc: str) -> Iterator[pa.RecordBatch]:
        rows = 0
        with progress_bar(total, desc, self.progress) as bar:
            def arrived(n: int) -> None:
                nonlocal rows
                rows += n
                bar.update(n)
                if self.on_batch is not None:
                    self.on_batch(rows)

            def cancel() -> None:
                for cur in cursors:
                    with contextlib.suppress(Exception):
                        cur.adbc_cancel()

            try:
                yield from merged_batches(readers, arrived, cancel)
            except Exception as exc:
                raise self._lost(exc, f"the transfer, after {rows:,} rows") from None

    def _lost(self, exc: BaseException, during: str) -> SourceError:
        text = _scrub(str(exc))
        low = text.lower()
        if any(k in low for k in ("terminat", "closed the connection", "connection", "eof",
                                  "broken pipe", "server closed")):
            return ConnectionFailed(
                f"connection to {self.masked_url} lost during {during} of table {self.table}: "
                f"{text}", source=self.label)
        if "statement timeout" in low:
            return SourceError(
                f"reading table {self.table} at {self.masked_url} exceeded statement_timeout "
                f"{self.statement_timeout}", source=self.label)
        return SourceError(f"cannot read table {self.table} at {self.masked_url}: {text}",
                           source=self.label)

    @property
    def windowed(self) -> bool:
        """True when ``since`` or ``until`` limited the rows read."""
        return bool(self.since or self.until)

    def hashes_outside(self, hashes: list[str]) -> set[str]:
        """Which ``hashes`` exist in the table outside the window (one read-only query)."""
        wanted = [h for h in hashes if h]
        if not wanted or not self.windowed:
            return set()
        with self.session() as cur:
            cur.execute(
                f"SELECT {quote_ident(self.stored('hash'))}::text FROM {self.table.sql} "
                f"WHERE {quote_ident(self.stored('hash'))}::text = "
                "ANY(string_to_array($1, ','))",
                [",".join(wanted)],
            )
            return {row[0] for row in cur.fetchall()}
