"""JSON-able values for a report: timestamps as ISO-8601 UTC, NaN and infinities as null."""

from __future__ import annotations

import html
import json
import math
from datetime import UTC, date, datetime

import pandas as pd

from .._text import shown

__all__ = ["esc", "iso", "jsonable", "plain"]


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
