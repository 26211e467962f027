"""The archive manifest: one signed JSON line per part file, each chained to the one before.

A line is a JSON object (UTF-8) with :data:`ENTRY_FIELDS`; ``first_prev_at``, ``untimed``
and ``segments`` are optional (lines written before they existed lack them). The row values
``first_id``, ``first_prev_hash``, ``last_id`` and ``last_hash`` are text, or null for a row
that stores none.
``prev_entry`` is the SHA-256 (hex) of the previous line's bytes without its newline
(``""`` on the first line); ``signature`` is the base64 Ed25519 signature over the object
without ``signature``, serialised with sorted keys, separators ``,`` and ``:`` and UTF-8
(:func:`signing_bytes`). The manifest's head is the SHA-256 of its last line: kept
elsewhere, it reveals a deleted tail of entries (``truncated``), which no chain can show
by itself.

:func:`read_manifest` parses the lines and checks what the manifest alone can prove: each
line's form, the chain of ``prev_entry`` digests, the sequence numbers and, given a public
key, every signature. Damage is a finding (``manifest_broken``, ``bad_signature``,
``truncated``), never an exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import posixpath
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .._caps import FindingList
from .keys import key_id
from .links import valid_link

__all__ = ["ENTRY_FIELDS", "Manifest", "entry_line", "line_digest", "read_manifest",
           "signing_bytes"]

#: Every manifest line's keys, in the order they are written.
ENTRY_FIELDS = ("seq", "path", "sha256", "bytes", "rows", "first_id", "first_prev_hash",
                "last_id", "last_hash", "min_timestamp", "max_timestamp", "profile",
                "prev_entry", "signed_at", "key_id", "signature")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
_TEXT = ("path", "profile", "prev_entry", "signed_at", "key_id", "signature")
#: Values a row holds as stored: text, or null for a row without one (a malformed row is
#: archived and reported like any other, never turned into a broken manifest line).
_ROW_VALUES = ("first_id", "first_prev_hash", "last_id", "last_hash")
_COUNTS = ("seq", "bytes", "rows")


def signing_bytes(entry: dict) -> bytes:
    """The bytes a line's signature covers: the object without ``signature``, canonical."""
    body = {k: v for k, v in entry.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def line_digest(line: bytes) -> str:
    """The SHA-256 (hex) of one line's bytes without its newline (``prev_entry``, head)."""
    return hashlib.sha256(line).hexdigest()


def entry_line(fields: dict, *, seq: int, prev_line: bytes | None,
               key: Ed25519PrivateKey, signed_at: datetime | None = None) -> bytes:
    """One signed manifest line (no newline) for a part file described by ``fields``.

    ``fields`` holds the file's keys (``path`` ... ``profile``, optionally ``segments``);
    ``seq``, ``prev_entry``, ``signed_at``, ``key_id`` and ``signature`` are added here.
    """
    when = (signed_at or datetime.now(UTC)).astimezone(UTC)
    entry = {"seq": seq, **{k: fields[k] for k in ENTRY_FIELDS[1:12]}}
    for optional in ("first_prev_at", "untimed"):
        if optional in fields:
            entry[optional] = fields[optional]
    if fields.get("segments"):
        entry["segments"] = fields["segments"]
    entry["prev_entry"] = "" if prev_line is None else line_digest(prev_line)
    entry["signed_at"] = when.isoformat(timespec="microseconds").replace("+00:00", "Z")
    entry["key_id"] = key_id(key.public_key())
    entry["signature"] = base64.b64encode(key.sign(signing_bytes(entry))).decode("ascii")
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass
class Manifest:
    """A manifest as read: its valid entries, its head and what is wrong with it.

    Attributes
    ----------
    entries
        The lines that parse as entries, in file order (``line`` added: 1-based).
    lines
        Number of lines in the file.
    head
        SHA-256 of the last line (``None`` for an empty manifest).
    findings
        ``manifest_broken``, ``bad_signature`` and ``truncated`` findings (a
        :class:`~audit_analytics._caps.FindingList`: the first of each kind listed,
        all counted).
    signatures
        Signatures checked and found valid (0 when no public key was given).
    key_ids
        The key ids the entries name, most frequent first.
    """

    entries: list[dict] = field(default_factory=list)
    lines: int = 0
    head: str | None = None
    findings: FindingList = field(default_factory=FindingList)
    signatures: int = 0
    signatures_checked: bool = False
    key_ids: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """The ``manifest`` object of the spot-check JSON."""
        return {"entries": len(self.entries), "lines": self.lines, "head": self.head,
                "signatures": self.signatures, "signatures_checked": self.signatures_checked,
                "key_ids": self.key_ids}


#: Longest path, and longest file or folder name, an entry may hold (in UTF-8 bytes): what
#: every common file system and S3 key allows. The archive writes names of 30 bytes or so;
#: a longer one names no file that could exist, so the line is not an entry.
_PATH_BYTES = 1024
_NAME_BYTES = 255


def _form_problem(entry: object) -> str | None:
    """Why a parsed line is not an entry, or ``None``."""
    if not isinstance(entry, dict):
        return "not a JSON object"
    missing = [k for k in ENTRY_FIELDS if k not in entry]
    if missing:
        return "lacks " + ", ".join(missing)
    for k in _COUNTS:
        if not isinstance(entry[k], int) or isinstance(entry[k], bool) or entry[k] < 0:
            return f"{k} is not a non-negative integer"
    for k in _TEXT:
        if not isinstance(entry[k], str):
            return f"{k} is not text"
    for k in ("min_timestamp", "max_timestamp", *_ROW_VALUES):
        if entry[k] is not None and not isinstance(entry[k], str):
            return f"{k} is not text or null"
    if "first_prev_at" in entry and not valid_link(entry["first_prev_at"]):
        return "first_prev_at is not a link record"
    if "untimed" in entry and (not isinstance(entry["untimed"], int)
                               or isinstance(entry["untimed"], bool) or entry["untimed"] < 0):
        return "untimed is not a non-negative integer"
    if not _HEX64.match(entry["sha256"]):
        return "sha256 is not 64 lowercase hex digits"
    if not _KEY_ID.match(entry["key_id"]):
        return "key_id is not 16 lowercase hex digits"
    path = entry["path"]
    norm = posixpath.normpath(path) if path else ""
    if (not path or path.startswith("/") or norm != path or norm.startswith("..")
            or "\\" in path or "\x00" in path or len(path.encode("utf-8")) > _PATH_BYTES
            or any(len(part.encode("utf-8")) > _NAME_BYTES for part in path.split("/"))):
        return "path is not a plain path inside the archive folder"
    if "segments" in entry:
        if not isinstance(entry["segments"], list):
            return "segments is not a list"
        for seg in entry["segments"]:
            if not isinstance(seg, dict):
                return "a segment is not an object"
            if not isinstance(seg.get("rows"), int) or isinstance(seg.get("rows"), bool):
                return "a segment's rows is not an integer"
            if "prev_at" in seg and not valid_link(seg["prev_at"]):
                return "a segment's prev_at is not a link record"
    return None


def read_manifest(data: bytes, public: Ed25519PublicKey | None = None,
                  expect_head: str | None = None) -> Manifest:
    """Parse and check a manifest's bytes.

    Parameters
    ----------
    data
        The manifest file's bytes.
    public
        The archive's public key; ``None`` checks everything but the signatures.
    expect_head
        A head kept elsewhere (SHA-256 hex of a line): a ``truncated`` finding when no line
        of the manifest has it.
    """
    out = Manifest()
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    out.lines = len(raw_lines)
    want_key = key_id(public) if public is not None else None
    out.signatures_checked = public is not None
    key_counts: dict[str, int] = {}
    prev: bytes | None = None
    seen_paths: dict[str, int] = {}

    def broken(number: int, reason: str, **detail) -> None:
        out.findings.append({"kind": "manifest_broken", "path": "manifest.jsonl",
                             "line": number, "reason": reason, **detail})

    head_seen = False
    for number, line in enumerate(raw_lines, start=1):
        digest = line_digest(line)
        head_seen = head_seen or digest == expect_head
        out.head = digest
        try:
            entry = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            broken(number, "the line is not UTF-8")
            prev = line
            continue
        except (json.JSONDecodeError, RecursionError):
            broken(number, "the line is not JSON")
            prev = line
            continue
        problem = _form_problem(entry)
        if problem:
            broken(number, f"not a manifest entry: {problem}")
            prev = line
            continue
        expected_prev = "" if prev is None else line_digest(prev)
        if entry["prev_entry"] != expected_prev:
            broken(number, "prev_entry is not the SHA-256 of the previous line: a line was "
                   "removed, inserted or changed before it", entry_path=entry["path"],
                   expected=expected_prev, found=entry["prev_entry"])
        if entry["seq"] != number - 1:
            broken(number, f"seq {entry['seq']} on line {number} (expected {number - 1})",
                   entry_path=entry["path"])
        if entry["path"] in seen_paths:
            broken(number, f"{entry['path']} is listed again (first on line "
                   f"{seen_paths[entry['path']]})", entry_path=entry["path"])
        seen_paths.setdefault(entry["path"], number)
        key_counts[entry["key_id"]] = key_counts.get(entry["key_id"], 0) + 1
        if public is not None:
            reason = _signature_problem(entry, public, want_key)
            if reason:
                out.findings.append({"kind": "bad_signature", "path": entry["path"],
                                     "line": number, "reason": reason})
            else:
                out.signatures += 1
        out.entries.append({**entry, "line": number, "digest": digest})
        prev = line
    out.key_ids = sorted(key_counts, key=lambda k: -key_counts[k])
    if expect_head is not None and not head_seen:
        out.findings.append({
            "kind": "truncated", "path": "manifest.jsonl", "expected_head": expect_head,
            "head": out.head, "reason": "no line of the manifest has the expected head: "
            "entries were removed from its end, or it was rewritten"})
    return out


def _signature_problem(entry: dict, public: Ed25519PublicKey, want_key: str) -> str | None:
    if entry["key_id"] != want_key:
        return (f"signed by key {entry['key_id']}, not by the key given ({want_key}): "
                "another archive's key, or a re-signed entry")
    try:
        signature = base64.b64decode(entry["signature"], validate=True)
    except (binascii.Error, ValueError):
        return "the signature is not base64"
    try:
        public.verify(signature, signing_bytes(entry))
    except InvalidSignature:
        return "the signature does not match the entry: the entry was changed after signing"
    return None
