r"""The pure-Python kernel: the native kernel's interface in hashlib, numpy and pyarrow.

:mod:`audit_analytics.chain.kernel` runs this module when the compiled extension
(``audit_analytics.chain._native``) cannot be imported, or when ``AUDIT_ANALYTICS_KERNEL=python``
asks for it. It takes the same column descriptors and spec tuples, validates them with the
same messages and returns the same bytes:

* ``canonical`` and ``digest`` render each row with the row-wise reference,
  :class:`audit_analytics.chain.canonical.TextForm` (so the text is by construction the
  reference's), and hash it with :mod:`hashlib`, on one thread;
* ``unhex``, ``hash64`` and ``segments`` are vectorised with numpy, and ``hash64`` gives
  the native kernel's values bit for bit (see :mod:`audit_analytics.chain._pygraph`).

Arrow strings that are not valid UTF-8 come out as the native kernel writes them: raw bytes
in raw escaping, each byte that does not start a valid sequence as ``\ufffd`` in ASCII
escaping.
"""

from __future__ import annotations

import hashlib
import sys
from datetime import datetime, timedelta
from functools import cached_property

import numpy as np
import pyarrow as pa
from numpy.lib.stride_tricks import sliding_window_view

from ._pygraph import hash64_values, repeated_positions, segment_paths
from .canonical import TextForm

__all__ = ["SIMD_AVAILABLE", "SIMD_ISA", "canonical", "digest", "hash64", "segments", "unhex"]

SIMD_ISA = None
SIMD_AVAILABLE = False

_KINDS = "0=utf8, 1=large_utf8, 2=timestamp[us], 3=int64"
_TS_MIN_US, _TS_MAX_US = -62_135_596_800_000_000, 253_402_300_799_999_999
_EPOCH = datetime(1970, 1, 1)  # naive: the kernel's timestamps are UTC
_CHUNK_ROWS = 65_536
# bytes kept by the "surrogateescape" decoding become U+FFFD in ASCII escaping
_REPLACE = {c: 0xFFFD for c in range(0xDC80, 0xDD00)}


class _Column:
    """A validated column descriptor: its buffers, read through numpy and pyarrow."""

    def __init__(self, kind: int, length: int, offset: int, validity: memoryview | None,
                 buf1: memoryview | None, data: memoryview | None) -> None:
        self.kind, self.length, self.offset = kind, length, offset
        self.validity, self.buf1, self.data = validity, buf1, data

    @cached_property
    def valid(self) -> np.ndarray:
        """A boolean mask of the non-null rows."""
        if self.validity is None or self.length == 0:
            return np.ones(self.length, dtype=bool)
        bits = np.unpackbits(np.frombuffer(self.validity, dtype=np.uint8), bitorder="little")
        return bits[self.offset : self.offset + self.length].astype(bool)

    @cached_property
    def offsets(self) -> np.ndarray:
        """The ``length + 1`` string offsets of the logical rows, as int64."""
        if self.length == 0:
            return np.zeros(1, dtype=np.int64)
        return _int_view(self.buf1, "=i4" if self.kind == 0 else "=i8")[
            self.offset : self.offset + self.length + 1].astype(np.int64)

    @cached_property
    def ints(self) -> np.ndarray:
        """The int64 values of the logical rows."""
        if self.length == 0:
            return np.zeros(0, dtype=np.int64)
        return _int_view(self.buf1, "=i8")[self.offset : self.offset + self.length]

    @cached_property
    def data_bytes(self) -> bytes:
        """The string data buffer (empty when there is none)."""
        return b"" if self.data is None else self.data.tobytes()

    def strings(self, start: int, stop: int) -> list:
        """The values of rows [start, stop) of a string column, decoded by pyarrow."""
        kind = pa.string() if self.kind == 0 else pa.large_string()
        buffers = [None if self.validity is None else pa.py_buffer(self.validity),
                   pa.py_buffer(self.buf1), pa.py_buffer(self.data or b"")]
        arr = pa.Array.from_buffers(kind, stop - start, buffers, offset=self.offset + start)
        return arr.to_pylist()


def _buffer(obj: object, what: str, idx: int) -> memoryview:
    try:
        view = memoryview(obj)
    except TypeError:
        raise TypeError(f"column {idx}: {what} must support the buffer protocol "
                        f"(got {type(obj).__name__})") from None
    if not view.contiguous:
        raise TypeError(f"column {idx}: {what} must be a contiguous buffer")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def _int_view(view: memoryview, dtype: str) -> np.ndarray:
    width = np.dtype(dtype).itemsize
    return np.frombuffer(view, dtype=dtype, count=len(view) // width)


def _parse_column(t: object, idx: int, check_ts: bool) -> _Column:
    """Parse and fully validate one descriptor (the native kernel's checks and messages)."""
    if not isinstance(t, tuple) or len(t) != 6:
        raise TypeError(f"column {idx}: descriptor must be a 6-tuple "
                        "(kind, length, offset, validity, buf1, buf2)")
    kind, length, offset, oval, ob1, ob2 = t
    if not all(isinstance(x, int) for x in (kind, length, offset)):
        raise TypeError(f"column {idx}: kind, length and offset must be int")
    if not 0 <= kind <= 3:
        raise ValueError(f"column {idx}: unknown kind {kind} ({_KINDS})")
    if length < 0 or offset < 0:
        raise ValueError(f"column {idx}: length and offset must be >= 0")
    if length > sys.maxsize // 16 - offset - 16:
        raise ValueError(f"column {idx}: length + offset too large")
    end = offset + length
    validity = data = None
    if oval is not None:
        view = _buffer(oval, "validity", idx)
        if length > 0 and len(view) < (end + 7) // 8:
            raise ValueError(f"column {idx}: validity bitmap too small ({len(view)} bytes, "
                             f"need {(end + 7) // 8})")
        validity = view
    buf1 = None if ob1 is None else _buffer(ob1, "buf1", idx)
    if ob2 is not None:
        data = _buffer(ob2, "buf2", idx)
    col = _Column(kind, length, offset, validity, buf1, data)
    if length == 0:
        return col
    if kind <= 1:
        width = 4 if kind == 0 else 8
        if buf1 is None:
            raise ValueError(f"column {idx}: string column needs an offsets buffer")
        if len(buf1) // width < end + 1:
            raise ValueError(f"column {idx}: offsets buffer too small ({len(buf1)} bytes, "
                             f"need {(end + 1) * width})")
        offs = col.offsets
        if offs[0] < 0:
            raise ValueError(f"column {idx}: negative string offset")
        falls = np.flatnonzero(np.diff(offs) < 0)
        if len(falls):
            raise ValueError(f"column {idx}: string offsets are not monotonic at element "
                             f"{falls[0]}")
        dlen = 0 if data is None else len(data)
        if offs[-1] > dlen:
            raise ValueError(f"column {idx}: string offsets point past the data buffer "
                             f"({offs[-1]} > {dlen} bytes)")
        return col
    if buf1 is None:
        raise ValueError(f"column {idx}: values buffer is None")
    if len(buf1) // 8 < end:
        raise ValueError(f"column {idx}: values buffer too small ({len(buf1)} bytes, "
                         f"need {end * 8})")
    if kind == 2 and check_ts:
        v = col.ints
        bad = np.flatnonzero(((v < _TS_MIN_US) | (v > _TS_MAX_US)) & col.valid)
        if len(bad):
            raise ValueError(f"column {idx}: timestamp {v[bad[0]]} at element {bad[0]} is "
                             "outside years 0001..9999")
    return col


def _parse_columns(seq: object) -> list[_Column]:
    try:
        items = list(seq)
    except TypeError:
        raise TypeError("columns must be a sequence of column descriptors") from None
    if not items:
        raise ValueError("at least one column is required")
    cols = []
    for k, item in enumerate(items):
        cols.append(_parse_column(item, k, True))
        if cols[k].length != cols[0].length:
            raise ValueError(f"column {k} has length {cols[k].length} but column 0 has length "
                             f"{cols[0].length} (all columns must have the same length)")
    return cols


def _parse_spec(spec: object) -> TextForm:
    if not isinstance(spec, tuple) or len(spec) != 6:
        raise TypeError("spec must be a 6-tuple "
                        "(keys, item_sep, kv_sep, escape_mode, ts_mode, null_mode)")
    keys, isep, kvsep = spec[:3]
    if not isinstance(keys, tuple):
        raise TypeError("spec: keys must be a tuple of bytes")
    if not isinstance(isep, bytes) or not isinstance(kvsep, bytes):
        raise TypeError("spec: item_sep and kv_sep must be bytes")
    for name, mode in zip(("escape_mode", "ts_mode", "null_mode"), spec[3:]):
        if not isinstance(mode, int):
            raise TypeError(f"spec: {name} must be an int")
        if not 0 <= mode <= 1:
            raise ValueError(f"spec: {name} must be between 0 and 1 (got {mode})")
    for k, key in enumerate(keys):
        if not isinstance(key, bytes):
            raise TypeError(f"spec: key {k} must be bytes")
    return TextForm.from_spec(spec)


def _parse(spec: object, columns: object) -> tuple[TextForm, list[_Column]]:
    form = _parse_spec(spec)
    cols = _parse_columns(columns)
    if len(cols) != len(form.keys):
        raise ValueError(f"spec has {len(form.keys)} keys but {len(cols)} columns were given")
    return form, cols


def _values(col: _Column, start: int, stop: int, ascii: bool) -> list:
    """The Python values of rows [start, stop): str, datetime, int or None."""
    if col.kind <= 1:
        try:
            return col.strings(start, stop)
        except UnicodeDecodeError:
            pass  # not valid UTF-8: decode value by value, keeping the bytes
        valid = col.valid[start:stop].tolist()
        offs = col.offsets[start : stop + 1].tolist()
        data = col.data_bytes
        out = []
        for k, ok in enumerate(valid):
            text = data[offs[k] : offs[k + 1]].decode("utf-8", "surrogateescape") if ok else None
            out.append(text.translate(_REPLACE) if ascii and text else text)
        return out
    valid = col.valid[start:stop].tolist()
    ints = col.ints[start:stop].tolist()
    if col.kind == 2:
        return [_EPOCH + timedelta(microseconds=v) if ok else None
                for v, ok in zip(ints, valid)]
    return [v if ok else None for v, ok in zip(ints, valid)]


def _texts(form: TextForm, cols: list[_Column], start: int, stop: int) -> list[bytes]:
    return form.texts([_values(c, start, stop, form.ascii) for c in cols])


def canonical(spec: tuple, columns: list) -> list[bytes]:
    """Canonical JSON text of every row."""
    form, cols = _parse(spec, columns)
    return _texts(form, cols, 0, cols[0].length)


def digest(spec: tuple, columns: list, nthreads: int = 1, simd: bool = True,
           isa: str | None = None) -> bytes:
    """Raw SHA-256 (32 bytes per row) of the canonical text of every row.

    ``nthreads`` is accepted for the native kernel's interface; the work runs on the
    calling thread. ``isa`` may only be None (there are no SIMD paths here).
    """
    if nthreads < 1:
        raise ValueError("nthreads must be >= 1")
    if isa is not None:
        raise ValueError(f"isa={isa!r} is not available in the Python kernel")
    form, cols = _parse(spec, columns)
    n = cols[0].length
    sha = hashlib.sha256
    out = bytearray()
    for start in range(0, n, _CHUNK_ROWS):
        texts = _texts(form, cols, start, min(n, start + _CHUNK_ROWS))
        out += b"".join([sha(t).digest() for t in texts])
    return bytes(out)


def _string_column(column: object, what: str) -> _Column:
    col = _parse_column(column, 0, False)
    if col.kind > 1:
        raise TypeError(f"{what}: column must be a string column (kind 0 or 1)")
    return col


def unhex(column: tuple, genesis: bytes) -> tuple[bytes, bytes]:
    """Decode stored hex digests: (n*32 digest bytes, n flag bytes).

    Flags: 0 decoded 64-character lowercase hex, 1 null, 2 malformed, 3 equals genesis.
    Rows with a non-zero flag get 32 zero bytes.
    """
    out, flags = _unhex(_string_column(column, "unhex"), bytes(memoryview(genesis)), 32)
    return out.tobytes(), flags.tobytes()


def _unhex(col: _Column, genesis: bytes, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(n, size)`` decoded digests and ``n`` flags of a string column (see :func:`unhex`)."""
    n = col.length
    width = 2 * size
    offs = col.offsets
    start, lengths = offs[:-1], np.diff(offs)
    data = np.frombuffer(col.data_bytes + bytes(max(width, len(genesis))), dtype=np.uint8)
    flags = np.full(n, 2, dtype=np.uint8)
    out = np.zeros((n, size), dtype=np.uint8)
    is_gen = lengths == len(genesis)
    if len(genesis) and is_gen.any():
        at = np.flatnonzero(is_gen)
        text = sliding_window_view(data, len(genesis))[start[at]]
        is_gen[at] = (text == np.frombuffer(genesis, dtype=np.uint8)).all(axis=1)
    hexlen = (lengths == width) & ~is_gen
    if hexlen.any():
        at = np.flatnonzero(hexlen)
        nibble = _NIBBLE[sliding_window_view(data, width)[start[at]]]
        good = (nibble >= 0).all(axis=1)
        pairs = nibble[good].astype(np.uint8).reshape(-1, size, 2)
        out[at[good]] = (pairs[:, :, 0] << 4) | pairs[:, :, 1]
        flags[at[good]] = 0
    flags[is_gen] = 3
    null = ~col.valid
    flags[null] = 1
    out[null | (flags != 0)] = 0
    return out, flags


def compare(computed: object, hash: tuple, prev: tuple, genesis: bytes, size: int = 32,
            nthreads: int = 1) -> tuple[bytes, ...]:
    """One pass over a batch: stored digests decoded and compared (as the native kernel).

    Returns (stored, hash flags, prev, prev flags, ok, seq): ``ok`` says the stored digest
    decoded and equals the computed one, ``seq`` that the row's ``prev_hash`` decoded and
    equals the decoded digest of the row before. ``nthreads`` is accepted for the native
    kernel's interface; the work runs on the calling thread.
    """
    if nthreads < 1 or not 1 <= size <= 1024:
        raise ValueError("compare: nthreads must be >= 1, size 1..1024")
    genesis = bytes(memoryview(genesis))
    hcol, pcol = _string_column(hash, "compare"), _string_column(prev, "compare")
    got = np.frombuffer(memoryview(computed).cast("B"), dtype=np.uint8)
    n = hcol.length
    if pcol.length != n or len(got) != n * size:
        raise ValueError(f"compare: {len(got)} computed bytes, {n} hashes and {pcol.length} "
                         f"prev hashes do not match (digests of {size} bytes)")
    stored, hf = _unhex(hcol, genesis, size)
    prevd, pf = _unhex(pcol, genesis, size)
    ok = (hf == 0) & (got.reshape(n, size) == stored).all(axis=1)
    seq = np.zeros(n, dtype=bool)
    seq[1:] = (pf[1:] == 0) & (hf[:-1] == 0) & (prevd[1:] == stored[:-1]).all(axis=1)
    return (stored.tobytes(), hf.tobytes(), prevd.tobytes(), pf.tobytes(),
            ok.astype(np.uint8).tobytes(), seq.astype(np.uint8).tobytes())


_NIBBLE = np.full(256, -1, dtype=np.int8)
_NIBBLE[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_NIBBLE[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)


def hash64(column: tuple, nthreads: int = 1) -> tuple[bytes, bytes]:
    """64-bit hash of every value of a string column (0 for nulls) and the null flags.

    The values are the native kernel's, bit for bit. ``nthreads`` is accepted for its
    interface; the work runs on the calling thread.
    """
    if nthreads < 1:
        raise ValueError("nthreads must be >= 1")
    col = _string_column(column, "hash64")
    offs = col.offsets
    hashes = hash64_values(col.data_bytes, offs[:-1], np.diff(offs))
    null = ~col.valid
    hashes[null] = 0
    return hashes.tobytes(), null.astype(np.uint8).tobytes()


def segments(parent: object) -> tuple[bytes, bytes]:
    """Root and depth (n native int64 each) of every row along the kept links."""
    view = memoryview(parent).cast("B")
    if len(view) % 8:
        raise ValueError(f"segments: parent buffer length {len(view)} is not a multiple of 8 "
                         "(int64)")
    links = np.frombuffer(view, dtype="=i8")
    bad = np.flatnonzero((links < -1) | (links >= len(links)))
    if len(bad):
        i = bad[0]
        raise ValueError(f"segments: parent[{i}] = {links[i]} is out of range "
                         f"(must be -1 or 0..{len(links) - 1})")
    root, depth = segment_paths(links)
    return root.tobytes(), depth.tobytes()


def repeated(values: object, mask: object = None, stride: int = 1) -> bytes:
    """Positions (native int64, ascending) of the selected rows whose value repeats.

    Row ``i``'s value is the ``uint64`` at ``i * stride``.
    """
    view = memoryview(values).cast("B")
    if stride < 1 or len(view) % (8 * stride):
        raise ValueError(f"repeated: values buffer length {len(view)} is not a multiple of "
                         f"8 * stride ({stride})")
    vals = np.frombuffer(view, dtype="=u8")[::stride]
    chosen = None
    if mask is not None:
        chosen = np.frombuffer(memoryview(mask).cast("B"), dtype=np.uint8) != 0
        if len(chosen) != len(vals):
            raise ValueError(f"repeated: mask holds {len(chosen)} bytes for {len(vals)} values")
    return repeated_positions(vals, chosen).tobytes()
