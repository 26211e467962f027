"""``archive``: a source's events written as day (or month) partitions and a signed manifest.

The rows are read from the source as stored, put in chain order
(:func:`.order.chain_order`) and cut wherever the UTC day (or month) of the timestamp
changes; each run becomes one new part file, ``DIR/date=YYYY-MM-DD/part-NNNNNN.parquet``
(``month=YYYY-MM``), Parquet with zstd compression, rows in chain order. Each file gets one
manifest line (:mod:`.manifest`). A part file is never rewritten: a re-run archives only the
events not archived yet, as new part files after the existing ones.

Which events are new: those stamped at or after the latest archived timestamp less an
overlap (an hour by default, for a late writer's row stamped earlier), and those without a
usable timestamp, whose ``(id, hash)`` the part files that reach into that span (or hold
rows without a timestamp) do not hold as many times as the source does: every row of the
source is archived once, whatever its values. Each file's manifest line records where each
of its runs links to (:mod:`.links`). Part files are written first, then the manifest is
extended by one atomic replacement; a run that fails before the manifest is written removes
the files it created.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import _args
from .._engine import quote_ident
from .._text import shown
from ..chain.schema import BOOKKEEPING, bounded_timestamp
from ..errors import ArchiveError
from ..periods import parse_window
from .archived import Archived
from .keys import load_private_key
from .links import resolve_links, run_starts
from .manifest import entry_line, read_manifest
from .order import chain_order
from .store import ArchiveStore

__all__ = ["PARTITIONS", "ArchiveResult", "archive_source"]

log = logging.getLogger("audit_analytics")

#: The partitionings ``archive --partition`` accepts, and their folder prefix.
PARTITIONS = {"day": "date", "month": "month"}
_FORMAT = {"day": "%Y-%m-%d", "month": "%Y-%m"}


@dataclass
class ArchiveResult:
    """What one ``archive`` run wrote.

    ``manifest_head`` is the SHA-256 (hex) of the manifest's last line after the run:
    keep it somewhere else, and pass it to ``spot-check --expect-head``.
    """

    target: str
    files_written: int
    rows: int
    manifest_head: str | None
    paths: list[str] = field(default_factory=list)
    entries: int = 0
    profile: str | None = None

    def to_dict(self) -> dict:
        """The JSON ``archive --json`` prints."""
        return {"files_written": self.files_written, "rows": self.rows,
                "manifest_head": self.manifest_head, "entries": self.entries,
                "paths": self.paths, "profile": self.profile, "archive": self.target}

    def summary(self) -> str:
        """One human paragraph."""
        head = self.manifest_head or "(empty manifest)"
        return (f"{self.target}: {self.files_written} part file(s) written, {self.rows:,} "
                f"rows; the manifest holds {self.entries} entries\n"
                f"  manifest head: {head}  (keep it elsewhere: spot-check --expect-head)")


def archive_source(source, target: str, key_path: str, *, partition: str = "day",
                   profile: str = "auto", since=None, until=None, table: str | None = None,
                   overlap: timedelta = timedelta(hours=1),
                   progress: bool | None = None) -> ArchiveResult:
    """Archive ``source``'s events not archived yet into the folder ``target``.

    Parameters
    ----------
    source
        Anything :func:`audit_analytics.open` accepts (a ``postgresql://`` URL, Parquet...).
    target
        The archive folder (created when absent), local or a pyarrow.fs URI.
    key_path
        The Ed25519 private key (``PREFIX.key`` from ``keygen``).
    partition
        ``"day"`` or ``"month"`` (UTC).
    profile
        The hash profile recorded in the manifest (``auto``: detected from the rows).
    since, until
        Archive only events in ``[since, until)`` (ISO text; naive times are UTC).

    Raises
    ------
    ArchiveError
        The key, the folder or its manifest cannot be used (a damaged manifest, entries
        signed by another key, part files no entry lists), or a file cannot be written.
    """
    from ..chain.profiles import load_profile, profile_argument
    from ..chain.verify import detect_profile
    from ..session import AuditLog

    if not isinstance(partition, str) or partition not in PARTITIONS:
        raise ArchiveError(f"unknown partitioning {shown(repr(partition), 80)} (day or month)")
    target = os.fspath(_args.path(target, "target"))
    _args.duration(overlap, "overlap")
    profile_argument(profile)
    _args.text(table, "table", optional=True)
    _args.flag(progress, "progress", optional=True)
    key = load_private_key(key_path)
    lo, hi = parse_window(since, until)
    store = ArchiveStore(target)
    with store.lock():
        old = store.manifest() or b""
        manifest = read_manifest(old, key.public_key())
        _remove_leftovers(store, manifest)
        _refuse_damage(store, manifest)
        archived = Archived(store, manifest, overlap)
        with AuditLog(_opened(source, table, lo, hi, archived.after), table=table,
                      progress=progress) as audit:
            chosen = (detect_profile(audit.engine, audit.source)[0] if profile == "auto"
                      else load_profile(profile))
            rows = _new_rows(audit, lo, hi, archived)
            order = chain_order(audit.engine, _text(rows, "hash"), _text(rows, "prev_hash"),
                                _ts_or(rows))
            rows = rows.take(pa.array(order))
            files = _plan(store, rows, partition, len(manifest.entries))
            _link(audit, chosen, rows, files, archived)
        return _write(store, manifest, old, rows, files, key, chosen.name)


def _opened(source, table, lo, hi, after):
    """What to open: a PostgreSQL table read from the window still to archive, else ``source``.

    A PostgreSQL table is filtered in the database (only rows at or after the latest
    archived timestamp less the overlap, or ``--since``), rows without a timestamp
    included: they belong to no window and are archived once, like any row.
    """
    text = str(source)
    if not text.startswith(("postgres://", "postgresql")):
        return source
    from ..sources import source_class

    since = _later(lo, after)
    if since is None and hi is None:
        return source
    return source_class("postgresql")(text, table=table or "audit_logs", since=since,
                                      until=hi, keep_untimed=True)


def _remove_leftovers(store: ArchiveStore, manifest) -> None:
    """Remove the part files of a run killed before it extended the manifest.

    Only files named in that run's pending record, listed by no entry, and holding exactly
    the bytes the run wrote (their SHA-256) are removed; the lock keeps other runs out.
    """
    data = store.pending()
    if data is None:
        return
    try:
        planned = json.loads(data)
        planned = [(str(p["path"]), str(p["sha256"])) for p in planned]
    except (ValueError, TypeError, KeyError, RecursionError):
        planned = []
    listed = {e["path"] for e in manifest.entries}
    for rel, sha in planned:
        if rel in listed or not store.exists(rel):
            continue
        if store.digest(rel)[0] == sha:
            store.fs.delete_file(store.path(rel))
            log.warning("removed %s, left by an archive run that did not finish", rel)
    store.set_pending(None)


def _refuse_damage(store: ArchiveStore, manifest) -> None:
    """Refuse to extend a manifest that does not check out, or a folder with strays."""
    if manifest.findings:
        first = next(iter(manifest.findings))
        raise ArchiveError(f"{store.label}: the manifest does not check out with this key "
                           f"(line {first.get('line')}: {first['reason']}); run spot-check "
                           "--all before archiving into it", path=store.label)
    listed = {e["path"] for e in manifest.entries}
    strays = [p for p in store.part_files() if p not in listed]
    if strays:
        raise ArchiveError(f"{store.label} holds {len(strays)} part file(s) no manifest entry "
                           f"lists (first: {strays[0]}); move them aside before archiving",
                           path=store.label)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return max(x for x in (a, b) if x is not None) if (a or b) else None


def _new_rows(audit, lo, hi, archived: Archived) -> pa.Table:
    """The source's stored rows not archived yet (with ``__ts``, microseconds UTC).

    A row without a usable timestamp belongs to no window: it is read whatever the window
    and the overlap, and archived once. Rows holding the same ``(id, hash)`` count one by
    one: the source's second copy of a row is archived when the archive holds only one.
    """
    engine = audit.engine
    columns = [c for c in audit.source.columns if c not in BOOKKEEPING]
    ts = bounded_timestamp('"timestamp"')
    timed, params = [], []
    for bound, op in ((lo, ">="), (hi, "<")):
        if bound is not None:
            timed.append(f"__t {op} CAST(? AS TIMESTAMPTZ)")
            params.append(bound.isoformat())
    if archived.after is not None:
        timed.append("__t >= CAST(? AS TIMESTAMPTZ)")
        params.append(archived.after.isoformat())
    raw = engine.qualified("raw")
    if archived.entries and engine.scalar(
            f"SELECT count(*) FROM (SELECT {ts} AS __t FROM {raw}) WHERE __t IS NULL"):
        archived.untimed_unknown()
    where = f"WHERE __t IS NULL OR ({' AND '.join(timed)})" if timed else ""
    select = ", ".join(f"r.{quote_ident(c)}" for c in columns)
    sql = f"""
        WITH r AS (
            SELECT *, CAST(id AS VARCHAR) AS __id, CAST(hash AS VARCHAR) AS __h,
                   row_number() OVER (PARTITION BY CAST(id AS VARCHAR), CAST(hash AS VARCHAR)
                                      ORDER BY __t NULLS LAST) AS __n
            FROM (SELECT *, {ts} AS __t FROM {raw}) s {where}),
        k AS (SELECT id, hash, count(*) AS n FROM __archived GROUP BY id, hash)
        SELECT {select}, epoch_us(r.__t) AS __ts FROM r
        LEFT JOIN k ON k.id IS NOT DISTINCT FROM r.__id AND k.hash IS NOT DISTINCT FROM r.__h
        WHERE r.__n > coalesce(k.n, 0)"""
    engine.register("__archived", archived.known())
    try:
        return engine.arrow(sql, params)
    finally:
        engine.unregister("__archived")


def _text(rows: pa.Table, name: str) -> pa.Array:
    return pc.cast(rows.column(name), pa.string()).combine_chunks()


def _ts_or(rows: pa.Table) -> np.ndarray:
    return np.asarray(rows.column("__ts").fill_null(0).to_numpy(), dtype=np.int64)


def _keys(ts: pa.ChunkedArray, partition: str) -> list[str]:
    """Each row's partition value; a row without a usable timestamp joins the row before."""
    fmt = _FORMAT[partition]
    out: list[str | None] = []
    for us in ts.to_pylist():
        out.append(None if us is None else
                   (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)).strftime(fmt))
    first = next((k for k in out if k is not None), None) or "unknown"
    last = first
    for i, k in enumerate(out):
        if k is None:
            out[i] = last
        else:
            last = k
    return out  # type: ignore[return-value]


def _iso(us: int | None) -> str | None:
    if us is None:
        return None
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _next_numbers(store: ArchiveStore) -> dict[str, int]:
    """The next free part number in each partition folder."""
    nxt: dict[str, int] = {}
    for rel in store.part_files():
        folder, _, name = rel.rpartition("/")
        stem = name.split(".")[0]
        if stem.startswith("part-") and stem[5:].isdigit():
            nxt[folder] = max(nxt.get(folder, 0), int(stem[5:]) + 1)
    return nxt


@dataclass
class _File:
    """One part file a run writes: rows ``[a, b)`` of the ordered new rows."""

    rel: str
    seq: int
    a: int
    b: int
    starts: list[int] = field(default_factory=list)  # run starts, positions in the rows
    links: list = field(default_factory=list)        # each run start's record (.links)


def _plan(store: ArchiveStore, rows: pa.Table, partition: str, seq: int) -> list[_File]:
    """The part files the ordered rows go to: cut wherever the partition changes."""
    if rows.num_rows == 0:
        return []
    keys = _keys(rows.column("__ts"), partition)
    cuts = [0] + [i for i in range(1, len(keys)) if keys[i] != keys[i - 1]] + [len(keys)]
    numbers = _next_numbers(store)
    prefix = PARTITIONS[partition]
    files = []
    for k, (a, b) in enumerate(zip(cuts, cuts[1:])):
        folder = f"{prefix}={keys[a]}"
        number = numbers.get(folder, 0)
        numbers[folder] = number + 1
        files.append(_File(f"{folder}/part-{number:06d}.parquet", seq + k, a, b))
    return files


def _link(audit, profile, rows: pa.Table, files: list[_File], archived: Archived) -> None:
    """Find every file's run starts and record where each one's predecessor is."""
    if not files:
        return
    hashes, prevs = _text(rows, "hash").to_pylist(), _text(rows, "prev_hash").to_pylist()
    starts: list[int] = []
    for f in files:
        f.starts = [f.a + i for i in run_starts(hashes[f.a:f.b], prevs[f.a:f.b])]
        starts += f.starts
    local: dict[str, int] = {}
    for i, h in enumerate(hashes):
        if h is not None:
            local.setdefault(h, i)
    bounds = np.array([f.b for f in files])

    def place(position: int) -> tuple[int, int]:
        f = files[int(np.searchsorted(bounds, position, side="right"))]
        return f.seq, position - f.a

    links = resolve_links(audit.engine, audit.source, profile, prevs, starts, place, local,
                          archived)
    k = 0
    for f in files:
        f.links, k = links[k:k + len(f.starts)], k + len(f.starts)


def _fields(f: _File, rows: pa.Table, ts, payload: bytes, profile: str, ids, hashes,
            prevs) -> dict:
    """A part file's manifest keys (``path`` ... ``profile``, ``untimed``, runs and links)."""
    a, b = f.a, f.b
    span = pc.min_max(ts.slice(a, b - a))
    fields = {"path": f.rel, "sha256": hashlib.sha256(payload).hexdigest(),
              "bytes": len(payload), "rows": b - a, "first_id": ids[a],
              "first_prev_hash": prevs[a], "last_id": ids[b - 1],
              "last_hash": hashes[b - 1], "min_timestamp": _iso(span["min"].as_py()),
              "max_timestamp": _iso(span["max"].as_py()), "profile": profile,
              "first_prev_at": f.links[0], "untimed": ts.slice(a, b - a).null_count}
    if len(f.starts) > 1:
        ends = f.starts[1:] + [b]
        fields["segments"] = [
            {"first_id": ids[s], "first_prev_hash": prevs[s], "last_id": ids[e - 1],
             "last_hash": hashes[e - 1], "rows": e - s, "prev_at": link}
            for s, e, link in zip(f.starts, ends, f.links)]
    return fields


def _write(store: ArchiveStore, manifest, old: bytes, rows: pa.Table, files: list[_File],
           key, profile: str) -> ArchiveResult:
    result = ArchiveResult(target=store.label, files_written=0, rows=0,
                           manifest_head=manifest.head, entries=len(manifest.entries),
                           profile=profile)
    if not files:
        return result
    data = rows.drop_columns(["__ts"])
    hashes, prevs = _text(rows, "hash").to_pylist(), _text(rows, "prev_hash").to_pylist()
    ids = _text(rows, "id").to_pylist()
    ts = rows.column("__ts")
    written_files: list[tuple[str, bytes, dict]] = []
    for f in files:
        buffer = io.BytesIO()
        pq.write_table(data.slice(f.a, f.b - f.a), buffer, compression="zstd")
        payload = buffer.getvalue()
        written_files.append((f.rel, payload,
                              _fields(f, rows, ts, payload, profile, ids, hashes, prevs)))
    if old and not old.endswith(b"\n"):
        old += b"\n"
    written: list[str] = []
    store.set_pending(json.dumps([{"path": rel, "sha256": fields["sha256"]}
                                  for rel, _, fields in written_files]).encode())
    try:
        for rel, payload, _ in written_files:
            store.write_new(rel, payload)
            written.append(rel)
        lines: list[bytes] = []
        prev_line = old.rstrip(b"\n").rsplit(b"\n", 1)[-1] if old.strip() else None
        seq = len(manifest.entries)
        for _, _, fields in written_files:
            line = entry_line(fields, seq=seq, prev_line=prev_line, key=key)
            lines.append(line)
            prev_line, seq = line, seq + 1
        store.extend_manifest(old, lines)
    except BaseException:
        for rel in written:  # files this run created, no entry lists them yet
            try:
                store.fs.delete_file(store.path(rel))
            except Exception:  # noqa: BLE001 - the first error is the one to report
                log.warning("could not remove %s after a failed archive run", rel)
        raise
    store.set_pending(None)
    result.files_written = len(files)
    result.rows = rows.num_rows
    result.paths = [f.rel for f in files]
    result.manifest_head = hashlib.sha256(lines[-1]).hexdigest()
    result.entries = len(manifest.entries) + len(files)
    return result
