"""Vectorised hashing: Arrow columns in, one SHA-256 per row out, no Python per row.

A thin layer over the native kernel (``_native.c``), which renders each row's hashed
text exactly as the profile's producer did and hashes eight rows at a time with AVX2
(one at a time without it), on every core.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _native
from .profiles import HashProfile

__all__ = ["THREADS", "canonical_texts", "digests", "hash64", "segments", "unhex"]

THREADS = max(1, min(8, os.cpu_count() or 1))

_KIND_STRING, _KIND_LARGE_STRING, _KIND_TIMESTAMP, _KIND_INT64 = 0, 1, 2, 3


def _describe(arr: pa.Array) -> tuple:
    """The (kind, length, offset, validity, buf1, buf2) descriptor the kernel reads."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if pa.types.is_string_view(t) or pa.types.is_binary_view(t):
        arr = arr.cast(pa.large_string())
        t = arr.type
    if pa.types.is_timestamp(t):
        if t.unit != "us":
            arr = arr.cast(pa.timestamp("us", tz=t.tz))
        bufs = arr.buffers()
        return (_KIND_TIMESTAMP, len(arr), arr.offset, bufs[0], bufs[1], None)
    if pa.types.is_integer(t):
        if t != pa.int64():
            arr = arr.cast(pa.int64())
        bufs = arr.buffers()
        return (_KIND_INT64, len(arr), arr.offset, bufs[0], bufs[1], None)
    if pa.types.is_string(t):
        bufs = arr.buffers()
        return (_KIND_STRING, len(arr), arr.offset, bufs[0], bufs[1], bufs[2])
    if pa.types.is_large_string(t):
        bufs = arr.buffers()
        return (_KIND_LARGE_STRING, len(arr), arr.offset, bufs[0], bufs[1], bufs[2])
    if pa.types.is_null(t):
        return _describe(pa.nulls(len(arr), pa.string()))
    return _describe(arr.cast(pa.string()))


def canonical_texts(profile: HashProfile, columns: list[pa.Array], *, omit_nulls=None):
    """The hashed text of each row, as bytes (for diagnostics and tests)."""
    spec = profile.native_spec(omit_nulls=omit_nulls)
    return _native.canonical(spec, [_describe(c) for c in columns])


def digests(
    profile: HashProfile, columns: list[pa.Array], *, omit_nulls=None, threads: int = THREADS
) -> np.ndarray:
    """SHA-256 of each row's hashed text: an ``(n, 32)`` uint8 array.

    ``columns`` are the hashed fields in ``profile.ordered_fields`` order.
    """
    spec = profile.native_spec(omit_nulls=omit_nulls)
    raw = _native.digest(spec, [_describe(c) for c in columns], threads)
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, 32)


def unhex(column: pa.Array, genesis: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode stored hex digests: ``(n, 32)`` uint8 digests and per-row flags.

    Flags: 0 valid, 1 null, 2 not 64 lowercase hex characters, 3 the genesis marker.
    """
    raw, flags = _native.unhex(_describe(column), genesis.encode())
    return (
        np.frombuffer(raw, dtype=np.uint8).reshape(-1, 32),
        np.frombuffer(flags, dtype=np.uint8),
    )


def hash64(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A 64-bit hash of each value of a text column (0 for null) and the null mask."""
    raw, nulls = _native.hash64(_describe(column))
    return (np.frombuffer(raw, dtype=np.uint64),
            np.frombuffer(nulls, dtype=np.uint8).astype(bool))


def segments(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split the link graph into paths: each row's path start and its depth in the path."""
    parent = np.ascontiguousarray(parent, dtype=np.int64)
    root, depth = _native.segments(parent)
    return np.frombuffer(root, dtype=np.int64), np.frombuffer(depth, dtype=np.int64)


def any_null(columns: list[pa.Array]) -> np.ndarray:
    """A boolean mask of rows with a null in any of ``columns``."""
    mask = np.zeros(len(columns[0]) if columns else 0, dtype=bool)
    for col in columns:
        if col.null_count:
            mask |= np.asarray(pc.is_null(col).to_numpy(zero_copy_only=False), dtype=bool)
    return mask
