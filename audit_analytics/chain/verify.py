"""Re-verify a hash chain in bulk and say exactly what was altered, deleted or forked.

Two independent, vectorised halves:

1. **Row integrity** (the scan, :mod:`.scan`): every row's hashed text is rebuilt and
   hashed by the native kernel (no Python per row) and compared with the stored ``hash``.
2. **Linkage**: each ``prev_hash`` is resolved against the set of stored hashes: first
   against the row read just before it (compared in full while the batch is in memory),
   then, for the rest, with one hash join in DuckDB on a 64-bit key whose every match is
   confirmed on the whole digest. Forks, gaps, extra genesis rows and timestamp
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

import numpy as np
import pyarrow as pa

from .._engine import Engine
from ..errors import SourceError
from ..sources import Source
from . import kernel
from .anchors import Anchor
from .detection import candidate_profiles, detect_profile, profile_source, sample_matches
from .digests import decode, link_key
from .expressions import expression_columns
from .profiles import HashProfile, load_profile
from .results import FINDING_KINDS, VerifyResult
from .scan import NO_TS, scan_source
from .schema import unprotected_fields

__all__ = ["FINDING_KINDS", "candidate_profiles", "detect_profile", "profile_source",
           "sample_matches", "verify_source"]

log = logging.getLogger("audit_analytics")


# --- linkage ----------------------------------------------------------------------------
# A loose prev_hash is resolved by one hash join on the first 64 bits of the digests;
# every match is then confirmed on the whole digest, so no prefix collision can link.
_LINK_SQL = """
SELECT c.pos AS child, p.pos AS parent
FROM __children c JOIN __parents p ON c.p1 = p.h1
WHERE p.hf = 0
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
        Trusted ``{id, hash}`` checkpoints (see :mod:`audit_analytics.chain.anchors`).
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
    source = profile_source(source, chosen)
    clock = _PhaseClock()
    scan = scan_source(engine, source, chosen, progress)
    clock.lap("scan and row digests")
    a = scan.arrays()
    n = scan.rows
    findings: list[dict] = []
    ts, hf, pf, ok, id_null = a["ts"], a["hf"], a["pf"], a["ok"], a["idnull"]
    key = _key64(a["h"])
    copy, rep_of = _same_hash_groups(a["h"], key, hf == 0, ok)
    parent = _resolve_links(engine, a["h"], key, hf, a["seq"], *scan.loose_links(), rep_of)
    parent[copy] = -1
    clock.lap("links")

    def add(kind: str, at: int, **detail) -> None:
        findings.append({"kind": kind, "position": int(at), **detail})

    # 1. row integrity
    for i in np.nonzero((hf == 0) & ~ok)[0]:
        stored_hex, computed_hex = scan.details.get(int(i), (None, None))
        add("hash_mismatch", i, stored_hash=stored_hex, computed_hash=computed_hex)
    has_ts = "timestamp" in chosen.fields
    malformed = (hf != 0) | (pf == 1) | (pf == 2) | id_null
    if has_ts:
        malformed |= ts == NO_TS
    for i in np.nonzero(malformed)[0]:
        add("malformed", i, reason=_malformed_reason(hf[i], pf[i], id_null[i], ts[i], has_ts))

    # 2. linkage
    linked = parent >= 0
    children = np.bincount(parent[linked], minlength=n) if n else np.zeros(0, np.int64)
    ids = _IdReader(engine, source, a["rk"])
    unresolved = np.nonzero((pf == 0) & ~linked & ~copy)[0]
    boundary = np.zeros(n, dtype=bool)
    if source.windowed and len(unresolved):
        prevs = _RowReader(engine, source, a["rk"], "CAST(prev_hash AS VARCHAR)")
        prevs.want(unresolved)
        outside = source.hashes_outside([prevs[i] for i in unresolved.tolist()])
        boundary[[i for i in unresolved.tolist() if prevs[i] in outside]] = True
    for i in unresolved[~boundary[unresolved]]:
        add("missing_predecessor", i)
    forked = np.nonzero(children > 1)[0]
    if len(forked):
        kids = np.nonzero(np.isin(parent, forked))[0]
        kids = kids[np.argsort(parent[kids], kind="stable")]
        for group in np.split(kids, np.nonzero(np.diff(parent[kids]))[0] + 1):
            add("fork", parent[group[0]], children=[int(c) for c in group])
    safe_parent = np.where(linked, parent, 0)
    parent_ts = ts[safe_parent]
    regress = linked & (ts != NO_TS) & (parent_ts != NO_TS) & (ts < parent_ts)
    del safe_parent, parent_ts
    for i in np.nonzero(regress)[0]:
        add("timestamp_regression", i, predecessor=int(parent[i]),
            timestamp_us=int(ts[i]), predecessor_timestamp_us=int(ts[parent[i]]))
    by_id: dict[str, list[int]] = {}  # confirm on the ids themselves: hashes may collide
    candidates = _repeated(a["idh"], ~id_null)
    ids.want(candidates)
    for at in candidates.tolist():
        by_id.setdefault(ids[at], []).append(at)
    for positions in by_id.values():
        if len(positions) > 1:
            add("duplicate_id", positions[0], rows=len(positions), positions=positions)
    clock.lap("linkage findings")

    # 3. segments and the head
    segments = _segments(parent, children, copy, pf, boundary)
    primary_root, head_pos = _primary(segments)
    for seg in segments:
        if seg["start_kind"] == "genesis" and seg["start"] != primary_root:
            add("extra_genesis", seg["start"])
    clock.lap("segments")

    # 4. anchors
    anchor_rows = []
    if anchors:
        anchor_rows = _check_anchors(anchors, a, key, ids, add, chosen)
        _fill_found_hashes(engine, source, findings, a["rk"])

    # 5. read back the ids the result names
    wanted = [f["position"] for f in findings]
    wanted += [c for f in findings for c in f.get("children", ())]
    wanted += [f["predecessor"] for f in findings if "predecessor" in f]
    wanted += [x for seg in segments for x in (seg["start"], seg["tail"])]
    if head_pos is not None:
        wanted.append(head_pos)
    ids.want(np.array([w for w in wanted if w >= 0], dtype=np.int64))
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
        unprotected=unprotected_fields(source.columns or _columns(engine, source), chosen,
                                       _covered(chosen)),
        anchors=anchor_rows,
        elapsed=time.perf_counter() - started,
    )
    clock.lap("ids, anchors, report")
    return result


def _key64(digests: np.ndarray) -> np.ndarray:
    """The first 64 bits of each ``(n, 32)`` digest: a join key, never a verdict."""
    return np.ascontiguousarray(digests[:, :8]).view(np.int64).reshape(-1)


def _resolve_links(engine, h, key, hf, seq, loose, loose_prev, rep_of) -> np.ndarray:
    """Each row's predecessor (a row position), or -1.

    Archives are mostly written in chain order, so the scan already confirmed, on the
    whole digest, which rows link to the row read before them (``seq``). Only the rest
    (``loose``, with their ``prev_hash`` digests) go to a hash join on the first 64 bits
    of the digests, and every match is confirmed on the whole digest.
    """
    n = len(hf)
    parent = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return parent
    at = np.nonzero(seq)[0]
    parent[at] = rep_of[at - 1]
    if len(loose):
        engine.register("__children", pa.table({"pos": np.arange(len(loose)),
                                                "p1": _key64(loose_prev)}))
        engine.register("__parents", pa.table({"pos": np.arange(n), "h1": key, "hf": hf}))
        try:
            links = engine.arrow(_LINK_SQL)
        finally:
            engine.unregister("__children")
            engine.unregister("__parents")
        child = links.column("child").to_numpy()
        par = links.column("parent").to_numpy()
        confirmed = (h[par] == loose_prev[child]).all(axis=1)
        parent[loose[child[confirmed]]] = rep_of[par[confirmed]]
    return parent


class _RowReader:
    """One value per row position, read back from the source only for the rows asked."""

    def __init__(self, engine: Engine, source: Source, rks: np.ndarray, expr: str) -> None:
        self.engine, self.source, self.rks, self.expr = engine, source, rks, expr
        self.known: dict[int, str | None] = {}

    def want(self, positions: np.ndarray) -> None:
        """Read the values of ``positions`` not read yet (one pass over the source)."""
        todo = np.unique(np.asarray(positions, dtype=np.int64))
        todo = todo[[int(p) not in self.known for p in todo]] if len(todo) else todo
        if not len(todo):
            return
        by_rk = {int(self.rks[p]): int(p) for p in todo}
        self.engine.register("__want", pa.table({"rk": np.array(list(by_rk), np.int64)}))
        try:
            for part in self.source.parts():
                for rk, ident in self.engine.rows(
                    f"SELECT __rk, {self.expr} FROM ({part.sql}) "
                    "WHERE __rk IN (SELECT rk FROM __want)",
                    part.params,
                ):
                    self.known[by_rk[rk]] = ident
        finally:
            self.engine.unregister("__want")

    def __getitem__(self, position: int) -> str | None:
        return self.known.get(int(position))


class _IdReader(_RowReader):
    """Event ids by row position, read back from the source only for the rows asked."""

    def __init__(self, engine: Engine, source: Source, rks: np.ndarray) -> None:
        super().__init__(engine, source, rks, "CAST(id AS VARCHAR)")


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


def _same_hash_groups(h, key, valid: np.ndarray, ok: np.ndarray):
    """Rows that repeat another row's stored hash (exact copies), and each row's stand-in.

    Candidates share the 64-bit ``key``; a group is the rows whose whole digests agree.
    Returns ``copy`` (True for every repeat but the representative: an intact row first,
    then the first in the source) and ``rep_of`` mapping each row to its representative.
    """
    n = len(valid)
    rep_of = np.arange(n, dtype=np.int64)
    copy = np.zeros(n, dtype=bool)
    groups: dict[bytes, list[int]] = {}
    for at in _repeated(key, valid).tolist():
        groups.setdefault(h[at].tobytes(), []).append(at)
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
    if has_ts and ts == NO_TS:
        reasons.append("timestamp is null, unparsable or out of range")
    return "; ".join(r for r in reasons if r)


def _segments(parent, children, copy, pf, boundary) -> list[dict]:
    """The chain's unbranched runs: start, tail, rows, how each starts, its parent run.

    A link is kept when its parent has exactly one child; kept links form disjoint paths
    (the native kernel labels each row with its path's first row and its depth). A path
    ends at a row without exactly one child; a cycle (possible only in tampered data)
    has no such row and is broken at its lowest row.
    """
    n = len(parent)
    root, depth = kernel.segments(parent)
    is_root = (root == np.arange(n)) & ~copy
    starts = np.nonzero(is_root)[0]
    tail_of = np.full(n, -1, dtype=np.int64)
    ends = np.nonzero((children != 1) & ~copy)[0]
    tail_of[root[ends]] = ends
    out = []
    for start in starts.tolist():
        tail = int(tail_of[start])
        if tail < 0:  # a cycle: its deepest row ends it
            members = np.nonzero(root == start)[0]
            tail = int(members[np.argmax(depth[members])])
        p = int(parent[start])
        if p >= 0 and children[p] > 1:
            kind = "fork"
        elif p >= 0:
            kind = "cycle"
        elif pf[start] == 3:
            kind = "genesis"
        elif boundary[start]:
            kind = "window_start"
        elif pf[start] == 0:
            kind = "missing_predecessor"
        else:
            kind = "malformed"
        out.append({"start": start, "tail": tail, "rows": int(depth[tail]) + 1,
                    "start_kind": kind, "parent": p if kind == "fork" else None})
    return out


def _primary(segments: list[dict]) -> tuple[int | None, int | None]:
    """The root of the largest tree of segments (preferring genesis) and its head row.

    Marks ``main`` on every segment of the longest path from that root to the head: the
    main chain, which continues through the longest branch of each fork.
    """
    if not segments:
        return None, None
    by_tail: dict[int, list[dict]] = {}
    for s in segments:
        s["main"] = False
        if s["parent"] is not None:
            by_tail.setdefault(s["parent"], []).append(s)
    best = None
    for s in segments:
        if s["parent"] is not None:
            continue
        total, head_len, leaf = 0, -1, s
        up: dict[int, dict] = {}  # segment start -> the segment it forks from
        stack = [(s, 0)]
        while stack:  # walk the tree of segments hanging off this root
            seg, before = stack.pop()
            total += seg["rows"]
            reach = before + seg["rows"]
            kids = by_tail.get(seg["tail"], [])
            if not kids and reach > head_len:
                head_len, leaf = reach, seg
            for kid in kids:
                up[kid["start"]] = seg
                stack.append((kid, reach))
        key = (s["start_kind"] == "genesis", total, -s["start"])
        if best is None or key > best[0]:
            best = (key, s["start"], leaf, up)
    _, root, leaf, up = best
    seg = leaf
    while seg is not None:
        seg["main"] = True
        seg = up.get(seg["start"])
    return root, leaf["tail"]


def _covered(profile: HashProfile) -> set[str] | None:
    """The roles a SQL profile's hash covers (the columns its expression reads)."""
    if profile.text != "sql":
        return None
    by_stored = {stored: role for role, stored in profile.columns}
    return {by_stored.get(c, c) for c in expression_columns(profile)}


def _check_anchors(anchors, a: dict, key: np.ndarray, ids: _IdReader, add,
                   profile: HashProfile) -> list[dict]:
    """Compare each trusted anchor with the row that holds its id or its hash.

    Rows are found by the 64-bit key of their digest and matched on the whole digest
    (an anchor's hash is written as the profile's producer stores it).
    """
    decoded, flags = decode(profile, pa.array([x.hash for x in anchors], pa.string()))
    keys = link_key(decoded).copy()
    keys[flags != 0] = 255  # an anchor hash that is no digest of this profile finds nothing
    digests = [keys[k].tobytes() for k in range(len(anchors))]
    a1 = _key64(keys)
    id_hashes, _ = kernel.hash64(pa.array([x.id for x in anchors], pa.string()))
    # one pass over the rows for all anchors: candidates by key, then matched per anchor
    hash_rows = np.nonzero((a["hf"] == 0) & np.isin(key, a1))[0]
    id_rows = np.nonzero(~a["idnull"] & np.isin(a["idh"], id_hashes))[0]
    by_hash: dict[bytes, int] = {}
    for row in hash_rows.tolist():
        by_hash.setdefault(a["h"][row].tobytes(), row)
    by_idh: dict[int, list[int]] = {}
    for row in id_rows.tolist():
        by_idh.setdefault(int(a["idh"][row]), []).append(row)
    at_hash = [by_hash.get(digest) for digest in digests]
    at_id = [by_idh.get(int(id_hashes[k]), []) for k in range(len(anchors))]
    ids.want(np.array([*id_rows.tolist(), *(x for x in at_hash if x is not None)],
                      dtype=np.int64))
    report = []
    for k, anchor in enumerate(anchors):
        same_id = [int(p) for p in at_id[k] if ids[p] == anchor.id]
        found = at_hash[k]
        if found is not None and (not same_id or found in same_id):
            status = "confirmed" if ids[found] == anchor.id else "mismatch"
        elif same_id or found is not None:
            status = "mismatch"
        else:
            status = "missing"
        if status == "missing":
            add("truncated", -1, id_override=anchor.id, anchor_hash=anchor.hash,
                reason="the anchored event is absent: the log stops short of it")
        elif status == "mismatch":
            add("anchor_mismatch", same_id[0] if same_id else found, id_override=anchor.id,
                anchor_hash=anchor.hash)
        report.append({"id": anchor.id, "hash": anchor.hash, "status": status})
    return report


def _fill_found_hashes(engine: Engine, source: Source, findings: list[dict], rks) -> None:
    """Add the stored hash found where an anchor pointed (read back from the source)."""
    mismatches = [f for f in findings if f["kind"] == "anchor_mismatch"]
    if not mismatches:
        return
    stored = _RowReader(engine, source, rks, "CAST(hash AS VARCHAR)")
    stored.want(np.array([f["position"] for f in mismatches], dtype=np.int64))
    for f in mismatches:
        f["found_hash"] = stored[f["position"]]
