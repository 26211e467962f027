"""The review ledger: a tamper-evident record of every periodic review report produced.

Each report written (CLI ``audit-analytics report`` or :meth:`Report.write`) appends one
line to ``ledger.jsonl`` in the toolkit's home folder (``--home``, else
``$AUDIT_ANALYTICS_HOME``, else ``~/.local/share/audit_analytics``). The lines are
hash-chained with the ``python-seed`` profile, the ledger fields mapped onto the seed's::

    id            a fresh UUID
    timestamp     when the report was generated (UTC, ``datetime.isoformat()``)
    actor_id      who ran it (``--actor``, ``$AUDIT_ANALYTICS_ACTOR`` or the OS user)
    action        "review_report"
    resource_type "review_report"
    resource_id   compact JSON of what was reviewed and what came out:
                  {"end", "files", "kind", "period", "primary", "replaced", "sha256",
                   "source", "source_id", "start", "status", "version"}
    result        "success"

so the period, the source (``source``: masked, as it was named; ``source_id``: its canonical
identity, :func:`~audit_analytics.sources.identity.source_identity`), the version, the
status and every written file (its path and its own SHA-256: HTML, JSON, PDF or any other
format; ``primary`` names the one whose digest is ``sha256``) are all covered by the hash;
only the tool's version is a detail beside them. Entries written before ``source_id``
existed are matched by the identity of their ``source``, computed when read (best effort:
a relative path resolves against the reader's working directory). :meth:`Ledger.verify`
re-verifies the chain with the toolkit's own verifier, checks every entry's fields and
re-hashes every report file still present.

A report written with ``replace=True`` (``--replace``) rewrites files an earlier entry
recorded, and its own entry records the same paths with their new digests. Such a file
of the earlier entry is **superseded**, not altered: verification lists it (with the line
of the entry that rewrote it) and checks the file against the later entry instead. Only a
later entry that vouches for itself excuses an earlier one: it must be a well-formed
report record whose files are in its hashed key, its own hash intact, and reached from
the chain's start through unbroken, unforked links after the earlier entry (chain order,
never file order). A superseding entry that was deleted, edited or inserted without
rebuilding the chain excuses nothing: the earlier file is then ``report_altered``.

Entries written before the files were part of the hashed key (``resource_id`` without
``files``) are still read and verified by their old rule (the primary file against the
hashed ``sha256``, the others against the unhashed ``files`` detail), and each is named in
a ``legacy_entry`` warning: its per-file details are not protected by the chain.

:func:`~audit_analytics.trail.cadence.review_cadence` reads the ledger and says whether
reviews happened on schedule.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from .. import _args
from .._text import shown
from .._version import __version__
from ..chain.canonical import row_digest
from ..errors import UsageError
from ..periods import Period
from ._chainfile import GENESIS, PROFILE, ChainFile, default_home
from .journal import Recorder, _recorder_argument, source_key, source_label

__all__ = ["Ledger", "LedgerVerification", "sha256_file"]

FILENAME = "ledger.jsonl"
ACTION = "review_report"
_DIGEST = re.compile(r"[0-9a-f]{64}")
_KEY_TEXT = ("period", "kind", "start", "end", "source")
# details of entries written before they were hashed (and the identity, never a detail)
_SHADOWED = {"files", "status", "replaced", "source_id"}
_LISTED = 20  # superseded files named in the summary (all are in the JSON)
_SENTENCE = 2000  # characters of a path or detail shown in the summary

def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class LedgerVerification:
    """The outcome of :meth:`Ledger.verify`.

    Attributes
    ----------
    chain
        The toolkit's :class:`~audit_analytics.chain.results.VerifyResult` for the ledger file
        (``None`` when the ledger is empty).
    entries
        Entries read.
    problems
        Evidence of tampering (``kind``): ``bad_entry`` (an entry that is not a well-formed
        report record: its fields, its hashed key, its files), ``report_altered`` (a report
        file that no longer matches its recorded SHA-256).
    missing
        Report files recorded but no longer present (moved or deleted; not a failure).
    superseded
        Report files an entry recorded that a later entry of the chain recorded again
        (``--replace`` rewrote them): ``line``, ``path``, ``format`` and ``by_line``, the
        entry whose digest the file is checked against instead (not a failure).
    warnings
        What verification could not vouch for (not a failure): ``legacy_entry`` (written
        before the per-file details were hashed) and ``file_unreadable``.
    """

    chain: object | None
    entries: int
    problems: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    superseded: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the chain is intact and no recorded report was altered."""
        return (self.chain is None or self.chain.ok) and not self.problems

    def to_dict(self) -> dict:
        """A JSON-able summary."""
        return {"ok": self.ok, "entries": self.entries,
                "chain": self.chain.to_dict() if self.chain is not None else None,
                "problems": self.problems, "missing_files": self.missing,
                "superseded_files": self.superseded, "warnings": self.warnings}

    def summary(self) -> str:
        """A short human summary; paths and values from the ledger shown escaped, one line each."""
        if self.chain is None:
            return "ledger: empty (no report recorded yet)"
        lines = [self.chain.summary()]
        if self.problems:
            lines.append(f"ledger: TAMPERING EVIDENT: {len(self.problems)} problem(s) in its "
                         "entries or the recorded report files")
        lines += [f"  - {p['kind']}: {shown(p['detail'], _SENTENCE)}" for p in self.problems]
        lines += [f"  warning: {w['kind']}: {shown(w['detail'], _SENTENCE)}"
                  for w in self.warnings]
        if self.missing:
            lines.append(f"  {len(self.missing)} recorded report file(s) no longer present")
        if self.superseded:
            lines.append(f"  {len(self.superseded)} recorded report file(s) superseded by a "
                         "later report (--replace): checked against the later entry")
            lines += [f"  superseded: {shown(s['path'], _SENTENCE)} ({shown(s['format'])}) "
                      f"recorded at line {s['line']}, rewritten by the report recorded at line "
                      f"{s['by_line']}" for s in self.superseded[:_LISTED]]
            if len(self.superseded) > _LISTED:
                lines.append(f"  ... and {len(self.superseded) - _LISTED} more (--json for all)")
        return "\n".join(lines)


class Ledger:
    """The review ledger in a home folder.

    Parameters
    ----------
    home
        The toolkit's home folder (default: the recorder's, else ``$AUDIT_ANALYTICS_HOME``
        or ``~/.local/share/audit_analytics``).
    recorder
        Whose context (actor, home) entries carry (default: the process's recorder).
    """

    def __init__(self, home: str | os.PathLike | None = None, *,
                 recorder: Recorder | None = None) -> None:
        self.recorder = _recorder_argument(recorder)
        self.home = default_home(_args.path(home, "home", optional=True) or self.recorder.home)
        self.path = self.home / FILENAME
        self._file = ChainFile(self.path, "ledger")

    def record(self, *, period: Period, source: object, sha256: str, version: int,
               files: dict[str, dict] | None = None, status: str | None = None,
               actor: str | None = None, replaced: bool = False,
               source_id: str | None = None) -> dict:
        """Append one report to the ledger and return the entry.

        ``source`` is the reviewed :class:`~audit_analytics.sources.base.Source` or its
        label; ``source_id`` its canonical identity key (default: computed from
        ``source``). ``files`` maps each format to ``{"path", "sha256"}`` (and
        ``"primary": True`` for the one whose digest is ``sha256``); all of it goes into the
        hashed key.
        """
        _record_arguments(period, source, sha256, version, files, status, actor, replaced)
        recorded = {str(fmt): {"path": str(info["path"]), "sha256": str(info["sha256"])}
                    for fmt, info in (files or {}).items()}
        primary = next((str(fmt) for fmt, info in (files or {}).items()
                        if info.get("primary")), None)
        if primary is None:
            primary = next((fmt for fmt, info in recorded.items() if info["sha256"] == sha256),
                           None)
        key = {"period": period.label, "kind": period.kind, "start": period.start.isoformat(),
               "end": period.end.isoformat(), "source": source_label(source),
               "source_id": source_id or source_key(source),
               "version": int(version), "sha256": sha256, "files": recorded,
               "primary": primary, "status": status, "replaced": bool(replaced)}
        return self._file.append(
            {"actor_id": self.recorder.current_actor(actor), "action": ACTION,
             "resource_type": ACTION,
             "resource_id": json.dumps(key, sort_keys=True, separators=(",", ":")),
             "result": "success"},
            {"tool": f"audit_analytics {__version__}"},
        )

    def entries(self) -> pd.DataFrame:
        """One row per recorded report: who, when, period, source, version, SHA-256, files.

        Entries that are not well-formed report records are left out (:meth:`verify`
        names them).
        """
        rows = []
        for entry in self._file.read():
            key, problem = _parse_key(entry)
            if key is None or problem is not None:
                continue
            rows.append({"id": entry.get("id"), "timestamp": entry.get("timestamp"),
                         "actor_id": entry.get("actor_id"),
                         **{k: key[k] for k in (*_KEY_TEXT, "version", "sha256")},
                         "source_id": key.get("source_id"),
                         **_recorded(entry, key), "line": entry["__line"]})
        columns = ["id", "timestamp", "actor_id", "period", "kind", "start", "end", "source",
                   "source_id", "version", "sha256", "status", "replaced", "files", "line"]
        frame = pd.DataFrame.from_records(rows, columns=columns)
        for name in ("timestamp", "start", "end"):
            frame[name] = pd.to_datetime(frame[name], utc=True, errors="coerce",
                                         format="ISO8601")
        return frame

    def verify(self, check_files: bool = True) -> LedgerVerification:
        """Re-verify the chain and every entry; with ``check_files``, re-hash report files.

        Never raises on a damaged ledger: every malformed line, field or key is a finding.
        """
        _args.flag(check_files, "check_files")
        entries = self._file.read()
        chain = self._file.verify()
        out = LedgerVerification(chain=chain, entries=len(entries))
        rewrites = _Rewrites(entries) if check_files else None
        for entry in entries:
            if "__line_error" in entry:
                continue  # the verifier reports it as malformed
            where = f"{self.path} line {entry['__line']}"
            key, problem = _parse_key(entry)
            if problem is not None:
                out.problems.append({"kind": "bad_entry", "line": entry["__line"],
                                     "detail": f"{where}: {problem}"})
                if check_files and _hashed_files_ok(key):  # its hashed files still count
                    self._check_files(entry, {"files": key["files"]}, where, out, rewrites)
                continue
            if "files" not in key:
                out.warnings.append({
                    "kind": "legacy_entry", "line": entry["__line"],
                    "detail": f"{where}: written before the per-file details were hashed; "
                              "only the primary file's SHA-256 is protected by the chain"})
            if check_files:
                self._check_files(entry, key, where, out, rewrites)
        return out

    def _check_files(self, entry: dict, key: dict, where: str, out: LedgerVerification,
                     rewrites: _Rewrites) -> None:
        """Re-hash the entry's report files still present (a superseded one is listed)."""
        for fmt, info in _recorded(entry, key)["files"].items():
            path = Path(info["path"])
            by_line = rewrites.superseding(entry, info["path"])
            if by_line is not None:
                out.superseded.append({"line": entry["__line"], "path": str(path),
                                       "format": fmt, "by_line": by_line})
                continue
            if not path.is_file():
                out.missing.append(str(path))
                continue
            try:
                actual = sha256_file(path)
            except OSError as exc:
                out.warnings.append({"kind": "file_unreadable", "line": entry["__line"],
                                     "detail": f"{path} ({fmt}): {exc.strerror or exc}"})
                continue
            if actual != info["sha256"]:
                out.problems.append({
                    "kind": "report_altered", "line": entry["__line"],
                    "detail": f"{path} ({fmt}) no longer matches the SHA-256 recorded at "
                              f"{where}"})

    def __len__(self) -> int:
        return len(self._file.read())


class _Rewrites:
    """Which later entries of the chain recorded a file again (``--replace``).

    An entry can excuse an earlier one's file only if it vouches for itself: a well-formed
    report record with its files in the hashed key, its own hash intact, placed on the
    chain (see :func:`_chain_places`) after the earlier entry.
    """

    def __init__(self, entries: list[dict]) -> None:
        self.places = _chain_places(entries)
        self.by_path: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for entry in entries:
            place = self.places.get(entry.get("__line"))
            if place is None or "__line_error" in entry or not _intact(entry):
                continue
            key, problem = _parse_key(entry)
            if problem is not None or not _hashed_files_ok(key):
                continue
            for info in key["files"].values():
                self.by_path[os.path.normpath(info["path"])].append((place, entry["__line"]))
        for rewrites in self.by_path.values():
            rewrites.sort()

    def superseding(self, entry: dict, path: str) -> int | None:
        """The line of the first valid entry after ``entry`` that recorded ``path`` again."""
        place = self.places.get(entry.get("__line"))
        if place is None:
            return None  # an entry off the chain: nothing provably came after it
        for later, line in self.by_path.get(os.path.normpath(path), ()):
            if later > place:
                return line
        return None


def _intact(entry: dict) -> bool:
    """Whether the entry's stored hash is the digest of its hashed fields."""
    try:
        return row_digest(PROFILE, entry) == entry.get("hash")
    except (TypeError, ValueError, AttributeError):
        return False


def _chain_places(entries: list[dict]) -> dict[int, int]:
    """Line -> place in the chain, for entries reached from the genesis without a doubt.

    The walk starts at the one entry chained to the genesis and follows each entry's one
    successor (the entry whose ``prev_hash`` is its ``hash``). It stops at a missing
    successor (a deleted entry leaves the rest unplaced), at two successors (a fork: which
    came first is unknown) and at a second chain start: entries it does not reach have no
    place. Damaged lines are skipped, as appends chain past them. An entry whose content
    was edited keeps its place (later entries still link to its stored hash) but never
    vouches for anything (:func:`_intact`).
    """
    successors: dict[str, list[dict]] = defaultdict(list)
    for entry in entries:
        prev, digest = entry.get("prev_hash"), entry.get("hash")
        if "__line_error" not in entry and isinstance(prev, str) and _is_digest(digest):
            successors[prev].append(entry)
    places: dict[int, int] = {}
    if len(successors.get(GENESIS, ())) != 1:
        return places
    current, seen = GENESIS, set()
    while len(successors.get(current, ())) == 1:
        entry = successors[current][0]
        if entry["hash"] in seen:
            break  # a cycle of forged links
        seen.add(entry["hash"])
        places[entry["__line"]] = len(places)
        current = entry["hash"]
    return places


def _record_arguments(period, source, sha256, version, files, status, actor,
                      replaced) -> None:
    """Refuse what :meth:`Ledger.record` cannot record, with :class:`UsageError`."""
    if not isinstance(period, Period):
        raise UsageError(f"period must be a Period (parse_period), not "
                         f"{type(period).__name__}", argument="period")
    if source is None:
        raise UsageError("source must name the reviewed log, not None", argument="source")
    if not _is_digest(sha256):
        raise UsageError("sha256 must be a SHA-256 digest in lowercase hex (64 characters)",
                         argument="sha256")
    _args.count(version, "version", minimum=1)
    if files is not None and (not isinstance(files, dict) or not all(
            isinstance(info, dict) and {"path", "sha256"} <= set(info)
            for info in files.values())):
        raise UsageError("files must map each format to {\"path\", \"sha256\"}",
                         argument="files")
    _args.text(status, "status", optional=True)
    _args.text(actor, "actor", optional=True)
    _args.flag(replaced, "replaced")


def _parse_key(entry: dict) -> tuple[dict | None, str | None]:
    """The entry's hashed report key and, when it is not well-formed, what is wrong."""
    if entry.get("action") != ACTION:
        return None, f"action is {entry.get('action')!r}, not {ACTION!r}"
    try:
        key = json.loads(entry.get("resource_id") or "")
    except (TypeError, ValueError):
        return None, "resource_id is not a report key (not JSON text)"
    if not isinstance(key, dict):
        return None, "resource_id is not a report key (not a JSON object)"
    missing = [k for k in (*_KEY_TEXT, "version", "sha256") if k not in key]
    if missing:
        return key, f"the report key lacks {', '.join(missing)}"
    wrong = [k for k in _KEY_TEXT if not isinstance(key[k], str)]
    if wrong:
        return key, f"the report key's {wrong[0]} is not text"
    for name in ("start", "end"):
        try:
            datetime.fromisoformat(key[name])
        except ValueError:
            return key, f"the report key's {name} is not an ISO date and time"
    if "source_id" in key and not (isinstance(key["source_id"], str) and key["source_id"]):
        return key, "the report key's source_id is not text"
    if isinstance(key["version"], bool) or not isinstance(key["version"], int):
        return key, "the report key's version is not an integer"
    if not _is_digest(key["sha256"]):
        return key, "the report key's sha256 is not a SHA-256 digest"
    if "files" in key:
        shadows = sorted(_SHADOWED & set(entry))
        if shadows:  # the toolkit keeps these in the hashed key only
            return key, (f"unhashed {', '.join(shadows)} beside the hashed ones: the entry "
                         "was edited after it was written")
        return key, _hashed_files_problem(key)
    return key, _legacy_files_problem(entry, key)


def _hashed_files_problem(key: dict) -> str | None:
    files = key["files"]
    if not isinstance(files, dict):
        return "the report key's files is not a mapping"
    for fmt, info in files.items():
        if not (isinstance(info, dict) and isinstance(info.get("path"), str)
                and _is_digest(info.get("sha256"))):
            return f"the report key's files[{fmt!r}] is not a path and a SHA-256 digest"
    primary = key.get("primary")
    if files and (primary not in files or files[primary]["sha256"] != key.get("sha256")):
        return "the report key's sha256 is not the digest of its primary file"
    return None


def _hashed_files_ok(key: object) -> bool:
    return isinstance(key, dict) and "files" in key and _hashed_files_problem(key) is None


def _legacy_files_problem(entry: dict, key: dict) -> str | None:
    files = entry.get("files") or {}
    if not isinstance(files, dict):
        return "files is not a mapping"
    primaries = 0
    for fmt, info in files.items():
        if not isinstance(info, dict) or not isinstance(info.get("path"), str):
            return f"files[{fmt!r}] is not a file record"
        if info.get("primary"):
            primaries += 1
        elif not _is_digest(info.get("sha256")):
            return f"files[{fmt!r}] has no SHA-256 digest"
    if files and primaries != 1:
        return (f"{primaries} files are marked primary: the hashed sha256 must name exactly "
                "one of them")
    return None


def _recorded(entry: dict, key: dict) -> dict:
    """``files`` (format -> path, sha256), ``status``, ``replaced`` of a well-formed entry."""
    if "files" in key:
        return {"files": key["files"], "status": key.get("status"),
                "replaced": key.get("replaced")}
    files = {str(fmt): {"path": info["path"],
                        "sha256": key["sha256"] if info.get("primary") else info["sha256"]}
             for fmt, info in (entry.get("files") or {}).items()}
    return {"files": files, "status": entry.get("status"), "replaced": entry.get("replaced")}


def _is_digest(value: object) -> bool:
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None
