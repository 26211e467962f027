"""The event schema, and the SQL that maps a source's stored columns onto it.

The seed's producers write these columns (extra columns are kept, never dropped)::

    id, timestamp, actor_id, actor_type, action, resource_type, resource_id, result,
    ip_address, user_agent, session_id, changed_fields, old_values, reason,
    prev_hash, hash
"""

from __future__ import annotations

from ._engine import quote_ident
from .errors import SchemaError
from .profiles import HashProfile

__all__ = [
    "EVENT_COLUMNS",
    "classify",
    "events_view_sql",
    "scan_column",
    "scan_select",
    "unprotected_fields",
]

EVENT_COLUMNS = (
    "id",
    "timestamp",
    "actor_id",
    "actor_type",
    "action",
    "resource_type",
    "resource_id",
    "result",
    "ip_address",
    "user_agent",
    "session_id",
    "changed_fields",
    "old_values",
    "reason",
    "prev_hash",
    "hash",
)
# Columns a source or loader adds that are not event data.
BOOKKEEPING = {"__rk", "filename", "file_row_number", "__load_batch"}

_TEXT = {"VARCHAR", "JSON"}
_INTEGER = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}


def classify(dtype: str) -> str:
    """Map a DuckDB type name to ``text``, ``uuid``, ``integer``, ``timestamp`` or ``other``."""
    upper = dtype.upper()
    if upper in _TEXT or upper.startswith("VARCHAR"):
        return "text"
    if upper == "UUID":
        return "uuid"
    if upper in _INTEGER:
        return "integer"
    if upper.startswith("TIMESTAMP"):
        return "timestamp"
    return "other"


def _require(columns: dict[str, str], names, where: str) -> None:
    missing = [n for n in names if n not in columns]
    if missing:
        have = ", ".join(sorted(c for c in columns if c not in BOOKKEEPING)) or "none"
        raise SchemaError(
            f"{where} lacks column(s) {', '.join(missing)} (has: {have})",
            source=where,
            column=missing[0],
        )


def scan_select(columns: dict[str, str], profile: HashProfile, where: str) -> str:
    """The select list the verifier reads: hashed fields as the producer saw them.

    Text is passed through untouched (so a text timestamp is hashed as stored), UUIDs
    become their canonical lowercase text, integers stay numbers and timestamps become
    TIMESTAMPTZ, which the kernel renders back in the profile's format. Adds ``__ts``
    (epoch microseconds, for order checks), ``__hash`` and, when the hashed ``id`` is not
    text, ``__id`` (see :func:`scan_column`).
    """
    _require(columns, [*profile.fields, "hash"], where)
    items = ["__rk"]
    for name in profile.ordered_fields:
        kind = classify(columns[name])
        col = quote_ident(name)
        if kind == "text":
            expr = col
        elif kind == "uuid":
            expr = f"CAST({col} AS VARCHAR)"
        elif kind == "integer":
            expr = f"CAST({col} AS BIGINT)"
        elif kind == "timestamp":
            expr = f"CAST({col} AS TIMESTAMPTZ)"
        else:
            raise SchemaError(
                f"column {name!r} of {where} has type {columns[name]}; a hashed field must be "
                "text, an integer, a UUID or a timestamp",
                source=where,
                column=name,
            )
        items.append(f"{expr} AS {quote_ident('f:' + name)}")
    for name in ("hash", "prev_hash"):
        if classify(columns[name]) != "text":
            raise SchemaError(
                f"column {name!r} of {where} has type {columns[name]}; expected text (hex digest)",
                source=where,
                column=name,
            )
    # id and prev_hash are usually hashed text already: read them once, not twice.
    if "id" not in profile.fields or classify(columns["id"]) != "text":
        items.append(f"CAST({quote_ident('id')} AS VARCHAR) AS __id" if "id" in columns else
                     "CAST(NULL AS VARCHAR) AS __id")
    items.append(f"{_timestamp_expr(columns)} AS __ts")
    items.append("hash AS __hash")
    return ", ".join(items)


def scan_column(batch, name: str):
    """``__id`` or ``__prev`` from a batch read with :func:`scan_select`."""
    if name == "__prev":
        return batch.column("f:prev_hash")
    names = batch.schema.names
    return batch.column("__id" if "__id" in names else "f:id")


def _timestamp_expr(columns: dict[str, str]) -> str:
    if "timestamp" not in columns:
        return "CAST(NULL AS BIGINT)"
    kind = classify(columns["timestamp"])
    if kind == "timestamp":
        return 'epoch_us(CAST("timestamp" AS TIMESTAMPTZ))'
    if kind == "text":
        return 'epoch_us(TRY_CAST("timestamp" AS TIMESTAMPTZ))'
    return "CAST(NULL AS BIGINT)"


def events_view_sql(columns: dict[str, str], relation: str = "raw") -> str:
    """SQL for the ``events`` view: the event schema with typed columns, extras kept.

    ``timestamp`` becomes TIMESTAMPTZ (text is parsed; unparsable text becomes NULL and is
    flagged by the ``required_fields`` check), ``id`` becomes text, and missing optional
    columns appear as NULL so every query can name them.
    """
    replaced = []
    if "timestamp" in columns:
        kind = classify(columns["timestamp"])
        if kind == "text":
            replaced.append('TRY_CAST("timestamp" AS TIMESTAMPTZ) AS "timestamp"')
        elif kind == "timestamp":
            replaced.append('CAST("timestamp" AS TIMESTAMPTZ) AS "timestamp"')
    for name in ("id", "ip_address", "session_id", "resource_id", "actor_id"):
        if name in columns and classify(columns[name]) != "text":
            replaced.append(f"CAST({quote_ident(name)} AS VARCHAR) AS {quote_ident(name)}")
    select = "*"
    if replaced:
        select += " REPLACE (" + ", ".join(replaced) + ")"
    dropped = [c for c in columns if c in BOOKKEEPING]
    if dropped:
        select = "* EXCLUDE (" + ", ".join(quote_ident(c) for c in dropped) + ")" + select[1:]
    extras = [
        f"CAST(NULL AS {'TIMESTAMPTZ' if n == 'timestamp' else 'VARCHAR'}) AS {quote_ident(n)}"
        for n in EVENT_COLUMNS
        if n not in columns
    ]
    return f"SELECT {', '.join([select, *extras])} FROM {relation}"


def unprotected_fields(columns, profile: HashProfile) -> list[str]:
    """Present event columns whose values the profile's hash does not cover."""
    covered = set(profile.fields) | {"hash"}
    return [c for c in columns if c not in covered and c not in BOOKKEEPING]
