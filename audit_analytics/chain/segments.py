"""The chain's segments from the runs of every part, and the main chain and its head.

A segment is a maximal unbranched run of the whole source: a link is kept when its
parent has exactly one child. Each part's runs (:mod:`.runs`) keep their links already,
so a segment is a sequence of runs joined by kept edges; a cycle of kept links (possible
only in tampered data) has no first run and is broken at its lowest row, exactly as the
kernel breaks one inside a part.
"""

from __future__ import annotations

import numpy as np

from . import kernel

__all__ = ["chain_segments", "primary"]


def chain_segments(nodes: dict, live: np.ndarray, parent_row: np.ndarray,
                   parent_node: np.ndarray, children: np.ndarray,
                   boundary: np.ndarray) -> list[dict]:
    """The segments, in ascending order of their first row.

    Parameters
    ----------
    nodes
        The runs of every part, with global rows: ``start``, ``tail``, ``weight``,
        ``low``, ``low_pred`` and ``pf`` (the first row's prev_hash flag).
    live
        The runs that count (a run that turned out to be a copy does not).
    parent_row, parent_node
        The row each run's first row links to, and the run that row ends (-1: none).
    children
        The number of runs linking to each run's last row.
    boundary
        Runs whose first row links to a row outside a windowed source's window.
    """
    k = len(live)
    kept = live & (parent_node >= 0)
    kept[kept] = children[parent_node[kept]] == 1
    # runs joined by kept edges form paths (and, in tampered data, cycles) of runs
    root, _ = kernel.segments(np.where(kept, parent_node, -1))
    on_cycle = kept[root]  # the kernel broke the cycle at a run that keeps its edge
    chained = live & ~on_cycle
    has_next = np.zeros(k, dtype=bool)
    has_next[parent_node[kept]] = True
    last = np.full(k, -1, dtype=np.int64)
    ends = np.nonzero(chained & ~has_next)[0]
    last[root[ends]] = ends
    rows = np.bincount(root[chained], weights=nodes["weight"][chained], minlength=k)
    firsts = np.nonzero(chained & ~kept)[0]
    p = parent_row[firsts]
    kind = np.select(
        [p >= 0, nodes["pf"][firsts] == 3, boundary[firsts], nodes["pf"][firsts] == 0],
        ["fork", "genesis", "window_start", "missing_predecessor"], "malformed")
    fork_like = p >= 0
    if fork_like.any():  # a run that keeps no edge it has forks (its parent has > 1 child)
        single = children[parent_node[firsts[fork_like]]] == 1
        kind[np.nonzero(fork_like)[0][single]] = "cycle"
    out = [{"start": int(st), "tail": int(tl), "rows": int(n), "start_kind": str(kd),
            "parent": int(pr) if kd == "fork" else None}
           for st, tl, n, kd, pr in zip(nodes["start"][firsts].tolist(),
                                       nodes["tail"][last[firsts]].tolist(),
                                       rows[firsts].tolist(), kind.tolist(), p.tolist())]
    out.extend(_cycles(nodes, live & on_cycle, parent_node, kept))
    out.sort(key=lambda s: s["start"])
    return out


def _cycles(nodes: dict, ring_nodes: np.ndarray, parent_node: np.ndarray,
            kept: np.ndarray) -> list[dict]:
    """One segment per cycle of runs, broken at its lowest row (the kernel's rule)."""
    nxt = np.full(len(kept), -1, dtype=np.int64)
    nxt[parent_node[kept]] = np.nonzero(kept)[0]
    seen = ~ring_nodes
    start, tail, low = nodes["start"], nodes["tail"], nodes["low"]
    out = []
    for first in np.nonzero(ring_nodes)[0].tolist():
        if seen[first]:
            continue
        ring = [first]
        seen[first] = True
        while not seen[nxt[ring[-1]]]:
            ring.append(int(nxt[ring[-1]]))
            seen[ring[-1]] = True
        at = min(range(len(ring)), key=lambda j: low[ring[j]])
        m = ring[at]
        # the row before the lowest: the last of the run before it on the ring, or its
        # predecessor inside its own run
        end = int(tail[ring[at - 1]]) if low[m] == start[m] else int(nodes["low_pred"][m])
        out.append({"start": int(low[m]), "tail": end,
                    "rows": int(sum(int(nodes["weight"][j]) for j in ring)),
                    "start_kind": "cycle", "parent": None})
    return out


def primary(segments: list[dict]) -> tuple[int | None, int | None]:
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
