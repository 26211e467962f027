"""What a CloudTrail file holds once uncompressed: one gzip member, streamed, within caps.

CloudTrail writes each digest and log file as a single gzip member and hashes its
uncompressed bytes. A file is inflated here piece by piece (never more than :data:`PIECE`
bytes at a time, whatever the compression ratio), so that hashing a log file takes the
same memory for 1 KiB and for 1 GiB, and a file is refused, with a one-line reason
(:class:`PayloadError`), when it is:

- not gzip, or cut short before the end of its member;
- followed by anything after the end of its gzip member (a second member, trailing
  bytes): ``gunzip`` would yield more than the member CloudTrail hashed, so the file is
  not what CloudTrail delivered, whatever the hash of either part;
- larger, uncompressed, than the cap of what it is read as (:data:`DIGEST_LIMIT` for a
  digest, :data:`RECORDS_LIMIT` for a log file read as records; hashing has no cap).

JSON is parsed only below its cap and only when it holds no more objects and arrays than
one per :data:`BYTES_PER_CONTAINER` bytes of that cap (CloudTrail's records and digest
entries hold far fewer): Python's parser builds a 64-byte object for each ``{}`` of the
text, so a file dense in them would otherwise take 24 times its size in memory. One
document is parsed at a time.
"""

from __future__ import annotations

import hashlib
import json
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator

__all__ = ["BYTES_PER_CONTAINER", "DIGEST_LIMIT", "PIECE", "RECORDS_LIMIT", "PayloadError",
           "inflate", "load_json", "mib"]

#: Largest uncompressed piece produced at once, in bytes.
PIECE = 1 << 20
#: Largest uncompressed digest file (a digest lists one hour's log files, ~350 bytes each:
#: 16 MiB holds some 48,000 of them).
DIGEST_LIMIT = 16 << 20
#: Largest uncompressed log file read as records by a CloudTrail source.
RECORDS_LIMIT = 32 << 20
#: Fewest bytes of JSON text per object or array accepted for parsing.
BYTES_PER_CONTAINER = 16

_parsing = threading.Lock()  # one JSON document parsed at a time: its objects are the peak


class PayloadError(ValueError):
    """A file whose content cannot be used; the message is the one-line reason."""


def mib(size: int) -> str:
    """``16 MiB``."""
    return f"{size >> 20} MiB"


def inflate(chunks: Iterable[bytes], *, limit: int | None = None) -> Iterator[bytes]:
    """The uncompressed bytes of a gzip file, in pieces of at most :data:`PIECE` bytes.

    Parameters
    ----------
    chunks
        The compressed file, in chunks (read lazily: reading stops at the first refusal).
    limit
        The most uncompressed bytes accepted (``None``: no cap).

    Raises
    ------
    PayloadError
        Not gzip, cut short, anything after the end of the gzip member, or more than
        ``limit`` bytes uncompressed.
    """
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)  # gzip only
    total = 0
    for chunk in chunks:
        if inflater.eof:
            if chunk:
                raise PayloadError(_TRAILING)
            continue
        data = chunk
        while True:
            try:
                out = inflater.decompress(data, PIECE)
            except zlib.error as exc:
                raise PayloadError(f"invalid format: not gzip ({exc})") from None
            total += len(out)
            if limit is not None and total > limit:
                raise PayloadError(f"more than {mib(limit)} uncompressed")
            if out:
                yield out
            if inflater.eof:
                if inflater.unused_data:
                    raise PayloadError(_TRAILING)
                break
            data = inflater.unconsumed_tail
            if not data and len(out) < PIECE:
                break  # this chunk is consumed and no output is pending
    if not inflater.eof:
        raise PayloadError("invalid format: truncated gzip")


_TRAILING = ("invalid format: data after the end of the gzip stream (a second gzip member "
             "or trailing bytes; CloudTrail writes one member)")


def load_json(chunks: Iterable[bytes], *, limit: int,
              then: Callable[[object], object] | None = None) -> tuple[object, str]:
    """Inflate a gzip file of at most ``limit`` bytes and parse it as JSON.

    Parameters
    ----------
    chunks
        The compressed file, in chunks.
    limit
        The most uncompressed bytes accepted.
    then
        Applied to the parsed document while no other document is parsed (what it
        returns is returned in the document's place, which is then let go).

    Returns
    -------
    tuple
        ``(the parsed document or what then made of it, hex SHA-256 of the uncompressed
        bytes)``.

    Raises
    ------
    PayloadError
        As :func:`inflate`; not JSON, nested too deeply, or more objects and arrays than
        one per :data:`BYTES_PER_CONTAINER` bytes of ``limit``.
    """
    text = bytearray()
    digest = hashlib.sha256()
    for piece in inflate(chunks, limit=limit):
        digest.update(piece)
        text += piece
    containers = text.count(b"{") + text.count(b"[")
    most = limit // BYTES_PER_CONTAINER
    if containers > most:
        raise PayloadError(f"invalid format: {containers:,} JSON objects and arrays, more "
                           f"than the {most:,} read (one per {BYTES_PER_CONTAINER} bytes of "
                           f"the {mib(limit)} cap)")
    with _parsing:
        try:
            data = json.loads(text)
        except RecursionError:
            raise PayloadError("invalid format: JSON nested too deeply") from None
        except ValueError as exc:
            raise PayloadError(f"invalid format: not JSON ({exc})") from None
        del text
        return (data if then is None else then(data)), digest.hexdigest()
