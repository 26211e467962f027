"""One CloudTrail digest file: where it lives, what it says, and its RSA signature.

Facts from CloudTrail's documentation of its digest files: a digest is gzipped JSON
delivered hourly to ``AWSLogs/ACCOUNT/CloudTrail-Digest/REGION/YYYY/MM/DD/`` as
``ACCOUNT_CloudTrail-Digest_REGION_TRAIL_HOMEREGION_YYYYMMDDTHHMMSSZ.json.gz`` (backfill
digests end in ``_backfill.json.gz``). It is signed SHA256withRSA over the text::

    digestEndTime LF digestS3Bucket/digestS3Object LF hex SHA-256 of the uncompressed
    digest LF previousDigestSignature (the word ``null`` in a starting digest)

(``LF`` a newline)

and the hex signature is the object's ``x-amz-meta-signature`` metadata. Each digest names
the previous one (bucket, key, hex SHA-256 of its uncompressed bytes, its signature) and
lists the log files delivered in its hour with the hex SHA-256 of their uncompressed bytes.

A digest is read within :data:`~.payload.DIGEST_LIMIT` uncompressed (see :mod:`.payload`),
and only what validation uses is kept of it (:data:`KEPT_FIELDS`; of each log file entry
its ``s3Bucket``, ``s3Object`` and ``hashValue``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .payload import DIGEST_LIMIT, PayloadError, load_json

__all__ = ["DIGEST_KEY", "KEPT_FIELDS", "LOG_KEY", "REQUIRED_FIELDS", "Digest", "DigestKey",
           "parse_digest", "parse_digest_key", "parse_log_key", "parse_time", "string_to_sign",
           "verify_signature"]

#: ``AWSLogs/[o-ORG/]ACCOUNT/CloudTrail-Digest/REGION/YYYY/MM/DD/NAME``
DIGEST_KEY = re.compile(
    r"^AWSLogs/(?:(?P<org>o-[a-z0-9]+)/)?(?P<account>\d{12})/CloudTrail-Digest/"
    r"(?P<region>[a-z0-9-]+)/\d{4}/\d{2}/\d{2}/"
    r"(?P<stream>(?P=account)_CloudTrail-Digest_(?P=region)_[^/]+)_"
    r"(?P<time>\d{8}T\d{6}Z)(?P<backfill>_backfill)?\.json\.gz$")
#: ``AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_TIME_ID``
LOG_KEY = re.compile(
    r"^AWSLogs/(?:(?P<org>o-[a-z0-9]+)/)?(?P<account>\d{12})/CloudTrail/"
    r"(?P<region>[a-z0-9-]+)/\d{4}/\d{2}/\d{2}/"
    r"(?P=account)_CloudTrail_(?P=region)_(?P<time>\d{8}T\d{4}Z)_[^/]+\.json\.gz$")
#: What a digest must hold before it can be checked at all.
REQUIRED_FIELDS = ("digestPublicKeyFingerprint", "digestS3Bucket", "digestS3Object",
                   "previousDigestSignature", "digestEndTime", "digestStartTime")
#: The text fields kept of a digest (with ``logFiles``); each is text, or null where allowed.
KEPT_FIELDS = (*REQUIRED_FIELDS, "previousDigestS3Bucket", "previousDigestS3Object",
               "previousDigestHashValue")
_NULLABLE = frozenset(KEPT_FIELDS) - {"digestPublicKeyFingerprint", "digestS3Bucket",
                                      "digestS3Object", "digestEndTime", "digestStartTime"}
_ENTRY_FIELDS = ("s3Bucket", "s3Object", "hashValue")


@dataclass(frozen=True)
class DigestKey:
    """What a digest's key says: its trail's stream, account, region and end time."""

    key: str
    account: str
    region: str
    stream: str
    end: dt.datetime
    backfill: bool


def parse_digest_key(key: str) -> DigestKey | None:
    """The parts of a digest key, or ``None`` when ``key`` is not one."""
    match = DIGEST_KEY.match(key)
    if not match:
        return None
    try:
        end = dt.datetime.strptime(match["time"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    stream = f"{match['org'] + '/' if match['org'] else ''}{match['stream']}"
    return DigestKey(key, match["account"], match["region"], stream, end,
                     bool(match["backfill"]))


def parse_log_key(key: str) -> tuple[str, str, dt.datetime] | None:
    """``(account, region, time in the name)`` of a log file key, or ``None``."""
    match = LOG_KEY.match(key)
    if not match:
        return None
    try:
        when = dt.datetime.strptime(match["time"], "%Y%m%dT%H%MZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return match["account"], match["region"], when


def parse_time(text) -> dt.datetime | None:
    """A digest's UTC time (``2015-08-17T15:01:31Z``), or ``None`` when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            value = dt.datetime.strptime(text, "%Y%m%dT%H%M%SZ")
        except ValueError:
            return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass
class Digest:
    """A digest file read and parsed (``error`` says why it could not be)."""

    key: DigestKey
    sha256: str = ""
    data: dict = field(default_factory=dict)
    error: str | None = None

    @property
    def start(self) -> dt.datetime | None:
        """``digestStartTime``."""
        return parse_time(self.data.get("digestStartTime"))

    @property
    def end(self) -> dt.datetime:
        """``digestEndTime`` (the key's time when the field cannot be read)."""
        return parse_time(self.data.get("digestEndTime")) or self.key.end

    @property
    def previous(self) -> tuple[str, str] | None:
        """``(previousDigestS3Bucket, previousDigestS3Object)``; ``None`` in a starting digest."""
        bucket, obj = self.data.get("previousDigestS3Bucket"), self.data.get(
            "previousDigestS3Object")
        if isinstance(bucket, str) and isinstance(obj, str) and bucket and obj:
            return bucket, obj
        return None

    @property
    def log_files(self) -> list[dict]:
        """The listed log files (entries that are not objects are left out)."""
        files = self.data.get("logFiles")
        return [f for f in files if isinstance(f, dict)] if isinstance(files, list) else []


def parse_digest(key: DigestKey, raw: bytes | Iterable[bytes]) -> Digest:
    """Decompress and parse a digest (its bytes, or its chunks); hash its uncompressed bytes.

    The digest's ``error`` says why it cannot be used: not one gzip member, more than
    :data:`~.payload.DIGEST_LIMIT` uncompressed, not a JSON object, a required field
    missing or not text.
    """
    try:
        data, sha256 = load_json([raw] if isinstance(raw, bytes | bytearray) else raw,
                                 limit=DIGEST_LIMIT)
    except PayloadError as exc:
        reason = str(exc)
        if reason.startswith("more than"):
            reason = f"invalid format: {reason}, more than a digest file can be"
        elif "not gzip" in reason:
            reason = "invalid format: not gzip"
        return Digest(key, error=reason)
    digest = Digest(key, sha256=sha256)
    if not isinstance(data, dict):
        digest.error = "invalid format: not a JSON object"
        return digest
    missing = [name for name in REQUIRED_FIELDS if name not in data]
    if missing:
        digest.error = f"invalid format: no {', '.join(missing)}"
        return digest
    kept: dict = {}
    for name in KEPT_FIELDS:
        value = data.get(name)
        if isinstance(value, str) or (value is None and name in _NULLABLE):
            kept[name] = value
        elif digest.error is None:
            digest.error = f"invalid format: {name} is not text"
    files = data.get("logFiles")
    if isinstance(files, list):
        kept["logFiles"] = [{k: entry[k] for k in _ENTRY_FIELDS if isinstance(entry.get(k), str)}
                            for entry in files if isinstance(entry, dict)]
    digest.data = kept
    if digest.error is None and parse_time(kept.get("digestEndTime")) is None:
        digest.error = "invalid format: digestEndTime is not a time"
    return digest


def string_to_sign(digest: Digest) -> bytes:
    """The bytes CloudTrail signs for ``digest`` (``null`` for a starting digest)."""
    data = digest.data
    previous = data.get("previousDigestSignature")
    return "\n".join([str(data["digestEndTime"]),
                      f"{data['digestS3Bucket']}/{data['digestS3Object']}",
                      digest.sha256,
                      "null" if previous is None else str(previous)]).encode("utf-8")


def verify_signature(public_key, digest: Digest, signature_hex: str) -> bool:
    """Whether ``signature_hex`` is a valid SHA256withRSA signature of the digest."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        signature = bytes.fromhex(signature_hex.strip())
    except ValueError:
        return False
    try:
        public_key.verify(signature, string_to_sign(digest), padding.PKCS1v15(),
                          hashes.SHA256())
    except InvalidSignature:
        return False
    return True
