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
from .profiles import HashProfile
from .schema import scan_column, scan_select

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


def row_integrity(profile: HashProfile, fields: list, stored_col):
    """Recompute digests for one batch; returns (ok, computed, hash flags, stored)."""
    computed = kernel.digests(profile, fields)
    stored, hf = kernel.unhex(stored_col, profile.genesis)
    ok = (computed.view(np.uint64) == stored.view(np.uint64)).all(axis=1) & (hf == 0)
    if profile.null == "null-or-omit":
        retry = ~ok & (hf == 0) & kernel.any_null(fields)
        if retry.any():
            idx = np.nonzero(retry)[0]
            subset = [f.take(pa.array(idx)) for f in fields]
            again = kernel.digests(profile, subset, omit_nulls=True)
            hit = (again.view(np.uint64) == stored[idx].view(np.uint64)).all(axis=1)
            if hit.any():
                computed = computed.copy()
                computed[idx[hit]] = again[hit]
                ok[idx[hit]] = True
    return ok, computed, hf, stored


def scan_source(engine: Engine, source: Source, profile: HashProfile, progress) -> Scan:
    """Scan every part of ``source`` (a progress bar when ``progress`` says so)."""
    scan = Scan(source.rows)
    with progress_bar(source.rows or None, "verifying", progress) as bar:
        for part in source.parts():
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
    columns = engine.columns(part.sql, part.params)
    select = scan_select(columns, profile, part.where)
    reader = engine.reader(f"SELECT {select} FROM ({part.sql})", part.params, BATCH_ROWS)
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


def _scan_batch(scan: Scan, profile: HashProfile, batch: pa.RecordBatch) -> None:
    n = batch.num_rows
    if n == 0:
        return
    fields = [batch.column("f:" + name) for name in profile.ordered_fields]
    ok, computed, hf, stored = row_integrity(profile, fields, batch.column("__hash"))
    prev, pf = kernel.unhex(scan_column(batch, "__prev"), profile.genesis)
    first = scan.rows
    bad = np.nonzero(~ok & (hf == 0))[0]
    for i in bad[: max(0, MAX_DIGEST_DETAILS - len(scan.details))]:
        scan.details[first + int(i)] = (stored[i].tobytes().hex(), computed[i].tobytes().hex())
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
    d["rk"][at] = kernel.int64s(batch.column("__rk"))
    d["idh"][at], d["idnull"][at] = kernel.hash64(scan_column(batch, "__id"))
    d["ts"][at] = kernel.int64s(batch.column("__ts"), NO_TS)
    d["ok"][at], d["hf"][at], d["pf"][at] = ok, hf, pf
