"""Trusted anchors: ``{"id", "hash"}`` checkpoints kept outside the log.

A hash chain alone cannot reveal a deleted tail or a suffix rewritten with recomputed
hashes; a head recorded elsewhere can. An anchor file holds one JSON object per line
(``{"id": "...", "hash": "..."}``; other keys such as ``timestamp`` are kept). The hash
is written as the log stores it (the profile's encoding: lowercase hex by default).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from .. import _args
from .._files import ANCHOR_LIMIT, read_small_file
from .._text import shown
from ..errors import AnchorError, UsageError
from . import kernel

__all__ = ["Anchor", "anchors_argument", "check_anchors", "load_anchors"]

# a digest as a profile stores it: hex (either case, MD5 to SHA-512) or padded base64
_DIGEST = re.compile(r"^(?:[0-9a-fA-F]{32,128}|[A-Za-z0-9+/]{22,86}={0,2})$")


@dataclass(frozen=True)
class Anchor:
    """One trusted checkpoint: an event id and the hash it must have."""

    id: str
    hash: str
    line: int = 0
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        _args.text(self.id, "id", empty=True)
        _args.text(self.hash, "hash", empty=True)


def anchors_argument(anchors) -> list[Anchor] | None:
    """Anchors as a list: read from a file, or a list of :class:`Anchor` checked as such."""
    if anchors is None:
        return None
    if isinstance(anchors, list):
        wrong = [a for a in anchors if not isinstance(a, Anchor)]
        if wrong:
            raise UsageError(f"anchors must be Anchor objects (or a file of them), not "
                             f"{shown(repr(wrong[0]), 80)}", argument="anchors")
        return anchors
    _args.path(anchors, "anchors", expected="an anchor file or a list of Anchor")
    return load_anchors(anchors)


def load_anchors(path: str | Path) -> list[Anchor]:
    """Read an anchor file; blank lines and ``#`` comments are skipped.

    The file is read through :func:`audit_analytics._files.read_small_file`: a regular
    file of at most :data:`~audit_analytics._files.ANCHOR_LIMIT` bytes.

    Raises
    ------
    AnchorError
        The file cannot be read, is not a small regular file, or a line is malformed.
    """
    path = Path(_args.path(path, "path", expected="the path of an anchor file"))
    text = read_small_file(path, what="anchor file", limit=ANCHOR_LIMIT, error=AnchorError)
    anchors = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            raise AnchorError(f"{path} line {number}: not a JSON object", path=str(path)) from None
        except RecursionError:
            raise AnchorError(f"{path} line {number}: nests arrays or objects too deeply",
                              path=str(path)) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str | int):
            raise AnchorError(f"{path} line {number}: needs an \"id\"", path=str(path))
        digest = obj.get("hash")
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            raise AnchorError(
                f"{path} line {number}: \"hash\" must be a digest in hex or base64",
                path=str(path),
            )
        extra = {k: v for k, v in obj.items() if k not in ("id", "hash")}
        anchors.append(Anchor(id=str(obj["id"]), hash=digest, line=number, extra=extra))
    if not anchors:
        raise AnchorError(f"anchor file {path} holds no anchors", path=str(path))
    return anchors


def check_anchors(anchors: list[Anchor], at_hash: list[int | None],
                  by_id_hash: dict[int, list[int]], names, hash_text: dict[int, str | None],
                  add) -> list[dict]:
    """Compare each trusted anchor with the row that holds its id or its hash.

    Parameters
    ----------
    anchors
        The trusted checkpoints.
    at_hash
        For each anchor, the first row (a global position) that stores exactly its digest.
    by_id_hash
        The rows (ascending global positions) whose id has each anchor id's 64-bit hash:
        the candidates by id, confirmed on the id itself.
    names
        The ids of the candidate rows (a :class:`~audit_analytics.chain.link.RowNames`).
    hash_text
        The stored hash text of the rows that may hold an anchor's id.
    add
        ``add(kind, position, **details)`` records a finding.

    Returns
    -------
    list of dict
        One ``{"id", "hash", "status"}`` per anchor: ``confirmed``, ``mismatch`` or
        ``missing``.
    """
    id_hashes, _ = kernel.hash64(pa.array([x.id for x in anchors], pa.string()))
    report = []
    for k, anchor in enumerate(anchors):
        same_id = [p for p in by_id_hash.get(int(id_hashes[k]), [])
                   if names.id(p) == anchor.id]
        found = at_hash[k]
        if found is not None and (not same_id or found in same_id):
            status = "confirmed" if names.id(found) == anchor.id else "mismatch"
        elif same_id or found is not None:
            status = "mismatch"
        else:
            status = "missing"
        if status == "missing":
            add("truncated", -1, id_override=anchor.id, anchor_hash=anchor.hash,
                reason="the anchored event is absent: the log stops short of it")
        elif status == "mismatch":
            at = same_id[0] if same_id else found
            # a row found by its digest stores exactly the anchor's (lowercase hex) text
            add("anchor_mismatch", at, id_override=anchor.id, anchor_hash=anchor.hash,
                found_hash=hash_text.get(at, anchor.hash))
        report.append({"id": anchor.id, "hash": anchor.hash, "status": status})
    return report
