"""Vectorised hashing: Arrow columns in, one SHA-256 per row out, no Python per row.

A thin layer over one of two kernels with the same interface, chosen once at import:

* the native kernel (``native/*.c``, the extension ``_native``), which renders each row's
  hashed text exactly as the profile's producer did and hashes 16 or 8 rows at a time
  with AVX-512 or AVX2 (one at a time without them), on every core;
* the pure-Python kernel (``_pykernel``: the row-wise reference, hashlib and numpy), used
  when the extension cannot be imported or when ``AUDIT_ANALYTICS_KERNEL=python`` asks for
  it. Same results, several times slower, one thread.

:func:`kernel_info` says which one runs.
"""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import numpy as np
import pyarrow as pa

from .profiles import HashProfile

__all__ = ["THREADS", "any_null", "bools", "canonical_texts", "compare", "digests", "hash64",
           "int64s", "kernel_info", "repeated", "segments", "sha256_slices", "take", "unhex"]

logger = logging.getLogger("audit_analytics")

THREADS = max(1, min(8, os.cpu_count() or 1))
KERNEL_ENV = "AUDIT_ANALYTICS_KERNEL"

_KIND_STRING, _KIND_LARGE_STRING, _KIND_TIMESTAMP, _KIND_INT64 = 0, 1, 2, 3


def _load() -> tuple[ModuleType, str | None]:
    """The kernel module to run, and why it is the Python one (None for the native one)."""
    wanted = os.environ.get(KERNEL_ENV, "").strip().lower()
    if wanted == "python":
        reason = f"{KERNEL_ENV}=python"
    else:
        if wanted not in ("", "auto", "native"):
            logger.warning("%s=%s is not one of auto, native, python: using auto",
                           KERNEL_ENV, wanted)
        try:
            from . import _native
        except ImportError as exc:
            reason = f"the compiled kernel is not importable ({exc})"
        else:
            return _native, None
    from . import _pykernel

    return _pykernel, reason


_impl, _fallback_reason = _load()


def kernel_info() -> dict:
    """Which kernel runs.

    Returns
    -------
    dict
        ``implementation``: ``"native"`` (the compiled extension) or ``"python"``;
        ``isa``: the native SHA-256 path a digest takes now (``"avx512"``, ``"avx2"`` or
        ``"scalar"``), None for the Python kernel; ``threads``: the threads a digest runs
        on; ``reason``: why the Python kernel runs (None for the native one).
    """
    if _fallback_reason is None:
        return {"implementation": "native", "isa": _impl._resolve_isa(), "threads": THREADS,
                "reason": None}
    return {"implementation": "python", "isa": None, "threads": 1, "reason": _fallback_reason}


_announced = False


def _kernel() -> ModuleType:
    """The running kernel; its first use logs which one it is (at debug level)."""
    global _announced
    if not _announced:
        _announced = True
        logger.debug("kernel: %s", kernel_info())
    return _impl


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
    return _kernel().canonical(spec, [_describe(c) for c in columns])


def digests(
    profile: HashProfile, columns: list[pa.Array], *, omit_nulls=None, threads: int = THREADS
) -> np.ndarray:
    """SHA-256 of each row's hashed text: an ``(n, 32)`` uint8 array.

    ``columns`` are the hashed fields in ``profile.ordered_fields`` order.
    """
    spec = profile.native_spec(omit_nulls=omit_nulls)
    raw = _kernel().digest(spec, [_describe(c) for c in columns], threads)
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, 32)


def sha256_slices(data, offsets: np.ndarray, threads: int = THREADS) -> bytes:
    """SHA-256 of each ``data[offsets[k]:offsets[k+1]]``: 32 bytes per text, concatenated.

    The native kernel hashes 8 or 16 texts at a time on ``threads`` threads; the Python
    kernel calls hashlib once per text.
    """
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    m = len(offsets) - 1
    if _fallback_reason is not None:
        view, sha = memoryview(data).cast("B"), hashlib.sha256
        return b"".join([sha(view[a:b]).digest()
                         for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())])
    native = _kernel()._sha256_batch
    if threads < 2 or m < 4096:
        return native(data, offsets.tobytes())
    cuts = np.linspace(0, m, threads + 1).astype(np.int64)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="audit-sha") as pool:
        parts = pool.map(lambda k: native(data, offsets[cuts[k]: cuts[k + 1] + 1].tobytes()),
                         range(threads))
        return b"".join(parts)


def unhex(column: pa.Array, genesis: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode stored hex digests: ``(n, 32)`` uint8 digests and per-row flags.

    Flags: 0 valid, 1 null, 2 not 64 lowercase hex characters, 3 the genesis marker.
    """
    raw, flags = _kernel().unhex(_describe(column), genesis.encode())
    return (
        np.frombuffer(raw, dtype=np.uint8).reshape(-1, 32),
        np.frombuffer(flags, dtype=np.uint8),
    )


def compare(computed: np.ndarray, stored_col: pa.Array, prev_col: pa.Array, genesis: str,
            threads: int = THREADS) -> tuple[np.ndarray, ...]:
    """The verification pass over a batch, in one kernel call.

    Decodes the stored ``hash`` and ``prev_hash`` texts (as :func:`unhex`), compares each
    stored digest with ``computed`` (an ``(n, size)`` uint8 array) and each ``prev_hash``
    with the digest stored in the row before.

    Returns
    -------
    tuple
        ``stored`` and ``prev`` (``(n, size)`` uint8), their flags (as :func:`unhex`),
        ``ok`` (bool: the stored digest decoded and equals the computed one) and ``seq``
        (bool: the row's ``prev_hash`` decoded and equals the stored digest of the row
        before it in the batch; False for the first row).
    """
    n, size = computed.shape
    out = _kernel().compare(np.ascontiguousarray(computed), _describe(stored_col),
                            _describe(prev_col), genesis.encode(), size=size, nthreads=threads)
    stored, hf, prev, pf, ok, seq = (np.frombuffer(b, dtype=np.uint8) for b in out)
    return (stored.reshape(n, size), hf, prev.reshape(n, size), pf, ok.view(bool),
            seq.view(bool))


def hash64(column: pa.Array, threads: int = THREADS) -> tuple[np.ndarray, np.ndarray]:
    """A 64-bit hash of each value of a text column (0 for null) and the null mask."""
    raw, nulls = _kernel().hash64(_describe(column), nthreads=threads)
    return (np.frombuffer(raw, dtype=np.uint64),
            np.frombuffer(nulls, dtype=np.uint8).astype(bool))


def repeated(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Positions (ascending) of the rows selected by ``mask`` whose 64-bit value repeats.

    ``values``: one 64-bit value per row, or ``(n, w)`` digests (``w`` a multiple of 8
    bytes) whose first 8 bytes are the value, read in place. Linear time with one hash
    table in the native kernel (a sort in the Python one).
    """
    stride = values.shape[1] // 8 if values.ndim == 2 else 1
    values = np.ascontiguousarray(values).view(np.uint64)
    if mask is not None:
        mask = np.ascontiguousarray(mask, dtype=bool).view(np.uint8)
    return np.frombuffer(_kernel().repeated(values, mask, stride), dtype=np.int64)


def segments(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split the link graph into paths: each row's path start and its depth in the path."""
    parent = np.ascontiguousarray(parent, dtype=np.int64)
    root, depth = _kernel().segments(parent)
    return np.frombuffer(root, dtype=np.int64), np.frombuffer(depth, dtype=np.int64)


def any_null(columns: list[pa.Array]) -> np.ndarray:
    """A boolean mask of rows with a null in any of ``columns``."""
    mask = np.zeros(len(columns[0]) if columns else 0, dtype=bool)
    for col in columns:
        if col.null_count:
            mask |= bools(col.is_null())
    return mask


# Arrow to numpy straight from the buffers: pyarrow's ``to_numpy`` imports pandas on its
# first call (about a second of start-up), which a verification never needs.
def _single(column) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def int64s(column, fill: int = 0) -> np.ndarray:
    """The values of an integer or timestamp column as int64, nulls as ``fill``.

    A view of the column's buffer when it holds no null and is already 64-bit.
    """
    arr = _single(column)
    if pa.types.is_timestamp(arr.type):
        arr = arr.view(pa.int64())
    elif arr.type != pa.int64():
        arr = arr.cast(pa.int64())
    if arr.null_count:
        arr = arr.fill_null(pa.scalar(fill, pa.int64()))
    if len(arr) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.frombuffer(arr.buffers()[1], dtype=np.int64, count=len(arr), offset=8 * arr.offset)


def take(column, positions: np.ndarray):
    """The values of ``column`` at ``positions`` (numpy integers), as Arrow does ``take``.

    The positions reach Arrow through their buffer: ``pa.array`` imports pandas.
    """
    idx = np.ascontiguousarray(positions, dtype=np.int64)
    return column.take(pa.Array.from_buffers(pa.int64(), len(idx), [None, pa.py_buffer(idx)]))


def bools(column) -> np.ndarray:
    """The values of a boolean column as a numpy bool array (nulls as False)."""
    arr = _single(column)
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=bool)
    if arr.null_count:
        arr = arr.fill_null(False)
    bits = np.frombuffer(arr.buffers()[1], dtype=np.uint8)
    return np.unpackbits(bits, bitorder="little")[arr.offset: arr.offset + n].astype(bool)
