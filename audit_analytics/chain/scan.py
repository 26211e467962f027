"""The scan: one pass over a source's parts that keeps a few bytes per row.

Each batch's rows are rehashed by the native kernel and compared with the stored
``hash`` (row integrity); each row's ``prev_hash`` is compared in full with the digest of
the row read just before it (the in-order links). What is kept per row is small and
fixed (see :class:`Scan`); :mod:`audit_analytics.chain.verify` resolves the rest.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from .._engine import Engine
from ..progress import progress_bar
from ..sources import ScanPart, Source
from . import kernel
from .digests import compute, decode, encode, link_key
from .expressions import profile_parts, scan_query
from .profiles import HashProfile
from .schema import scan_column

__all__ = ["BATCH_ROWS", "MAX_DIGEST_DETAILS", "NO_TS", "Scan", "row_integrity", "scan_source"]

BATCH_ROWS = 131_072
MAX_DIGEST_DETAILS = 10_000  # stored/computed hex kept for at most this many mismatches
NO_TS = np.iinfo(np.int64).min  # a row without a usable timestamp


class Scan:
    """What the scan keeps per row: 61 bytes, whatever the width of the source.

    The stored digest is kept whole (32 bytes), so that every link, copy and anchor is
    confirmed on all of it. A ``prev_hash`` is kept only for the rows that do not link to
    the row read just before them (``loose``: forks, part boundaries, shuffled rows);
    the in-order links are confirmed while their batch is in memory (``seq``).

    Arrays are allocated once for the expected row count and filled in place, so the
    peak is the arrays themselves, never a list of batches plus their concatenation.
    Ids are kept as a 64-bit hash only; the few ids a result names are read back later.
    """

    _COLUMNS = {"rk": (np.int64, ()), "idh": (np.uint64, ()), "ts": (np.int64, ()),
                "h": (np.uint8, (32,)), "ok": (bool, ()), "hf": (np.uint8, ()),
                "pf": (np.uint8, ()), "idnull": (bool, ()), "seq": (bool, ())}

    def __init__(self, capacity: int) -> None:
        self.capacity = max(capacity, 1)
        self.data = {k: np.empty((self.capacity, *shape), dtype=t)
                     for k, (t, shape) in self._COLUMNS.items()}
        self.details: dict[int, tuple[str, str]] = {}  # pos -> (stored hex, computed hex)
        self.loose: list[tuple[np.ndarray, np.ndarray]] = []  # (positions, prev digests)
        self.rows = 0

    def slot(self, n: int) -> slice:
        """Room for ``n`` more rows (grows when a source holds more than it said)."""
        if self.rows + n > self.capacity:
            self.capacity = max(self.rows + n, int(self.capacity * 1.5))
            for key, arr in self.data.items():
                grown = np.empty((self.capacity, *arr.shape[1:]), dtype=arr.dtype)
                grown[: self.rows] = arr[: self.rows]
                self.data[key] = grown
        at = slice(self.rows, self.rows + n)
        self.rows += n
        return at

    def arrays(self) -> dict[str, np.ndarray]:
        """The filled part of each array (views, no copies)."""
        return {k: v[: self.rows] for k, v in self.data.items()}

    def loose_links(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the rows whose ``prev_hash`` still needs a join, and those digests."""
        if not self.loose:
            return np.zeros(0, np.int64), np.zeros((0, 32), np.uint8)
        positions = np.concatenate([p for p, _ in self.loose])
        prevs = np.concatenate([d for _, d in self.loose])
        self.loose = [(positions, prevs)]
        return positions, prevs


def _digests(profile: HashProfile, fields: list, text, omit_nulls=None):
    """Each row's digest, and which rows had a text (the digest layer's seam)."""
    if profile.text == "sql":
        return compute(profile, text)
    if profile.native_default:
        out = kernel.digests(profile, fields, omit_nulls=omit_nulls)
        return out, np.ones(len(out), dtype=bool)
    return compute(profile, kernel.canonical_texts(profile, fields, omit_nulls=omit_nulls))


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.shape[1] % 8 == 0:
        return (a.view(np.uint64) == b.view(np.uint64)).all(axis=1)
    return (a == b).all(axis=1)


def row_integrity(profile: HashProfile, fields: list, stored_col, text=None):
    """Recompute digests for one batch; returns (ok, computed, hash flags, stored).

    ``fields`` are the hashed fields (JSON profiles), ``text`` the built text (SQL
    profiles). Digests are whole (``profile.digest_size`` bytes), not link keys.
    """
    computed, has_text = _digests(profile, fields, text)
    stored, hf = decode(profile, stored_col)
    ok = _same(computed, stored) & (hf == 0) & has_text
    if profile.text == "json" and profile.null == "null-or-omit":
        retry = ~ok & (hf == 0) & kernel.any_null(fields)
        if retry.any():
            idx = np.nonzero(retry)[0]
            subset = [f.take(pa.array(idx)) for f in fields]
            again, _ = _digests(profile, subset, None, omit_nulls=True)
            hit = _same(again, stored[idx])
            if hit.any():
                computed = computed.copy()
                computed[idx[hit]] = again[hit]
                ok[idx[hit]] = True
    return ok, computed, hf, stored


def scan_source(engine: Engine, source: Source, profile: HashProfile, progress) -> Scan:
    """Scan every part of ``source`` (a progress bar when ``progress`` says so)."""
    scan = Scan(source.rows)
    with progress_bar(source.rows or None, "verifying", progress) as bar:
        for part in profile_parts(source, profile):
            for batch in _read_ahead(_part_batches(engine, part, profile)):
                _scan_batch(scan, profile, batch)
                bar.update(batch.num_rows)
    return scan


def _part_batches(engine: Engine, part: ScanPart, profile: HashProfile):
    """The batches of one part, with the columns :func:`schema.scan_select` names.

    DuckDB reads every source, Parquet included: measured against reading Parquet with
    pyarrow directly (faster alone), it is faster inside the verifier, whose hashing
    threads want the same two cores, and needs less memory.
    """
    query = scan_query(engine, part.sql, part.params, profile, part.where)
    reader = engine.reader(query, part.params, BATCH_ROWS)
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return


def _read_ahead(batches):
    """Yield ``batches`` while the next one is read on another thread.

    The reader (pyarrow or DuckDB) decodes the next batch, releasing the GIL, while the
    kernel hashes this one.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-read") as pool:
        pending = pool.submit(next, batches, None)
        while True:
            batch = pending.result()
            if batch is None:
                return
            pending = pool.submit(next, batches, None)
            yield batch


def _numpy(column, dtype, fill=None) -> np.ndarray:
    if fill is not None and column.null_count:
        column = column.fill_null(fill)
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=dtype)


def _scan_batch(scan: Scan, profile: HashProfile, batch: pa.RecordBatch) -> None:
    n = batch.num_rows
    if n == 0:
        return
    fields = ([] if profile.text == "sql"
              else [batch.column("f:" + name) for name in profile.ordered_fields])
    text = batch.column("__text") if profile.text == "sql" else None
    ok, computed, hf, stored = row_integrity(profile, fields, batch.column("__hash"), text)
    prev, pf = decode(profile, scan_column(batch, "__prev"), link=True)
    first = scan.rows
    bad = np.nonzero(~ok & (hf == 0))[0]
    for i in bad[: max(0, MAX_DIGEST_DETAILS - len(scan.details))]:
        made = encode(profile, computed[i].tobytes()) if profile.text == "json" or \
            text[int(i)].is_valid else None
        scan.details[first + int(i)] = (encode(profile, stored[i].tobytes()), made)
    stored, prev = link_key(stored), link_key(prev)
    # in-order links, confirmed on the whole digest; the row before the batch (the last
    # row of the previous batch or part) is already in the arrays
    seq = np.zeros(n, dtype=bool)
    seq[1:] = (hf[:-1] == 0) & (prev[1:] == stored[:-1]).all(axis=1)
    if first:
        seq[0] = scan.data["hf"][first - 1] == 0 and bool(
            (prev[0] == scan.data["h"][first - 1]).all())
    seq &= pf == 0
    loose = np.nonzero((pf == 0) & ~seq)[0]
    if len(loose):
        scan.loose.append((loose + first, prev[loose].copy()))
    at = scan.slot(n)
    d = scan.data
    d["h"][at], d["seq"][at] = stored, seq
    d["rk"][at] = _numpy(batch.column("__rk"), np.int64)
    d["idh"][at], d["idnull"][at] = kernel.hash64(scan_column(batch, "__id"))
    d["ts"][at] = _numpy(batch.column("__ts"), np.int64, NO_TS)
    d["ok"][at], d["hf"][at], d["pf"][at] = ok, hf, pf
