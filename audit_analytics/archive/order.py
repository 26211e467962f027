"""Chain order: the rows of a log arranged so that every row follows the row it links to.

The links (``prev_hash`` -> ``hash``) are resolved with one join in DuckDB; the link graph
is split into unbranched runs by the kernel (:func:`audit_analytics.chain.kernel.segments`),
and the runs are laid out depth first from each chain start, a fork's branches in the
order of their first timestamps. A linear chain comes out as one run in link order,
whatever order its rows were stored in. Rows whose predecessor is absent start runs of
their own (ordered by timestamp); rows caught in a cycle (only tampered data has one)
come last.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .._engine import Engine
from ..chain import kernel

__all__ = ["chain_order"]

_LINKS = """
SELECT c.pos AS child, min(p.pos) AS parent
FROM __order_rows c JOIN __order_rows p ON c.prev = p.h
WHERE c.pos <> p.pos
GROUP BY c.pos
"""


def chain_order(engine: Engine, hashes: pa.Array, prevs: pa.Array,
                ts: np.ndarray) -> np.ndarray:
    """Row positions in chain order.

    Parameters
    ----------
    engine
        Runs the join of ``prev_hash`` against ``hash``.
    hashes, prevs
        Each row's stored ``hash`` and ``prev_hash`` (text).
    ts
        Each row's timestamp in microseconds (any placeholder where unknown): the order of
        a fork's branches and of unlinked runs.
    """
    n = len(hashes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    engine.register("__order_rows", pa.table({"pos": np.arange(n, dtype=np.int64),
                                              "h": hashes, "prev": prevs}))
    try:
        links = engine.arrow(_LINKS)
    finally:
        engine.unregister("__order_rows")
    parent = np.full(n, -1, dtype=np.int64)
    parent[links.column("child").to_numpy()] = links.column("parent").to_numpy()
    root, depth = kernel.segments(parent)
    starts = np.nonzero(root == np.arange(n))[0]
    # the runs hanging off each row (fork branches), earliest first
    hanging: dict[int, list[int]] = {}
    branch_starts = starts[parent[starts] >= 0]
    for s in branch_starts[np.lexsort((branch_starts, ts[branch_starts]))].tolist():
        hanging.setdefault(int(parent[s]), []).append(s)
    members: dict[int, np.ndarray] = {}
    if hanging:
        by_root = np.argsort(root, kind="stable")
        bounds = np.searchsorted(root[by_root], starts)
        for k, s in enumerate(starts.tolist()):
            end = bounds[k + 1] if k + 1 < len(bounds) else n
            members[s] = by_root[bounds[k]:end]
    rank = np.full(n, -1, dtype=np.int64)
    next_rank = 0
    tops = starts[parent[starts] < 0]
    for top in tops[np.lexsort((tops, ts[tops]))].tolist():
        stack = [top]
        while stack:
            seg = stack.pop()
            if rank[seg] >= 0:
                continue
            rank[seg] = next_rank
            next_rank += 1
            if not hanging:
                continue
            rows = members[seg]
            branches = [b for r in rows[np.argsort(depth[rows])].tolist()
                        for b in hanging.get(r, ())]
            stack.extend(reversed(branches))
    unreached = starts[rank[starts] < 0]  # runs inside a cycle
    for s in unreached[np.lexsort((unreached, ts[unreached]))].tolist():
        rank[s] = next_rank
        next_rank += 1
    return np.lexsort((depth, rank[root])).astype(np.int64)
