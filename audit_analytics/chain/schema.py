"""The event schema, and the SQL that maps a source's stored columns onto it.

The seed's producers write these columns (extra columns are kept, never dropped)::

    id, timestamp, actor_id, actor_type, action, resource_type, resource_id, result,
    ip_address, user_agent, session_id, changed_fields, old_values, reason,
    prev_hash, hash
"""

from __future__ import annotations

from .._engine import quote_ident
from ..errors import SchemaError
from .profiles import HashProfile

__all__ = [
    "EVENT_COLUMNS",
    "USABLE",
    "bounded_timestamp",
    "check_event_columns",
    "classify",
    "events_view_sql",
    "finer_digits",
    "require_columns",
    "scan_column",
    "scan_select",
    "timestamp_resolution",
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
_TIMESTAMPS = {"TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ", "TIMESTAMP_S",
               "TIMESTAMP_MS", "TIMESTAMP_US", "TIMESTAMP_NS", "TIMESTAMPTZ_NS", "DATETIME"}
# The resolution of each kind of stored timestamp, in nanoseconds (the others: 1000).
_RESOLUTION_NS = {"TIMESTAMP_S": 10**9, "TIMESTAMP_MS": 10**6, "TIMESTAMP_NS": 1,
                  "TIMESTAMPTZ_NS": 1}
#: The finest digit each timestamp text style of a profile writes: nanoseconds, and its name.
TEXT_RESOLUTION = {"python-isoformat": (1000, "microsecond"), "js-iso": (10**6, "millisecond")}

# The kinds of stored column each event column may have; every other kind (lists,
# structs, maps, blobs, booleans, floating point, dates...) is refused when the log is
# opened, with the column and its type named. A column of nulls only (type NULL) is
# always accepted. ``changed_fields`` and ``old_values`` hold structured values: any type.
_IDENTIFIERS = ("text", "uuid", "integer", "enum")
EVENT_KINDS: dict[str, tuple[str, ...] | None] = {
    **{name: _IDENTIFIERS for name in EVENT_COLUMNS},
    "timestamp": ("text", "timestamp"),
    "prev_hash": ("text",),
    "hash": ("text",),
    "changed_fields": None,
    "old_values": None,
}
#: Timestamps the kernel can render (the years 0001..9999 in UTC).
RENDERABLE = ("0001-01-01 00:00:00+00", "10000-01-01 00:00:00+00")
#: Timestamps every query and check can use: a day inside the renderable years, so the
#: local date in any zone is a date too. Others are treated as missing (``NULL``): the
#: ``required_fields`` check and the verifier's ``malformed`` finding flag them.
USABLE = ("0001-01-02 00:00:00+00", "9999-12-31 00:00:00+00")


def bounded_timestamp(column: str, span: tuple[str, str] = USABLE) -> str:
    """SQL for ``column`` as TIMESTAMPTZ, ``NULL`` when unparsable or outside ``span``."""
    value = f"TRY_CAST({column} AS TIMESTAMPTZ)"
    low, high = span
    return (f"CASE WHEN {value} >= TIMESTAMPTZ '{low}' AND {value} < TIMESTAMPTZ '{high}' "
            f"THEN {value} END")


_KIND_WORDS = {"text": "text", "uuid": "a UUID", "integer": "an integer",
               "timestamp": "a timestamp", "enum": "an enum"}


def classify(dtype: str) -> str:
    """Map a DuckDB type name to a kind of column.

    ``text``, ``uuid``, ``integer``, ``timestamp``, ``enum``, ``null`` (a column of nulls
    only) or ``other``. Only exact type names count: ``VARCHAR[]`` (a list) is ``other``.
    """
    upper = " ".join(dtype.upper().split())
    if upper in _TEXT or upper.startswith("VARCHAR COLLATE "):
        return "text"
    if upper == "UUID":
        return "uuid"
    if upper in _INTEGER:
        return "integer"
    if upper in _TIMESTAMPS:
        return "timestamp"
    if upper.startswith("ENUM(") and upper.endswith(")"):
        return "enum"
    if upper == '"NULL"' or upper == "NULL":
        return "null"
    return "other"


def timestamp_resolution(dtype: str) -> int:
    """The resolution of a stored timestamp of DuckDB type ``dtype``, in nanoseconds.

    Seconds, milliseconds and nanoseconds have types of their own (pandas writes
    ``timestamp[ns, UTC]``, DuckDB's TIMESTAMPTZ_NS); every other timestamp holds
    microseconds.
    """
    return _RESOLUTION_NS.get(" ".join(dtype.upper().split()), 1000)


def finer_digits(column: str, dtype: str, style: str) -> str | None:
    """SQL for a stored timestamp's full text where it has digits ``style``'s text cannot hold.

    A producer's text holds microseconds (``python-isoformat``) or milliseconds
    (``js-iso``): a stored value with digits below those is not a value the producer
    hashed (rendering it would drop them). The expression is ``NULL`` for every other row
    (and for timestamps outside the renderable years, already malformed); None when
    ``dtype`` is no finer than the text.
    """
    step = TEXT_RESOLUTION[style][0]
    resolution = timestamp_resolution(dtype)
    if resolution >= step:
        return None
    if resolution == 1:
        epoch, make, fraction = f"epoch_ns({column})", "make_timestamp_ns", "%n"
    else:
        epoch, make, fraction = f"epoch_us({column})", "make_timestamp", "%f"
    return (f"CASE WHEN {bounded_timestamp(column, RENDERABLE)} IS NOT NULL "
            f"AND {epoch} % {step // resolution} <> 0 "
            f"THEN strftime({make}({epoch}), '%Y-%m-%dT%H:%M:%S.{fraction}+00:00') END")


def _expect(name: str, dtype: str, allowed: tuple[str, ...], where: str) -> str:
    """The kind of column ``name``; :class:`SchemaError` when it is none of ``allowed``."""
    kind = classify(dtype)
    if kind == "null" or kind in allowed:
        return kind
    words = [_KIND_WORDS[k] for k in allowed]
    expected = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    raise SchemaError(
        f"column {name!r} of {where} has type {dtype}; expected {expected}",
        source=where,
        column=name,
    )


def require_columns(columns: dict[str, str], names, where: str, purpose: str = "") -> None:
    """Raise :class:`SchemaError` naming the ``names`` missing from ``columns``.

    ``purpose`` (e.g. ``"the checks need it"``) is added to the message.
    """
    missing = [n for n in names if n not in columns]
    if missing:
        have = ", ".join(sorted(c for c in columns if c not in BOOKKEEPING)) or "none"
        why = f"; {purpose}" if purpose else ""
        raise SchemaError(
            f"{where} lacks column(s) {', '.join(missing)}{why} (has: {have})",
            source=where,
            column=missing[0],
        )



def check_event_columns(columns: dict[str, str], where: str) -> None:
    """Refuse a source that is not an audit log, or whose event columns have unusable types.

    A source with none of the event columns (:data:`EVENT_COLUMNS`) is not an audit log;
    an event column of a type no query or check can read (see :data:`EVENT_KINDS`) is
    named with its type. Both raise :class:`SchemaError`.
    """
    if not any(name in columns for name in EVENT_COLUMNS):
        have = ", ".join(sorted(c for c in columns if c not in BOOKKEEPING)) or "none"
        raise SchemaError(
            f"{where} is not an audit log: it has none of the event columns "
            f"({', '.join(EVENT_COLUMNS)}); it has: {have}",
            source=where,
        )
    for name in EVENT_COLUMNS:
        allowed = EVENT_KINDS[name]
        if name in columns and allowed is not None:
            _expect(name, columns[name], allowed, where)


def scan_select(columns: dict[str, str], profile: HashProfile, where: str) -> str:
    """The select list the verifier reads: hashed fields as the producer saw them.

    Text is passed through untouched (so a text timestamp is hashed as stored), UUIDs
    become their canonical lowercase text, integers stay numbers and timestamps become
    TIMESTAMPTZ, which the kernel renders back in the profile's format. Adds ``__ts``
    (epoch microseconds, for order checks), ``__hash``, when the hashed ``id`` is not
    text ``__id`` (see :func:`scan_column`) and, when the stored timestamps are finer than
    the profile's text, ``__finer`` (see :func:`finer_digits`).
    """
    require_columns(columns, [*profile.fields, "hash"], where)
    for name in ("hash", "prev_hash"):
        _expect(name, columns[name], ("text",), where)
    items = ["__rk"]
    for name in profile.ordered_fields:
        allowed = EVENT_KINDS.get(name) or ("text", "integer", "uuid", "timestamp", "enum")
        kind = _expect(name, columns[name], allowed, where)
        col = quote_ident(name)
        if kind == "text":
            expr = col
        elif kind == "integer":
            expr = f"CAST({col} AS BIGINT)"
        elif kind == "timestamp":
            expr = bounded_timestamp(col, RENDERABLE)
            finer = finer_digits(col, columns[name], profile.timestamp)
            if finer is not None:
                items.append(f"{finer} AS __finer")
        else:  # uuid, enum, null: their text
            expr = f"CAST({col} AS VARCHAR)"
        items.append(f"{expr} AS {quote_ident('f:' + name)}")
    # id and prev_hash are usually hashed text already: read them once, not twice.
    if "id" not in profile.fields or classify(columns["id"]) != "text":
        items.append(f"CAST({quote_ident('id')} AS VARCHAR) AS __id" if "id" in columns else
                     "CAST(NULL AS VARCHAR) AS __id")
    items.append(f"{_timestamp_expr(columns)} AS __ts")
    items.append("CAST(hash AS VARCHAR) AS __hash")
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
    if classify(columns["timestamp"]) in ("timestamp", "text"):
        return f'epoch_us({bounded_timestamp(quote_ident("timestamp"))})'
    return "CAST(NULL AS BIGINT)"


def events_view_sql(columns: dict[str, str], relation: str = "raw") -> str:
    """SQL for the ``events`` view: the event schema with typed columns, extras kept.

    ``timestamp`` becomes TIMESTAMPTZ (text is parsed; unparsable text and timestamps
    outside :data:`USABLE` become NULL and are flagged by the ``required_fields`` check),
    ``id`` becomes text, and missing optional columns appear as NULL so every query can
    name them.
    """
    replaced = []
    if "timestamp" in columns:
        kind = classify(columns["timestamp"])
        if kind in ("text", "timestamp"):
            replaced.append(f'{bounded_timestamp(quote_ident("timestamp"))} AS "timestamp"')
        elif kind == "null":
            replaced.append('CAST("timestamp" AS TIMESTAMPTZ) AS "timestamp"')
    for name, allowed in EVENT_KINDS.items():
        if allowed == _IDENTIFIERS and name in columns and classify(columns[name]) != "text":
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


def unprotected_fields(columns, profile: HashProfile, covered: set[str] | None = None
                       ) -> list[str]:
    """Present event columns whose values the profile's hash does not cover.

    ``covered`` (the columns a SQL profile's expression reads) replaces the profile's
    ``fields`` when given.
    """
    covered = (set(profile.fields) if covered is None else set(covered)) | {"hash"}
    return [c for c in columns if c not in covered and c not in BOOKKEEPING]
