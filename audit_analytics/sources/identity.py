"""The canonical identity of a source: one key for every spelling of the same source.

A user may name one source many ways: ``./clean.parquet``, ``clean.parquet``,
``/srv/audit/clean.parquet``, ``//srv//audit//clean.parquet`` and ``file:///srv/audit/
clean.parquet`` are one file; ``postgresql://alice:pw@DB/app`` and
``postgresql+psycopg://bob@db:5432/app`` are one table. The access journal, the review
ledger and everything that reads them compare sources by :func:`source_identity`, never by
the text they were given. Its ``key`` is what to compare (and to key records on); its
``display`` is the same canonical text for people. Neither ever holds a user name, a
password or any other credential.

The rules, by what the spelling names:

- **a local path** (a Parquet file, folder or glob; a JSON-lines file; a CloudTrail tree's
  root folder): the absolute path with symbolic links resolved and ``//``, ``.`` and
  ``..`` collapsed (:func:`os.path.realpath`), relative paths taken from the current
  working directory. A folder is its resolved path; a glob is its resolved pattern (the
  folders before the first wildcard are resolved, the wildcards kept as written): a folder
  and a glob over it are two identities even when they name the same files, and so are two
  globs that happen to match the same files;
- **a** ``file://`` **URL**: the local path it names (``file://localhost/...`` too);
- ``s3://bucket/prefix``: ``s3://`` (lower case), the bucket, then the key with runs of
  ``/`` collapsed and no leading or trailing ``/``; any ``user:secret@`` before the bucket
  is dropped. Keys are case-sensitive and ``.`` or ``..`` in them are literal, so they stay;
- **a PostgreSQL URL** (``postgres://``, ``postgresql://``, ``postgresql+driver://``):
  ``postgresql://HOST:PORT/DATABASE table SCHEMA.TABLE``: the host in lower case (a host
  given as the ``host=`` query parameter when the URL has none, else ``localhost``), the
  port (default 5432), the database (as given; empty when the URL names none), the table
  as PostgreSQL reads it (unquoted names folded to lower case; default ``audit_logs``, the
  CLI's default; default schema ``public``). Names that are not plain lower-case
  identifiers are double-quoted;
- **any other SQLAlchemy URL**: ``BACKEND://HOST:PORT/DATABASE table TABLE`` (the driver
  dropped: ``mysql+pymysql`` is ``mysql``; the port defaulted for MySQL/MariaDB 3306, SQL
  Server 1433 and Oracle 1521; table as given, default ``audit_logs``); a SQLite file is
  ``sqlite:///`` and its resolved path;
- **a DuckDB file** (``*.duckdb``): its resolved path, ``table`` and the table in lower case
  (DuckDB's names are case-insensitive; default ``events``).

A source's label as the toolkit stores it (``postgresql://app:***@db/prod table
audit.audit_logs``, ``/data/audit.duckdb table events``) gives the same identity as the
source itself: the `` table T`` suffix is read back. Text that names nothing these rules
know (a URL that cannot be parsed, a ``file://`` URL of another host, an empty path) gets
an opaque identity, ``unparsed:`` and the SHA-256 of the text: two equal spellings still
match, and nothing of the text, credentials included, is in its key or display. A
canonical text that itself reads as holding a credential (a folder named ``password=x``, a
libpq ``host=... password=...`` string given where a path goes) is keyed and displayed by
its SHA-256.

The identity is computed from the text alone (and, for a local path, the symbolic links on
the way): nothing is read, so it may name something that does not exist (yet). It is best
effort where a spelling depends on context: a relative path resolves against the working
directory of whoever computes it, and a database host is compared as written (``db`` and
``db.example.org`` are two identities).

>>> source_identity("postgresql://app:secret@DB/prod").key
'postgresql://db:5432/prod table public.audit_logs'
>>> source_identity("s3://audit//2024//").key
's3://audit/2024'
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .._secrets import mask_secrets

__all__ = ["SourceIdentity", "source_identity"]

#: Default ports of the SQLAlchemy backends the toolkit is used with.
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433,
                 "oracle": 1521}
#: The table a database source reads when none is named (the CLI's default).
DEFAULT_TABLE = "audit_logs"
#: The table of a DuckDB file when none is named (``load --into`` writes it).
DEFAULT_DUCKDB_TABLE = "events"
#: The schema of a PostgreSQL table named without one.
DEFAULT_SCHEMA = "public"

_URL = re.compile(r"^[a-zA-Z][\w+.-]*://")
# as :func:`~audit_analytics.sources.open_source` tells a PostgreSQL URL from another one
_POSTGRES = re.compile(r"^postgres(?:ql)?(?:\+\w+)?://")
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_$]*")
_TABLE_SUFFIX = " table "


@dataclass(frozen=True)
class SourceIdentity:
    """What a source is, whatever it was called.

    Attributes
    ----------
    kind
        ``local`` (a path on this machine), ``s3``, ``postgresql``, ``database`` (another
        SQLAlchemy URL), ``duckdb`` or ``unparsed``.
    key
        The canonical text to compare and to key records on (no credential).
    display
        The canonical text for people (no credential).
    """

    kind: str
    key: str
    display: str

    def __str__(self) -> str:
        return self.display


def source_identity(spec: object, *, table: str | None = None) -> SourceIdentity:
    """The canonical identity of ``spec`` (see the module docstring for the rules).

    Parameters
    ----------
    spec
        A :class:`~audit_analytics.sources.base.Source` (its own location and table are
        used), a SOURCE argument as a user gives it, or a label as the journal and the
        ledger store it.
    table
        The table of a database or DuckDB source (default: the one in a label's
        `` table T`` suffix, else the CLI's default).

    Returns
    -------
    SourceIdentity
        Never raises: text these rules cannot read has an opaque ``unparsed`` identity.
    """
    if _is_source(spec):
        return _of_source(spec)
    text = os.fspath(spec) if isinstance(spec, os.PathLike) else str(spec)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    try:
        return _guarded(_of_text(text, table), text)
    except (ValueError, OSError, TypeError):
        return _unparsed(text)


def _is_source(value) -> bool:
    """Whether ``value`` is an opened source (a :class:`~.base.Source`: a label and parts)."""
    return (not isinstance(value, str | bytes | os.PathLike) and value is not None
            and isinstance(getattr(value, "label", None), str) and callable(
                getattr(value, "parts", None)))


def _of_source(source) -> SourceIdentity:
    """A source's identity from what it reads (never from its label's spelling)."""
    inner = getattr(source, "inner", None)  # a mapped source shows another under new names
    if _is_source(inner):
        return _of_source(inner)
    try:
        if source.kind in ("postgresql", "database", "duckdb"):
            return _guarded(_of_table_source(source))
    except (AttributeError, ValueError, OSError, TypeError):
        pass  # a source shaped otherwise: its label says where it reads
    return source_identity(source.label)


def _of_table_source(source) -> SourceIdentity:
    """The identity of a database table or a DuckDB file's table, from the source's own parts."""
    if source.kind == "postgresql":
        from sqlalchemy.engine import make_url

        name = source.table
        return _postgres(make_url(source.url), name.schema, name.name)
    if source.kind == "database":
        return _database(source._url, source.table)
    return _duckdb(os.fspath(source.path), source.table)


def _of_text(text: str, table: str | None) -> SourceIdentity:
    where = text
    if table is None and _TABLE_SUFFIX in text:
        head, _, tail = text.rpartition(_TABLE_SUFFIX)
        database = _URL.match(head) and not head.lower().startswith(("s3://", "file://"))
        if tail and (database or head.endswith(".duckdb")):
            where, table = head, tail
    lowered = where.lower()
    if lowered.startswith("s3://"):
        return _s3(where)
    if lowered.startswith("file://"):
        parts = urlsplit(where)
        if parts.netloc.lower() not in ("", "localhost"):
            return _unparsed(text)
        return _local(unquote(parts.path))
    if _URL.match(where):
        from sqlalchemy.engine import make_url

        try:
            url = make_url(where)
        except Exception:  # SQLAlchemy raises ArgumentError and others for a bad URL
            return _unparsed(text)
        if _POSTGRES.match(where):
            schema, name = _pg_table(table)
            return _postgres(url, schema, name)
        return _database(url, table)
    if where.endswith(".duckdb") and (table is not None or not os.path.isdir(where)):
        return _duckdb(where, table)
    return _local(where)


def _resolved(path: str) -> str:
    """``path`` absolute, links resolved, ``//``, ``.`` and ``..`` collapsed."""
    if not path:
        raise ValueError("an empty path")
    resolved = os.path.realpath(path)
    # POSIX lets exactly two leading slashes mean something else; Linux does not
    return "/" + resolved.lstrip("/") if resolved.startswith("//") else resolved


def _local(path: str) -> SourceIdentity:
    resolved = _resolved(path)
    return SourceIdentity("local", resolved, resolved)


def _s3(text: str) -> SourceIdentity:
    rest = text[len("s3://"):]
    authority, _, key = rest.partition("/")
    authority = authority.rpartition("@")[2]  # credentials never belong in a location
    if not authority:
        return _unparsed(text)
    key = "/".join(part for part in key.split("/") if part)
    canonical = f"s3://{authority}/{key}" if key else f"s3://{authority}"
    return SourceIdentity("s3", canonical, canonical)


def _host(url) -> str:
    host = url.host
    if not host:
        given = url.query.get("host")
        host = (given[0] if isinstance(given, tuple | list) and given else given) or ""
    host = str(host).rpartition("@")[2]  # a malformed user-info never leaks
    host = host if host.startswith("/") else host.lower()  # a socket folder is a path
    return f"[{host}]" if ":" in host else host


def _port(url, backend: str) -> str:
    port = url.port
    if port is None:
        given = url.query.get("port")
        given = given[0] if isinstance(given, tuple | list) and given else given
        port = int(given) if isinstance(given, str) and given.isdigit() else None
    port = port if port is not None else DEFAULT_PORTS.get(backend)
    return "" if port is None else f":{port}"


def _pg_table(table: str | None) -> tuple[str | None, str]:
    from ..errors import SourceError
    from .tables import parse_table

    text = table or DEFAULT_TABLE
    try:
        name = parse_table(text)
    except SourceError:  # not a [schema.]table name: the text is the name
        return None, text
    return name.schema, name.name


def _quoted(name: str) -> str:
    return name if _PLAIN_NAME.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def _postgres(url, schema: str | None, name: str) -> SourceIdentity:
    database = url.database
    if not database:
        given = url.query.get("dbname")
        database = (given[0] if isinstance(given, tuple | list) and given else given) or ""
    host = _host(url) or "localhost"
    canonical = (f"postgresql://{host}{_port(url, 'postgresql')}/{database} table "
                 f"{_quoted(schema or DEFAULT_SCHEMA)}.{_quoted(name)}")
    return SourceIdentity("postgresql", canonical, canonical)


def _database(url, table: str | None) -> SourceIdentity:
    backend = url.get_backend_name().lower()
    name = table or DEFAULT_TABLE
    if backend == "sqlite":
        database = url.database
        where = ("" if not database or database == ":memory:" or database.startswith("file:")
                 else _resolved(database))
        canonical = f"sqlite://{'/' + where if where else ''} table {name}"
        return SourceIdentity("database", canonical, canonical)
    canonical = (f"{backend}://{_host(url)}{_port(url, backend)}/{url.database or ''} "
                 f"table {name}")
    return SourceIdentity("database", canonical, canonical)


def _duckdb(path: str, table: str | None) -> SourceIdentity:
    canonical = f"{_resolved(path)} table {(table or DEFAULT_DUCKDB_TABLE).lower()}"
    return SourceIdentity("duckdb", canonical, canonical)


def _guarded(identity: SourceIdentity, text: str = "") -> SourceIdentity:
    """``identity``, or its digest when its text holds what reads as a credential.

    A path or name may hold ``password=...`` or ``scheme://user:secret@`` (a folder named
    so, a libpq string given as a path), in the canonical text or in the ``text`` it was
    read from: the key and the display are then the SHA-256 of the canonical text (still
    one key per source, and nothing of the text shown).
    """
    paths = identity.kind in ("local", "duckdb")  # a URL's parts are picked, never copied
    if all(mask_secrets(t, echoes=False) == t for t in (identity.key, text if paths else "")):
        return identity
    digest = hashlib.sha256(identity.key.encode("utf-8", "surrogatepass")).hexdigest()
    opaque = f"{identity.kind}:sha256:{digest}"
    return SourceIdentity(identity.kind, opaque, opaque)


def _unparsed(text: str) -> SourceIdentity:
    """An opaque identity: equal texts match, and no part of the text is kept."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return SourceIdentity("unparsed", f"unparsed:{digest}", f"unparsed:{digest}")
