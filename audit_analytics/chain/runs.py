"""A part's chain condensed to runs: the unbranched paths of rows the reduce joins.

Inside one part, a link (a row to the row its ``prev_hash`` names) is *kept* when its
parent has exactly one child and neither row is exposed; kept links form disjoint paths
(runs), which the kernel labels (a cycle, possible only in tampered data, is broken at
its lowest row, as for a whole source). Every other link becomes an *edge* of the
condensed graph: from a run's first row to the last row of another run. Since a run's
rows all keep their links, the reduce can rebuild every segment of the whole source from
the runs and edges of its parts, without their rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import kernel

__all__ = ["PartGraph", "key64", "part_graph", "part_links", "repeated", "repeats",
           "same_hash_groups", "shared"]


def key64(digests: np.ndarray) -> np.ndarray:
    """The first 64 bits of each ``(n, 32)`` digest: a join key, never a verdict."""
    return np.ascontiguousarray(digests[:, :8]).view(np.int64).reshape(-1)


def repeated(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Positions (ascending) where ``values`` repeats among the rows selected by ``mask``."""
    return repeats(values, mask)[0]


def repeats(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`repeated`, and the distinct values of the selected rows, sorted."""
    ordered = np.sort(values[mask])
    same = ordered[1:] == ordered[:-1]
    distinct = ordered[np.r_[True, ~same]] if len(ordered) else ordered
    dupes = np.unique(ordered[1:][same])
    if not dupes.size:
        return np.zeros(0, dtype=np.int64), distinct
    return np.nonzero(mask & np.isin(values, dupes))[0], distinct


def shared(sets: list[np.ndarray]) -> np.ndarray:
    """The values found in more than one of ``sets`` (each sorted, without repeats).

    The sets are merged, not sorted again: a stable sort of sorted runs is a merge.
    """
    if len(sets) < 2:
        return np.zeros(0, dtype=sets[0].dtype if sets else np.int64)
    merged = np.sort(np.concatenate(sets), kind="stable")
    return np.unique(merged[1:][merged[1:] == merged[:-1]])


def same_hash_groups(h, key, valid: np.ndarray, ok: np.ndarray):
    """Rows that repeat another row's stored hash (exact copies), and each row's stand-in.

    Candidates share the 64-bit ``key``; a group is the rows whose whole digests agree.
    Returns ``copy`` (True for every repeat but the representative: an intact row first,
    then the first in the source), ``rep_of`` mapping each row to its representative
    and the distinct keys of the valid rows, sorted.
    """
    n = len(valid)
    rep_of = np.arange(n, dtype=np.int64)
    copy = np.zeros(n, dtype=bool)
    groups: dict[bytes, list[int]] = {}
    again, keys = repeats(key, valid)
    for at in again.tolist():
        groups.setdefault(h[at].tobytes(), []).append(at)
    for members in groups.values():
        if len(members) > 1:
            rep = min(members, key=lambda m: (not ok[m], m))
            rep_of[members] = rep
            copy[[m for m in members if m != rep]] = True
    return copy, rep_of, keys


# A loose prev_hash is resolved by one hash join on the first 64 bits of the digests;
# every match is then confirmed on the whole digest, so no prefix collision can link.
_LINK_SQL = """
SELECT c.pos AS child, p.pos AS parent
FROM {children} c JOIN {parents} p ON c.p1 = p.h1
WHERE p.hf = 0
"""


def part_links(engine, h, key, hf, seq, loose, loose_prev, rep_of, name) -> np.ndarray:
    """Each row's predecessor in the part (a row position), or -1.

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
        children, parents = f"__children_{name}", f"__parents_{name}"
        engine.register(children, pa.table({"pos": np.arange(len(loose)),
                                            "p1": key64(loose_prev)}))
        engine.register(parents, pa.table({"pos": np.arange(n), "h1": key, "hf": hf}))
        try:
            links = engine.arrow(_LINK_SQL.format(children=children, parents=parents))
        finally:
            engine.unregister(children)
            engine.unregister(parents)
        child = links.column("child").to_numpy()
        par = links.column("parent").to_numpy()
        confirmed = (h[par] == loose_prev[child]).all(axis=1)
        parent[loose[child[confirmed]]] = rep_of[par[confirmed]]
    return parent


@dataclass
class PartGraph:
    """The runs of one part, one entry per run in ascending order of their first row.

    ``starts``/``tails``: first and last row; ``weights``: rows; ``lows``: the lowest row
    and ``low_preds`` the row before it in the run (-1 when it is the first: where a cycle
    through this run would be broken); ``edges``: the row of the part the first row links
    to (-1: none in the part). ``intra`` marks the rows whose link is kept inside a run.
    """

    starts: np.ndarray
    tails: np.ndarray
    weights: np.ndarray
    lows: np.ndarray
    low_preds: np.ndarray
    edges: np.ndarray
    intra: np.ndarray


def part_graph(parent: np.ndarray, copy: np.ndarray, exposed: np.ndarray) -> PartGraph:
    """Condense a part's links (``parent``: a row or -1 per row) into runs and edges.

    Copies are no row of any run; an exposed row is a run of its own, so that the reduce
    can give it children from other parts or fold it into a copy found elsewhere.
    """
    n = len(parent)
    linked = parent >= 0
    children = np.bincount(parent[linked], minlength=n) if n else np.zeros(0, np.int64)
    keep = linked & ~exposed
    lp = parent[keep]
    keep[keep] = (children[lp] == 1) & ~exposed[lp]
    del lp, children
    run_parent = np.where(keep, parent, -1)
    root, depth = kernel.segments(run_parent)
    del run_parent
    at_root = root == np.arange(n)
    intra = keep & ~at_root  # a kept link at a run's first row closes a cycle: an edge
    del keep
    starts = np.nonzero(at_root & ~copy)[0]
    del at_root
    has_child = np.zeros(n, dtype=bool)
    has_child[parent[intra]] = True
    ends = np.nonzero(~has_child & ~copy)[0]  # one per run: its last row
    del has_child
    tails = ends[np.argsort(root[ends], kind="stable")]  # ordered as their runs' starts
    lows = starts.copy()
    below = np.nonzero(np.arange(n) < root)[0]  # rows lower than their run's first row
    if len(below):
        np.minimum.at(lows, np.searchsorted(starts, root[below]), below)
    low_preds = np.where(lows != starts, parent[lows], -1)
    edges = np.where(linked[starts], parent[starts], -1)
    return PartGraph(starts=starts, tails=tails, weights=depth[tails] + 1, lows=lows,
                     low_preds=low_preds, edges=edges, intra=intra)
