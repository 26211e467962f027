"""The map of verification: one part of a source in, one compact, picklable result out.

:func:`scan_part` reads one part (a Parquet file, a table held in the source's engine),
rehashes every row with the kernel and compares it with the stored ``hash`` (row
integrity), then resolves the part's own links on the whole digest: each ``prev_hash``
first against the row read just before it, the rest with one hash join. What leaves the
part is small (see :class:`PartResult`): the findings of its rows, its chain condensed to
*runs* (unbranched paths of rows), its loose ends (the ``prev_hash`` of each run that
starts without a parent in the part, the digest at each run's tail) and the distinct
64-bit hashes of its ids and digests, which the reduce (:mod:`.link`) merges to find what
several parts share.

A part is plain data (:class:`~audit_analytics.sources.ScanPart`: a Parquet path and its
row-key offset, or SQL over rows the source's engine holds), a task and a result pickle,
and each call scans with an engine of its own process and thread: a process pool, or a
cluster, can run the map.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pyarrow as pa

from .._caps import LISTED
from .._engine import Engine
from ..sources import ScanPart
from . import kernel
from .digests import encode, link_key
from .expressions import scan_query
from .integrity import batch_integrity, finer_timestamps, row_integrity
from .profiles import HashProfile
from .runs import key64, part_graph, part_links, repeats, same_hash_groups
from .schema import scan_column

__all__ = ["BATCH_ROWS", "MAX_DIGEST_DETAILS", "NO_TS", "PartResult", "PartTask", "Scan",
           "batch_integrity", "ids_with_hashes", "read_ids", "row_integrity", "scan_part"]

BATCH_ROWS = 131_072
MAX_DIGEST_DETAILS = 10_000  # stored/computed hex kept for at most this many mismatches
MAX_KEPT_IDS = 10_000  # ids kept while scanning (rows where runs may start or end)
NO_TS = np.iinfo(np.int64).min  # a row without a usable timestamp


@dataclass(frozen=True, eq=False)
class PartTask:
    """What one map call needs: the part, the profile, and what to look for in it.

    ``anchor_digests`` and ``anchor_ids`` (trusted anchors) name the rows to report with
    their ids; ``expose`` (64-bit digest keys) makes the rows with those keys their own
    runs, so that the reduce can link other parts' rows to them or fold them into copies
    found in other parts. ``id_hashes`` names the ids :func:`ids_with_hashes` reads.
    ``alone`` says the part is the source's only one: no other part can share its keys
    or ids, so its result leaves ``key_set`` and ``id_set`` empty (sparing two sorts).
    """

    part: ScanPart
    profile: HashProfile
    index: int
    anchor_digests: tuple[bytes, ...] = ()
    anchor_ids: tuple[str, ...] = ()
    expose: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    id_hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    threads: int | None = None
    alone: bool = False


@dataclass
class PartResult:
    """What the reduce needs of one part, positions local to the part (0 .. rows-1).

    Per row, at most 16 bytes: ``key_set`` and ``id_set``, the distinct 64-bit keys of
    its stored digests and hashes of its ids, sorted (the reduce merges them to find
    what several parts share). Everything else is sparse: the rows' findings, the part's
    runs (``nodes``, a dict of arrays, one entry per run), the exposed rows, the rows
    that may hold an anchor and, in ``named``, the row key, id and timestamp of every
    row the result may name.
    """

    index: int
    rows: int
    key_set: np.ndarray
    id_set: np.ndarray
    findings: list[dict]
    nodes: dict[str, np.ndarray]
    exposed: dict[str, np.ndarray]
    dup_candidates: np.ndarray
    anchor_hash_rows: dict[str, np.ndarray]
    anchor_id_rows: dict[str, np.ndarray]
    named: dict[str, object]
    hash_text: dict[int, str | None]
    rk_first: int | None
    rks: np.ndarray | None
    #: Findings of each kind found but not kept (a part keeps the first
    #: :data:`~audit_analytics._caps.LISTED` of each row-level kind).
    unlisted: dict[str, int] = field(default_factory=dict)

    def positions(self, rks: np.ndarray) -> np.ndarray:
        """The positions of the rows with the row keys ``rks``."""
        rks = np.asarray(rks, np.int64)
        if self.rks is None:
            return rks - self.rk_first
        order = np.argsort(self.rks, kind="stable")
        return order[np.searchsorted(self.rks[order], rks)]

    def row_keys(self, positions: np.ndarray) -> np.ndarray:
        """The row keys of the rows at ``positions``."""
        positions = np.asarray(positions, np.int64)
        return self.rks[positions] if self.rks is not None else positions + self.rk_first


class Scan:
    """What the scan keeps per row of one part: 61 bytes, whatever the width of the rows.

    The stored digest is kept as its 32-byte link key (the digest itself for SHA-256, see
    :func:`.digests.link_key`), so that every link and copy is confirmed on all of it. A
    ``prev_hash`` is kept only for the rows that do not link to the row read just before
    them (``loose``); the in-order links are confirmed while their batch is in memory
    (``seq``). Ids are kept as a 64-bit hash, and as text only for the
    rows where a run may start or end (next to a row that does not link in order, and
    the last row), up to :data:`MAX_KEPT_IDS`: other ids a result names are read back.
    """

    _COLUMNS = {"rk": (np.int64, ()), "idh": (np.uint64, ()), "ts": (np.int64, ()),
                "h": (np.uint8, (32,)), "ok": (bool, ()), "hf": (np.uint8, ()),
                "pf": (np.uint8, ()), "idnull": (bool, ()), "seq": (bool, ())}

    def __init__(self, capacity: int) -> None:
        self.capacity = max(capacity, 1)
        self.data = {k: np.empty((self.capacity, *shape), dtype=t)
                     for k, (t, shape) in self._COLUMNS.items()}
        self.details: dict[int, tuple[str, str]] = {}  # pos -> (stored hex, computed hex)
        self.reasons: dict[int, str] = {}  # pos -> why a mismatch has no computed digest
        self.mismatches = 0
        self.loose: list[tuple[np.ndarray, np.ndarray]] = []  # (positions, prev digests)
        self.hash_text: dict[int, str | None] = {}
        self.ids: dict[int, str | None] = {}
        self.last_id: tuple[int, str | None] | None = None
        self.rows = 0

    def slot(self, n: int) -> slice:
        """Room for ``n`` more rows (grows when a part holds more than it said)."""
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


def scan_part(task: PartTask, engine: Engine | None = None, on_batch=None) -> PartResult:
    """The map: scan one part and condense it (see the module docstring).

    Parameters
    ----------
    task
        The part, the profile and what to look for (picklable).
    engine
        The engine to scan with: the one that holds the part's rows for a part that is
        not ``standalone``, else any engine of this process and thread (a connection is
        never shared across processes or threads); ``None`` opens one for the call.
    on_batch
        Called with the number of rows of each batch read (progress).
    """
    own = engine is None
    if own:
        engine = Engine(threads=task.threads)
    try:
        scan = _read_part(engine, task, on_batch)
        return _condense(engine, scan, task)
    finally:
        if own:
            engine.close()


def ids_with_hashes(task: PartTask, engine: Engine | None = None,
                    on_batch=None) -> tuple[np.ndarray, list[str]]:
    """The row keys and ids of the rows of ``task.part`` whose id hash is in ``task.id_hashes``.

    The reduce asks for the rows of ids that several parts share (duplicate ids across
    parts): one read of the part's ids, none of its other columns.
    """
    own = engine is None
    if own:
        engine = Engine(threads=task.threads)
    part = task.part
    rks, ids = [], []
    try:
        reader = engine.reader(f"SELECT __rk, CAST(id AS VARCHAR) AS id FROM ({part.sql})",
                               part.params, BATCH_ROWS)
        for batch in reader:
            idh, nulls = kernel.hash64(batch.column(1))
            hit = np.nonzero(~nulls & np.isin(idh, task.id_hashes))[0]
            if len(hit):
                rks.append(kernel.int64s(kernel.take(batch.column(0), hit)))
                ids.extend(kernel.take(batch.column(1), hit).to_pylist())
    finally:
        if own:
            engine.close()
    return (np.concatenate(rks) if rks else np.zeros(0, np.int64)), ids


def read_ids(part: ScanPart, rks: np.ndarray, engine: Engine | None = None) -> dict:
    """The ids (text) of the rows of ``part`` with the row keys ``rks``: ``{rk: id}``.

    Like :func:`scan_part`, it opens an engine of its own unless given the one that
    holds the part's rows.
    """
    own = engine is None
    if own:
        engine = Engine()
    # the keys travel as one list parameter: registering a table would import pandas
    try:
        return dict(engine.rows(
            f"SELECT __rk, CAST(id AS VARCHAR) FROM ({part.sql}) "
            "WHERE __rk IN (SELECT unnest(?::BIGINT[]))",
            [*part.params, np.asarray(rks, np.int64).tolist()]))
    finally:
        if own:
            engine.close()


def _read_part(engine: Engine, task: PartTask, on_batch) -> Scan:
    part, profile = task.part, task.profile
    scan = Scan(part.rows)
    anchor_idh = (kernel.hash64(pa.array(task.anchor_ids, pa.string()))[0]
                  if task.anchor_ids else None)
    for batch in _read_ahead(_part_batches(engine, part, profile)):
        _scan_batch(scan, profile, batch, anchor_idh)
        if on_batch is not None:
            on_batch(batch.num_rows)
    return scan


def _part_batches(engine: Engine, part: ScanPart, profile: HashProfile):
    """The batches of one part, as :func:`.expressions.scan_query` reads it.

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


def _scan_batch(scan: Scan, profile: HashProfile, batch: pa.RecordBatch, anchor_idh) -> None:
    n = batch.num_rows
    if n == 0:
        return
    text = batch.column("__text") if profile.text == "sql" else None
    fields = ([] if text is not None
              else [batch.column("f:" + name) for name in profile.ordered_fields])
    ok, computed, hf, stored, prev, pf, seq = batch_integrity(
        profile, fields, batch.column("__hash"), scan_column(batch, "__prev"), text)
    first = scan.rows
    finer = finer_timestamps(profile, batch)
    if finer:  # no text the producer wrote holds such a timestamp: no digest to compute
        ok = ok.copy()
        ok[list(finer)] = False
    bad = np.nonzero(~ok & (hf == 0))[0]
    scan.mismatches += len(bad)
    for i in bad[: max(0, MAX_DIGEST_DETAILS - len(scan.details))].tolist():
        made = (encode(profile, computed[i].tobytes())
                if (text is None or text[i].is_valid) and i not in finer else None)
        scan.details[first + i] = (encode(profile, stored[i].tobytes()), made)
        if i in finer:
            scan.reasons[first + i] = finer[i]
    stored, prev = link_key(stored), link_key(prev)  # the links are kept on 32 bytes
    # in-order links, confirmed on the whole digest; the row before the batch (the last
    # row of the previous batch) is already in the arrays
    if first and pf[0] == 0:
        seq = seq.copy()
        seq[0] = scan.data["hf"][first - 1] == 0 and bool(
            (prev[0] == scan.data["h"][first - 1]).all())
    loose = np.nonzero((pf == 0) & ~seq)[0]
    if len(loose):
        scan.loose.append((loose + first, prev[loose].copy()))
    id_col = scan_column(batch, "__id")
    _keep_ids(scan, id_col, seq, first)
    at = scan.slot(n)
    d = scan.data
    d["h"][at], d["seq"][at] = stored, seq
    d["rk"][at] = kernel.int64s(batch.column("__rk"))
    d["idh"][at], d["idnull"][at] = kernel.hash64(id_col)
    d["ts"][at] = kernel.int64s(batch.column("__ts"), NO_TS)
    d["ok"][at], d["hf"][at], d["pf"][at] = ok, hf, pf
    if anchor_idh is not None:  # the stored hash text of rows that may hold an anchor's id
        hit = np.nonzero(np.isin(d["idh"][at], anchor_idh) & ~d["idnull"][at])[0]
        if len(hit):
            texts = kernel.take(batch.column("__hash"), hit).to_pylist()
            scan.hash_text.update({first + int(i): t for i, t in zip(hit.tolist(), texts)})


def _keep_ids(scan: Scan, id_col, seq: np.ndarray, first: int) -> None:
    """Keep the ids of the rows next to a break in the in-order links, and the last row.

    Runs start and end there in a part written in chain order, so a result names them;
    keeping them spares reading the part again. The row before the batch is kept when
    the batch's first row breaks the order.
    """
    n = len(seq)
    if len(scan.ids) < MAX_KEPT_IDS:
        breaks = np.nonzero(~seq)[0]
        near = np.unique(np.concatenate([breaks, breaks - 1]))
        near = near[:MAX_KEPT_IDS - len(scan.ids) + 1]
        if len(near) and near[0] < 0 and scan.last_id is not None:
            scan.ids[scan.last_id[0]] = scan.last_id[1]
        near = near[near >= 0]
        if len(near):
            values = kernel.take(id_col, near).to_pylist()
            scan.ids.update({first + int(i): v for i, v in zip(near.tolist(), values)})
    scan.last_id = (first + n - 1, id_col[n - 1].as_py())


# --- condensing a scanned part ------------------------------------------------------------
def _condense(engine: Engine, scan: Scan, task: PartTask) -> PartResult:
    """Resolve the part's links and reduce its rows to runs, loose ends and findings."""
    a = scan.arrays()
    n = scan.rows
    h, hf, pf, ok, ts, rk = a["h"], a["hf"], a["pf"], a["ok"], a["ts"], a["rk"]
    keys = cache(lambda: key64(h))  # computed only if a step needs it
    copy, rep_of, key_set = same_hash_groups(h, hf == 0, ok, not task.alone)
    loose, loose_prev = scan.loose_links()
    parent = part_links(engine, h, keys, hf, a["seq"], loose, loose_prev, rep_of,
                        f"{task.index}_{id(scan)}")
    parent[copy] = -1
    exposed = np.zeros(n, dtype=bool)
    if len(task.expose):
        exposed = (hf == 0) & np.isin(keys(), task.expose)
    has_ts = ("timestamp" in task.profile.fields if task.profile.text == "json"
              else "timestamp" in task.profile.column_map)
    findings, unlisted = _row_findings(scan, a, has_ts)
    in_order = rep_of is None and not len(loose) and bool(a["seq"][1:].all())
    g = part_graph(parent, copy, exposed, in_order)
    late = _regressions(ts, parent, g)
    if len(late) > LISTED:
        unlisted["timestamp_regression"] = len(late) - LISTED
    for i in late[:LISTED].tolist():
        findings.append({"kind": "timestamp_regression", "position": i,
                         "predecessor": int(parent[i]), "timestamp_us": int(ts[i]),
                         "predecessor_timestamp_us": int(ts[parent[i]])})
    starts = g.starts
    nodes = {"start": starts, "tail": g.tails, "weight": g.weights, "low": g.lows,
             "low_pred": g.low_preds, "pf": pf[starts].copy(), "edge": g.edges,
             "tail_digest": h[g.tails].copy(), "tail_valid": hf[g.tails] == 0}
    is_loose = (nodes["pf"] == 0) & (g.edges < 0)
    nodes["loose"] = np.nonzero(is_loose)[0]
    nodes["loose_prev"] = (loose_prev[np.searchsorted(loose, starts[is_loose])]
                           if is_loose.any() else np.zeros((0, 32), np.uint8))
    ex = np.nonzero(exposed)[0]
    exposed_info = {"pos": ex, "digest": h[ex].copy(), "ok": ok[ex].copy()}
    dup, id_set = repeats(a["idh"], ~a["idnull"], not task.alone)
    by_hash, by_id = _anchor_candidates(task, a, keys)
    wanted = [starts, g.tails, g.lows, g.low_preds[g.low_preds >= 0], ex, dup,
              by_hash["pos"], by_id["pos"],
              np.array([f["position"] for f in findings], np.int64),
              np.array([f["predecessor"] for f in findings if "predecessor" in f], np.int64)]
    named_pos = np.unique(np.concatenate([np.asarray(w, np.int64) for w in wanted]))
    named_rk = rk[named_pos].copy()
    kept = scan.ids
    if scan.last_id is not None:
        kept[scan.last_id[0]] = scan.last_id[1]
    missing = [k for k, p in zip(named_rk.tolist(), named_pos.tolist()) if p not in kept]
    read = read_ids(task.part, np.array(missing, np.int64), engine) if missing else {}
    named = {"pos": named_pos, "rk": named_rk, "ts": ts[named_pos].copy(),
             "id": [kept[p] if p in kept else read.get(k)
                    for p, k in zip(named_pos.tolist(), named_rk.tolist())]}
    contiguous = n == 0 or bool((np.diff(rk) == 1).all())
    return PartResult(
        index=task.index, rows=n, key_set=key_set, id_set=id_set,
        findings=findings, nodes=nodes, exposed=exposed_info, dup_candidates=dup,
        anchor_hash_rows=by_hash, anchor_id_rows=by_id, named=named,
        hash_text=scan.hash_text,
        rk_first=int(rk[0]) if contiguous and n else (0 if n == 0 else None),
        rks=None if contiguous else rk.copy(), unlisted=unlisted,
    )


def _regressions(ts: np.ndarray, parent: np.ndarray, g) -> np.ndarray:
    """The rows of a run whose timestamp is earlier than their predecessor's."""
    dated = ts != NO_TS
    if g.in_order:  # each predecessor is the row before
        later = np.zeros(len(ts), dtype=bool)
        later[1:] = dated[1:] & dated[:-1] & (ts[1:] < ts[:-1])
        return np.nonzero(later)[0]
    regress = g.intra & dated
    regress[regress] &= dated[parent[regress]] & (ts[regress] < ts[parent[regress]])
    return np.nonzero(regress)[0]


def _anchor_candidates(task: PartTask, a: dict, keys):
    """The rows that store exactly an anchor's digest, and those whose id hash is an anchor's.

    Returns two dicts of arrays: ``pos`` (ascending) with ``digest``, and ``pos`` with
    ``idh``.
    """
    none = np.zeros(0, np.int64)
    by_hash = {"pos": none, "digest": np.zeros((0, 32), np.uint8)}
    by_id = {"pos": none, "idh": np.zeros(0, np.uint64)}
    if not task.anchor_ids:
        return by_hash, by_id
    h = a["h"]
    digests = np.frombuffer(b"".join(task.anchor_digests), np.uint8).reshape(-1, 32)  # keys
    wanted = {d.tobytes() for d in digests}
    candidates = np.nonzero((a["hf"] == 0) & np.isin(keys(), key64(digests)))[0]
    hit = np.array([h[c].tobytes() in wanted for c in candidates.tolist()], dtype=bool)
    by_hash = {"pos": candidates[hit] if len(candidates) else none,
               "digest": h[candidates[hit]].copy() if len(candidates) else by_hash["digest"]}
    anchor_idh = kernel.hash64(pa.array(task.anchor_ids, pa.string()))[0]
    rows = np.nonzero(~a["idnull"] & np.isin(a["idh"], anchor_idh))[0]
    by_id = {"pos": rows, "idh": a["idh"][rows].copy()}
    return by_hash, by_id


def _row_findings(scan: Scan, a: dict, has_ts: bool) -> tuple[list[dict], dict[str, int]]:
    """hash_mismatch and malformed, row by row (positions local to the part).

    The first :data:`~audit_analytics._caps.LISTED` of each kind are kept; the number of
    the others is returned beside them (a log hashed by another profile mismatches on
    every row: a count, not millions of findings).
    """
    hf, pf, id_null, ts = a["hf"], a["pf"], a["idnull"], a["ts"]
    findings, unlisted = [], {}
    altered = np.nonzero((hf == 0) & ~a["ok"])[0]
    for i in altered[:LISTED].tolist():
        stored_hex, computed_hex = scan.details.get(i, (None, None))
        findings.append({"kind": "hash_mismatch", "position": i, "stored_hash": stored_hex,
                         "computed_hash": computed_hex, "reason": scan.reasons.get(i)})
    malformed = (hf != 0) | (pf == 1) | (pf == 2) | id_null
    if has_ts:
        malformed |= ts == NO_TS
    bad = np.nonzero(malformed)[0]
    for i in bad[:LISTED].tolist():
        findings.append({"kind": "malformed", "position": i,
                         "reason": _malformed_reason(hf[i], pf[i], id_null[i], ts[i], has_ts)})
    for kind, rows in (("hash_mismatch", altered), ("malformed", bad)):
        if len(rows) > LISTED:
            unlisted[kind] = len(rows) - LISTED
    return findings, unlisted


def _malformed_reason(hf, pf, id_null, ts, has_ts) -> str:
    reasons = []
    if id_null:
        reasons.append("id is null")
    reasons.append({1: "hash is null", 2: "hash is not a digest in the profile's encoding",
                    3: "hash holds the genesis marker"}.get(int(hf), ""))
    reasons.append({1: "prev_hash is null",
                    2: "prev_hash is neither a hex digest nor the genesis marker"}.get(int(pf), ""))
    if has_ts and ts == NO_TS:
        reasons.append("timestamp is null, unparsable or out of range")
    return "; ".join(r for r in reasons if r)
