"""Writing files and objects that must never replace an existing one, and reading an object's head.

:func:`write_new` creates a file or object and refuses to replace one that is there:

- locally, through :func:`audit_analytics._io.write_atomic` with ``exclusive=True`` (a
  temporary file hard-linked into place, which fails if the name exists);
- in S3 with boto3 installed, a conditional ``PutObject`` (``If-None-Match: *``): the
  server refuses the write atomically when the key exists. A server that does not support
  conditional writes (HTTP 501) gets a ``HeadObject`` check first, then a plain write;
- in S3 without boto3, a check through pyarrow, then a write through pyarrow (retention and
  user metadata then need boto3: an error with the install hint).

Object Lock retention (``mode`` and ``retain_until``) and user metadata (``x-amz-meta-*``)
are set in the same request as the object's bytes, so no object exists without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

from .._io import write_atomic
from ..errors import AuditAnalyticsError, OutputError, SourceError
from .location import Location, file_info, locate
from .s3 import S3_HINT, boto3_client, s3_failure

__all__ = ["LOCK_MODES", "ObjectHead", "head_object", "write_new"]

#: The Object Lock retention modes S3 knows.
LOCK_MODES = ("COMPLIANCE", "GOVERNANCE")
_CONFLICT = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
_UNSUPPORTED = {"NotImplemented", "501"}


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def write_new(target: str | Location, data: bytes | BinaryIO, *, mode: str | None = None,
              retain_until: datetime | None = None, metadata: dict[str, str] | None = None,
              content_type: str | None = None) -> Location:
    """Create the file or object ``target`` holding ``data``; never replace an existing one.

    Parameters
    ----------
    target
        A local path, ``file://`` or ``s3://`` location (or a :class:`Location`).
    data
        The bytes, or a binary file object read to its end.
    mode, retain_until
        Object Lock retention for an S3 object: ``COMPLIANCE`` or ``GOVERNANCE`` until a
        timezone-aware datetime (both or neither). Ignored for local files.
    metadata
        User metadata of an S3 object (sent as ``x-amz-meta-NAME``). Ignored locally.
    content_type
        The object's ``Content-Type`` (S3 only).

    Returns
    -------
    Location
        Where the data was written.

    Raises
    ------
    OutputError
        Something is already there (``... already exists``), the write was refused (denied
        access, a missing bucket, bad credentials) or failed; or retention/metadata were
        asked for an S3 object without boto3 installed.
    """
    location = locate(target)
    if (mode is None) != (retain_until is None):
        raise OutputError("an Object Lock retention needs both a mode and a date",
                          path=location.url)
    if mode is not None and mode not in LOCK_MODES:
        raise OutputError(f"unknown Object Lock mode {mode!r} (known: {', '.join(LOCK_MODES)})",
                          path=location.url)
    if retain_until is not None and retain_until.tzinfo is None:
        raise OutputError("an Object Lock retain-until date needs a time zone",
                          path=location.url)
    if not location.is_s3:
        payload = data if isinstance(data, bytes | bytearray) else data.read()
        write_atomic(location.path, payload, exclusive=True)
        return location
    try:
        client = boto3_client(location.settings)
    except SourceError:
        if mode is not None or metadata:
            raise OutputError(f"setting retention or metadata on {location} needs boto3; "
                              f"install it with: {S3_HINT}", path=location.url) from None
        return _write_with_pyarrow(location, data, content_type)
    request: dict = {"Bucket": location.bucket, "Key": location.key, "Body": data}
    if mode is not None:
        request.update(ObjectLockMode=mode,
                       ObjectLockRetainUntilDate=retain_until.astimezone(UTC))
    if metadata:
        request["Metadata"] = {str(k): str(v) for k, v in metadata.items()}
    if content_type:
        request["ContentType"] = content_type
    try:
        client.put_object(IfNoneMatch="*", **request)
    except Exception as exc:  # botocore's ClientError and connection errors
        code = _error_code(exc)
        if code in _CONFLICT:
            raise OutputError(f"{location} already exists", path=location.url) from None
        if code not in _UNSUPPORTED:
            raise s3_failure(exc, location.url, error=OutputError, doing="write",
                             settings=location.settings) from None
        _refuse_existing(location)  # no conditional writes on this server: check first
        if hasattr(data, "seek"):
            data.seek(0)
        try:
            client.put_object(**request)
        except Exception as again:
            raise s3_failure(again, location.url, error=OutputError, doing="write",
                             settings=location.settings) from None
    return location


def _refuse_existing(location: Location) -> None:
    from pyarrow import fs as pafs

    if file_info(location, doing="write", error=OutputError).type != pafs.FileType.NotFound:
        raise OutputError(f"{location} already exists", path=location.url)


def _write_with_pyarrow(location: Location, data, content_type: str | None) -> Location:
    _refuse_existing(location)
    payload = data if isinstance(data, bytes | bytearray) else data.read()
    options = {"Content-Type": content_type} if content_type else None
    try:
        with location.fs.open_output_stream(location.path, metadata=options) as out:
            out.write(payload)
    except OSError as exc:
        raise s3_failure(exc, location.url, error=OutputError, doing="write",
                         settings=location.settings) from None
    return location


@dataclass(frozen=True)
class ObjectHead:
    """What ``HeadObject`` says of one object: size, version, retention, user metadata."""

    url: str
    size: int
    etag: str | None = None
    version_id: str | None = None
    lock_mode: str | None = None
    retain_until: datetime | None = None
    legal_hold: bool = False
    metadata: dict[str, str] = field(default_factory=dict)


def head_object(target: str | Location, *,
                error: type[AuditAnalyticsError] = SourceError) -> ObjectHead:
    """The head of an S3 object (boto3: pyarrow does not expose retention or metadata).

    Raises
    ------
    AuditAnalyticsError
        ``error``: a local path, no such object (or bucket), denied access, or boto3 not
        installed.
    """
    location = locate(target)
    if not location.is_s3:
        raise error(f"not an S3 object: {location}", source=location.url, path=location.url)
    client = boto3_client(location.settings)
    try:
        head = client.head_object(Bucket=location.bucket, Key=location.key)
    except Exception as exc:
        if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            from .location import _check_bucket

            _check_bucket(location, "read", error)
            raise error(f"not found: {location}", source=location.url,
                        path=location.url) from None
        raise s3_failure(exc, location.url, error=error, doing="read",
                         settings=location.settings) from None
    return ObjectHead(url=location.url, size=int(head.get("ContentLength", 0)),
                      etag=head.get("ETag"), version_id=head.get("VersionId"),
                      lock_mode=head.get("ObjectLockMode"),
                      retain_until=head.get("ObjectLockRetainUntilDate"),
                      legal_hold=head.get("ObjectLockLegalHoldStatus") == "ON",
                      metadata=dict(head.get("Metadata") or {}))
