"""Values shared by the report's model and its HTML: how much is listed, and JSON-able cells."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pandas as pd

MAX_FINDINGS_HTML = 50     # rows of one check's findings shown in the HTML
MAX_ANOMALIES = 200        # anomalies listed (with evidence for the first MAX_EVIDENCE)


def _iso(value) -> str | None:
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


def _plain(value):
    """A JSON-able scalar (timestamps as ISO-8601 UTC, NaN as None)."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp | datetime | date):
        return _iso(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value
