"""Ed25519 signing keys for archive manifests: made, read and named.

``PREFIX.key`` holds the private key (PEM, PKCS8, unencrypted, mode 0600) and ``PREFIX.pub``
the public key (PEM, SubjectPublicKeyInfo). A key's id is the first 16 hex digits of the
SHA-256 of the raw 32-byte public key; every manifest line carries the id of the key that
signed it, so a manifest checked with another archive's key says so at once.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .. import _args
from .._files import read_small_file
from .._io import write_atomic
from .._text import shown
from ..errors import ArchiveError, OutputError, UsageError

__all__ = ["KEY_LIMIT", "generate_keys", "key_id", "load_private_key", "load_public_key"]

#: Largest key file accepted, in bytes (an Ed25519 PEM file is about 120 bytes).
KEY_LIMIT = 64 << 10


def key_id(public: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keys(prefix: str | os.PathLike) -> tuple[Path, Path, str]:
    """Write a new key pair to ``PREFIX.key`` (mode 0600) and ``PREFIX.pub``.

    Returns both paths and the key id. Neither file may exist already: an existing key
    is never replaced (it may be the only copy that signs an archive).

    Raises
    ------
    ArchiveError
        Either file exists, or the folder cannot be written.
    UsageError
        ``prefix`` is empty or ends with no file name.
    """
    base = os.fspath(_args.path(prefix, "prefix"))
    if base.endswith(("/", os.sep)) or os.path.basename(base) in ("", ".", ".."):
        raise UsageError(f"prefix must end with a file name (PREFIX.key and PREFIX.pub are "
                         f"written), not {shown(repr(base), 80)}", argument="prefix")
    private_path, public_path = Path(base + ".key"), Path(base + ".pub")
    for path in (private_path, public_path):
        if os.path.lexists(path):
            raise ArchiveError(f"{path} already exists: a key is never overwritten",
                               path=str(path))
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    old = os.umask(0o077)  # the private key's temporary file is private from the start
    try:
        write_atomic(private_path, private_pem, exclusive=True)
    except OutputError as exc:
        raise ArchiveError(str(exc), path=str(private_path)) from None
    finally:
        os.umask(old)
    os.chmod(private_path, 0o600)
    try:
        write_atomic(public_path, public_pem, exclusive=True)
    except OutputError as exc:
        private_path.unlink(missing_ok=True)  # nothing half-made: no key without its half
        raise ArchiveError(str(exc), path=str(public_path)) from None
    os.chmod(public_path, 0o644)
    return private_path, public_path, key_id(key.public_key())


def _pem(path: str | os.PathLike, what: str) -> bytes:
    _args.path(path, what)
    return read_small_file(path, what=what, limit=KEY_LIMIT, error=ArchiveError).encode()


def load_private_key(path: str | os.PathLike) -> Ed25519PrivateKey:
    """The Ed25519 private key in a PEM file (as :func:`generate_keys` writes it).

    Raises
    ------
    ArchiveError
        The file cannot be read, is not a PEM private key, is encrypted, or holds a key of
        another algorithm.
    """
    data = _pem(path, "private key file")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ArchiveError(f"{path}: the private key is encrypted; use an unencrypted "
                           "key made by audit-analytics keygen", path=str(path)) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ArchiveError(f"{path} is not a PEM private key", path=str(path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ArchiveError(f"{path} holds a {type(key).__name__.removeprefix('_')}, not an "
                           "Ed25519 private key", path=str(path))
    return key


def load_public_key(path: str | os.PathLike) -> Ed25519PublicKey:
    """The Ed25519 public key in a PEM file (``PREFIX.pub``).

    Raises
    ------
    ArchiveError
        The file cannot be read, is not a PEM public key, or holds a key of another
        algorithm (a private key file is refused too: pass the ``.pub`` file).
    """
    data = _pem(path, "public key file")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        hint = " (it is a private key: pass the .pub file)" if b"PRIVATE KEY" in data else ""
        raise ArchiveError(f"{path} is not a PEM public key{hint}", path=str(path)) from None
    if not isinstance(key, Ed25519PublicKey):
        raise ArchiveError(f"{path} does not hold an Ed25519 public key", path=str(path))
    return key
