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

from .._files import ANCHOR_LIMIT, read_small_file
from ..errors import AnchorError

__all__ = ["Anchor", "load_anchors"]

# a digest as a profile stores it: hex (either case, MD5 to SHA-512) or padded base64
_DIGEST = re.compile(r"^(?:[0-9a-fA-F]{32,128}|[A-Za-z0-9+/]{22,86}={0,2})$")


@dataclass(frozen=True)
class Anchor:
    """One trusted checkpoint: an event id and the hash it must have."""

    id: str
    hash: str
    line: int = 0
    extra: dict = field(default_factory=dict, compare=False)


def load_anchors(path: str | Path) -> list[Anchor]:
    """Read an anchor file; blank lines and ``#`` comments are skipped.

    The file is read through :func:`audit_analytics._files.read_small_file`: a regular
    file of at most :data:`~audit_analytics._files.ANCHOR_LIMIT` bytes.

    Raises
    ------
    AnchorError
        The file cannot be read, is not a small regular file, or a line is malformed.
    """
    path = Path(path)
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
