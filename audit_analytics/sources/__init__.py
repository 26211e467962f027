"""Sources of audit events, and the registry that resolves a SOURCE argument to one.

Each kind of source is one class (:mod:`.parquet`, :mod:`.postgres`, :mod:`.database`,
:mod:`.duckdb_file`, :mod:`.jsonlines`) implementing the protocol of :mod:`.base`.
:data:`registry` maps a URL scheme or a file kind to the class's dotted path and, for a
source that needs an optional package, the install hint shown when it is missing; a class
is imported only when its kind is first used. :func:`source_identity` (:mod:`.identity`)
gives a source, or any spelling of one, its canonical identity.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from .. import _args
from ..errors import SourceError, UsageError
from .base import (
    ARCHIVE,
    CAPABILITIES,
    DIGESTS,
    PROGRESS,
    PROTECTIONS,
    STREAM,
    TABLE,
    WINDOW,
    ScanPart,
    Source,
)
from .identity import SourceIdentity, source_identity

__all__ = ["ARCHIVE", "CAPABILITIES", "DIGESTS", "PROGRESS", "PROTECTIONS", "STREAM", "TABLE",
           "WINDOW", "ScanPart", "Source", "SourceIdentity", "SourceKind", "open_source",
           "registry", "source_class", "source_identity"]


class SourceKind(NamedTuple):
    """Where a kind of source is implemented, and what to install when it cannot load.

    ``requires`` names the modules the class needs beyond the package's own (its driver);
    when one is missing, opening such a source fails at once with ``hint``.
    """

    path: str
    hint: str | None = None
    requires: tuple[str, ...] = ()


_KNOWN = {
    "postgresql": SourceKind("audit_analytics.sources.postgres.PostgresSource",
                             "pip install adbc-driver-postgresql adbc-driver-manager",
                             ("adbc_driver_postgresql", "adbc_driver_manager")),
    "duckdb": SourceKind("audit_analytics.sources.duckdb_file.DuckDBFileSource"),
    "parquet": SourceKind("audit_analytics.sources.parquet.ParquetSource"),
    # any other SQLAlchemy URL (sqlite://, mysql+pymysql://, mssql+pyodbc://...); its
    # driver is named by the URL, and a missing one is reported when the source opens
    "database": SourceKind("audit_analytics.sources.database.DatabaseSource"),
    # a folder holding an archive's manifest.jsonl (from ``archive``)
    "archive": SourceKind("audit_analytics.archive.source.ArchiveSource"),
    "cloudtrail": SourceKind("audit_analytics.cloudtrail.source.CloudTrailSource",
                             "pip install cryptography", ("cryptography",)),
}
#: URL scheme or file kind -> :class:`SourceKind` (read-only).
registry = MappingProxyType(_KNOWN)

_POSTGRES_URL = re.compile(r"^postgres(ql)?(\+\w+)?://")
_DATABASE_URL = re.compile(r"^(?!s3://|file://)[a-zA-Z][\w]*(\+\w+)?://", re.IGNORECASE)


def source_class(kind: str) -> type[Source]:
    """The class registered for ``kind``, imported on first use.

    Raises
    ------
    SourceError
        When ``kind`` is unknown, or its module needs a package that is not installed
        (the message carries the install hint).
    """
    try:
        entry = registry[kind]
    except KeyError:
        raise SourceError(f"unknown kind of source: {kind!r} "
                          f"(known: {', '.join(sorted(registry))})", source=kind) from None
    hint = f"; install it with: {entry.hint}" if entry.hint else ""
    for required in entry.requires:
        try:
            found = importlib.util.find_spec(required) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise SourceError(f"{kind} sources need the {required} package{hint}",
                              source=kind)
    module, _, name = entry.path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise SourceError(f"{kind} sources need {exc.name or 'a missing package'}{hint}",
                          source=kind) from None


def open_source(spec, *, table: str | None = None, since=None, until=None,
                streams: int | None = None, **cloudtrail) -> Source:
    """Resolve a SOURCE: a Parquet path, folder or glob, a database URL, a CloudTrail tree.

    Parquet may be local or in object storage (``s3://bucket/prefix``); a PostgreSQL URL
    is read through ADBC, any other SQLAlchemy URL (``sqlite:///audit.db``...) through
    SQLAlchemy Core.

    ``since``/``until`` (ISO text or datetimes) select a time window of a PostgreSQL
    table, filtered in the database; other sources refuse them. ``streams``: the
    connections a PostgreSQL table is read on at once (``None``: one per core, at most
    4); other sources have none and ignore it. A CloudTrail location (a folder holding
    ``AWSLogs/ACCOUNT/CloudTrail...``) takes ``public_keys``, ``start_time`` and
    ``end_time``; an archive folder (holding ``manifest.jsonl``) takes ``public_key`` and
    ``expect_head``; other sources refuse them.
    """
    source = _resolve(spec, table=table, since=since, until=until, streams=streams,
                      **cloudtrail)
    from .._io import mark_inputs

    mark_inputs(source.local_files())  # no output of this process may replace them
    return source


#: The options only a CloudTrail location takes.
_CLOUDTRAIL_OPTIONS = ("public_keys", "start_time", "end_time")
#: The options only an archive folder takes.
_ARCHIVE_OPTIONS = ("public_key", "expect_head")


def _resolve(spec, *, table, since, until, streams, **options) -> Source:
    unknown = sorted(set(options) - set(_CLOUDTRAIL_OPTIONS) - set(_ARCHIVE_OPTIONS))
    if unknown:
        raise UsageError(f"unknown option {unknown[0]!r} for a source (known: table, since, "
                         f"until, streams, {', '.join(_CLOUDTRAIL_OPTIONS + _ARCHIVE_OPTIONS)})",
                         argument=unknown[0])
    _args.text(table, "table", optional=True)
    _args.count(streams, "streams", minimum=1, optional=True)
    if isinstance(spec, Source):
        return spec
    text = os.fspath(_args.path(spec, "source", expected="a path, a URL or a Source"))
    from ..archive.store import is_archive
    from ..cloudtrail.location import is_cloudtrail_folder

    archive = {k: options.pop(k) for k in _ARCHIVE_OPTIONS if k in options}
    cloudtrail = options
    if is_archive(text):
        if since is not None or until is not None:
            raise SourceError("--since/--until apply to PostgreSQL sources only",
                              source=text)
        given = sorted(k for k, v in cloudtrail.items() if v is not None)
        if given:
            raise SourceError(f"{', '.join(given)} apply to CloudTrail sources only",
                              source=text)
        return source_class("archive")(text, **archive)
    given = sorted(k for k, v in archive.items() if v is not None)
    if given:
        raise SourceError(f"{', '.join(given).replace('_', '-')} apply to archive folders "
                          "(holding manifest.jsonl) only", source=text)
    if is_cloudtrail_folder(text):
        if since is not None or until is not None:
            raise SourceError("--since/--until apply to PostgreSQL sources only (a CloudTrail "
                              "source reads --start-time/--end-time)", source=text)
        return source_class("cloudtrail")(text, **cloudtrail)
    given = sorted(k for k, v in cloudtrail.items() if v is not None)
    if given:
        raise SourceError(f"{', '.join(given)} apply to CloudTrail sources only", source=text)
    if _POSTGRES_URL.match(text):
        return source_class("postgresql")(text, table=table or "audit_logs", since=since,
                                          until=until, streams=streams)
    if since is not None or until is not None:
        raise SourceError("--since/--until apply to PostgreSQL sources only", source=text)
    if _DATABASE_URL.match(text):
        return source_class("database")(text, table=table or "audit_logs")
    if text.endswith(".duckdb") and Path(text).is_file():
        return source_class("duckdb")(text, table=table or "events")
    return source_class("parquet")(text)
