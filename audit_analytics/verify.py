"""Re-verify a hash chain in bulk and say exactly what was altered, deleted or forked.

Two independent, vectorised halves:

1. **Row integrity**: every row's hashed text is rebuilt and hashed by the native kernel
   (no Python per row) and compared with the stored ``hash``.
2. **Linkage**: each ``prev_hash`` is resolved against the set of stored hashes with one
   hash join in DuckDB (128-bit keys); forks, gaps, extra genesis rows and timestamp
   regressions fall out of the resolved links. Order comes from the links alone, never
   from file order or timestamps.

The links then split into segments (maximal unbranched runs); the tree of segments
grown from the genesis row gives the chain's head. Trusted anchors, when given, reveal
what a chain cannot show by itself: a deleted tail (``truncated``) and a rewritten,
re-hashed suffix (``anchor_mismatch``).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from . import kernel
from ._engine import Engine
from .anchors import Anchor
from .errors import ProfileError, SourceError
from .profiles import BUILTIN_PROFILES, HashProfile, load_profile
from .progress import progress_bar
from .results import FINDING_KINDS, VerifyResult
from .schema import scan_column, scan_select, unprotected_fields
from .sources import Source

__all__ = ["FINDING_KINDS", "detect_profile", "verify_source"]

log = logging.getLogger("audit_analytics")

BATCH_ROWS = 131_072
MAX_DIGEST_DETAILS = 10_000  # stored/computed hex kept for at most this many mismatches
_NO_TS = np.iinfo(np.int64).min


@dataclass
class _Scan:
    """What the scan keeps per row: ~60 bytes, whatever the width of the source."""

    rk: list = field(default_factory=list)
    ids: list = field(default_factory=list)
    idh: list = field(default_factory=list)  # 64-bit hash of the id, for duplicate search
    ts: list = field(default_factory=list)
    ok: list = field(default_factory=list)
    hf: list = field(default_factory=list)
    pf: list = field(default_factory=list)
    keys: list = field(default_factory=list)  # (n, 4) int64: h1, h2, p1, p2
    details: dict = field(default_factory=dict)  # pos -> (stored hex, computed hex)
    rows: int = 0

    def arrays(self) -> dict:
        def cat(parts, dtype):
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

        keys = np.concatenate(self.keys) if self.keys else np.zeros((0, 4), dtype=np.int64)
        ids = pa.chunked_array(self.ids, type=pa.string()) if self.ids else pa.chunked_array(
            [], type=pa.string()
        )
        return {
            "rk": cat(self.rk, np.int64),
            "ts": cat(self.ts, np.int64),
            "ok": cat(self.ok, bool),
            "hf": cat(self.hf, np.uint8),
            "pf": cat(self.pf, np.uint8),
            "keys": keys,
            "ids": ids,
            "idh": cat(self.idh, np.uint64),
        }


# --- profile detection ------------------------------------------------------------------
def detect_profile(engine: Engine, source: Source, sample: int = 512) -> tuple[HashProfile, str]:
    """Pick the built-in profile that reproduces the stored hashes of a sample of rows.

    Returns the profile and a sentence saying how well each candidate matched.
    """
    part = source.parts()[0]
    columns = engine.columns(part.sql, part.params)
    scores = []
    for profile in BUILTIN_PROFILES.values():
        try:
            select = scan_select(columns, profile, part.where)
        except Exception:  # a profile whose fields the source lacks cannot match
            scores.append((0, 0, profile))
            continue
        batch = engine.arrow(
            f"SELECT {select} FROM ({part.sql}) USING SAMPLE {int(sample)} ROWS", part.params
        )
        matched, considered = _sample_matches(profile, batch)
        scores.append((matched, considered, profile))
    scores.sort(key=lambda s: s[0], reverse=True)
    best_matched, considered, best = scores[0]
    summary = ", ".join(f"{p.name} {m}/{c}" for m, c, p in scores)
    if best_matched == 0:
        raise ProfileError(
            f"no known hash profile reproduces the stored hashes of {source.label} "
            f"(sampled rows matched: {summary}); pass --profile FILE.toml",
            source=source.label,
        )
    return best, f"detected {best.name} (sampled rows matched: {summary})"


def _sample_matches(profile: HashProfile, batch: pa.Table) -> tuple[int, int]:
    fields = [batch.column("f:" + name) for name in profile.ordered_fields]
    if batch.num_rows == 0:
        return 0, 0
    ok, _, hf, _ = _row_integrity(profile, fields, batch.column("__hash"))
    return int(ok.sum()), int((hf == 0).sum())


# --- row integrity ----------------------------------------------------------------------
def _row_integrity(profile: HashProfile, fields: list, stored_col):
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


def _scan(engine: Engine, source: Source, profile: HashProfile, progress) -> _Scan:
    scan = _Scan()
    with progress_bar(source.rows or None, "verifying", progress) as bar:
        for part in source.parts():
            columns = engine.columns(part.sql, part.params)
            select = scan_select(columns, profile, part.where)
            reader = engine.reader(f"SELECT {select} FROM ({part.sql})", part.params, BATCH_ROWS)
            for batch in _read_ahead(reader):
                _scan_batch(scan, profile, batch)
                bar.update(batch.num_rows)
    return scan


def _read_ahead(reader: pa.RecordBatchReader):
    """Yield the reader's batches while the next one is read on another thread.

    DuckDB decodes the next batch (releasing the GIL) while the kernel hashes this one.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-read") as pool:
        pending = pool.submit(_next_batch, reader)
        while True:
            batch = pending.result()
            if batch is None:
                return
            pending = pool.submit(_next_batch, reader)
            yield batch


def _next_batch(reader: pa.RecordBatchReader):
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None


def _scan_batch(scan: _Scan, profile: HashProfile, batch: pa.RecordBatch) -> None:
    n = batch.num_rows
    if n == 0:
        return
    fields = [batch.column("f:" + name) for name in profile.ordered_fields]
    ok, computed, hf, stored = _row_integrity(profile, fields, batch.column("__hash"))
    prev, pf = kernel.unhex(scan_column(batch, "__prev"), profile.genesis)
    keys = np.empty((n, 4), dtype=np.int64)
    keys[:, :2] = stored.view(np.int64)[:, :2]
    keys[:, 2:] = prev.view(np.int64)[:, :2]
    ts = batch.column("__ts")
    ts_np = np.asarray(ts.fill_null(_NO_TS).to_numpy(zero_copy_only=False), dtype=np.int64)
    bad = np.nonzero(~ok & (hf == 0))[0]
    for i in bad[: max(0, MAX_DIGEST_DETAILS - len(scan.details))]:
        scan.details[scan.rows + int(i)] = (stored[i].tobytes().hex(), computed[i].tobytes().hex())
    ids = scan_column(batch, "__id")
    scan.rk.append(np.asarray(batch.column("__rk").to_numpy(zero_copy_only=False), np.int64))
    scan.ids.append(ids.cast(pa.string()) if ids.type != pa.string() else ids)
    scan.idh.append(np.asarray(batch.column("__idh").to_numpy(zero_copy_only=False), np.uint64))
    scan.ts.append(ts_np)
    scan.ok.append(ok)
    scan.hf.append(hf)
    scan.pf.append(pf)
    scan.keys.append(keys)
    scan.rows += n


# --- linkage ----------------------------------------------------------------------------
# Each prev_hash is resolved by one hash join on the first 64 bits of the digests; the
# next 64 bits confirm every match, so a forged 64-bit prefix collision cannot link.
_LINK_SQL = """
SELECT c.pos AS child, p.pos AS parent
FROM __children c JOIN __parents p ON c.p1 = p.h1
"""

_SEGMENT_SQL = """
SELECT root, count(*) AS n, arg_max(pos, depth) AS tail
FROM __s WHERE NOT copy GROUP BY root
"""


def verify_source(
    engine: Engine,
    source: Source,
    profile: str | HashProfile = "auto",
    anchors: list[Anchor] | None = None,
    progress: bool | None = None,
) -> VerifyResult:
    """Verify every row and link of ``source`` and collect every finding.

    Parameters
    ----------
    engine
        The DuckDB engine to run on.
    source
        An opened source (see :func:`audit_analytics.sources.open_source`).
    profile
        ``"auto"``, a built-in profile name, a TOML path or a :class:`HashProfile`.
    anchors
        Trusted ``{id, hash}`` checkpoints (see :mod:`audit_analytics.anchors`).
    progress
        Show a progress bar (``None``: only on a terminal).
    """
    started = time.perf_counter()
    if source.rows == 0:
        raise SourceError(f"{source.label} holds no events to verify", source=source.label)
    note = None
    if isinstance(profile, str) and profile == "auto":
        chosen, note = detect_profile(engine, source)
        log.info("%s", note)
    else:
        chosen = load_profile(profile)
    clock = _PhaseClock()
    scan = _scan(engine, source, chosen, progress)
    clock.lap("scan and row digests")
    a = scan.arrays()
    n = scan.rows
    findings: list[dict] = []
    pos = np.arange(n, dtype=np.int64)
    h = a["keys"]
    valid = a["hf"] == 0
    copy, rep_of = _same_hash_groups(h, valid, a["ok"])
    linking = a["pf"] == 0
    engine.register("__parents", pa.table({"pos": pos[valid], "h1": h[valid, 0]}))
    engine.register("__children", pa.table({"pos": pos[linking], "p1": h[linking, 2]}))
    try:
        links = engine.arrow(_LINK_SQL)
    finally:
        engine.unregister("__parents")
        engine.unregister("__children")
    child = links.column("child").to_numpy()
    par = links.column("parent").to_numpy()
    confirmed = h[par, 1] == h[child, 3]
    parent = np.full(n, -1, dtype=np.int64)
    parent[child[confirmed]] = rep_of[par[confirmed]]
    parent[copy] = -1
    clock.lap("link join")

    ids = a["ids"]
    ts, hf, pf, ok = a["ts"], a["hf"], a["pf"], a["ok"]
    id_null = np.asarray(ids.is_null().to_numpy(zero_copy_only=False), dtype=bool)

    def add(kind: str, at: int, **detail) -> None:
        findings.append({"kind": kind, "position": int(at), **detail})

    # 1. row integrity
    for i in np.nonzero((hf == 0) & ~ok)[0]:
        stored_hex, computed_hex = scan.details.get(int(i), (None, None))
        add("hash_mismatch", i, stored_hash=stored_hex, computed_hash=computed_hex)
    has_ts = "timestamp" in chosen.fields
    malformed = (hf != 0) | np.isin(pf, (1, 2)) | id_null | (has_ts & (ts == _NO_TS))
    for i in np.nonzero(malformed)[0]:
        add("malformed", i, reason=_malformed_reason(hf[i], pf[i], id_null[i], ts[i], has_ts))

    # 2. linkage
    children = np.bincount(parent[parent >= 0], minlength=n) if n else np.zeros(0, np.int64)
    for i in np.nonzero((pf == 0) & (parent < 0) & ~copy)[0]:
        add("missing_predecessor", i)
    forked = np.nonzero(children > 1)[0]
    if len(forked):
        kids = np.nonzero(np.isin(parent, forked))[0]
        order = np.argsort(parent[kids], kind="stable")
        kids = kids[order]
        groups = np.split(kids, np.nonzero(np.diff(parent[kids]))[0] + 1)
        for group in groups:
            add("fork", parent[group[0]], children=[int(c) for c in group])
    linked = parent >= 0
    regress = np.zeros(n, dtype=bool)
    safe_parent = np.where(linked, parent, 0)
    regress[linked] = (
        (ts[linked] != _NO_TS)
        & (ts[safe_parent[linked]] != _NO_TS)
        & (ts[linked] < ts[safe_parent[linked]])
    )
    for i in np.nonzero(regress)[0]:
        add("timestamp_regression", i, predecessor=int(parent[i]),
            timestamp_us=int(ts[i]), predecessor_timestamp_us=int(ts[parent[i]]))
    by_id: dict[str, list[int]] = {}  # confirm on the ids themselves: hashes may collide
    for at in _repeated(a["idh"], ~id_null).tolist():
        by_id.setdefault(ids[at].as_py(), []).append(at)
    for positions in by_id.values():
        if len(positions) > 1:
            add("duplicate_id", positions[0], rows=len(positions), positions=positions)

    clock.lap("linkage findings")
    # 3. segments and the head
    root, depth = kernel.segments(parent)
    engine.register("__s", pa.table({"pos": pos, "root": root, "depth": depth, "copy": copy}))
    try:
        seg = engine.arrow(_SEGMENT_SQL + " ORDER BY root")
    finally:
        engine.unregister("__s")
    segments = _segment_table(seg, parent, children, pf, ts)
    primary_root, head_pos = _primary(segments)
    for s in segments:
        if s["start_kind"] == "genesis" and s["start"] != primary_root:
            add("extra_genesis", s["start"])

    clock.lap("segments")
    # 4. anchors
    anchor_rows = []
    if anchors:
        anchor_rows = _check_anchors(engine, anchors, h, hf, ids, add)
        _fill_found_hashes(engine, source, findings, a["rk"])

    result = VerifyResult.build(
        source=source,
        profile=chosen,
        profile_note=note,
        rows=n,
        findings=findings,
        segments=segments,
        head=head_pos,
        primary_root=primary_root,
        ids=ids,
        rks=a["rk"],
        ts=ts,
        unprotected=unprotected_fields(source.columns or _columns(engine, source), chosen),
        anchors=anchor_rows,
        elapsed=time.perf_counter() - started,
    )
    clock.lap("anchors and report")
    return result


class _PhaseClock:
    """Logs how long each phase took (``audit-analytics -vv``)."""

    def __init__(self) -> None:
        self.last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        log.debug("verify: %-22s %.3f s", phase, now - self.last)
        self.last = now


def _repeated(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Positions (ascending) where ``values`` repeats among the rows selected by ``mask``."""
    chosen = values[mask]
    ordered = np.sort(chosen)
    dupes = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    if not dupes.size:
        return np.zeros(0, dtype=np.int64)
    return np.nonzero(mask & np.isin(values, dupes))[0]


def _same_hash_groups(h: np.ndarray, valid: np.ndarray, ok: np.ndarray):
    """Rows that repeat another row's stored hash (exact copies), and each row's stand-in.

    Returns ``copy`` (True for every repeat but the representative: an intact row first,
    then the first in the source) and ``rep_of`` mapping each row to its representative.
    """
    n = len(valid)
    rep_of = np.arange(n, dtype=np.int64)
    copy = np.zeros(n, dtype=bool)
    groups: dict[tuple[int, int], list[int]] = {}
    for at in _repeated(h[:, 0], valid).tolist():
        groups.setdefault((int(h[at, 0]), int(h[at, 1])), []).append(at)
    for members in groups.values():
        if len(members) > 1:
            rep = min(members, key=lambda m: (not ok[m], m))
            rep_of[members] = rep
            copy[[m for m in members if m != rep]] = True
    return copy, rep_of


def _columns(engine: Engine, source: Source) -> dict[str, str]:
    part = source.parts()[0]
    cols = engine.columns(part.sql, part.params)
    cols.pop("__rk", None)
    return cols


def _malformed_reason(hf, pf, id_null, ts, has_ts) -> str:
    reasons = []
    if id_null:
        reasons.append("id is null")
    reasons.append({1: "hash is null", 2: "hash is not a 64-character lowercase hex digest",
                    3: "hash holds the genesis marker"}.get(int(hf), ""))
    reasons.append({1: "prev_hash is null",
                    2: "prev_hash is neither a hex digest nor the genesis marker"}.get(int(pf), ""))
    if has_ts and ts == _NO_TS:
        reasons.append("timestamp is null or unparsable")
    return "; ".join(r for r in reasons if r)


def _segment_table(seg: pa.Table, parent, children, pf, ts) -> list[dict]:
    """One dict per segment: start, tail, rows, how it starts, its parent segment."""
    roots = seg.column("root").to_numpy()
    sizes = seg.column("n").to_numpy()
    tails = seg.column("tail").to_numpy()
    out = []
    for start, size, tail in zip(roots.tolist(), sizes.tolist(), tails.tolist()):
        p = int(parent[start])
        if p >= 0 and children[p] > 1:
            kind = "fork"
        elif p >= 0:
            kind = "cycle"
        elif pf[start] == 3:
            kind = "genesis"
        elif pf[start] == 0:
            kind = "missing_predecessor"
        else:
            kind = "malformed"
        out.append({"start": start, "tail": tail, "rows": size, "start_kind": kind,
                    "parent": p if kind == "fork" else None})
    return out


def _primary(segments: list[dict]) -> tuple[int | None, int | None]:
    """The root of the largest tree of segments (preferring genesis) and its head row."""
    if not segments:
        return None, None
    by_tail: dict[int, list[dict]] = {}
    for s in segments:
        if s["parent"] is not None:
            by_tail.setdefault(s["parent"], []).append(s)
    best = None
    for s in segments:
        if s["parent"] is not None:
            continue
        total, head_len, head = 0, -1, None
        stack = [(s, 0)]
        while stack:  # walk the tree of segments hanging off this root
            seg, before = stack.pop()
            total += seg["rows"]
            reach = before + seg["rows"]
            kids = by_tail.get(seg["tail"], [])
            if not kids and reach > head_len:
                head_len, head = reach, seg["tail"]
            stack.extend((k, reach) for k in kids)
        key = (s["start_kind"] == "genesis", total, -s["start"])
        if best is None or key > best[0]:
            best = (key, s["start"], head)
    return best[1], best[2]


def _check_anchors(engine: Engine, anchors, h, hf, ids, add) -> list[dict]:
    a_keys = np.frombuffer(
        b"".join(bytes.fromhex(a.hash)[:16] for a in anchors), dtype=np.int64
    ).reshape(-1, 2)
    engine.register("__a", pa.table({
        "k": np.arange(len(anchors)), "a1": a_keys[:, 0], "a2": a_keys[:, 1],
        "aid": [a.id for a in anchors],
    }))
    engine.register("__r", pa.table({
        "pos": np.arange(len(hf)), "h1": h[:, 0], "h2": h[:, 1], "hf": hf, "id": ids,
    }))
    try:
        by_hash = dict(engine.rows(
            "SELECT k, min(pos) FROM __a JOIN __r ON a1 = h1 AND a2 = h2 AND hf = 0 GROUP BY k"
        ))
        by_id = dict(engine.rows(
            "SELECT k, min(pos) FROM __a JOIN __r ON aid = id GROUP BY k"
        ))
    finally:
        engine.unregister("__a")
        engine.unregister("__r")
    report = []
    for k, anchor in enumerate(anchors):
        at_hash, at_id = by_hash.get(k), by_id.get(k)
        if at_hash is not None and (at_id is None or at_id == at_hash):
            status = "confirmed" if ids[at_hash].as_py() == anchor.id else "mismatch"
        elif at_id is not None or at_hash is not None:
            status = "mismatch"
        else:
            status = "missing"
        entry = {"id": anchor.id, "hash": anchor.hash, "status": status}
        if status == "missing":
            add("truncated", -1, id_override=anchor.id, anchor_hash=anchor.hash,
                reason="the anchored event is absent: the log stops short of it")
        elif status == "mismatch":
            at = at_id if at_id is not None else at_hash
            add("anchor_mismatch", at, id_override=anchor.id, anchor_hash=anchor.hash)
        report.append(entry)
    return report


def _fill_found_hashes(engine: Engine, source: Source, findings: list[dict], rks) -> None:
    """Add the stored hash found where an anchor pointed (read back from the source)."""
    wanted = {int(rks[f["position"]]): f for f in findings if f["kind"] == "anchor_mismatch"}
    if not wanted:
        return
    engine.register("__want", pa.table({"rk": np.array(list(wanted), dtype=np.int64)}))
    try:
        for part in source.parts():
            for rk, stored in engine.rows(
                f"SELECT __rk, CAST(hash AS VARCHAR) FROM ({part.sql}) "
                "WHERE __rk IN (SELECT rk FROM __want)",
                part.params,
            ):
                wanted[rk]["found_hash"] = stored
    finally:
        engine.unregister("__want")
