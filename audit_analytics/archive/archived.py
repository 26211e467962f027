"""What an archive already holds, as much of it as an ``archive`` run needs to know.

A run archives the source's rows the archive does not hold yet, and records where each
run of its new part files links to (:mod:`.links`): both need some of the rows already
archived, read from their part files (``id``, ``hash`` and row number only) as few at a
time as will do.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import ArchiveError, first_line
from ..periods import parse_when
from .store import ArchiveStore

__all__ = ["Archived"]


class Archived:
    """The rows already in the archive that a run must know of, read part file by part file.

    ``after``: the source is read again from the latest archived timestamp less the
    overlap (``None`` on a first run). The part files that reach into that span, and those
    holding rows without a usable timestamp (``untimed``), are read at once (their ``id``,
    ``hash`` and row numbers): a new row is one whose ``(id, hash)`` is not among them as
    many times as the source holds it. :meth:`find` locates a hash, reading further part
    files only when asked (to place a run's predecessor).
    """

    def __init__(self, store: ArchiveStore, manifest, overlap: timedelta) -> None:
        self.store, self.entries = store, manifest.entries
        self.tables: dict[int, pa.Table] = {}
        self.after: datetime | None = None
        # each entry's (and segment's) last hash: where most runs' predecessors are
        self.boundaries: dict[str, tuple[int, int]] = {}
        for e in self.entries:
            row = 0
            for seg in e.get("segments") or ():
                if isinstance(seg, dict) and isinstance(seg.get("rows"), int):
                    row += seg["rows"]
                    if seg.get("last_hash"):
                        self.boundaries.setdefault(seg["last_hash"], (e["seq"], row - 1))
            if e["last_hash"] and e["rows"]:
                self.boundaries.setdefault(e["last_hash"], (e["seq"], e["rows"] - 1))
        stamps = [e["max_timestamp"] for e in self.entries if e["max_timestamp"]]
        if stamps:
            latest = max(parse_when(x, what="max_timestamp") for x in stamps)
            self.after = latest - overlap
        for e in self.entries:
            top = e["max_timestamp"]
            if (e.get("untimed", 0) or not top
                    or (self.after is not None and parse_when(top) >= self.after)):
                self._read(e["seq"])

    def _read(self, seq: int) -> pa.Table:
        if seq not in self.tables:
            rel = self.entries[seq]["path"]
            try:
                table = pq.read_table(self.store.path(rel), filesystem=self.store.fs,
                                      columns=["id", "hash"])
            except Exception as exc:
                raise ArchiveError(f"cannot read {rel}: {first_line(exc)}", path=rel) from None
            n = table.num_rows
            self.tables[seq] = pa.table({
                "id": pc.cast(table.column("id"), pa.string()),
                "hash": pc.cast(table.column("hash"), pa.string()),
                "seq": pa.array(np.full(n, seq, np.int64)),
                "row": pa.array(np.arange(n, dtype=np.int64))})
        return self.tables[seq]

    def untimed_unknown(self) -> None:
        """Read the entries written before manifests counted rows without a timestamp."""
        for e in self.entries:
            if "untimed" not in e:
                self._read(e["seq"])

    def known(self) -> pa.Table:
        """``(id, hash)`` of every row read so far."""
        if not self.tables:
            return pa.table({"id": pa.array([], pa.string()), "hash": pa.array([], pa.string())})
        return pa.concat_tables(self.tables.values()).select(["id", "hash"])

    def find(self, hashes: list[str], *, everywhere: bool) -> dict[str, tuple[int, int]]:
        """Where each of ``hashes`` is archived: ``{hash: (seq, row)}`` (absent: not found).

        The entries' boundaries and the part files read so far are searched; with
        ``everywhere``, every other part file is read too.
        """
        wanted = set(hashes)
        out = {h: self.boundaries[h] for h in wanted if h in self.boundaries}
        if everywhere:
            for e in self.entries:
                self._read(e["seq"])
        for table in self.tables.values():
            if len(out) == len(wanted):
                break
            for h, seq, row in zip(table.column("hash").to_pylist(),
                                   table.column("seq").to_pylist(),
                                   table.column("row").to_pylist()):
                if h in wanted and h not in out:
                    out[h] = (seq, row)
        return out
