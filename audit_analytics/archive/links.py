"""Where each run of a part file links to: the manifest's record of the chain across files.

A part file holds rows in chain order, cut into *runs*: rows that each link to the row before
them. A file's first row starts a run, and so does every row whose ``prev_hash`` is not the
hash of the row before it (a fork's second branch, a gap, a second genesis). For every run
start the manifest records where its predecessor is (``first_prev_at`` for the file's first
row, ``prev_at`` for each of its ``segments``), as the writer found it when it archived the
rows:

``{"seq": N, "row": R}``
    the predecessor is row ``R`` (0-based, in file order) of the part file of entry ``N``
    (possibly this entry);
``"genesis"``
    the run starts a chain (the profile's genesis value, or a NULL the profile counts as one);
``"unarchived"``
    the predecessor is a row of the source that the archive does not hold (the archive
    started after it: ``--since``, or a source whose older rows were already purged);
``"missing"``
    no row of the source had that hash when it was archived: the source's own gap
    (``missing_predecessor``), recorded as such;
``"malformed"``
    the ``prev_hash`` is NULL or not a digest in the profile's encoding.

From these records alone (signed, one line per file) a spot check knows, without reading
the other files, whether a run start that links outside its sample is vouched for, is a gap
the source already had, or begins the archive; and :func:`run_graph` rebuilds the tree of
runs that a full verification would find, to tell a second chain start from the first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .._engine import Engine
from ..chain.digests import decode
from ..chain.profiles import HashProfile

__all__ = ["LINK_STATES", "Run", "resolve_links", "run_graph", "run_starts", "runs_of",
           "valid_link"]

#: The values a run start's record may hold besides ``{"seq", "row"}``.
LINK_STATES = ("genesis", "unarchived", "missing", "malformed")


def valid_link(value: object) -> bool:
    """Whether ``value`` is a well-formed ``first_prev_at``/``prev_at`` record."""
    if isinstance(value, str):
        return value in LINK_STATES
    if isinstance(value, dict) and set(value) == {"seq", "row"}:
        return all(isinstance(value[k], int) and not isinstance(value[k], bool)
                   and value[k] >= 0 for k in ("seq", "row"))
    return False


def run_starts(hashes: list, prevs: list) -> list[int]:
    """The rows (positions in a file) that start a run: the first, and every broken link."""
    return [0] + [i for i in range(1, len(hashes))
                  if prevs[i] is None or prevs[i] != hashes[i - 1]]


def resolve_links(engine: Engine, source, profile: HashProfile, prevs: list,
                  starts: list[int], place, local: dict[str, int], archived) -> list:
    """The record (see the module) of each run start of the rows being archived.

    Parameters
    ----------
    engine, source
        The source's engine and source: whether a hash exists in the source at all.
    profile
        Decides what a genesis value and a malformed ``prev_hash`` are.
    prevs
        Every new row's ``prev_hash`` text, in the order being archived.
    starts
        The rows (positions in that order) that start a run.
    place
        ``place(position) -> (seq, row)``: where a new row will be archived.
    local
        Hash text -> the first new row holding it.
    archived
        The archive's rows found so far (:class:`~.writer.Archived`): ``find(hashes)``
        answers ``{hash: (seq, row)}``, reading further part files only when asked.
    """
    texts = pa.array([prevs[j] for j in starts], pa.string())
    _, flags = decode(profile, texts, link=True)
    out: list = [None] * len(starts)
    pending: dict[str, list[int]] = {}
    for k, (j, flag) in enumerate(zip(starts, flags.tolist())):
        prev = prevs[j]
        if flag == 3:
            out[k] = "genesis"
        elif flag != 0:
            out[k] = "malformed"
        elif prev in local:
            seq, row = place(local[prev])
            out[k] = {"seq": seq, "row": row}
        else:
            pending.setdefault(prev, []).append(k)
    if pending:
        found = archived.find(list(pending), everywhere=False)
        rest = [h for h in pending if h not in found]
        present = _present_in_source(engine, source, rest) if rest else set()
        if present:  # in the source: archived earlier, or never (before the archive began)
            found.update(archived.find(sorted(present), everywhere=True))
        for prev, ks in pending.items():
            if prev in found:
                seq, row = found[prev]
                value = {"seq": seq, "row": row}
            else:
                value = "unarchived" if prev in present else "missing"
            for k in ks:
                out[k] = value
    return out


def _present_in_source(engine: Engine, source, hashes: list[str]) -> set[str]:
    """Which ``hashes`` some row of the source holds (the rows read, and outside a window)."""
    engine.register("__link_wanted", pa.table({"h": pa.array(hashes, pa.string())}))
    try:
        rows = engine.rows(
            f"SELECT DISTINCT w.h FROM __link_wanted w JOIN "
            f"(SELECT CAST(hash AS VARCHAR) AS h FROM {engine.qualified('raw')}) r "
            "ON r.h = w.h")
    finally:
        engine.unregister("__link_wanted")
    present = {h for (h,) in rows}
    if source.windowed:
        present |= source.hashes_outside([h for h in hashes if h not in present])
    return present


# --- reading the records back --------------------------------------------------------------
@dataclass
class Run:
    """One run of one part file, as its manifest entry describes it."""

    seq: int
    first_row: int
    rows: int
    first_id: str | None
    first_prev_hash: str | None
    last_hash: str | None
    prev_at: object  # the record, or None when the entry predates such records


def runs_of(entry: dict) -> list[Run]:
    """An entry's runs, in file order (one run when it lists no ``segments``)."""
    seq = entry["seq"]
    segments = [s for s in entry.get("segments") or () if isinstance(s, dict)]
    if not segments:
        return [Run(seq, 0, entry["rows"], entry["first_id"], entry["first_prev_hash"],
                    entry["last_hash"], entry.get("first_prev_at"))]
    out, row = [], 0
    for k, seg in enumerate(segments):
        prev_at = seg.get("prev_at", entry.get("first_prev_at") if k == 0 else None)
        rows = seg.get("rows") if isinstance(seg.get("rows"), int) else 0
        out.append(Run(seq, row, rows, seg.get("first_id"), seg.get("first_prev_hash"),
                       seg.get("last_hash"), prev_at))
        row += rows
    return out


def run_graph(entries: list[dict]) -> dict:
    """The trees of runs the manifest describes, as a full verification would find them.

    Returns ``{"runs": [Run...], "root": [index of each run's tree root],
    "primary": index of the main tree's root or None}``. Each run joins the tree of the run
    holding its predecessor; the main tree is the largest (by rows), a tree grown from a
    genesis row preferred, then the earliest: the rule the verifier applies to its segments.
    """
    runs: list[Run] = []
    by_seq: dict[int, list[int]] = {}
    for e in entries:
        for run in runs_of(e):
            by_seq.setdefault(run.seq, []).append(len(runs))
            runs.append(run)
    parent = np.arange(len(runs))

    def holder(at: dict) -> int | None:
        for i in by_seq.get(at["seq"], ()):
            if runs[i].first_row <= at["row"] < runs[i].first_row + max(runs[i].rows, 1):
                return i
        return None

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for i, run in enumerate(runs):
        if isinstance(run.prev_at, dict):
            j = holder(run.prev_at)
            if j is not None and find(j) != find(i):
                parent[find(i)] = find(j)
    roots = [find(i) for i in range(len(runs))]
    size: dict[int, int] = {}
    for i, r in enumerate(roots):
        size[r] = size.get(r, 0) + runs[i].rows
    primary = None
    if size:
        primary = max(size, key=lambda r: (runs[r].prev_at == "genesis", size[r], -r))
    return {"runs": runs, "root": roots, "primary": primary}

