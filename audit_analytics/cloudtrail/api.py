"""The CloudTrail calls under the CLI and the notebooks: validate a location, fetch a range."""

from __future__ import annotations

import datetime as dt
import json

from .. import _args
from ..periods import parse_when
from ..trail import journal
from .keys import PublicKeys, load_public_keys
from .location import MARKER, METADATA_SUFFIX, open_location
from .results import ValidationResult
from .validation import validate_location

__all__ = ["fetch_cloudtrail", "validate_cloudtrail"]


def _range(start_time, end_time) -> tuple[dt.datetime | None, dt.datetime | None]:
    return (parse_when(start_time, "UTC", what="--start-time"),
            parse_when(end_time, "UTC", what="--end-time"))


def validate_cloudtrail(location, public_keys, *, start_time=None, end_time=None,
                        account: str | None = None, region: str | None = None,
                        allow_unsigned: bool = False,
                        progress: bool | None = None) -> ValidationResult:
    """Validate a CloudTrail location's digests and log files over a range, offline.

    Parameters
    ----------
    location
        ``s3://bucket[/prefix]`` or a local folder with the trail's layout.
    public_keys
        The output of ``aws cloudtrail list-public-keys`` (a path), or loaded
        :class:`~audit_analytics.cloudtrail.keys.PublicKeys`.
    start_time, end_time
        ISO text or datetimes (naive ones are UTC); ``end_time`` defaults to now.
    account, region
        Only this account's, this region's files.
    allow_unsigned
        Accept digests without a signature to check.

    Returns
    -------
    ValidationResult
        ``ok`` when every digest and log file is valid.

    Raises
    ------
    SourceError
        No such location, or a keys file that is not list-public-keys output.
    PeriodError
        An unparsable time, or an end before the start.
    """
    _args.path(location, "location", expected="a CloudTrail location (a folder or s3:// URL)")
    if not isinstance(public_keys, PublicKeys):
        _args.path(public_keys, "public_keys", expected="a list-public-keys file")
    _args.text(account, "account", optional=True)
    _args.text(region, "region", optional=True)
    _args.flag(allow_unsigned, "allow_unsigned")
    _args.flag(progress, "progress", optional=True)
    start, end = _range(start_time, end_time)
    keys = public_keys if isinstance(public_keys, PublicKeys) else load_public_keys(public_keys)
    where = open_location(location)
    ok = False
    try:
        result = validate_location(where, keys, start=start, end=end, account=account,
                                   region=region, allow_unsigned=allow_unsigned,
                                   progress=progress)
        ok = True
        return result
    finally:
        journal.record("cloudtrail_validate", str(location),
                       result="success" if ok else "failure",
                       parameters={"start_time": start, "end_time": end, "account": account,
                                   "region": region})


def fetch_cloudtrail(location, target, *, start_time=None, end_time=None,
                     account: str | None = None, region: str | None = None,
                     progress: bool | None = None) -> dict:
    """Copy a range of a trail's S3 files into a local folder, keeping digest signatures.

    Each digest's signature (its ``x-amz-meta-signature`` and ``-algorithm``) is written
    beside it as ``<digest>.metadata.json``, and the bucket and prefix in
    ``.cloudtrail-location.json`` at the folder's root, so the copy validates like the
    bucket. Files are written through :mod:`audit_analytics._io` (complete or not at all).

    Returns
    -------
    dict
        ``{"digests": N, "log_files": M, "to": target}``.
    """
    from pathlib import Path

    from .._io import write_atomic
    from ..errors import SourceError
    from .validation import HOUR, _inventory

    _args.path(location, "location", expected="an s3:// URL")
    _args.path(target, "target")
    _args.text(account, "account", optional=True)
    _args.text(region, "region", optional=True)
    start, end = _range(start_time, end_time)
    if not str(location).startswith("s3://"):
        raise SourceError(f"fetch copies from s3://, not from a local folder: {location}",
                          source=str(location))
    source = open_location(location)
    end = end or dt.datetime.now(dt.UTC)
    digest_keys, log_keys = _inventory(source, start, end, account, region)
    root = Path(target)
    root.mkdir(parents=True, exist_ok=True)
    wanted = [k.key for k in digest_keys]
    logs = [k for k, _a, _r, when in log_keys
            if (start is None or when >= start - HOUR) and when <= end + HOUR]
    from concurrent.futures import ThreadPoolExecutor

    from ..progress import progress_bar

    def copy(key: str, digest: bool) -> None:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, source.read(key))
        if digest:
            meta = source.metadata(key)
            if meta:
                write_atomic(str(path) + METADATA_SUFFIX, json.dumps(meta, indent=2) + "\n")
        bar.update(1)

    with progress_bar(len(wanted) + len(logs), "fetching", progress, unit="files") as bar, \
            ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: copy(k, True), wanted))
        list(pool.map(lambda k: copy(k, False), logs))
    write_atomic(root / MARKER, json.dumps({"bucket": source.bucket, "prefix": source.prefix},
                                           indent=2) + "\n")
    journal.record("cloudtrail_fetch", str(location), result="success",
                   parameters={"to": str(target), "digests": len(wanted), "log_files": len(logs)})
    return {"digests": len(wanted), "log_files": len(logs), "to": str(target)}
