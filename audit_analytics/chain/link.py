"""The reduce of verification: join the loose ends of every part into one verdict.

Each part arrives condensed (:class:`~audit_analytics.chain.scan.PartResult`): its rows'
findings, its runs and edges, its loose ends. The reduce links each run that starts
without a parent in its part to the run, in another part, that ends with the digest its
``prev_hash`` names (on the whole digest), folds copies of one row found in different
parts into one, and from the joined runs finds forks, gaps, timestamp regressions,
duplicate ids and the chain's segments. What it holds per row of the source is what the
parts sent: their distinct 64-bit digest keys and id hashes (at most 16 bytes a row),
which go to disk as they arrive (:mod:`.keysets`) and are queried there for what several
parts share; everything else is per run or finding.

A row in the middle of a run can gain a child in another part (a fork across parts) or
be a copy of a row in another part; 64-bit keys show which rows may, and
:func:`exposure` names them, for their parts to be scanned again with those rows as runs
of their own. An id held by several parts has its rows read back
(:func:`duplicate_rows`). Only tampered sources pay for either.
"""

from __future__ import annotations

import numpy as np

from .keysets import PartSets
from .scan import MAX_DIGEST_DETAILS, NO_TS, PartResult
from .segments import chain_segments, primary

__all__ = ["Joined", "RowNames", "duplicate_rows", "exposure", "join_parts"]


def _offsets(results: list[PartResult]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum([r.rows for r in results])]).astype(np.int64)


def exposure(results: list[PartResult], sets: PartSets) -> dict[int, np.ndarray]:
    """The 64-bit digest keys, per part, of the rows that must be runs of their own.

    Those are the rows whose key is shared with a row of another part (copies across
    parts) and the rows whose key matches another part's loose ``prev_hash`` that no
    run's last row answers (a fork across parts, from a row in the middle of a run).
    ``sets`` holds every part's keys. Empty for an intact source read in chain order.
    """
    if len(results) < 2:
        return {}
    tails: set[bytes] = set()
    for r in results:
        nodes = r.nodes
        tails.update(d.tobytes() for d in nodes["tail_digest"][nodes["tail_valid"]])
    loose: list[tuple[int, int]] = []  # (key, part) of prev_hashes no run's end answers
    for r in results:
        for prev in r.nodes["loose_prev"]:
            if prev.tobytes() not in tails:
                loose.append((int(prev[:8].view(np.int64)[0]), r.index))
    plan: dict[int, np.ndarray] = {}
    for found in (sets.shared("keys"), sets.held_elsewhere("keys", loose)):
        for part, keys in found.items():
            plan[part] = np.union1d(plan.get(part, keys[:0]), keys)
    return plan


def duplicate_rows(sets: PartSets) -> dict[int, np.ndarray]:
    """The id hashes, per part, that other parts hold too (duplicate ids across parts)."""
    return sets.shared("ids")


class _PartOf:
    """The part index of global row positions."""

    def __init__(self, offsets: np.ndarray) -> None:
        self.offsets = offsets

    def __call__(self, positions) -> np.ndarray:
        return np.searchsorted(self.offsets, positions, side="right") - 1


class RowNames:
    """The row key, id and timestamp of every row a result names, by global position."""

    def __init__(self, results: list[PartResult], offsets: np.ndarray) -> None:
        self.results, self.offsets = results, offsets
        self.part_of = _PartOf(offsets)
        self.pos = np.concatenate([r.named["pos"] + off for r, off in zip(results, offsets)])
        self.rk = np.concatenate([r.named["rk"] for r in results])
        self.ts = np.concatenate([r.named["ts"] for r in results])
        self.ids = [i for r in results for i in r.named["id"]]
        self.extra: dict[int, str | None] = {}

    def _at(self, at: int) -> int:
        k = int(np.searchsorted(self.pos, at))
        if k < len(self.pos) and self.pos[k] == at:
            return k
        return -1

    def id(self, at: int) -> str | None:
        """The event id of the row at ``at``."""
        k = self._at(at)
        return self.ids[k] if k >= 0 else self.extra[at]

    def row_key(self, at: int) -> int:
        """The source's row key of ``at`` (for :meth:`Source.locate`)."""
        k = self._at(at)
        if k >= 0:
            return int(self.rk[k])
        p = int(self.part_of(at))
        return int(self.results[p].row_keys(np.array([at - self.offsets[p]]))[0])

    def timestamp(self, at: int) -> int:
        """Epoch microseconds of the row at ``at`` (:data:`NO_TS` when it has none)."""
        return int(self.timestamps(np.array([at], np.int64))[0])

    def timestamps(self, positions: np.ndarray) -> np.ndarray:
        """Epoch microseconds of the rows at ``positions`` (every one of them named)."""
        k = np.searchsorted(self.pos, positions)
        if len(k) and not (self.pos[np.minimum(k, len(self.pos) - 1)] == positions).all():
            raise KeyError("a row the result names was not named by its part")
        return self.ts[k]

    def learn(self, part: int, rks: np.ndarray, ids: list[str | None]) -> np.ndarray:
        """Record the ids of rows of ``part`` read back; returns their global positions."""
        positions = self.results[part].positions(rks) + self.offsets[part]
        self.extra.update(zip(positions.tolist(), ids))
        return positions


class Joined:
    """The outcome of the join: findings with global positions, segments, the head."""

    def __init__(self, findings, segments, primary_root, head, names, unlisted=None) -> None:
        self.findings, self.segments = findings, segments
        self.primary_root, self.head, self.names = primary_root, head, names
        #: findings of each kind the parts counted but did not keep
        self.unlisted: dict[str, int] = unlisted or {}


def join_parts(results: list[PartResult], source, read_duplicates, sets: PartSets) -> Joined:
    """Join the parts (scanned with every row :func:`exposure` asked for exposed).

    ``sets`` holds every part's id hashes (see :func:`duplicate_rows`).

    ``read_duplicates(plan)`` reads back the rows of the id hashes that
    :func:`duplicate_rows` names: ``{part: (row keys, ids)}``.
    """
    offsets = _offsets(results)
    names = RowNames(results, offsets)
    findings = _part_findings(results, offsets)
    nodes = _global_nodes(results, offsets)
    k = len(nodes["start"])
    live = np.ones(k, dtype=bool)
    retarget = _fold_copies(results, offsets, nodes, live)
    parent_row = nodes["edge"].copy()
    if retarget:
        frm = np.array(sorted(retarget), np.int64)
        to = np.array([retarget[f] for f in frm.tolist()], np.int64)
        at = np.minimum(np.searchsorted(frm, parent_row), len(frm) - 1)
        hit = frm[at] == parent_row
        parent_row[hit] = to[at[hit]]
    tail_row = {}
    for j in np.nonzero(live & nodes["tail_valid"])[0].tolist():
        tail_row[nodes["tail_digest"][j].tobytes()] = int(nodes["tail"][j])
    for j, prev in zip(nodes["loose"].tolist(), nodes["loose_prev"]):
        parent_row[j] = tail_row.get(prev.tobytes(), -1)
    parent_row[~live] = -1
    by_tail = np.argsort(nodes["tail"], kind="stable")
    linked = parent_row >= 0
    parent_node = np.full(k, -1, dtype=np.int64)
    parent_node[linked] = by_tail[np.searchsorted(nodes["tail"][by_tail], parent_row[linked])]
    children = np.bincount(parent_node[linked], minlength=k) if k else np.zeros(0, np.int64)
    boundary = _window_boundary(source, nodes, live & ~linked)

    def add(kind: str, at: int, **detail) -> None:
        findings.append({"kind": kind, "position": int(at), **detail})

    start = nodes["start"]
    for j in np.nonzero(live & ~linked & (nodes["pf"] == 0) & ~boundary)[0].tolist():
        add("missing_predecessor", start[j])
    forked = linked & (children[np.maximum(parent_node, 0)] > 1)
    if forked.any():
        kids = np.nonzero(forked)[0]
        kids = kids[np.lexsort((start[kids], parent_node[kids]))]
        for group in np.split(kids, np.nonzero(np.diff(parent_node[kids]))[0] + 1):
            add("fork", nodes["tail"][parent_node[group[0]]],
                children=[int(c) for c in start[group]])
    child = np.nonzero(linked)[0]
    ts, pts = names.timestamps(start[child]), names.timestamps(parent_row[child])
    late = (ts != NO_TS) & (pts != NO_TS) & (ts < pts)
    for j, t, pt in zip(child[late].tolist(), ts[late].tolist(), pts[late].tolist()):
        add("timestamp_regression", start[j], predecessor=int(parent_row[j]),
            timestamp_us=t, predecessor_timestamp_us=pt)
    candidates = [r.dup_candidates + off for r, off in zip(results, offsets)]
    for p, (rks, ids) in read_duplicates(duplicate_rows(sets)).items():
        candidates.append(names.learn(p, rks, ids))
    candidates = np.unique(np.concatenate(candidates))
    by_id: dict[str | None, list[int]] = {}  # confirm on the ids themselves
    for at in candidates.tolist():
        by_id.setdefault(names.id(at), []).append(at)
    for positions in by_id.values():
        if len(positions) > 1:
            add("duplicate_id", positions[0], rows=len(positions), positions=positions)
    segments = chain_segments(nodes, live, parent_row, parent_node, children, boundary)
    primary_root, head = primary(segments)
    for seg in segments:
        if seg["start_kind"] == "genesis" and seg["start"] != primary_root:
            add("extra_genesis", seg["start"])
    unlisted: dict[str, int] = {}
    for r in results:
        for kind, n in r.unlisted.items():
            unlisted[kind] = unlisted.get(kind, 0) + n
    return Joined(findings, segments, primary_root, head, names, unlisted)


def _part_findings(results: list[PartResult], offsets: np.ndarray) -> list[dict]:
    """Every part's row findings at global positions; digest details for the first few."""
    out: list[dict] = []
    detailed = 0
    for r, off in zip(results, offsets):
        for f in r.findings:
            f = dict(f, position=f["position"] + int(off))
            if "predecessor" in f:
                f["predecessor"] += int(off)
            if f["kind"] == "hash_mismatch":
                if detailed >= MAX_DIGEST_DETAILS:
                    f["stored_hash"] = f["computed_hash"] = None
                detailed += 1
            out.append(f)
    return out


_NODE_ROWS = ("start", "tail", "low")


def _global_nodes(results: list[PartResult], offsets: np.ndarray) -> dict[str, np.ndarray]:
    """The runs of every part in one table, rows shifted to global positions."""
    parts = []
    first = 0
    for r, off in zip(results, offsets):
        n = dict(r.nodes)
        for name in _NODE_ROWS:
            n[name] = n[name] + off
        for name in ("low_pred", "edge"):
            n[name] = np.where(n[name] >= 0, n[name] + off, -1)
        n["loose"] = n["loose"] + first
        first += len(n["start"])
        parts.append(n)
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _fold_copies(results, offsets, nodes, live) -> dict[int, int]:
    """Fold the rows that store one digest in several parts into one (its first intact).

    The exposed rows of every part carry their digests; a group found in more than one
    part keeps one representative (an intact row first, then the first in the source),
    as copies inside a part do. The others stop being runs; links to them go to it.
    Returns the rows to link to instead of others.
    """
    groups: dict[bytes, list[tuple[int, bool, int]]] = {}
    for r, off in zip(results, offsets):
        ex = r.exposed
        for pos, digest, ok in zip(ex["pos"].tolist(), ex["digest"], ex["ok"].tolist()):
            groups.setdefault(digest.tobytes(), []).append((pos + int(off), ok, r.index))
    retarget: dict[int, int] = {}
    start = nodes["start"]
    for members in groups.values():
        if len({m[2] for m in members}) < 2:
            continue
        rep = min(members, key=lambda m: (not m[1], m[0]))[0]
        for pos, _, _ in members:
            if pos == rep:
                continue
            retarget[pos] = rep
            j = int(np.searchsorted(start, pos))
            if j < len(start) and start[j] == pos:
                live[j] = False
    return retarget


def _window_boundary(source, nodes, unresolved: np.ndarray) -> np.ndarray:
    """Runs whose first row links to a row outside a windowed source's window."""
    boundary = np.zeros(len(unresolved), dtype=bool)
    if not source.windowed:
        return boundary
    loose = nodes["loose"]
    ask = [(int(j), prev.tobytes().hex()) for j, prev in zip(loose, nodes["loose_prev"])
           if unresolved[j]]
    if ask:
        outside = source.hashes_outside([h for _, h in ask])
        for j, digest in ask:
            boundary[j] = digest in outside
    return boundary
