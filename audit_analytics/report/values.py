"""A report's values: JSON-able (ISO-8601 UTC, NaN as null) and readable (local time)."""

from __future__ import annotations

import html
import json
import math
from datetime import UTC, date, datetime

import pandas as pd

from .._text import shown

__all__ = ["esc", "is_id_key", "is_time_key", "iso", "jsonable", "local_time", "plain"]

#: Keys whose values are instants (ISO-8601 text or timestamps) wherever they appear.
TIME_KEYS = frozenset({"timestamp", "window_start", "window_end", "first_event", "last_event",
                       "generated_at", "recorded_at", "at", "first_seen", "last_seen",
                       "period_start", "period_end", "first_event_in_period",
                       "last_event_in_period"})


def is_time_key(key) -> bool:
    """Whether values under ``key`` are instants (``timestamp``, ``window_start``...)."""
    key = str(key)
    return key in TIME_KEYS or key.endswith(("_timestamp", "_at"))


def is_id_key(key) -> bool:
    """Whether values under ``key`` are identifiers (never given thousands separators)."""
    words = str(key).replace("_", " ").split()
    return bool(words) and (words[-1] == "id" or "id" in words)


def local_time(value, tz: str = "UTC") -> str | None:
    """An instant as ``2024-03-13 04:00:00 EDT``: in time zone ``tz``, to the second.

    ``value`` is a datetime, a :class:`pandas.Timestamp` or ISO-8601 text (naive means
    UTC); text that does not parse as an instant is returned as it is, ``None`` as
    ``None``. The zone is named by its abbreviation at that instant (``EST``/``EDT``), or
    by its UTC offset where the zone has no abbreviation.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text[:4].isdigit() or len(text) < 19 or text[10:11] not in ("T", " "):
            return value
        try:
            stamp = pd.Timestamp(text)
        except (ValueError, TypeError, OverflowError):
            return value
    elif isinstance(value, datetime | pd.Timestamp):
        stamp = pd.Timestamp(value)
    else:
        return str(value)
    if pd.isna(stamp):
        return None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    try:
        local = stamp.tz_convert(tz)
    except (OverflowError, ValueError):  # an instant the zone's rules cannot place
        local = stamp.tz_convert("UTC")
    name = local.tzname() or ""
    if not name or name[0] in "+-":
        offset = local.strftime("%z")
        name = f"UTC{offset[:3]}:{offset[3:]}" if offset not in ("", "+0000") else "UTC"
    return f"{local.strftime('%Y-%m-%d %H:%M:%S')} {name}"


def iso(value) -> str | None:
    """A timestamp or date as ISO-8601 text (naive timestamps are UTC); ``None`` for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        if pd.isna(value):
            return None
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def plain(value):
    """A JSON-able scalar (timestamps as ISO-8601 UTC, NaN as None)."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp | datetime | date):
        return iso(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return str(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _finite(value):
    """NaN and infinities become None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def jsonable(value):
    """Round-trip through JSON with ``default=plain`` so the dict is exactly what is written."""
    text = json.dumps(value, default=plain, ensure_ascii=False)
    return _finite(json.loads(text))


def esc(value) -> str:
    """``value`` as escaped HTML text, clipped for a notebook's summary table."""
    return html.escape(shown(value, 2000))
