"""CloudTrail's public keys, as ``aws cloudtrail list-public-keys`` prints them.

The file is that command's JSON output: ``{"PublicKeyList": [{"Value": <base64 DER of a
PKCS #1 RSA public key>, "ValidityStartTime": ..., "ValidityEndTime": ...,
"Fingerprint": <hex>}, ...]}``. Times are ISO 8601 text (the CLI's default output) or
seconds since the epoch (``--cli-timestamp-format none`` with version 1 of the CLI).
Validation itself then needs no AWS access.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass

from .._files import read_small_file
from ..errors import SourceError

__all__ = ["KeysError", "PublicKey", "PublicKeys", "load_public_keys"]

_MAX_BYTES = 4 * 1024 * 1024


class KeysError(SourceError):
    """A public keys file that is not ``list-public-keys`` output."""


@dataclass(frozen=True)
class PublicKey:
    """One key of the list: its fingerprint, DER bytes and validity."""

    fingerprint: str
    der: bytes
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None

    def valid_at(self, when: dt.datetime) -> bool:
        """Whether the key was valid at ``when`` (its validity bounds included)."""
        if self.valid_from is not None and when < self.valid_from:
            return False
        return not (self.valid_until is not None and when > self.valid_until)

    def load(self):
        """The key as a ``cryptography`` RSA public key; :class:`ValueError` when it is not one."""
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives.serialization import load_der_public_key

        key = load_der_public_key(self.der)
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("not an RSA key")
        return key


class PublicKeys(dict):
    """Fingerprint -> :class:`PublicKey`; ``path`` is the file they came from."""

    path: str = ""


def _time(value, where: str) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise KeysError(f"{where} is not a time: {value!r}")
    if isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(value, dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise KeysError(f"{where} is not a time: {value!r}") from None
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise KeysError(f"{where} is not an ISO 8601 time: {value!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    raise KeysError(f"{where} is not a time: {value!r}")


def load_public_keys(path) -> PublicKeys:
    """Read a ``list-public-keys`` output file.

    Raises
    ------
    KeysError
        The file cannot be read, is not JSON, has no ``PublicKeyList``, or holds an entry
        without a base64 ``Value`` and a ``Fingerprint``.
    """
    where = str(path)
    text = read_small_file(path, what="public keys file", limit=_MAX_BYTES, error=KeysError)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise KeysError(f"{where} is not 'aws cloudtrail list-public-keys' output: not JSON "
                        f"({exc})", path=where) from None
    except RecursionError:
        raise KeysError(f"{where} is not 'aws cloudtrail list-public-keys' output: nested "
                        "too deeply", path=where) from None
    if not isinstance(data, dict) or not isinstance(data.get("PublicKeyList"), list):
        raise KeysError(f"{where} is not 'aws cloudtrail list-public-keys' output: it has no "
                        "PublicKeyList", path=where)
    keys = PublicKeys()
    keys.path = where
    for index, entry in enumerate(data["PublicKeyList"]):
        label = f"{where}: PublicKeyList[{index}]"
        if not isinstance(entry, dict):
            raise KeysError(f"{label} is not an object", path=where)
        value, fingerprint = entry.get("Value"), entry.get("Fingerprint")
        if not isinstance(fingerprint, str) or not fingerprint:
            raise KeysError(f"{label} has no Fingerprint", path=where)
        if not isinstance(value, str) or not value:
            raise KeysError(f"{label} has no base64 Value", path=where)
        try:
            der = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise KeysError(f"{label}: Value is not base64", path=where) from None
        keys[fingerprint] = PublicKey(fingerprint, der,
                                      _time(entry.get("ValidityStartTime"),
                                            f"{label}.ValidityStartTime"),
                                      _time(entry.get("ValidityEndTime"),
                                            f"{label}.ValidityEndTime"))
    if not keys:
        raise KeysError(f"{where}: PublicKeyList is empty", path=where)
    return keys
