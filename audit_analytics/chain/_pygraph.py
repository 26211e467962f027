"""Vectorised numpy versions of native routines: hash64, segments, repeated values.

Each gives exactly the native kernel's results (``native/hash64.c``, ``native/segments.c``,
``native/repeats.c``), so that a verification reads the same whichever kernel runs.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["hash64_values", "repeated_positions", "segment_paths"]

_P0 = np.uint64(0xA0761D6478BD642F)
_P1 = np.uint64(0xE7037ED1A0B428DB)
_P2 = np.uint64(0x8EBC6AF09C88C6E3)
_P3 = np.uint64(0x589965CC75374CC3)
_M32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


def _mul(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 128-bit products ``a * b``: (low halves, high halves), from 32-bit limbs."""
    al, ah, bl, bh = a & _M32, a >> _S32, b & _M32, b >> _S32
    ll, lh, hl, hh = al * bl, al * bh, ah * bl, ah * bh
    mid = (ll >> _S32) + (lh & _M32) + (hl & _M32)
    lo = (ll & _M32) | (mid << _S32)
    hi = hh + (lh >> _S32) + (hl >> _S32) + (mid >> _S32)
    return lo, hi


def _mix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo, hi = _mul(a, b)
    return lo ^ hi


class _Reader:
    """Little-endian word reads at byte positions of one data buffer."""

    def __init__(self, data: bytes) -> None:
        buf = np.frombuffer(data + bytes(16), dtype=np.uint8)
        self.windows = {w: sliding_window_view(buf, w) for w in (4, 8)}
        self.bytes = buf

    def word(self, pos: np.ndarray, width: int) -> np.ndarray:
        rows = np.ascontiguousarray(self.windows[width][pos])
        return rows.view("<u8" if width == 8 else "<u4").ravel().astype(np.uint64)


def hash64_values(data: bytes, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """The native kernel's 64-bit hash of each string ``data[start:start + length]``.

    A wyhash-style construction (see ``native/hash64.c`` for its statement): strings of up
    to 16 bytes are read as two 64-bit words, of 17 to 48 bytes mixed in one or two 16-byte
    strides, longer ones stride by stride, then the last 16 bytes and the length are mixed
    into the result. The 64x64 -> 128-bit products are built from 32-bit limbs.
    """
    n = len(start)
    start = start.astype(np.int64)
    length = length.astype(np.int64)
    read = _Reader(data)
    a = np.zeros(n, dtype=np.uint64)
    b = np.zeros(n, dtype=np.uint64)
    st = np.full(n, _P0 ^ _P3, dtype=np.uint64)

    at = np.flatnonzero((length >= 4) & (length <= 16))  # two overlapping 4-byte reads each
    if len(at):
        s, ln = start[at], length[at]
        d = (ln >> 3) << 2
        a[at] = (read.word(s, 4) << _S32) | read.word(s + d, 4)
        b[at] = (read.word(s + ln - 4, 4) << _S32) | read.word(s + ln - 4 - d, 4)
    at = np.flatnonzero((length >= 1) & (length <= 3))
    if len(at):
        s, ln = start[at], length[at]
        first, mid, last = (read.bytes[s + k].astype(np.uint64) for k in (0, ln >> 1, ln - 1))
        a[at] = (first << np.uint64(16)) | (mid << np.uint64(8)) | last
    at = np.flatnonzero((length > 16) & (length <= 48))
    if len(at):
        s, ln, st0 = start[at], length[at], st[at]
        x = _mix(read.word(s, 8) ^ _P1, read.word(s + 8, 8) ^ st0)
        two = np.flatnonzero(ln > 32)
        s2 = s[two]
        x[two] ^= _mix(read.word(s2 + 16, 8) ^ _P2, read.word(s2 + 24, 8) ^ st0[two])
        st[at] = x
    at = np.flatnonzero(length > 48)
    if len(at):
        s, strides, state = start[at], (length[at] - 1) // 16, st[at]
        for t in range(int(strides.max())):
            live = np.flatnonzero(strides > t)
            p = s[live] + 16 * t
            state[live] = _mix(read.word(p, 8) ^ _P1, read.word(p + 8, 8) ^ state[live])
        st[at] = state
    at = np.flatnonzero(length > 16)  # the last 16 bytes
    if len(at):
        end = start[at] + length[at]
        a[at] = read.word(end - 16, 8)
        b[at] = read.word(end - 8, 8)

    lo, hi = _mul(a ^ _P1, b ^ st)
    return _mix(lo ^ _P0 ^ length.astype(np.uint64), hi ^ _P1)


def _jump(up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Follow ``up`` links to their top by pointer doubling: (top row, steps to it).

    A row whose link is -1 is a top. Rows on a cycle do not reach one; they are left at
    some row of their cycle after enough rounds to cover the longest path.
    """
    n = len(up)
    top = np.where(up >= 0, up, np.arange(n))
    steps = (up >= 0).astype(np.int64)
    for _ in range(max(1, int(n).bit_length()) + 1):
        nxt = top[top]
        if np.array_equal(nxt, top):
            break
        steps += steps[top]
        top = nxt
    return top, steps


def segment_paths(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Root and depth of every row along the kept predecessor links (``native/segments.c``).

    A link i -> parent[i] is kept when parent[i] >= 0 and parent[i] has exactly one child,
    so kept links form simple paths and cycles; a cycle is broken at its lowest index.
    ``parent`` holds -1 or a row index per row (checked by the caller).
    """
    n = len(parent)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    linked = parent >= 0
    children = np.bincount(parent[linked], minlength=n)
    up = np.where(linked, parent, -1)
    up[linked] = np.where(children[parent[linked]] == 1, parent[linked], -1)
    top, steps = _jump(up)
    cyclic = up[top] >= 0
    if not cyclic.any():
        return top, steps
    # the lowest index of each cycle by doubling a running minimum around it
    low = np.arange(n)
    hop = np.where(cyclic, up, low)
    for _ in range(max(1, int(n).bit_length()) + 1):
        low = np.minimum(low, low[hop])
        hop = hop[hop]
    up[cyclic & (low == np.arange(n))] = -1
    return _jump(up)


def repeated_positions(values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Positions (ascending) of the selected rows whose value occurs twice or more there.

    By sorting here; the native kernel hashes (same positions).
    """
    if mask is None:
        mask = np.ones(len(values), dtype=bool)
    chosen = values[mask]
    ordered = np.sort(chosen)
    dupes = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    if not dupes.size:
        return np.zeros(0, dtype=np.int64)
    return np.nonzero(mask & np.isin(values, dupes))[0].astype(np.int64)
