"""The seed's Express AuditLogger hashing (profile ``node-seed``): a Python port and a runner.

The seed hashes ``JSON.stringify({id, timestamp, actor_id, action, resource_type,
resource_id, result, prev_hash})`` (keys in that insertion order, no spaces, non-ASCII
as raw UTF-8, an undefined value omits its key) with sha256, the timestamp as
``new Date(...).toISOString()`` (millisecond precision, ``Z``).

:func:`chain` / :func:`compute_hash` are the Python port; :func:`run_node` runs the real
JavaScript (``node_seed.js`` beside this file) and is what the tests compare the port to.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

GENESIS = "GENESIS"
PROFILE = "node-seed"
SCRIPT = Path(__file__).with_name("node_seed.js")
#: The fields the seed hashes, in JSON.stringify's (insertion) order.
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

_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


class NodeNotFoundError(RuntimeError):
    """Raised by :func:`run_node` when no ``node`` executable is on PATH."""


def js_string(s: str) -> str:
    """Return ``JSON.stringify(s)`` for a string (ECMA-262 QuoteJSONString)."""
    out = ['"']
    for ch in s:
        cp = ord(ch)
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif cp < 0x20 or 0xD800 <= cp <= 0xDFFF:  # controls; lone surrogates
            out.append(f"\\u{cp:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _js_value(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return js_string(v)
    raise TypeError(f"unsupported value in a hashed field: {v!r}")


def to_datetime(ts: datetime | str) -> datetime:
    """Return ``new Date(ts)`` as an aware UTC datetime truncated to milliseconds."""
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts)
    if ts.tzinfo is None:
        raise ValueError(f"timestamp without a UTC offset: {ts!r}")
    ts = ts.astimezone(UTC)
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def render_timestamp(ts: datetime | str) -> str:
    """Return the timestamp text the seed hashed: ``toISOString()``; text as stored."""
    if isinstance(ts, str):
        return ts
    ts = ts.astimezone(UTC)
    return f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond // 1000:03d}Z"


def canonical_text(entry: dict) -> str:
    """Return the exact text the seed hashes for ``entry`` (absent keys are omitted)."""
    parts = []
    for key in HASHED_FIELDS:
        if key not in entry:  # undefined: JSON.stringify drops the key
            continue
        value = entry[key]
        if key == "timestamp" and value is not None:
            value = render_timestamp(value)
        parts.append(f'"{key}":{_js_value(value)}')
    return "{" + ",".join(parts) + "}"


def compute_hash(entry: dict) -> str:
    """Return the seed's sha256 hex digest of ``entry`` (which must carry ``prev_hash``)."""
    return hashlib.sha256(canonical_text(entry).encode("utf-8")).hexdigest()


class NodeSeedLogger:
    """Python twin of the seed's Express ``AuditLogger`` (``lastHash`` kept in memory)."""

    def __init__(self, last_hash: str = GENESIS) -> None:
        self.last_hash = last_hash

    def append(self, event: dict) -> dict:
        """Chain ``event``; return the new entry with the timestamp as a ms-precision datetime."""
        entry = dict(event)
        entry["timestamp"] = to_datetime(event["timestamp"])
        entry["prev_hash"] = self.last_hash
        entry["hash"] = compute_hash(entry)
        self.last_hash = entry["hash"]
        return entry


def chain(events: Iterable[dict]) -> list[dict]:
    """Return ``events`` chained by one logger (timestamps truncated to milliseconds)."""
    logger = NodeSeedLogger()
    return [logger.append(e) for e in events]


def _jsonable(event: dict) -> dict:
    out = {}
    for k, v in event.items():
        if isinstance(v, datetime):
            if v.tzinfo is None:
                raise ValueError(f"timestamp without a UTC offset: {v!r}")
            v = v.isoformat()
        out[k] = v
    return out


def run_node(events: Iterable[dict], node: str | None = None, timeout: float = 120.0) -> list[dict]:
    """Chain ``events`` with the real ``node_seed.js``; return its entries as parsed JSON.

    Timestamps come back as the ``toISOString()`` text. Datetimes in ``events`` are
    sent as ``isoformat()`` text.

    Raises
    ------
    NodeNotFoundError
        When ``node`` is not on PATH (callers may fall back to :func:`chain`).
    RuntimeError
        When the script fails.
    """
    exe = node or shutil.which("node")
    if exe is None:
        raise NodeNotFoundError("node is not on PATH: cannot run node_seed.js")
    payload = "".join(json.dumps(_jsonable(e)) + "\n" for e in events)
    proc = subprocess.run(
        [exe, str(SCRIPT)],
        input=payload.encode("utf-8"),
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"node {SCRIPT.name} exited with {proc.returncode}: "
            f"{proc.stderr.decode('utf-8', 'replace').strip()}"
        )
    # Split on "\n" only: str.splitlines() would also split inside raw U+2028.
    text = proc.stdout.decode("utf-8")
    return [json.loads(line) for line in text.split("\n") if line]


