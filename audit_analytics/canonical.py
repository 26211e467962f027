"""The row-wise reference: a producer's hashed text and digest, one row at a time.

This is the plain definition the vectorised kernel is tested against, and what a
reader checks one event by hand with. It is deliberately simple and slow.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime

from .profiles import HashProfile

__all__ = ["canonical_text", "render_timestamp", "row_digest"]


def render_timestamp(profile: HashProfile, value: object) -> object:
    """Render a timestamp as the producer did; text is returned as stored."""
    if not isinstance(value, datetime):
        return value
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if profile.timestamp == "js-iso":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.isoformat()


def canonical_text(profile: HashProfile, row: Mapping, *, omit_nulls: bool | None = None) -> bytes:
    """The exact bytes ``profile``'s producer hashed for ``row``."""
    omit = profile.null == "omit" if omit_nulls is None else omit_nulls
    entry = {}
    for name in profile.ordered_fields:
        value = row.get(name)
        if value is None and omit:
            continue
        entry[name] = render_timestamp(profile, value)
    text = json.dumps(
        entry,
        ensure_ascii=profile.escape == "ascii",
        separators=(profile.item_separator, profile.key_separator),
    )
    return text.encode("utf-8")


def row_digest(profile: HashProfile, row: Mapping, *, omit_nulls: bool | None = None) -> str:
    """The lowercase hex digest ``profile``'s producer stored as ``row``'s hash."""
    return hashlib.sha256(canonical_text(profile, row, omit_nulls=omit_nulls)).hexdigest()
