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

__all__ = ["PartGraph", "key64", "part_graph", "part_links", "repeats", "same_hash_groups",
           "shared"]


def key64(digests: np.ndarray) -> np.ndarray:
    """The first 64 bits of each ``(n, 32)`` digest: a join key, never a verdict."""
    return np.ascontiguousarray(digests[:, :8]).view(np.int64).reshape(-1)


def repeats(values: np.ndarray, mask: np.ndarray,
            distinct: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The positions whose value repeats (:func:`.kernel.repeated`), and the distinct values.

    The repeats come from the kernel's hash tables; the distinct values, which only
    a source of several parts needs, cost a sort (``distinct=False``: an empty array).
    """
    again = kernel.repeated(values, mask)
    if not distinct:
        return again, np.zeros(0, dtype=values.dtype)
    return again, np.unique(values[mask])


def shared(sets: list[np.ndarray]) -> np.ndarray:
    """The values found in more than one of ``sets`` (each sorted, without repeats).

    The sets are merged, not sorted again: a stable sort of sorted runs is a merge.
    """
    if len(sets) < 2:
        return np.zeros(0, dtype=sets[0].dtype if sets else np.int64)
    merged = np.sort(np.concatenate(sets), kind="stable")
    return np.unique(merged[1:][merged[1:] == merged[:-1]])


def same_hash_groups(h, valid: np.ndarray, ok: np.ndarray, distinct: bool = True):
    """Rows that repeat another row's stored hash (exact copies), and each row's stand-in.

    Candidates share the first 64 bits of their digests (read in place); a group is the
    rows whose whole digests agree. Returns ``copy`` (True for every repeat but the
    representative: an intact row first, then the first in the source), ``rep_of``
    mapping each row to its representative (``None`` when no row repeats another) and
    the distinct 64-bit keys of the valid rows, sorted (empty with ``distinct=False``).
    """
    n = len(valid)
    copy = np.zeros(n, dtype=bool)
    rep_of = None
    groups: dict[bytes, list[int]] = {}
    for at in kernel.repeated(h, valid).tolist():
        groups.setdefault(h[at].tobytes(), []).append(at)
    for members in groups.values():
        if len(members) > 1:
            if rep_of is None:
                rep_of = np.arange(n, dtype=np.int64)
            rep = min(members, key=lambda m: (not ok[m], m))
            rep_of[members] = rep
            copy[[m for m in members if m != rep]] = True
    keys = np.unique(key64(h)[valid]) if distinct else np.zeros(0, np.int64)
    return copy, rep_of, keys


# A loose prev_hash is resolved by one hash join on the first 64 bits of the digests;
# every match is then confirmed on the whole digest, so no prefix collision can link.
_LINK_SQL = """
SELECT c.pos AS child, p.pos AS parent
FROM {children} c JOIN {parents} p ON c.p1 = p.h1
WHERE p.hf = 0
"""


def part_links(engine, h, keys, hf, seq, loose, loose_prev, rep_of, name) -> np.ndarray:
    """Each row's predecessor in the part (a row position), or -1.

    Archives are mostly written in chain order, so the scan already confirmed, on the
    whole digest, which rows link to the row read before them (``seq``). Only the rest
    (``loose``, with their ``prev_hash`` digests) go to a hash join on the first 64 bits
    of the digests (``keys()`` gives those of the part's rows), and every match is
    confirmed on the whole digest. ``rep_of`` (``None``: every row stands for itself)
    maps a row to the representative of its copies.
    """
    n = len(hf)
    if n == 0:
        return np.full(0, -1, dtype=np.int64)
    before = np.arange(-1, n - 1, dtype=np.int64)
    before[0] = 0
    parent = np.where(seq, before if rep_of is None else rep_of[before], -1)
    parent[0] = -1  # the part's first row links to no row read before it
    if len(loose):
        children, parents = f"__children_{name}", f"__parents_{name}"
        engine.register(children, pa.table({"pos": np.arange(len(loose)),
                                            "p1": key64(loose_prev)}))
        engine.register(parents, pa.table({"pos": np.arange(n), "h1": keys(), "hf": hf}))
        try:
            links = engine.arrow(_LINK_SQL.format(children=children, parents=parents))
        finally:
            engine.unregister(children)
            engine.unregister(parents)
        child = kernel.int64s(links.column("child"))
        par = kernel.int64s(links.column("parent"))
        confirmed = (h[par] == loose_prev[child]).all(axis=1)
        found = par[confirmed]
        parent[loose[child[confirmed]]] = found if rep_of is None else rep_of[found]
    return parent


@dataclass
class PartGraph:
    """The runs of one part, one entry per run in ascending order of their first row.

    ``starts``/``tails``: first and last row; ``weights``: rows; ``lows``: the lowest row
    and ``low_preds`` the row before it in the run (-1 when it is the first: where a cycle
    through this run would be broken); ``edges``: the row of the part the first row links
    to (-1: none in the part). ``intra`` marks the rows whose link is kept inside a run;
    ``in_order`` that the part is one run in which each row links to the row before it.
    """

    starts: np.ndarray
    tails: np.ndarray
    weights: np.ndarray
    lows: np.ndarray
    low_preds: np.ndarray
    edges: np.ndarray
    intra: np.ndarray
    in_order: bool = False


def part_graph(parent: np.ndarray, copy: np.ndarray, exposed: np.ndarray,
               in_order: bool = False) -> PartGraph:
    """Condense a part's links (``parent``: a row or -1 per row) into runs and edges.

    Copies are no row of any run; an exposed row is a run of its own, so that the reduce
    can give it children from other parts or fold it into a copy found elsewhere.
    ``in_order`` says that every row but the first links to the row before it and no row
    is a copy (a part in chain order, the common case): one run, found without the
    general bookkeeping.
    """
    n = len(parent)
    linked = parent >= 0
    if n and in_order and not exposed.any():  # one run from the first row to the last
        one = np.zeros(1, np.int64)
        return PartGraph(starts=one, tails=one + (n - 1), weights=one + n, lows=one,
                         low_preds=one - 1, edges=one - 1, intra=linked, in_order=True)
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
