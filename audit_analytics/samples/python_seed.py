"""The seed's Python AuditLogger hashing (profile ``python-seed``), reproduced faithfully.

The seed hashes ``json.dumps(entry, sort_keys=True)`` of eight fields with the
default separators (``", "``, ``": "``) and ``ensure_ascii=True``, the timestamp as
``datetime.isoformat()`` of a UTC datetime (no fraction when microsecond is 0),
and links the first entry to ``"GENESIS"``.

:func:`seed_verify_chain` is the seed's own ``verify_chain`` loop (timestamp order,
one row at a time) without its 1,000-row limit and without stopping at the first
break: the benchmark baseline.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime

GENESIS = "GENESIS"
PROFILE = "python-seed"
#: The fields the seed hashes (json.dumps sorts them).
HASHED_FIELDS = (
    "id",
    "timestamp",
    "actor_id",
    "action",
    "resource_type",
    "resource_id",
    "result",
    "prev_hash",
)


def render_timestamp(ts: datetime | str) -> str:
    """Return the timestamp text the seed hashed: ``isoformat()``; text as stored."""
    if isinstance(ts, str):
        return ts
    return ts.isoformat()


def canonical_text(entry: dict) -> str:
    """Return the exact text the seed hashes for ``entry``."""
    data = {
        "id": str(entry["id"]),
        "timestamp": render_timestamp(entry["timestamp"]),
        "actor_id": entry["actor_id"],
        "action": entry["action"],
        "resource_type": entry["resource_type"],
        "resource_id": entry["resource_id"],
        "result": entry["result"],
        "prev_hash": entry["prev_hash"],
    }
    return json.dumps(data, sort_keys=True)


def compute_hash(entry: dict) -> str:
    """Return the seed's sha256 hex digest of ``entry`` (which must carry ``prev_hash``)."""
    return hashlib.sha256(canonical_text(entry).encode()).hexdigest()


class PythonSeedLogger:
    """In-memory twin of the seed's Python ``AuditLogger``.

    Like the seed, it keeps the last hash in the process (``_last_hash``): two
    loggers appending to one table race and fork the chain.
    """

    def __init__(self, last_hash: str = GENESIS) -> None:
        self._last_hash = last_hash

    def compute_hash(self, entry: dict) -> str:
        """Return the digest of ``entry`` (see :func:`compute_hash`)."""
        return compute_hash(entry)

    def append(self, event: dict) -> dict:
        """Chain ``event`` to the last entry and return the new entry (a copy)."""
        entry = dict(event)
        entry["prev_hash"] = self._last_hash
        entry["hash"] = self.compute_hash(entry)
        self._last_hash = entry["hash"]
        return entry


def chain(events: Iterable[dict]) -> list[dict]:
    """Return ``events`` chained by one logger: copies with ``prev_hash`` and ``hash``."""
    logger = PythonSeedLogger()
    return [logger.append(e) for e in events]


def seed_verify_chain(rows: Iterable[dict]) -> int:
    """Re-verify ``rows`` the way the seed's ``verify_chain`` does; return the bad-row count.

    Faithful to the seed's loop: sort by timestamp, then for each row rebuild the
    entry dict, ``json.dumps(..., sort_keys=True)``, sha256 it, compare with the stored
    hash, and compare the stored ``prev_hash`` with the previous row's hash
    (``"GENESIS"`` for the first). Unlike the seed it has no 1,000-row limit, does not
    stop at the first break and prints nothing: a row that fails either test counts
    once. Plain row-by-row Python on purpose: it is the benchmark baseline.
    """
    ordered = sorted(rows, key=lambda r: r["timestamp"])
    bad = 0
    expected_prev = GENESIS
    for row in ordered:
        ts = row["timestamp"]
        entry = {
            "id": str(row["id"]),
            "timestamp": ts if isinstance(ts, str) else ts.isoformat(),
            "actor_id": row["actor_id"],
            "action": row["action"],
            "resource_type": row["resource_type"],
            "resource_id": row["resource_id"],
            "result": row["result"],
            "prev_hash": row["prev_hash"],
        }
        computed = hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()
        if computed != row["hash"] or row["prev_hash"] != expected_prev:
            bad += 1
        expected_prev = row["hash"]
    return bad
