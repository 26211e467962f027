"""Where sources and archives live: local folders and object storage (S3 and S3-compatible).

Every file access outside the user's small input files goes through a pyarrow
``FileSystem`` and a path inside it, so one piece of code reads or writes a local folder
and an ``s3://`` prefix alike. No DuckDB extension is involved (``httpfs`` downloads
itself); S3 is read with pyarrow's ``S3FileSystem``, and the few calls it cannot make
(versioning, Object Lock configuration, retention, user metadata, conditional writes) with
boto3, behind the ``s3`` extra (``pip install 'audit_analytics[s3]'``).

API
---
Locations
    :class:`Location`
        ``fs`` (a ``pyarrow.fs.FileSystem``), ``path`` (inside it: an absolute local path
        or ``bucket/key``), ``url`` (for people: the path as given, or
        ``s3://bucket/key``), ``scheme`` (``"file"`` or ``"s3"``), ``is_s3``, ``bucket``,
        ``key``, ``child(*names)``, ``with_path(path)``. ``str(location)`` is ``url``.
    :func:`locate(text) <locate>`
        A local path, ``file:///abs/path`` or ``s3://bucket/prefix`` as a Location;
        nothing is read (an output may not exist yet). A malformed URL is a
        :class:`~audit_analytics.errors.SourceError`.
    :func:`is_remote(text) <is_remote>`, :func:`has_glob(text) <has_glob>`
        Whether text names S3; whether it holds ``*``, ``?`` or ``[``.
    :func:`expand(text, suffixes=(".parquet", ".pq")) <expand>`
        ``(files, hive)``: the files a SOURCE or archive argument names (a file; every
        file under a folder or prefix ending with a suffix; a glob's matches, ``**``
        spanning folders), sorted, each a Location; ``hive`` says whether ``key=value``
        folders appear. Missing path, missing bucket, denied access, bad credentials:
        one-line ``SourceError``.
    :func:`file_info(location) <file_info>`
        pyarrow's ``FileInfo`` (``type`` is ``FileType.NotFound`` when nothing is there),
        S3 refusals translated.
    :func:`read_bytes(location, limit=None) <read_bytes>`
        The whole file or object (refused past ``limit``).

Writing
    :func:`write_new(target, data, mode=None, retain_until=None, metadata=None) <write_new>`
        Create a file or object, never replacing one: locally through
        :mod:`audit_analytics._io` (exclusive), in S3 with a conditional ``PutObject``
        (``If-None-Match: *``; a check first where the server lacks it), with Object Lock
        retention and ``x-amz-meta-*`` metadata in the same request. An existing target is
        an :class:`~audit_analytics.errors.OutputError` ``"... already exists"``.
    :func:`head_object(target) <head_object>`
        An :class:`ObjectHead`: size, etag, version id, lock mode, retain-until date,
        legal hold, user metadata (boto3).

S3 settings and failures
    :func:`s3_settings` / :class:`S3Settings`
        The endpoint (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL`` or the profile's
        ``endpoint_url``), region (``AWS_REGION``, ``AWS_DEFAULT_REGION`` or the profile's),
        profile (``AWS_PROFILE``) and credentials (the ``AWS_*`` variables, the shared
        credentials and config files, else the SDK's chain); its ``repr`` shows no secret.
    :func:`s3_filesystem(settings=None) <s3_filesystem>`
        The ``pyarrow.fs.S3FileSystem`` for the settings (one kept per settings).
    :func:`boto3_client(settings=None) <boto3_client>`
        A boto3 S3 client for the same settings; without boto3 a ``SourceError`` naming
        :data:`S3_HINT`.
    :func:`s3_failure(exc, url, error=SourceError, doing="read") <s3_failure>`
        The one-line error for what pyarrow or boto3 raised: ``bucket not found: s3://b``,
        ``cannot read s3://b/k: access denied (GetObject) ...``, unknown access key,
        signature mismatch, expired credentials, unreachable endpoint. Secrets masked.

DuckDB
    :func:`duckdb_path(location) <duckdb_path>`, :func:`filesystem_for(location) <filesystem_for>`
        DuckDB reads an S3 object as ``read_parquet('aas3://bucket/key')`` once
        ``engine.register_filesystem(filesystem_for(location))`` has handed it pyarrow's
        filesystem; a local location's DuckDB path is its path.

>>> loc = locate("s3://audit-archive/2024/")  # doctest: +SKIP
>>> files, hive = expand(loc)                  # doctest: +SKIP
>>> write_new(loc.child("manifest.jsonl"), b"...", mode="COMPLIANCE",
...           retain_until=until)              # doctest: +SKIP
"""

from __future__ import annotations

from .location import Location, expand, file_info, has_glob, is_remote, locate, read_bytes
from .objects import LOCK_MODES, ObjectHead, head_object, write_new
from .s3 import S3_HINT, S3Settings, boto3_client, s3_failure, s3_filesystem, s3_settings

__all__ = ["LOCK_MODES", "S3_HINT", "Location", "ObjectHead", "S3Settings", "boto3_client",
           "duckdb_path", "expand", "file_info", "filesystem_for", "has_glob", "head_object",
           "is_remote", "locate", "read_bytes", "s3_failure", "s3_filesystem", "s3_settings",
           "write_new"]


def duckdb_path(location: Location) -> str:
    """The path DuckDB reads ``location`` by (see :mod:`.duckdb_fs`)."""
    from .duckdb_fs import duckdb_path as path

    return path(location)


def filesystem_for(location: Location):
    """The fsspec filesystem to register in DuckDB for an S3 location (see :mod:`.duckdb_fs`)."""
    from .duckdb_fs import filesystem_for as make

    return make(location)
