"""Reading a CloudTrail location's files for validation: a digest parsed, a log file hashed.

Both stream through :mod:`.payload` (one gzip member, inflated a piece at a time) from a
:class:`~.location.Location`, which keeps every read inside the location and on regular
files.
"""

from __future__ import annotations

import hashlib

from .digests import Digest, parse_digest
from .location import Location, Unreadable, is_key
from .payload import PayloadError, inflate

__all__ = ["Refused", "hash_log", "read_digest"]


def read_digest(location: Location, key, bar) -> Digest:
    """The digest file ``key`` names, parsed; a missing or refused file is a ``Digest`` error."""
    try:
        digest = parse_digest(key, location.chunks(key.key))
    except FileNotFoundError:
        digest = Digest(key, error="not found")
    except Unreadable as exc:
        digest = Digest(key, error=f"not read: {exc.reason}")
    bar.update(1)
    return digest


class Refused(ValueError):
    """A listed log file that cannot be hashed.

    ``status`` is for its line, the message the finding's detail.
    """

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def hash_log(location: Location, key: str) -> str | None:
    """Hex SHA-256 of a log file's uncompressed bytes; ``None`` when it is absent.

    Streamed (one :data:`~.payload.PIECE` at a time, whatever its size). Raises
    :class:`Refused` when the key names nothing inside the location, the file is not a
    regular file there, or it is not exactly one gzip member.
    """
    if not is_key(key):
        raise Refused("not read: names a path outside the location",
                       "not read: the digest names a path outside the location")
    digest = hashlib.sha256()
    try:
        for piece in inflate(location.chunks(key)):
            digest.update(piece)
    except FileNotFoundError:
        return None
    except Unreadable as exc:
        raise Refused(f"not read: {exc.reason}", str(exc)) from None
    except PayloadError as exc:
        raise Refused("invalid format", str(exc)) from None
    return digest.hexdigest()
