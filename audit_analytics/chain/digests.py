"""Digests and their stored form: what a row's text hashes to, what a stored one holds.

The scan calls two functions per batch: :func:`compute` (each row's digest, from the
kernel's JSON rendering or from the text a SQL expression built) and :func:`decode` (the
stored digests, with a flag per row). SHA-256 runs in the kernel (the native multi-lane
code, or hashlib in the pure-Python kernel); the other digests and the HMACs run through
hashlib's one-shot functions over the text buffer, with no Python object per row beyond
the digest itself.

The scan keeps :data:`KEY_BYTES` bytes per digest for the links (:func:`link_key`): the
digest itself for SHA-256, zero-padded for SHA-1 and MD5, and the SHA-256 of the whole
digest for the longer ones, so that a link is confirmed on every byte of the digest (two
keys agree exactly when the digests do, short of a SHA-256 collision). Row integrity
always compares the whole digest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

import numpy as np
import pyarrow as pa
from numpy.lib.stride_tricks import sliding_window_view

from . import kernel
from .profiles import HashProfile

__all__ = ["KEY_BYTES", "compute", "decode", "encode", "link_key", "stored_length"]

KEY_BYTES = 32
_HASHLIB = {"sha256": "sha256", "sha384": "sha384", "sha512": "sha512", "sha1": "sha1",
            "md5": "md5", "sha3-256": "sha3_256", "hmac-sha256": "sha256",
            "hmac-sha512": "sha512"}
_NIBBLE = np.full(256, -1, dtype=np.int16)
_B64 = np.full(256, -1, dtype=np.int16)


def _tables() -> None:
    for k, c in enumerate(b"0123456789"):
        _NIBBLE[c] = k
    _B64[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                       np.uint8)] = np.arange(64)
    _B64[ord("=")] = 0


_tables()


def _text_view(column: pa.Array) -> tuple[np.ndarray, np.ndarray, memoryview]:
    """``(offsets as int64, validity, data)`` of a string or binary column."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    t = column.type
    if pa.types.is_string_view(t) or pa.types.is_binary_view(t) or pa.types.is_null(t):
        column = column.cast(pa.large_string())
        t = column.type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t)):
        column = column.cast(pa.large_string())
        t = column.type
    n = len(column)
    bufs = column.buffers()
    width = np.int64 if (pa.types.is_large_string(t) or pa.types.is_large_binary(t)) else np.int32
    offsets = np.frombuffer(bufs[1], dtype=width)[column.offset: column.offset + n + 1]
    offsets = offsets.astype(np.int64)
    valid = (np.ones(n, dtype=bool) if not column.null_count
             else np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool))
    data = memoryview(bufs[2]) if bufs[2] is not None else memoryview(b"")
    return offsets, valid, data


def _hash_slices(profile: HashProfile, data, offsets: np.ndarray) -> bytes:
    """The digest of each ``data[offsets[k]:offsets[k+1]]``, concatenated."""
    name = _HASHLIB[profile.digest]
    starts, ends = offsets[:-1].tolist(), offsets[1:].tolist()
    data = bytes(data)  # slices of bytes are cheaper than memoryview objects
    if profile.digest.startswith("hmac-"):
        key, one = profile.key, hmac.digest
        return b"".join([one(key, data[a:b], name) for a, b in zip(starts, ends)])
    new = getattr(hashlib, name)
    return b"".join([new(data[a:b]).digest() for a, b in zip(starts, ends)])


def _hmac_sha256(key: bytes, data, offsets: np.ndarray) -> bytes:
    """HMAC-SHA256 (RFC 2104) of every slice, as two passes of the kernel's SHA-256.

    The inner pass hashes each text behind the key's inner pad, the outer pass each inner
    digest behind the outer pad: the same bytes :func:`hmac.digest` hashes.
    """
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    ipad = bytes(k ^ 0x36 for k in key)
    opad = np.frombuffer(bytes(k ^ 0x5C for k in key), np.uint8)
    n = len(offsets) - 1
    text = bytes(data)  # slices of bytes are cheaper than memoryview objects
    inner = ipad + ipad.join([text[a:b] for a, b in zip(offsets[:-1].tolist(),
                                                         offsets[1:].tolist())])
    spans = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.diff(offsets) + 64, out=spans[1:])
    outer = np.empty((n, 96), dtype=np.uint8)
    outer[:, :64] = opad
    outer[:, 64:] = np.frombuffer(kernel.sha256_slices(inner, spans), np.uint8).reshape(n, 32)
    return kernel.sha256_slices(outer.tobytes(), np.arange(n + 1, dtype=np.int64) * 96)


def compute(profile: HashProfile, texts) -> tuple[np.ndarray, np.ndarray]:
    """Each row's digest of its hashed text, and which rows had a text at all.

    ``texts`` is an Arrow string or binary column (a null is a row whose text could not be
    built: its digest is zeros and it is not valid) or a list of bytes (the kernel's JSON
    rendering). Returns an ``(n, digest_size)`` uint8 array and a boolean mask.
    """
    size = profile.digest_size
    if isinstance(texts, list):
        data = b"".join(texts)
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum([len(t) for t in texts], out=offsets[1:])
        valid = np.ones(len(texts), dtype=bool)
        data = memoryview(data)
    else:
        offsets, valid, data = _text_view(texts)
    n = len(valid)
    if n == 0:
        return np.zeros((0, size), np.uint8), valid
    if profile.digest == "sha256":
        raw = kernel.sha256_slices(data, offsets)
    elif profile.digest == "hmac-sha256" and kernel.kernel_info()["implementation"] == "native":
        raw = _hmac_sha256(profile.key, data, offsets)
    else:
        raw = _hash_slices(profile, data, offsets)
    out = np.frombuffer(raw, dtype=np.uint8).reshape(n, size)
    if not valid.all():
        out = out.copy()
        out[~valid] = 0
    return out, valid


def _gather(column: pa.Array, rows: np.ndarray, length: int) -> np.ndarray:
    """The ``length`` bytes of each of ``rows`` (rows whose value has that length)."""
    offsets, _, data = _text_view(column)
    if not len(rows):
        return np.zeros((0, length), np.uint8)
    buf = np.concatenate([np.frombuffer(data, dtype=np.uint8), np.zeros(length, np.uint8)])
    return sliding_window_view(buf, length)[offsets[rows]]


def _unhex(chars: np.ndarray, alphabet: bytes) -> tuple[np.ndarray, np.ndarray]:
    table = _NIBBLE.copy()
    for k, c in enumerate(alphabet):
        table[c] = 10 + k
    nib = table[chars]
    good = (nib >= 0).all(axis=1)
    nib = nib.astype(np.uint8)
    return ((nib[:, 0::2] << 4) | nib[:, 1::2]).astype(np.uint8), good


def _unbase64(chars: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    pad = (-size) % 3
    vals = _B64[chars]
    good = (vals >= 0).all(axis=1)
    if pad:  # the padding sits where it must, and only there
        good &= (chars[:, -pad:] == ord("=")).all(axis=1)
        good &= (chars[:, :-pad] != ord("=")).all(axis=1)
    else:
        good &= (chars != ord("=")).all(axis=1)
    v = vals.astype(np.uint32).reshape(len(chars), -1, 4)
    word = (v[:, :, 0] << 18) | (v[:, :, 1] << 12) | (v[:, :, 2] << 6) | v[:, :, 3]
    out = np.stack([(word >> 16) & 255, (word >> 8) & 255, word & 255], axis=2)
    out = out.reshape(len(chars), -1)[:, :size].astype(np.uint8)
    if pad:  # the bits the padding covers are zero in a canonical encoding
        spare = (6 * (len(chars[0]) - pad)) - 8 * size if len(chars) else 0
        if spare > 0:
            last = vals[:, len(chars[0]) - pad - 1].astype(np.int64)
            good &= (last & ((1 << spare) - 1)) == 0
    return out, good


def _equals(column: pa.Array, lengths: np.ndarray, valid: np.ndarray, value: bytes
            ) -> np.ndarray:
    """Which rows hold exactly ``value``."""
    same = valid & (lengths == len(value))
    rows = np.nonzero(same)[0]
    if len(rows) and value:
        chars = _gather(column, rows, len(value))
        same[rows] = (chars == np.frombuffer(value, np.uint8)).all(axis=1)
    return same


def stored_length(profile: HashProfile) -> int:
    """How many characters a stored digest has in the profile's encoding."""
    size = profile.digest_size
    return 2 * size if profile.encoding in ("hex", "HEX") else 4 * ((size + 2) // 3)


def decode(profile: HashProfile, column: pa.Array, *, link: bool = False
           ) -> tuple[np.ndarray, np.ndarray]:
    """Decode stored digests: ``(n, digest_size)`` uint8 and a flag per row.

    Flags: 0 valid, 1 null, 2 not a digest in the profile's encoding, 3 the genesis value
    (for ``link=True``, a ``prev_hash``, a null is the genesis when the profile says so).
    Rows with a non-zero flag get zero bytes.
    """
    if profile.native_default:
        out, flags = kernel.unhex(column, profile.genesis)
    else:
        out, flags = _decode(profile, column)
    if link and profile.null_prev_is_genesis:
        flags = np.where(flags == 1, np.uint8(3), flags)
    return out, flags


def _decode(profile: HashProfile, column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    size, length = profile.digest_size, stored_length(profile)
    offsets, valid, _ = _text_view(column)
    n = len(valid)
    lengths = np.diff(offsets)
    flags = np.full(n, 2, dtype=np.uint8)
    out = np.zeros((n, size), dtype=np.uint8)
    genesis = _equals(column, lengths, valid, profile.genesis.encode())
    rows = np.nonzero(valid & ~genesis & (lengths == length))[0]
    chars = _gather(column, rows, length)
    if profile.encoding == "base64":
        got, good = _unbase64(chars, size)
    else:
        got, good = _unhex(chars, b"abcdef" if profile.encoding == "hex" else b"ABCDEF")
    out[rows[good]] = got[good]
    flags[rows[good]] = 0
    flags[genesis] = 3
    flags[~valid] = 1
    return out, flags


def encode(profile: HashProfile, digest: bytes) -> str:
    """A digest written as the profile's producer stores it."""
    if profile.encoding == "base64":
        return base64.b64encode(digest).decode()
    text = binascii.hexlify(digest).decode()
    return text.upper() if profile.encoding == "HEX" else text


def link_key(digests: np.ndarray) -> np.ndarray:
    """The :data:`KEY_BYTES`-byte form of ``(n, size)`` digests the links are kept with."""
    size = digests.shape[1]
    if size == KEY_BYTES:
        return digests
    if size > KEY_BYTES:  # every byte counts: the SHA-256 of the whole digest
        data = np.ascontiguousarray(digests).reshape(-1)
        ends = np.arange(len(digests) + 1, dtype=np.int64) * size
        return np.frombuffer(kernel.sha256_slices(data, ends), np.uint8).reshape(-1, KEY_BYTES)
    out = np.zeros((len(digests), KEY_BYTES), dtype=np.uint8)
    out[:, :size] = digests
    return out
